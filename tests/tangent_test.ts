/**
 * The forward-mode path of Δ̂ℓ_i = g_i·δ (src/model/tangent.ts): each tangent kernel against its float64
 * reference at odd sizes (both attention variants, both row variants), the float64 references against
 * central finite differences, and the whole model's tangents against (a) the float64 reference,
 * (c) central differences of the float64 per-token losses; (b), against the per-token gradients, is
 * the cross-check of `GradientStatistics` (tests/gradient_statistics_test.ts).
 */
import process from "node:process";
import { assertClose, assertEquals, assertRejects, assertThrows } from "./asserts.ts";
import { GPU_TEST, Random, randomInputs, testGpu } from "./helpers.ts";
import { modelSetup } from "./model_helpers.ts";
import { createBuffer, readFloats, uploadBuffer } from "../src/gpu/mod.ts";
import { AttentionTangent } from "../src/ops/attention_tangent.ts";
import { Attention } from "../src/ops/attention.ts";
import { CrossEntropyTangent, SwiGluTangent } from "../src/ops/tangent.ts";
import type { RowVariant } from "../src/ops/rmsnorm.ts";
import { attentionForward } from "../src/reference/attention.ts";
import { swigluForward } from "../src/reference/swiglu.ts";
import { crossEntropyForward } from "../src/reference/cross_entropy.ts";
import {
  attentionTangent,
  crossEntropyTangent,
  referenceLossTangent,
  swigluTangent,
} from "../src/reference/tangent.ts";
import { referenceForward } from "../src/reference/model.ts";
import type { ReferenceParameters } from "../src/reference/model.ts";
import { ODD_TINY_CONFIG, ODD_TINY_NANOGPT_CONFIG } from "../src/reference/selftest.ts";
import type { ModelConfig } from "../src/model/config.ts";
import { Transformer } from "../src/model/transformer.ts";
import { LossTangent } from "../src/model/tangent.ts";
import { ForwardModePredictor } from "../src/analysis/gradients/predicted.ts";
import { jvpCrossCheck } from "../src/analysis/gradients/statistics.ts";

/** Waits until lavapipe's pipeline compiles are done (see tests/attention_test.ts's `settle`). */
async function settle(): Promise<void> {
  for (let i = 0; i < 2400; i++) {
    const before = process.cpuUsage();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const used = process.cpuUsage(before);
    if (used.user + used.system < 10_000) return;
  }
}

/** Central difference of `f` along `direction` at `x` (float64). */
function centralDifference(
  f: (x: Float64Array) => Float64Array,
  x: Float64Array,
  direction: Float64Array,
  h: number,
): Float64Array {
  const plus = x.map((v, i) => v + h * direction[i]);
  const minus = x.map((v, i) => v - h * direction[i]);
  const a = f(plus);
  const b = f(minus);
  return a.map((v, i) => (v - b[i]) / (2 * h));
}

Deno.test("tangent references: attention, SwiGLU and the token loss match central differences (float64)", () => {
  const random = new Random(41);
  const [batch, seqLen, dModel, nHeads] = [2, 5, 12, 2];
  const qkv = random.fillUniform(new Float64Array(batch * seqLen * 3 * dModel), -2, 2);
  const tangentQkv = random.fillUniform(new Float64Array(qkv.length));
  const attention = (x: Float64Array) => attentionForward(x, batch, seqLen, dModel, nHeads);
  assertClose(
    attentionTangent(qkv, tangentQkv, batch, seqLen, dModel, nHeads),
    centralDifference(attention, qkv, tangentQkv, 1e-5),
    1e-8,
    "attention tangent vs central difference",
  );
  const [rows, width] = [3, 10];
  const u = random.fillUniform(new Float64Array(rows * width), -4, 4);
  const tangentU = random.fillUniform(new Float64Array(u.length));
  assertClose(
    swigluTangent(u, tangentU, rows, width),
    centralDifference((x) => swigluForward(x, rows, width), u, tangentU, 1e-5),
    1e-8,
    "SwiGLU tangent vs central difference",
  );
  const vocab = 7;
  const logits = random.fillUniform(new Float64Array(rows * vocab), -3, 3);
  const tangentLogits = random.fillUniform(new Float64Array(logits.length));
  const targets = Int32Array.from([2, -1, 6]);
  assertClose(
    crossEntropyTangent(logits, tangentLogits, targets, rows, vocab),
    centralDifference((x) => crossEntropyForward(x, targets, rows, vocab), logits, tangentLogits, 1e-5),
    1e-8,
    "token-loss tangent vs central difference",
  );
});

/** δ by parameter name, and as a flat float32 buffer in the layout: random, of the size of an AdamW step. */
function randomDelta(config: ModelConfig, seed: number) {
  const { layout } = modelSetup(config, 1);
  const random = new Random(seed);
  const flat = new Float32Array(layout.totalLength).map(() => (random.uniform() - 0.5) * 2e-3);
  const byName: ReferenceParameters = new Map(
    layout.specs.map((s) => [s.name, Float64Array.from(flat.subarray(s.offset, s.offset + s.length))]),
  );
  return { flat, byName };
}

for (const config of [ODD_TINY_CONFIG, ODD_TINY_NANOGPT_CONFIG]) {
  Deno.test(`tangent reference (${config.arch ?? "olmo"}): the model's ℓ̇ matches central differences of its float64 losses`, () => {
    const batch = 2;
    const { tokens, params } = modelSetup(config, batch);
    const delta = randomDelta(config, 7).byName;
    const names = [...params().keys()];
    const theta = params();
    const flat = (map: ReferenceParameters) => {
      const parts = names.map((n) => map.get(n)!);
      const out = new Float64Array(parts.reduce((s, p) => s + p.length, 0));
      let k = 0;
      for (const part of parts) out.set(part, (k += part.length) - part.length);
      return out;
    };
    const unflat = (x: Float64Array): ReferenceParameters => {
      const out: ReferenceParameters = new Map();
      let k = 0;
      for (const n of names) {
        const length = theta.get(n)!.length;
        out.set(n, x.subarray(k, k + length));
        k += length;
      }
      return out;
    };
    const losses = (x: Float64Array) => referenceForward(config, unflat(x), tokens, batch).losses;
    // A step of h·δ with ‖δ‖ ≈ 0.05: truncation O(h²‖δ‖²) relative, rounding ~1e-16/(h·|ℓ̇|).
    const numeric = centralDifference(losses, flat(theta), flat(delta), 1e-2);
    const tangent = referenceLossTangent(config, theta, delta, tokens, batch);
    assertClose(tangent, numeric, 1e-6, `${config.arch ?? "olmo"} reference ℓ̇ vs central difference`);
  });
}

Deno.test({
  name: "attention tangent: both variants against float64, head dims 8 and 6, odd T, T past one tile",
  ...GPU_TEST,
  async fn() {
    const { gpu, kernels } = await testGpu();
    const random = new Random(42);
    for (const [batch, seqLen, nHeads, hd] of [[2, 13, 3, 8], [1, 21, 2, 6], [1, 70, 1, 8]]) {
      const dModel = nHeads * hd;
      const n = batch * seqLen;
      const qkv = randomInputs(random, n * 3 * dModel, 2);
      const tangentQkv = randomInputs(random, n * 3 * dModel);
      const expected = attentionTangent(qkv.f64, tangentQkv.f64, batch, seqLen, dModel, nHeads);
      for (const variant of ["register", "tiled"] as const) {
        const shape = { batch, seqLen, dModel, nHeads, variant };
        const attention = await Attention.create(kernels, shape);
        const tangent = await AttentionTangent.create(kernels, shape);
        assertEquals(tangent.variant, variant);
        const bQkv = uploadBuffer(gpu, qkv.f32, "qkv");
        const bTangent = uploadBuffer(gpu, tangentQkv.f32, "tangent qkv");
        const bY = createBuffer(gpu, n * dModel * 4, "y");
        const bLse = createBuffer(gpu, attention.lseLength * 4, "lse");
        const bOut = uploadBuffer(gpu, new Float32Array(n * dModel).fill(7), "tangent y");
        const encoder = gpu.device.createCommandEncoder();
        const pass = encoder.beginComputePass();
        attention.forward(pass, bQkv, bY, bLse);
        tangent.record(pass, bQkv, bTangent, bY, bLse, bOut);
        pass.end();
        gpu.device.queue.submit([encoder.finish()]);
        await settle();
        const got = await readFloats(gpu, bOut);
        assertClose(
          got,
          expected,
          1e-5,
          `attention tangent ${variant} B=${batch} T=${seqLen} H=${nHeads} hd=${hd}`,
        );
        for (const b of [bQkv, bTangent, bY, bLse, bOut]) b.destroy();
        attention.destroy();
        tangent.destroy();
      }
    }
  },
});

Deno.test({
  name: "SwiGLU and token-loss tangents against float64 (odd sizes, both row variants)",
  ...GPU_TEST,
  async fn() {
    const { gpu, kernels } = await testGpu();
    const random = new Random(43);
    for (const [rows, width] of [[5, 6], [3, 16]]) {
      const u = randomInputs(random, rows * width, 4);
      const tangentU = randomInputs(random, rows * width);
      const op = await SwiGluTangent.create(kernels, { rows, width });
      const bU = uploadBuffer(gpu, u.f32, "u");
      const bTangent = uploadBuffer(gpu, tangentU.f32, "tangent u");
      const bOut = createBuffer(gpu, (rows * width) / 2 * 4, "tangent out");
      const encoder = gpu.device.createCommandEncoder();
      const pass = encoder.beginComputePass();
      op.record(pass, bU, bTangent, bOut);
      pass.end();
      gpu.device.queue.submit([encoder.finish()]);
      const got = await readFloats(gpu, bOut);
      assertClose(
        got,
        swigluTangent(u.f64, tangentU.f64, rows, width),
        1e-5,
        `SwiGLU tangent ${rows}×${width}`,
      );
      for (const b of [bU, bTangent, bOut]) b.destroy();
    }
    const [rows, vocab] = [5, 37];
    const logits = randomInputs(random, rows * vocab, 6);
    const tangentLogits = randomInputs(random, rows * vocab);
    const targets = Uint32Array.from([3, 0xffffffff, 36, 0, 17]);
    const expected = crossEntropyTangent(
      logits.f64,
      tangentLogits.f64,
      Int32Array.from(targets),
      rows,
      vocab,
    );
    for (const variant of ["serial", "workgroup"] as RowVariant[]) {
      const op = await CrossEntropyTangent.create(kernels, { rows, vocab, variant });
      const bLogits = uploadBuffer(gpu, logits.f32, "logits");
      const bTangent = uploadBuffer(gpu, tangentLogits.f32, "tangent logits");
      const bTargets = uploadBuffer(gpu, targets, "targets");
      const bOut = uploadBuffer(gpu, new Float32Array(rows).fill(7), "out");
      const encoder = gpu.device.createCommandEncoder();
      const pass = encoder.beginComputePass();
      op.record(pass, bLogits, bTangent, bTargets, bOut);
      pass.end();
      gpu.device.queue.submit([encoder.finish()]);
      const got = await readFloats(gpu, bOut);
      assertEquals(got[1], 0, "a row without a target has ℓ̇ = 0");
      assertClose(got, expected, 1e-5, `token-loss tangent ${variant} ${rows}×${vocab}`);
      for (const b of [bLogits, bTangent, bTargets, bOut]) b.destroy();
    }
  },
});

for (const config of [ODD_TINY_CONFIG, ODD_TINY_NANOGPT_CONFIG]) {
  const arch = config.arch ?? "olmo";
  Deno.test({
    name: `LossTangent (${arch}): the whole model's ℓ̇ against the float64 reference and central differences`,
    ...GPU_TEST,
    async fn() {
      const { gpu, kernels } = await testGpu();
      // OLMo: 6·13 = 78 rows, so that logits chunks of 64 rows leave a second, short chunk.
      const batch = arch === "olmo" ? 6 : 2;
      const { flat, tokens, params } = modelSetup(config, batch);
      const delta = randomDelta(config, 7);
      const model = await Transformer.create(gpu, config, { batch, training: true }, kernels);
      model.setParameters(flat);
      const expected = referenceLossTangent(config, params(), delta.byName, tokens, batch);
      // Also the path that recomputes rotated q, k (for a model whose qkv holds them unrotated).
      for (const recomputeQkv of arch === "olmo" ? [false, true] : [false]) {
        const logitsChunkBytes = recomputeQkv ? 64 * config.vocab_size * 4 : undefined;
        const tangent = await LossTangent.create(model, { recomputeQkv, logitsChunkBytes });
        tangent.setDelta(delta.flat);
        const got = await tangent.compute(tokens);
        await settle();
        assertClose(
          got,
          expected,
          2e-5,
          `${arch} GPU ℓ̇ vs float64 reference (recomputeQkv ${recomputeQkv}, logits chunk ${
            logitsChunkBytes ?? "whole"
          })`,
        );
        tangent.destroy();
      }
      // The GPU's own losses along ±δ (float32): a coarse check that ℓ̇ is the derivative of what the GPU computes.
      const eps = 4;
      const lossesAt = async (sign: number) => {
        model.setParameters(flat.map((v, i) => v + sign * eps * delta.flat[i]));
        return await model.forwardLosses(tokens);
      };
      const plus = await lossesAt(1);
      const minus = await lossesAt(-1);
      model.setParameters(flat);
      const numeric = plus.map((v, i) => (v - minus[i]) / (2 * eps));
      assertClose(numeric, expected, 5e-2, `${arch} GPU central difference vs float64 ℓ̇`);
      model.destroy();
    },
  });
}

Deno.test({
  name: "LossTangent: a model without every layer's activations is refused",
  ...GPU_TEST,
  async fn() {
    const { gpu, kernels } = await testGpu();
    const model = await Transformer.create(gpu, ODD_TINY_CONFIG, { batch: 1, training: false }, kernels);
    await assertRejects(() => LossTangent.create(model), Error, "training: true");
    model.destroy();
  },
});

Deno.test({
  name:
    "ForwardModePredictor: Δ̂ℓ of 3 sequences in passes of 2 (a padded last pass) against the float64 reference",
  ...GPU_TEST,
  async fn() {
    const { gpu, kernels } = await testGpu();
    const config = ODD_TINY_CONFIG;
    const { flat, tokens, params } = modelSetup(config, 3);
    const delta = randomDelta(config, 9);
    const predictor = await ForwardModePredictor.create(gpu, config, { sequencesPerPass: 2, kernels });
    const got = await predictor.predict(flat, delta.flat, tokens);
    predictor.destroy();
    assertEquals(got.length, 3 * (config.seq_len - 1));
    assertClose(
      got,
      referenceLossTangent(config, params(), delta.byName, tokens, 3),
      2e-5,
      "predictor vs float64",
    );
  },
});

Deno.test("jvpCrossCheck: passes agreeing paths, fails loudly on a difference beyond its bound", () => {
  const examples = {
    predicted: Float64Array.from([1e-3, -2e-3]),
    absPredicted: Float64Array.from([1e-2, 3e-2]),
    gradSq: new Float64Array(2),
    gradAbs: new Float64Array(2),
  };
  const close = jvpCrossCheck(examples, Float64Array.from([1e-3 + 1e-8, -2e-3]));
  assertClose([close.maxAbsDifference, close.bound], [1e-8, 3e-5], 1e-6, "difference and bound");
  assertThrows(
    () => jvpCrossCheck(examples, Float64Array.from([1e-3, -2e-3 + 1e-4])),
    Error,
    "forward-mode tangent",
  );
  assertThrows(() => jvpCrossCheck(examples, Float64Array.from([NaN, -2e-3])), Error, "differ");
});
