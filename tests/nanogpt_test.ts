/**
 * The nanoGPT architecture (docs/method.md#the-nanogpt-variant): config, layout, init, and the GPU engine's losses and
 * gradients against the float64 reference and finite differences.
 */
import { assert, assertClose, assertEquals, assertRejects, assertThrows } from "./asserts.ts";
import { resolveRun, runOptimizer } from "../src/train/run.ts";
import { ODD_TINY_NANOGPT_CONFIG } from "../src/reference/selftest.ts";
import { GPU_TEST, Random, testGpu } from "./helpers.ts";
import { assertGradientsMatchFiniteDifferences, modelSetup } from "./model_helpers.ts";
import type { ModelConfig } from "../src/model/config.ts";
import {
  configFileFields,
  parameterCount,
  PRESETS,
  validateConfig,
  withArchitecture,
} from "../src/model/config.ts";
import { blockWeights, initParameters, parameterLayout, parameterRole } from "../src/model/parameters.ts";
import { Transformer } from "../src/model/transformer.ts";
import { referenceForward, referenceGradients } from "../src/reference/model.ts";

const CONFIG: ModelConfig = ODD_TINY_NANOGPT_CONFIG;
const BATCH = 3;

function setup(config = CONFIG, batch = BATCH, seed = 5) {
  return modelSetup(config, batch, seed);
}

Deno.test("nanogpt: config defaults, validation, names, decay, counts and the GPT-2 init", () => {
  const valid = validateConfig({ ...CONFIG, mlp_ratio: undefined });
  assertEquals([valid.arch, valid.mlp_ratio, valid.norm_eps], ["nanogpt", 4, 1e-6]);
  assertEquals(validateConfig({ ...CONFIG, norm_eps: 1e-5 }).norm_eps, 1e-5);
  assertEquals(validateConfig(PRESETS["cpu-s"].config).arch, "olmo");
  assertThrows(() => validateConfig({ ...CONFIG, mlp_ratio: 2 }), Error, "leave mlp_ratio out or set 4");
  assertThrows(() => validateConfig({ ...CONFIG, arch: "gpt3" }), Error, "arch must be one of olmo, nanogpt");
  assertThrows(() => withArchitecture(CONFIG, "gpt3" as never), Error, "unknown arch");
  const nano14 = withArchitecture(PRESETS["14M"].config, "nanogpt");
  assertEquals([nano14.arch, nano14.mlp_ratio, nano14.d_model, nano14.n_layers], ["nanogpt", 4, 256, 4]);
  assertEquals(withArchitecture(nano14, "olmo").mlp_ratio, 1);
  // 12·d²·L outside the embeddings; wte and wpe [1024, d] inside.
  const counts = parameterCount(nano14);
  assertEquals(counts.nonEmbedding, 12 * 256 * 256 * 4);
  assertEquals(counts.total, 12 * 256 * 256 * 4 + (50304 + 1024) * 256);
  assertEquals(configFileFields(validateConfig(CONFIG)).arch, "nanogpt");
  assertEquals(configFileFields(validateConfig(PRESETS["cpu-s"].config)).arch, undefined);

  const layout = parameterLayout(CONFIG);
  assertEquals(layout.specs.map((spec) => spec.name).slice(0, 6), [
    "transformer.wte.weight",
    "transformer.wpe.weight",
    "transformer.h.0.attn.c_attn.weight",
    "transformer.h.0.attn.c_proj.weight",
    "transformer.h.0.mlp.c_fc.weight",
    "transformer.h.0.mlp.c_proj.weight",
  ]);
  assertEquals(layout.specs.map((spec) => spec.shape).slice(0, 6), [[37, 24], [13, 24], [72, 24], [24, 24], [
    96,
    24,
  ], [24, 96]]);
  assert(layout.specs.every((spec) => spec.decay), "nanoGPT decays every ≥2-D tensor, embeddings included");
  assertEquals(parameterRole("transformer.h.1.mlp.c_proj.weight"), "mlp-out");
  assertEquals(blockWeights(layout, 1).qkv.name, "transformer.h.1.attn.c_attn.weight");
  assertEquals(parameterLayout(CONFIG, 20).byName.get("transformer.wpe.weight")!.shape, [20, 24]);

  // GPT-2 init: N(0, 0.02), residual projections N(0, 0.02/√(2L)), not truncated.
  const big = withArchitecture(PRESETS["cpu-m"].config, "nanogpt");
  const bigLayout = parameterLayout(big);
  const flat = initParameters(bigLayout, 1);
  for (const spec of bigLayout.specs) {
    const expected = spec.name.endsWith("c_proj.weight") ? 0.02 / Math.sqrt(2 * big.n_layers) : 0.02;
    assert(Math.abs(spec.initStd / expected - 1) < 1e-12, `${spec.name}: σ ${spec.initStd}`);
    const values = flat.subarray(spec.offset, spec.offset + spec.length);
    let sumSquares = 0;
    let beyond = 0;
    for (const v of values) {
      sumSquares += v * v;
      if (Math.abs(v) > 3 * expected) beyond++;
    }
    const std = Math.sqrt(sumSquares / values.length);
    assert(Math.abs(std / expected - 1) < 0.05, `${spec.name}: std ${std} vs σ ${expected}`);
    // A normal has 0.27% beyond 3σ; the truncated one none.
    if (values.length > 20000) assert(beyond > 0, `${spec.name}: no value beyond 3σ: truncated?`);
  }
});

Deno.test({
  name: "nanogpt: GPU loss, token losses and every gradient match the float64 reference",
  ...GPU_TEST,
  async fn() {
    const { gpu, kernels } = await testGpu();
    const { layout, flat, tokens, params } = setup();
    const model = await Transformer.create(gpu, CONFIG, { batch: BATCH }, kernels);
    model.setParameters(flat);
    const { meanLoss, losses } = await model.lossAndGradients(tokens);
    const gradients = await model.getGradients();
    const reference = referenceGradients(CONFIG, params(), tokens, BATCH);
    const lossError = Math.abs(meanLoss - reference.meanLoss) / reference.meanLoss;
    assert(lossError < 1e-5, `mean loss ${meanLoss} vs ${reference.meanLoss}`);
    assertClose(losses, reference.losses, 1e-4, "token losses");
    let worst = 0;
    for (const spec of layout.specs) {
      const got = gradients.subarray(spec.offset, spec.offset + spec.length);
      const expected = reference.gradients.get(spec.name)!;
      assertClose(got, expected, 1e-3, spec.name);
      let diff = 0;
      let scale = 0;
      for (let i = 0; i < expected.length; i++) {
        diff = Math.max(diff, Math.abs(got[i] - expected[i]));
        scale = Math.max(scale, Math.abs(expected[i]));
      }
      worst = Math.max(worst, diff / scale);
    }
    const evalModel = await Transformer.create(gpu, CONFIG, { batch: BATCH, training: false }, kernels);
    evalModel.setParameters(flat);
    assertClose(await evalModel.forwardLosses(tokens), reference.losses, 1e-4, "eval token losses");
    console.log(
      `nanogpt vs float64: mean loss ${lossError.toExponential(2)}, worst gradient ${worst.toExponential(2)}`,
    );
    model.destroy();
    evalModel.destroy();
  },
});

Deno.test("nanogpt: the float64 reference gradient matches central finite differences", () => {
  const config: ModelConfig = {
    arch: "nanogpt",
    d_model: 8,
    n_layers: 2,
    n_heads: 2,
    vocab_size: 11,
    seq_len: 5,
    mlp_ratio: 4,
  };
  const { layout, tokens, params } = setup(config, 2, 9);
  const base = params();
  // Larger weights than GPT-2's 0.02, so every path (attention, GELU's curvature) matters.
  for (const tensor of base.values()) for (let i = 0; i < tensor.length; i++) tensor[i] *= 20;
  const { gradients } = referenceGradients(config, base, tokens, 2);
  const random = new Random(3);
  const h = 1e-6;
  for (const spec of layout.specs) {
    const tensor = base.get(spec.name)!;
    const grad = gradients.get(spec.name)!;
    const scale = Math.max(...grad.map(Math.abs));
    for (let trial = 0; trial < 6; trial++) {
      const i = random.int(spec.length);
      const saved = tensor[i];
      tensor[i] = saved + h;
      const plus = referenceForward(config, base, tokens, 2).meanLoss;
      tensor[i] = saved - h;
      const minus = referenceForward(config, base, tokens, 2).meanLoss;
      tensor[i] = saved;
      const numeric = (plus - minus) / (2 * h);
      assert(
        Math.abs(numeric - grad[i]) <= 1e-6 * scale + 1e-9,
        `${spec.name}[${i}]: FD ${numeric} vs ${grad[i]}`,
      );
    }
  }
});

Deno.test({
  name: "nanogpt: GPU gradients match float32 finite differences of the GPU loss",
  ...GPU_TEST,
  async fn() {
    const { gpu, kernels } = await testGpu();
    const { flat, tokens } = setup(CONFIG, BATCH, 21);
    // Weights ×10 (σ 0.2): at GPT-2's σ 0.02 the loss is nearly flat and a float32 difference is noise.
    for (let i = 0; i < flat.length; i++) flat[i] *= 10;
    await assertGradientsMatchFiniteDifferences(gpu, kernels, CONFIG, BATCH, flat, tokens);
  },
});

Deno.test("nanogpt: run specs apply --arch to presets, refuse a mismatch with a config, cap AdEMAMix's warmup", async () => {
  await assertRejects(
    () => resolveRun({ out: "unused", config: { ...CONFIG }, arch: "olmo" }),
    Error,
    "--arch olmo differs from the config's arch nanogpt",
  );
  assertEquals(runOptimizer({ out: "unused", optimizer: "ademamix" }, 300).ademamixWarmup, 300);
  assertEquals(runOptimizer({ out: "unused", optimizer: "ademamix" }, 90000).ademamixWarmup, 50000);
  assertEquals(runOptimizer({ out: "unused", optimizer: "muon", muonLrScale: 0.2 }, 10), {
    kind: "muon",
    muonLrScale: 0.2,
    muonMomentum: 0.95,
  });
  const { config, options } = await resolveRun({ out: "unused", preset: "tiny", arch: "nanogpt", steps: 3 });
  assertEquals([config.arch, config.mlp_ratio, config.norm_eps, options.name], [
    "nanogpt",
    4,
    1e-6,
    "nanogpt-tiny",
  ]);
});
