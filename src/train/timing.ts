/**
 * How long a training step takes on the current adapter, measured on random tokens (the sweep's time
 * estimate and the training benchmark use it).
 *
 * @module
 */
import type { Kernels } from "../gpu/kernels.ts";
import type { ModelConfig } from "../model/config.ts";
import { initParameters } from "../model/parameters.ts";
import { Transformer } from "../model/transformer.ts";
import { Random } from "../util/random.ts";
import { createOptimizer } from "./optimizer.ts";
import type { OptimizerOptions } from "./optimizer.ts";

/** Random token ids below min(vocab, 256), seeded. */
export function randomTokens(count: number, vocab: number, seed: number): Uint32Array {
  const random = new Random(seed);
  return new Uint32Array(count).map(() => random.int(Math.min(vocab, 256)));
}

/**
 * Seconds per full training step (forward, backward, the clipped update of `optimizer`, AdamW by default)
 * of `config` at `batch` sequences.
 */
export async function timeTrainingStep(
  kernels: Kernels,
  config: ModelConfig,
  batch: number,
  steps: number,
  optimizer: OptimizerOptions = {},
): Promise<number> {
  const gpu = kernels.gpu;
  const model = await Transformer.create(gpu, config, { batch }, kernels);
  const update = await createOptimizer(gpu, model.layout, optimizer, kernels);
  model.setParameters(initParameters(model.layout, 0));
  const tokens = randomTokens(batch * config.seq_len, config.vocab_size, 1);
  const step = (t: number) => {
    model.setTokens(tokens);
    const encoder = gpu.device.createCommandEncoder();
    model.zeroGradients(encoder);
    const pass = encoder.beginComputePass();
    model.record(pass, { backward: true, slot: 0 });
    update.record(pass, model.parameters, model.gradients!, t, 1e-3);
    pass.end();
    gpu.device.queue.submit([encoder.finish()]);
  };
  try {
    for (let t = 1; t <= 2; t++) step(t); // compiles
    await gpu.sync();
    const start = performance.now();
    for (let t = 3; t < 3 + steps; t++) step(t);
    await gpu.sync();
    return (performance.now() - start) / 1000 / steps;
  } finally {
    update.destroy();
    model.destroy();
  }
}
