/**
 * torch.optim.AdamW with global-norm clipping (torch.nn.utils.clip_grad_norm_) in float64, for tests.
 *
 * @module
 */

/** One parameter tensor's state. */
export interface AdamWTensor {
  /** The parameter values; updated in place. */
  param: Float64Array;
  /** Its gradient (unclipped; the step scales it by the global clip factor). */
  grad: Float64Array;
  /** First moment (torch's `exp_avg`); updated in place. */
  expAvg: Float64Array;
  /** Second moment (torch's `exp_avg_sq`); updated in place. */
  expAvgSq: Float64Array;
  /** Whether decoupled weight decay applies to this tensor. */
  decay: boolean;
}

/** Hyperparameters of one reference step. */
export interface AdamWStep {
  /** Learning rate of this step. */
  lr: number;
  /** 1-based update count. */
  t: number;
  /** Decay rate of the first moment. */
  beta1: number;
  /** Decay rate of the second moment. */
  beta2: number;
  /** Added to the bias-corrected √(second moment) in the denominator. */
  eps: number;
  /** Decoupled weight decay: decaying parameters are multiplied by `1 − lr·weightDecay` first. */
  weightDecay: number;
  /** ≤ 0: no clipping. */
  maxNorm: number;
}

/** The global gradient norm and the clipping factor torch's clip_grad_norm_ applies. */
export function referenceClip(
  tensors: readonly { grad: Float64Array }[],
  maxNorm: number,
): { norm: number; clip: number } {
  let sumSquares = 0;
  for (const tensor of tensors) for (const g of tensor.grad) sumSquares += g * g;
  const norm = Math.sqrt(sumSquares);
  return { norm, clip: maxNorm > 0 ? Math.min(maxNorm / (norm + 1e-6), 1) : 1 };
}

/** Applies one clipped AdamW step in place; returns the gradient norm before clipping. */
export function adamwReferenceStep(tensors: AdamWTensor[], step: AdamWStep): number {
  const { norm, clip } = referenceClip(tensors, step.maxNorm);
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
