/**
 * The gradient noise scale B_simple = tr(Σ)/‖𝔼g‖² (docs/method.md#gradient-noise-scale): the streamed
 * estimators against brute force from explicit per-example gradient matrices, their unbiasedness, and the
 * relation to D(∇ℓ) through the per-coordinate signal-to-noise ratio, checked by simulation.
 */
import { assert, assertClose, assertEquals, assertWithin } from "./asserts.ts";
import {
  gaussianInterference,
  gradientInterferenceFromMatrices,
  gradientInterferenceRows,
  gradientNoiseScale,
  noiseScaleUnits,
} from "../src/analysis/gradients/mod.ts";
import { Random } from "../src/util/random.ts";

/** N example gradients of J coordinates: mean `mean[j]`, standard deviation `sd[j]`, Gaussian. */
function gradients(random: Random, N: number, mean: number[], sd: number[]): Float64Array[] {
  return Array.from({ length: N }, () => Float64Array.from(mean, (m, j) => m + sd[j] * random.normal()));
}

/** tr(Σ) and ‖𝔼g‖² by their definitions: column sample variances (N − 1), ‖ḡ‖² − tr(Σ)/N. */
function bruteForce(g: Float64Array[]): { trace: number; meanSq: number; b: number } {
  const N = g.length;
  const J = g[0].length;
  let trace = 0;
  let barSq = 0;
  for (let j = 0; j < J; j++) {
    const column = g.map((row) => row[j]);
    const mean = column.reduce((a, b) => a + b, 0) / N;
    trace += column.reduce((sum, v) => sum + (v - mean) ** 2, 0) / (N - 1);
    barSq += mean * mean;
  }
  const meanSq = barSq - trace / N;
  return { trace, meanSq, b: trace / meanSq };
}

Deno.test("noise scale: the streamed estimators equal brute force from explicit per-example gradients", () => {
  const random = new Random(41);
  for (const [N, J] of [[2, 3], [7, 13], [50, 41]]) {
    const mean = Array.from({ length: J }, () => random.normal());
    const g = gradients(random, N, mean, Array(J).fill(0.5));
    const delta = Float64Array.from({ length: J }, () => 0.01 * random.normal());
    const metrics = gradientInterferenceFromMatrices(g, delta);
    const brute = bruteForce(g);
    assertClose(
      [metrics.noiseTrace, metrics.gradSqUnbiased, metrics.bSimple],
      [brute.trace, brute.meanSq, brute.b],
      1e-12,
      `N=${N} J=${J}: tr(Σ), ‖𝔼g‖², B_simple`,
    );
    const squares = g.reduce((sum, row) => sum + row.reduce((s, v) => s + v * v, 0), 0) / N;
    assertClose([metrics.meanExampleGradSq], [squares], 1e-13, `N=${N}: mean ‖g_i‖²`);
  }
  // The worked vectors of docs/method.md#measures: mean ‖g_i‖² = (5 + 1.25 + 1.25)/3 = 2.5, ḡ = (1/6, −1/6).
  const worked = gradientInterferenceFromMatrices([[1, -2], [0.5, 1], [-1, 0.5]], [0.1, -0.2]);
  assertClose(
    [worked.noiseTrace, worked.gradSqUnbiased],
    [1.5 * (2.5 - 1 / 18), (3 / 18 - 2.5) / 2],
    1e-14,
    "worked",
  );
  assert(Number.isNaN(worked.bSimple), "‖𝔼g‖² estimated ≤ 0: B_simple undefined");
  assertEquals(gradientNoiseScale(1, 4, 4).bSimple, NaN);
});

Deno.test("noise scale: tr(Σ) and ‖𝔼g‖² are unbiased (4,000 draws of 4 examples)", () => {
  const random = new Random(5);
  const mean = [1, -0.5, 0.2, 0, 0.3];
  const sd = [2, 2, 2, 2, 2];
  const draws = 4000;
  const traces: number[] = [];
  const squares: number[] = [];
  for (let d = 0; d < draws; d++) {
    const g = gradients(random, 4, mean, sd);
    const m = gradientInterferenceFromMatrices(g, Float64Array.from(mean, () => 1));
    traces.push(m.noiseTrace);
    squares.push(m.gradSqUnbiased);
  }
  const check = (values: number[], truth: number, label: string) => {
    const average = values.reduce((a, b) => a + b, 0) / draws;
    const sd = Math.sqrt(values.reduce((s, v) => s + (v - average) ** 2, 0) / (draws - 1));
    // Within 4 standard errors of the mean of the draws.
    assertWithin(Math.abs(average - truth) / (sd / Math.sqrt(draws)), 4, `${label}: |mean − truth| in s.e.`);
  };
  check(traces, 5 * 4, "tr(Σ) = 20");
  check(squares, 1 + 0.25 + 0.04 + 0.09, "‖𝔼g‖² = 1.38");
  // The plug-in ‖ḡ‖² is biased upward by tr(Σ)/N = 5: the estimator removes exactly that.
  const plugIn = squares.map((s, d) => s + traces[d] / 4);
  const average = plugIn.reduce((a, b) => a + b, 0) / draws;
  assert(average > 1.38 + 4, `plug-in ‖ḡ‖² ${average} should exceed ‖𝔼g‖² by about 5`);
});

Deno.test("noise scale: D(∇ℓ) ≈ 1 − 𝔼|ḡ_j|/𝔼|g_ij| at a homogeneous SNR 1/√B (simulated)", () => {
  const random = new Random(77);
  const N = 256;
  const J = 600;
  for (const B of [4, 64, 256, 1e5]) {
    // Every coordinate with SNR |μ_j|/σ_j = 1/√B, scales σ_j spread over a decade, signs at random.
    const sd = Array.from({ length: J }, () => 10 ** random.uniform());
    const mean = sd.map((s) => (random.uniform() < 0.5 ? -1 : 1) * s / Math.sqrt(B));
    const g = gradients(random, N, mean, sd);
    const metrics = gradientInterferenceFromMatrices(g, Float64Array.from({ length: J }, () => 1e-3));
    const predicted = gaussianInterference(B, N);
    assertWithin(Math.abs(metrics.dGrad - predicted), 0.01, `B = ${B}, N = ${N}: |D(∇ℓ) − prediction|`);
    if (B <= N / 4) {
      // The estimate of B is good where N ≫ B (beyond that ‖𝔼g‖² drowns in the noise of N examples).
      assertWithin(Math.abs(Math.log(metrics.bSimple / B)), 0.15, `B = ${B}: |log(B̂ / B)|`);
    }
  }
  // The two limits the docs state: √(π/(2B)) for N ≫ B, the null 1 − 1/√N for N ≪ B.
  assertClose([1 - gaussianInterference(1e4, 1e12)], [Math.sqrt(Math.PI / 2e4)], 1e-3, "N ≫ B");
  assertClose([gaussianInterference(1e9, 400)], [1 - 1 / 20], 1e-4, "N ≪ B");
});

Deno.test("noise scale: the table's units: B_simple and the batch in tokens and in the row's examples", () => {
  const identity = { model: "m", params: 1, batch: 16, seqLen: 129 };
  assertEquals(noiseScaleUnits("sequence", 10, identity), {
    bSimpleTokens: 1280,
    batchExamples: 16,
    batchTokens: 2048,
  });
  assertEquals(noiseScaleUnits("token", 300, identity), {
    bSimpleTokens: 300,
    batchExamples: 2048,
    batchTokens: 2048,
  });
  const unknown = noiseScaleUnits("token", 300, undefined);
  assert(unknown.bSimpleTokens === 300 && Number.isNaN(unknown.batchExamples));
  const random = new Random(3);
  const g = gradients(random, 8, [1, 1, 1], [0.1, 0.1, 0.1]);
  const metrics = gradientInterferenceFromMatrices(g, [0.1, 0.1, 0.1]);
  const [row] = gradientInterferenceRows(
    [{
      name: "m",
      runDir: "/nonexistent",
      checkpoints: [{ ...metrics, step: 4, granularity: "sequence", lr: 1e-3, seconds: 0, agreement: null }],
    }],
    new Map([["m", identity]]),
  );
  assertEquals([row.bSimple, row.bSimpleTokens, row.batchExamples], [
    metrics.bSimple,
    128 * metrics.bSimple,
    16,
  ]);
});
