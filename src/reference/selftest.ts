/**
 * A quick end-to-end check of the kernels on the current adapter: the loss and every parameter's
 * gradient of a tiny model against the float64 reference. `deno task doctor` runs it. It lives beside the
 * references (which may import the model) so that the model never imports them.
 *
 * @module
 */
import type { GpuDevice } from "../gpu/device.ts";
import { Kernels } from "../gpu/kernels.ts";
import { Random } from "../util/random.ts";
import type { ModelConfig } from "../model/config.ts";
import { initParameters, parameterLayout } from "../model/parameters.ts";
import { Transformer } from "../model/transformer.ts";
import { referenceGradients } from "./model.ts";

/** The self-test's outcome: worst relative errors and whether they are within bounds. */
export interface SelfTestResult {
  /** All three errors within bounds: mean loss ≤ 1e-5, token losses ≤ 1e-4, gradients ≤ 1e-3. */
  ok: boolean;
  /** |GPU − reference| / reference of the mean loss. */
  lossError: number;
  /** {@linkcode maxRelativeError} of the per-token losses. */
  tokenLossError: number;
  /** The largest {@linkcode maxRelativeError} over the parameters' gradients. */
  gradientError: number;
  /** Name of the parameter with that gradient error (`""` when every error is 0). */
  worstGradient: string;
  /** Wall time of the whole test, pipeline compilation included, in seconds. */
  seconds: number;
}

/** Relative error: largest absolute difference over largest absolute reference value. */
export function maxRelativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    diff = Number.isNaN(d) ? Infinity : Math.max(diff, d);
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  return diff / Math.max(scale, 1e-30);
}

/**
 * A tiny model with sizes that are multiples of no tile: head dim 8, 3 heads, a prime vocabulary and
 * sequence length. The self-test and the model tests use it.
 */
export const ODD_TINY_CONFIG: Readonly<ModelConfig> = {
  d_model: 24,
  n_layers: 2,
  n_heads: 3,
  vocab_size: 37,
  seq_len: 13,
  mlp_ratio: 1,
};

/** {@linkcode ODD_TINY_CONFIG} as a nanoGPT model (MLP width 4d = 96, learned positions). */
export const ODD_TINY_NANOGPT_CONFIG: Readonly<ModelConfig> = {
  ...ODD_TINY_CONFIG,
  arch: "nanogpt",
  mlp_ratio: 4,
};

/** Runs the self-test on `gpu` with {@linkcode ODD_TINY_CONFIG}. */
export async function kernelSelfTest(gpu: GpuDevice, kernels = new Kernels(gpu)): Promise<SelfTestResult> {
  const start = performance.now();
  const config = ODD_TINY_CONFIG;
  const batch = 3;
  const layout = parameterLayout(config);
  const flat = initParameters(layout, 7);
  const random = new Random(11);
  const tokens = new Uint32Array(batch * config.seq_len).map(() => random.int(config.vocab_size));
  const model = await Transformer.create(gpu, config, { batch }, kernels);
  try {
    model.setParameters(flat);
    const { meanLoss, losses } = await model.lossAndGradients(tokens);
    const gradients = await model.getGradients();
    const params = new Map(
      layout.specs.map((s) => [s.name, Float64Array.from(flat.subarray(s.offset, s.offset + s.length))]),
    );
    const reference = referenceGradients(config, params, tokens, batch);
    let gradientError = 0;
    let worstGradient = "";
    for (const spec of layout.specs) {
      const error = maxRelativeError(
        gradients.subarray(spec.offset, spec.offset + spec.length),
        reference.gradients.get(spec.name)!,
      );
      if (!(error <= gradientError)) {
        gradientError = error;
        worstGradient = spec.name;
      }
    }
    const lossError = Math.abs(meanLoss - reference.meanLoss) / reference.meanLoss;
    const tokenLossError = maxRelativeError(losses, reference.losses);
    return {
      ok: lossError <= 1e-5 && tokenLossError <= 1e-4 && gradientError <= 1e-3,
      lossError,
      tokenLossError,
      gradientError,
      worstGradient,
      seconds: (performance.now() - start) / 1000,
    };
  } finally {
    model.destroy();
  }
}
