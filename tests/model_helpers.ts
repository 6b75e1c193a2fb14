/**
 * What the OLMo and nanoGPT model tests share: random parameters and tokens for a config, and the check of
 * the GPU's gradients against central differences of the GPU's own loss.
 *
 * @module
 */
import { assertWithin } from "./asserts.ts";
import { Random } from "./helpers.ts";
import type { GpuDevice, Kernels } from "../src/gpu/mod.ts";
import type { ModelConfig } from "../src/model/config.ts";
import { initParameters, parameterLayout } from "../src/model/parameters.ts";
import { Transformer } from "../src/model/transformer.ts";

/** `config`'s layout, its initial parameters (`seed`), `batch` random sequences, and the parameters by name in float64. */
export function modelSetup(config: ModelConfig, batch: number, seed = 5) {
  const layout = parameterLayout(config);
  const flat = initParameters(layout, seed);
  const random = new Random(seed + 100);
  const tokens = new Uint32Array(batch * config.seq_len).map(() => random.int(config.vocab_size));
  const params = () =>
    new Map(
      layout.specs.map((s) => [s.name, Float64Array.from(flat.subarray(s.offset, s.offset + s.length))]),
    );
  return { layout, flat, tokens, params };
}

/**
 * Asserts that the GPU gradient of the mean loss of `tokens` at `flat` matches a central difference of the
 * GPU's eval loss at the largest gradient coordinate of each tensor, within `relative`. In float32 a central
 * difference with h = 1e-2 has truncation and rounding errors of ~1e-4 of the gradient's scale, so 2%
 * relative at the largest coordinate is a test with margin that still catches a wrong term.
 */
export async function assertGradientsMatchFiniteDifferences(
  gpu: GpuDevice,
  kernels: Kernels,
  config: ModelConfig,
  batch: number,
  flat: Float32Array,
  tokens: Uint32Array,
  options: { h?: number; relative?: number } = {},
): Promise<void> {
  const { h = 1e-2, relative = 0.02 } = options;
  const model = await Transformer.create(gpu, config, { batch }, kernels);
  const evalModel = await Transformer.create(gpu, config, { batch, training: false }, kernels);
  try {
    model.setParameters(flat);
    await model.lossAndGradients(tokens);
    const gradients = await model.getGradients();
    const meanLoss = async (values: Float32Array) => {
      evalModel.setParameters(values);
      const losses = await evalModel.forwardLosses(tokens);
      return losses.reduce((a, b) => a + b, 0) / losses.length;
    };
    for (const spec of parameterLayout(config).specs) {
      let best = spec.offset;
      for (let i = spec.offset; i < spec.offset + spec.length; i++) {
        if (Math.abs(gradients[i]) > Math.abs(gradients[best])) best = i;
      }
      const perturbed = flat.slice();
      perturbed[best] = flat[best] + h;
      const plus = await meanLoss(perturbed);
      perturbed[best] = flat[best] - h;
      const minus = await meanLoss(perturbed);
      const numeric = (plus - minus) / (2 * h);
      assertWithin(
        Math.abs(numeric - gradients[best]) / Math.abs(gradients[best]),
        relative,
        `${spec.name}: |FD − GPU gradient| / |GPU gradient| at its largest coordinate`,
      );
    }
  } finally {
    model.destroy();
    evalModel.destroy();
  }
}
