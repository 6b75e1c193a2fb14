/**
 * Per-example gradients of nanoGPT (docs/method.md#per-example-gradients and #the-nanogpt-variant): the position embedding's per-example
 * statistics op against its float64 reference, and GradientStatistics (token and sequence examples,
 * with projections) against brute force through the ordinary backward, one example per backward.
 */
import { assert, assertClose, assertEquals, relativeError } from "./asserts.ts";
import { GPU_TEST, Random, randomInputs, testGpu } from "./helpers.ts";
import { createBuffer, readFloats, uploadBuffer } from "../src/gpu/mod.ts";
import { ExampleStatsReduce, PositionExampleStats } from "../src/ops/per_example.ts";
import { positionExampleStats } from "../src/reference/per_example.ts";
import { GradientStatistics } from "../src/analysis/gradients/statistics.ts";
import type { Granularity } from "../src/analysis/gradients/statistics.ts";
import {
  finishGradientInterference,
  gradientInterferenceFromMatrices,
} from "../src/analysis/gradients/metrics.ts";
import { projectionMatrices } from "../src/ops/projection.ts";
import { ODD_TINY_NANOGPT_CONFIG } from "../src/reference/selftest.ts";
import { initParameters, parameterLayout } from "../src/model/parameters.ts";
import { NO_TARGET, Transformer } from "../src/model/transformer.ts";

Deno.test({
  name: "per-example position stats: sums over the positions present, partials per example, odd sizes",
  ...GPU_TEST,
  async fn() {
    const { gpu, kernels } = await testGpu();
    const random = new Random(81);
    for (const [examples, rows, d, positions] of [[3, 5, 7, 9], [2, 13, 24, 13], [4, 40, 9, 41]]) {
      const label = `E=${examples} P=${rows} d=${d} positions=${positions}`;
      const op = await PositionExampleStats.create(kernels, { examples, rowsPerExample: rows, d });
      const dEmbedding = randomInputs(random, examples * rows * d);
      const delta = randomInputs(random, positions * d, 0.01);
      const sums0 = randomInputs(random, positions * d).f32;
      const bDemb = uploadBuffer(gpu, dEmbedding.f32, "dEmbedding");
      const bDelta = uploadBuffer(gpu, delta.f32, "delta");
      const sumG = uploadBuffer(gpu, sums0, "sumG");
      const sumAbsG = uploadBuffer(gpu, sums0.map(Math.abs), "sumAbsG");
      const partials = uploadBuffer(
        gpu,
        new Float32Array(op.partialColumns * examples * 4).fill(99),
        "partials",
      );
      const out = createBuffer(gpu, examples * 16, "per-example sums");
      const reduce = await ExampleStatsReduce.create(kernels, { examples, columns: op.partialColumns });
      const encoder = gpu.device.createCommandEncoder();
      const pass = encoder.beginComputePass();
      op.record(pass, bDemb, bDelta, sumG, sumAbsG, partials);
      reduce.record(pass, partials, out);
      pass.end();
      gpu.device.queue.submit([encoder.finish()]);
      const expected = positionExampleStats(dEmbedding.f64, delta.f64, examples, rows, d);
      const coordinates = rows * d;
      const gotG = await readFloats(gpu, sumG);
      const gotAbs = await readFloats(gpu, sumAbsG);
      assertClose(
        gotG.subarray(0, coordinates),
        expected.sumG.map((v, j) => v + sums0[j]),
        1e-5,
        `${label} sumG`,
      );
      assertClose(
        gotAbs.subarray(0, coordinates),
        expected.sumAbsG.map((v, j) => v + Math.abs(sums0[j])),
        1e-5,
        `${label} sumAbsG`,
      );
      // Positions beyond the example's rows are untouched.
      assertEquals(gotG.subarray(coordinates), sums0.subarray(coordinates), `${label}: rows ≥ P written`);
      assertClose(await readFloats(gpu, out), expected.perExample, 1e-5, `${label} per-example sums`);
      for (const buffer of [bDemb, bDelta, sumG, sumAbsG, partials, out]) buffer.destroy();
      op.destroy();
      reduce.destroy();
    }
  },
});

const config = ODD_TINY_NANOGPT_CONFIG;
const T = config.seq_len;
const SEQUENCES = 3;
const layout = parameterLayout(config);
const random = new Random(82);
// GPT-2's σ 0.02 leaves per-example gradients tiny; ×10 makes every path count.
const parameters = initParameters(layout, 5).map((v) => 10 * v);
const tokens = new Uint32Array(SEQUENCES * T).map(() => random.int(config.vocab_size));
const delta = new Float32Array(layout.totalLength).map(() => (random.uniform() - 0.5) * 2e-3);
const PROJECTION = {
  kOut: 3,
  kIn: 4,
  seed: 9,
  parameters: ["transformer.wpe.weight", "transformer.h.0.mlp.c_fc.weight"],
};

function real(flat: Float32Array): Float64Array {
  const out: number[] = [];
  for (const spec of layout.specs) for (let j = 0; j < spec.length; j++) out.push(flat[spec.offset + j]);
  return Float64Array.from(out);
}

/** Every example's gradient (flat, layout order) through the ordinary backward, one per backward. */
async function bruteForce(granularity: Granularity): Promise<Float32Array[]> {
  const { gpu, kernels } = await testGpu();
  const lossScale = granularity === "token" ? 1 : 1 / (T - 1);
  const model = await Transformer.create(gpu, config, { batch: 1, lossScale }, kernels);
  model.setParameters(parameters);
  const gradients: Float32Array[] = [];
  for (let b = 0; b < SEQUENCES; b++) {
    const sequence = tokens.slice(b * T, (b + 1) * T);
    for (const s of granularity === "token" ? [...Array(T - 1).keys()] : [-1]) {
      const targets = new Uint32Array(T).fill(NO_TARGET);
      for (let p = 0; p < T - 1; p++) if (s === -1 || p === s) targets[p] = sequence[p + 1];
      model.setTokens(sequence, targets);
      const encoder = gpu.device.createCommandEncoder();
      model.zeroGradients(encoder);
      const pass = encoder.beginComputePass();
      model.record(pass, { backward: true });
      pass.end();
      gpu.device.queue.submit([encoder.finish()]);
      gradients.push(await model.getGradients());
    }
  }
  model.destroy();
  return gradients;
}

for (const granularity of ["token", "sequence"] as const) {
  Deno.test({
    name: `nanogpt per-${granularity} gradient statistics and projections match brute force`,
    ...GPU_TEST,
    async fn() {
      const { gpu, kernels } = await testGpu();
      const brute = await bruteForce(granularity);
      const statistics = await GradientStatistics.create(gpu, config, {
        granularity,
        kernels,
        sequencesPerPass: 2,
        targetsPerPass: 5, // prefixes 5, 10, 12: shorter sequences than wpe's 13 rows
        projection: PROJECTION,
      });
      const stats = await statistics.compute(parameters, delta, tokens);
      const sums = await statistics.readSums();
      statistics.destroy();
      assertEquals(stats.examples.predicted.length, brute.length);
      // Per coordinate (wpe included: the sum of the per-example gradients is the batch gradient).
      const sum = new Float64Array(layout.totalLength);
      const absSum = new Float64Array(layout.totalLength);
      for (const g of brute) {
        for (let j = 0; j < g.length; j++) {
          sum[j] += g[j];
          absSum[j] += Math.abs(g[j]);
        }
      }
      const wpe = layout.byName.get("transformer.wpe.weight")!;
      const part = (values: ArrayLike<number>) =>
        Array.from({ length: wpe.length }, (_, j) => values[wpe.offset + j]);
      assert(relativeError(part(sums.sumG), part(sum)) < 2e-4, "wpe Σ_i g_ij");
      assert(relativeError(part(sums.sumAbsG), part(absSum)) < 2e-4, "wpe Σ_i |g_ij|");
      assert(relativeError(real(sums.sumG), real(Float32Array.from(sum))) < 2e-4, "Σ_i g_ij");
      assert(relativeError(real(sums.sumAbsG), real(Float32Array.from(absSum))) < 2e-4, "Σ_i |g_ij|");
      // Per example and the metrics, with wpe left out of D(∇ℓ) like wte.
      const interference = layout.specs.flatMap((spec) =>
        new Array(spec.length).fill(!spec.name.endsWith("wte.weight") && !spec.name.endsWith("wpe.weight"))
      );
      const reference = gradientInterferenceFromMatrices(brute.map(real), real(delta), { interference });
      const metrics = finishGradientInterference(stats.coordinates, stats.examples, { tolerance: 1e-3 });
      for (const key of ["dGrad", "cG", "cUG", "cUg", "oneMinusDPredicted", "mPredicted"] as const) {
        const error = Math.abs(metrics[key] - reference[key]) / Math.max(Math.abs(reference[key]), 1e-12);
        assert(error < 1e-3, `${key}: kernels ${metrics[key]} vs brute force ${reference[key]}`);
      }
      const predicted = brute.map((g) => g.reduce((s, v, j) => s + v * delta[j], 0));
      assert(relativeError(stats.examples.predicted, predicted) < 2e-4, "per-example g_i·δ");
      // Projections of wpe (positions present only) and of a c_fc weight: P_out G_e P_inᵀ.
      const projected = stats.projected!;
      const matrices = projectionMatrices(layout, PROJECTION);
      for (const slice of projected.slices) {
        const spec = layout.byName.get(slice.name)!;
        const { out: pOut, in: pIn, kOut, kIn } = matrices.get(slice.name)!;
        const [rows, cols] = spec.shape;
        const expected: number[] = [];
        const got: number[] = [];
        brute.forEach((g, e) => {
          for (let a = 0; a < kOut; a++) {
            for (let b = 0; b < kIn; b++) {
              let value = 0;
              for (let r = 0; r < rows; r++) {
                for (let c = 0; c < cols; c++) {
                  value += pOut[a * rows + r] * g[spec.offset + r * cols + c] * pIn[b * cols + c];
                }
              }
              expected.push(value);
              got.push(projected.vectors[e * projected.dims + slice.offset + a * kIn + b]);
            }
          }
        });
        const error = relativeError(got, expected);
        assert(error < 2e-4, `${slice.name} projection: relative error ${error}`);
      }
      console.log(`nanogpt per-${granularity}: ${brute.length} examples, D(∇ℓ) ${metrics.dGrad.toFixed(4)}`);
    },
  });
}
