import {
  assert,
  assertClose,
  assertEquals,
  assertRejects,
  assertThrows,
  assertWithin,
  relativeError,
} from "./asserts.ts";
import { ODD_TINY_CONFIG, ODD_TINY_NANOGPT_CONFIG } from "../src/reference/selftest.ts";
import { GPU_TEST, Random, testGpu } from "./helpers.ts";
import { assertGradientsMatchFiniteDifferences, modelSetup } from "./model_helpers.ts";
import type { ModelConfig } from "../src/model/config.ts";
import { parameterCount, presetByName, PRESETS, validateConfig } from "../src/model/config.ts";
import { initParameters, parameterLayout } from "../src/model/parameters.ts";
import { NO_TARGET, Transformer } from "../src/model/transformer.ts";
import { readFloats } from "../src/gpu/buffers.ts";
import { referenceForward, referenceGradients } from "../src/reference/model.ts";

const CONFIG: ModelConfig = ODD_TINY_CONFIG;
const BATCH = 3;

function setup(config = CONFIG, batch = BATCH, seed = 5) {
  return modelSetup(config, batch, seed);
}

Deno.test({
  name: "model: GPU loss, token losses and every gradient match the float64 reference",
  ...GPU_TEST,
  async fn() {
    const { gpu, kernels } = await testGpu();
    const { layout, flat, tokens, params } = setup();
    const model = await Transformer.create(gpu, CONFIG, { batch: BATCH }, kernels);
    model.setParameters(flat);
    const { meanLoss, losses } = await model.lossAndGradients(tokens);
    const gradients = await model.getGradients();
    const reference = referenceGradients(CONFIG, params(), tokens, BATCH);
    assert(
      Math.abs(meanLoss - reference.meanLoss) / reference.meanLoss < 1e-5,
      `mean loss ${meanLoss} vs ${reference.meanLoss}`,
    );
    assertClose(losses, reference.losses, 1e-4, "token losses");
    // Gradients pass through softmax, RMSNorm and attention backward in fp32: bound 1e-3 of each tensor's scale.
    for (const spec of layout.specs) {
      assertClose(
        gradients.subarray(spec.offset, spec.offset + spec.length),
        reference.gradients.get(spec.name)!,
        1e-3,
        spec.name,
      );
    }
    // Forward-only (evaluation) model gives the same token losses.
    const evalModel = await Transformer.create(gpu, CONFIG, { batch: BATCH, training: false }, kernels);
    evalModel.setParameters(flat);
    assertClose(await evalModel.forwardLosses(tokens), reference.losses, 1e-4, "eval token losses");
    model.destroy();
    evalModel.destroy();
  },
});

// Both architectures: the head follows the final norm, whichever block came before.
for (const config of [CONFIG, ODD_TINY_NANOGPT_CONFIG]) {
  Deno.test({
    name: `model: the LM head on gathered target rows (headRows) gives the full head's loss and gradients (${
      config.arch ?? "olmo"
    })`,
    ...GPU_TEST,
    async fn() {
      const { gpu, kernels } = await testGpu();
      const { flat, tokens } = setup(config);
      const T = config.seq_len;
      // Sparse targets: two rows of sequence 0, one of sequence 1, none of sequence 2.
      const targets = new Uint32Array(BATCH * T).fill(NO_TARGET);
      for (const row of [1, 4, T + 2]) targets[row] = tokens[row + 1];
      const run = async (headRows?: number) => {
        const model = await Transformer.create(
          gpu,
          config,
          { batch: BATCH, lossScale: 1, headRows },
          kernels,
        );
        model.setParameters(flat);
        // Twice, with another target pattern between: stale head rows must not survive.
        for (const pattern of [targets, targets.map((t, r) => r === T + 2 ? NO_TARGET : t), targets]) {
          model.setTokens(tokens, pattern);
          const encoder = gpu.device.createCommandEncoder();
          model.zeroGradients(encoder);
          const pass = encoder.beginComputePass();
          model.record(pass, { backward: true, slot: 0 });
          pass.end();
          gpu.device.queue.submit([encoder.finish()]);
        }
        const loss = (await readFloats(gpu, model.lossSums, 0, 1))[0];
        const gradients = await model.getGradients();
        model.destroy();
        return { loss, gradients };
      };
      const full = await run();
      const gathered = await run(2 * BATCH);
      assert(
        Math.abs(gathered.loss - full.loss) <= 1e-6 * Math.abs(full.loss),
        `loss ${gathered.loss} vs ${full.loss}`,
      );
      assertClose(gathered.gradients, full.gradients, 1e-6, "gradients with the gathered head");
      await assertRejects(
        () => Transformer.create(gpu, config, { batch: BATCH, headRows: 4 }, kernels),
        Error,
        "multiple of the batch",
      );
    },
  });
}

Deno.test("model: the float64 reference gradient matches central finite differences", () => {
  const config: ModelConfig = {
    d_model: 8,
    n_layers: 2,
    n_heads: 2,
    vocab_size: 11,
    seq_len: 5,
    mlp_ratio: 1,
  };
  const { layout, tokens, params } = setup(config, 2, 9);
  const base = params();
  const { gradients } = referenceGradients(config, base, tokens, 2);
  const random = new Random(3);
  const h = 1e-6;
  for (const spec of layout.specs) {
    const tensor = base.get(spec.name)!;
    const grad = gradients.get(spec.name)!;
    const scale = Math.max(...grad.map(Math.abs));
    let worst = 0;
    for (let trial = 0; trial < 6; trial++) {
      const i = random.int(spec.length);
      const saved = tensor[i];
      tensor[i] = saved + h;
      const plus = referenceForward(config, base, tokens, 2).meanLoss;
      tensor[i] = saved - h;
      const minus = referenceForward(config, base, tokens, 2).meanLoss;
      tensor[i] = saved;
      const numeric = (plus - minus) / (2 * h);
      worst = Math.max(worst, Math.abs(numeric - grad[i]));
    }
    assertWithin(worst, 1e-6 * scale + 1e-9, `${spec.name}: |FD − reference gradient| over 6 coordinates`);
  }
});

Deno.test({
  name: "model: GPU gradients match float32 finite differences of the GPU loss",
  ...GPU_TEST,
  async fn() {
    const { gpu, kernels } = await testGpu();
    const { flat, tokens } = setup(CONFIG, BATCH, 21);
    await assertGradientsMatchFiniteDifferences(gpu, kernels, CONFIG, BATCH, flat, tokens);
  },
});

Deno.test({
  name: "model: microbatches accumulate to the global-batch gradient, and runs are bit-identical",
  ...GPU_TEST,
  async fn() {
    const { gpu, kernels } = await testGpu();
    const { flat, tokens } = setup(CONFIG, 4, 33);
    const full = await Transformer.create(gpu, CONFIG, { batch: 4 }, kernels);
    full.setParameters(flat);
    await full.lossAndGradients(tokens);
    const expected = await full.getGradients();
    await full.lossAndGradients(tokens);
    assertEquals(await full.getGradients(), expected, "two identical runs differ");
    const micro = await Transformer.create(gpu, CONFIG, { batch: 2, globalBatch: 4 }, kernels);
    micro.setParameters(flat);
    const half = 2 * CONFIG.seq_len;
    const encoder = gpu.device.createCommandEncoder();
    micro.zeroGradients(encoder);
    gpu.device.queue.submit([encoder.finish()]);
    for (let m = 0; m < 2; m++) {
      micro.setTokens(tokens.subarray(m * half, (m + 1) * half));
      const e = gpu.device.createCommandEncoder();
      const pass = e.beginComputePass();
      micro.record(pass, { backward: true, slot: m });
      pass.end();
      gpu.device.queue.submit([e.finish()]);
    }
    const accumulated = await micro.getGradients();
    assert(
      relativeError(accumulated, expected) < 1e-5,
      `accumulated gradient differs: ${relativeError(accumulated, expected)}`,
    );
    full.destroy();
    micro.destroy();
  },
});

Deno.test({
  name: "model: bad configs and inputs give errors that name the problem",
  ...GPU_TEST,
  async fn() {
    assertThrows(() => validateConfig({ ...CONFIG, n_heads: 5 }), Error, "not divisible by n_heads");
    assertThrows(() => validateConfig({ ...CONFIG, d_model: 30, n_heads: 2 }), Error, "odd");
    assertThrows(() => validateConfig({ ...CONFIG, seq_len: 1 }), Error, "at least 2");
    assertThrows(
      () => validateConfig({ ...CONFIG, vocab_size: 0 }),
      Error,
      "vocab_size must be a positive integer",
    );
    assertThrows(() => validateConfig({ ...CONFIG, dmodel: 3 }), Error, "unknown field");
    assertThrows(() => validateConfig([1, 2]), Error, "expected a JSON object");
    assertThrows(() => presetByName("15M"), Error, "unknown preset");
    const { gpu, kernels } = await testGpu();
    const model = await Transformer.create(gpu, CONFIG, { batch: 1, training: false }, kernels);
    const tokens = new Uint32Array(CONFIG.seq_len);
    tokens[4] = 37;
    assertThrows(
      () => model.setTokens(tokens),
      Error,
      "token id 37 at position 4 is not below vocab_size 37",
    );
    assertThrows(() => model.setTokens(new Uint32Array(5)), Error, "expected 13 tokens");
    model.destroy();
    const big = presetByName("472M").config;
    await assertRejects(
      () => Transformer.create(gpu, big, { batch: 64 }, kernels),
      Error,
      "maxStorageBufferBindingSize",
    );
  },
});

Deno.test("model: presets have the paper's parameter counts and init has the mitchell σ", () => {
  const expected: Record<string, [number, number]> = {
    "14M": [1.44, 14.32],
    "37M": [11.53, 37.29],
    "78M": [38.93, 77.56],
    "144M": [92.27, 143.79],
    "285M": [207.62, 284.88],
    "472M": [369.10, 472.12],
  };
  for (const [name, [nonEmbedding, total]] of Object.entries(expected)) {
    const counts = parameterCount(PRESETS[name].config);
    assertEquals(Math.round(counts.nonEmbedding / 1e4) / 100, nonEmbedding, name);
    assertEquals(Math.round(counts.total / 1e4) / 100, total, name);
  }
  const config = PRESETS["cpu-m"].config;
  const layout = parameterLayout(config);
  const flat = initParameters(layout, 1);
  for (const spec of layout.specs) {
    const values = flat.subarray(spec.offset, spec.offset + spec.length);
    let sumSquares = 0;
    let largest = 0;
    for (const v of values) {
      sumSquares += v * v;
      largest = Math.max(largest, Math.abs(v));
    }
    // A normal truncated at ±3σ has standard deviation 0.9866σ.
    const std = Math.sqrt(sumSquares / values.length);
    assert(
      Math.abs(std / (0.9866 * spec.initStd) - 1) < 0.05,
      `${spec.name}: std ${std} vs σ ${spec.initStd}`,
    );
    assert(largest <= 3 * spec.initStd * (1 + 1e-6), `${spec.name}: ${largest} beyond 3σ`);
  }
  assertEquals(initParameters(layout, 1), flat, "init is not reproducible");
});
