/**
 * torch.optim.AdamW with global-norm clipping (torch.nn.utils.clip_grad_norm_) in float64, for tests.
 *
 * @module
 */

/** One parameter tensor's state. */
export interface AdamWTensor {
  param: Float64Array;
  grad: Float64Array;
  expAvg: Float64Array;
  expAvgSq: Float64Array;
  decay: boolean;
}

/** Hyperparameters of one reference step. */
export interface AdamWStep {
  lr: number;
  /** 1-based update count. */
  t: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** ≤ 0: no clipping. */
  maxNorm: number;
}

/** Applies one clipped AdamW step in place; returns the gradient norm before clipping. */
export function adamwReferenceStep(tensors: AdamWTensor[], step: AdamWStep): number {
  let sumSquares = 0;
  for (const tensor of tensors) for (const g of tensor.grad) sumSquares += g * g;
  const norm = Math.sqrt(sumSquares);
  const clip = step.maxNorm > 0 ? Math.min(step.maxNorm / (norm + 1e-6), 1) : 1;
  const bias1 = 1 - step.beta1 ** step.t;
  const bias2Sqrt = Math.sqrt(1 - step.beta2 ** step.t);
  for (const tensor of tensors) {
    for (let i = 0; i < tensor.param.length; i++) {
      const g = tensor.grad[i] * clip;
      if (tensor.decay) tensor.param[i] *= 1 - step.lr * step.weightDecay;
      tensor.expAvg[i] = step.beta1 * tensor.expAvg[i] + (1 - step.beta1) * g;
      tensor.expAvgSq[i] = step.beta2 * tensor.expAvgSq[i] + (1 - step.beta2) * g * g;
      const denom = Math.sqrt(tensor.expAvgSq[i]) / bias2Sqrt + step.eps;
      tensor.param[i] -= (step.lr / bias1) * (tensor.expAvg[i] / denom);
    }
  }
  return norm;
}
