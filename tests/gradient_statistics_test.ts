/**
 * Exact per-example gradient statistics (src/analysis/gradients/statistics.ts) against brute force:
 * every example's gradient from the ordinary backward, one example at a time (the loss at one
 * target position, or one sequence's mean loss), then the CPU function over the explicit matrices.
 */
import { assert, assertEquals, assertRejects, assertWithin, relativeError } from "./asserts.ts";
import { GPU_TEST, Random, testGpu } from "./helpers.ts";
import { GradientStatistics, JVP_TOLERANCE } from "../src/analysis/gradients/statistics.ts";
import type { ExampleStatistics, Granularity } from "../src/analysis/gradients/statistics.ts";
import {
  finishGradientInterference,
  gradientInterferenceFromMatrices,
} from "../src/analysis/gradients/metrics.ts";
import type { GradientInterference } from "../src/analysis/gradients/metrics.ts";
import { ODD_TINY_CONFIG } from "../src/reference/selftest.ts";
import { initParameters, parameterLayout } from "../src/model/parameters.ts";
import type { ParameterLayout } from "../src/model/parameters.ts";
import { NO_TARGET, Transformer } from "../src/model/transformer.ts";

const config = ODD_TINY_CONFIG;
const T = config.seq_len;
const SEQUENCES = 3;
const layout = parameterLayout(config);
const parameters = initParameters(layout, 5);
const random = new Random(21);
const tokens = new Uint32Array(SEQUENCES * T).map(() => random.int(config.vocab_size));
// A δ of the size of an AdamW step, with both signs.
const delta = new Float32Array(layout.totalLength).map(() => (random.uniform() - 0.5) * 2e-3);

/** The real coordinates of a flat vector (layout padding dropped), and which count in D(∇ℓ). */
function realCoordinates(layout: ParameterLayout, flat: Float32Array): Float64Array {
  const out = new Float64Array(layout.specs.reduce((n, spec) => n + spec.length, 0));
  let k = 0;
  for (const spec of layout.specs) {
    for (let j = 0; j < spec.length; j++) out[k++] = flat[spec.offset + j];
  }
  return out;
}

const interference = (() => {
  const mask: boolean[] = [];
  for (const spec of layout.specs) {
    for (let j = 0; j < spec.length; j++) mask.push(spec.name !== "transformer.wte.weight");
  }
  return mask;
})();

/** Every example's gradient through the ordinary backward, one example per backward. */
async function bruteForce(
  granularity: Granularity,
): Promise<{ gradients: Float64Array[]; sum: Float64Array }> {
  const { gpu, kernels } = await testGpu();
  const model = await Transformer.create(
    gpu,
    config,
    { batch: 1, lossScale: granularity === "token" ? 1 : 1 / (T - 1) },
    kernels,
  );
  try {
    model.setParameters(parameters);
    const gradients: Float64Array[] = [];
    for (let b = 0; b < SEQUENCES; b++) {
      const sequence = tokens.slice(b * T, (b + 1) * T);
      const positions = granularity === "token" ? [...Array(T - 1).keys()] : [-1];
      for (const s of positions) {
        const targets = new Uint32Array(T).fill(NO_TARGET);
        for (let p = 0; p < T - 1; p++) if (s === -1 || p === s) targets[p] = sequence[p + 1];
        model.setTokens(sequence, targets);
        const encoder = gpu.device.createCommandEncoder();
        model.zeroGradients(encoder);
        const pass = encoder.beginComputePass();
        model.record(pass, { backward: true });
        pass.end();
        gpu.device.queue.submit([encoder.finish()]);
        gradients.push(realCoordinates(layout, await model.getGradients()));
      }
    }
    const sum = new Float64Array(gradients[0].length);
    for (const g of gradients) for (let j = 0; j < sum.length; j++) sum[j] += g[j];
    return { gradients, sum };
  } finally {
    model.destroy();
  }
}

async function kernelStatistics(
  granularity: Granularity,
  targetsPerPass?: number,
  sequencesPerBackward?: number,
): Promise<{ stats: ExampleStatistics; sumG: Float64Array; sumAbsG: Float64Array }> {
  const { gpu, kernels } = await testGpu();
  const statistics = await GradientStatistics.create(gpu, config, {
    granularity,
    kernels,
    sequencesPerPass: 2, // 3 sequences: a padded last pass
    targetsPerPass,
    sequencesPerBackward,
  });
  if (granularity === "token") {
    // Two sequences' copies share a backward unless asked otherwise (the last one padded).
    assertEquals(statistics.sequencesPerBackward, sequencesPerBackward ?? 2);
  }
  try {
    const stats = await statistics.compute(parameters, delta, tokens);
    const sums = await statistics.readSums();
    return {
      stats,
      sumG: realCoordinates(layout, sums.sumG),
      sumAbsG: realCoordinates(layout, sums.sumAbsG),
    };
  } finally {
    statistics.destroy();
  }
}

function assertMetricsClose(actual: GradientInterference, expected: GradientInterference, bound: number) {
  for (
    const key of [
      "dGrad",
      "cG",
      "cUG",
      "cUg",
      "oneMinusDPredicted",
      "mPredicted",
      "deltaNorm",
      "meanGradientNorm",
    ] as const
  ) {
    const error = Math.abs(actual[key] - expected[key]) / Math.max(Math.abs(expected[key]), 1e-12);
    assert(
      error < bound,
      `${key}: kernels ${actual[key]} vs brute force ${expected[key]} (relative ${error})`,
    );
  }
  assertEquals(actual.examples, expected.examples);
}

for (const granularity of ["token", "sequence"] as const) {
  Deno.test({
    name: `per-${granularity} gradient statistics match brute force through the ordinary backward`,
    ...GPU_TEST,
    fn: async () => {
      const brute = await bruteForce(granularity);
      const { stats, sumG, sumAbsG } = await kernelStatistics(granularity);
      const N = brute.gradients.length;
      assertEquals(N, granularity === "token" ? SEQUENCES * (T - 1) : SEQUENCES);
      assertEquals(stats.examples.predicted.length, N);
      // Per example: g_i·δ, Σ|g_i δ|, ‖g_i‖², ‖g_i‖₁.
      const dReal = realCoordinates(layout, delta);
      const expected = {
        predicted: [] as number[],
        absPredicted: [] as number[],
        gradSq: [] as number[],
        gradAbs: [] as number[],
      };
      for (const g of brute.gradients) {
        let p = 0, ap = 0, sq = 0, l1 = 0;
        for (let j = 0; j < g.length; j++) {
          p += g[j] * dReal[j];
          ap += Math.abs(g[j] * dReal[j]);
          sq += g[j] * g[j];
          l1 += Math.abs(g[j]);
        }
        expected.predicted.push(p);
        expected.absPredicted.push(ap);
        expected.gradSq.push(sq);
        expected.gradAbs.push(l1);
      }
      for (const key of ["predicted", "absPredicted", "gradSq", "gradAbs"] as const) {
        const error = relativeError(stats.examples[key], expected[key]);
        assertWithin(error, 2e-4, `per-example ${key}: relative error`);
      }
      // Δ̂ℓ_i by the forward-mode tangent: against the brute-force g_i·δ, and the cross-check's margin.
      assertWithin(
        relativeError(stats.jvp.predicted, expected.predicted),
        2e-4,
        "Δ̂ℓ by the tangent: relative error",
      );
      assertWithin(
        stats.jvp.maxAbsDifference / Math.max(...expected.absPredicted),
        JVP_TOLERANCE,
        "cross-check: max |Δ̂ℓ(tangent) − Δ̂ℓ(per-example)| / max Σ_j|g_ij δ_j|",
      );
      assertEquals(stats.jvp.bound > 0 && stats.jvp.maxAbsDifference <= stats.jvp.bound, true);
      // Per coordinate: Σ_i g_ij is the batch gradient of the summed losses, Σ_i |g_ij| by brute force.
      const absSum = new Float64Array(sumAbsG.length);
      for (const g of brute.gradients) for (let j = 0; j < g.length; j++) absSum[j] += Math.abs(g[j]);
      const sumError = relativeError(sumG, brute.sum);
      const absError = relativeError(sumAbsG, absSum);
      assertWithin(sumError, 2e-4, "Σ_i g_ij vs the batch gradient: relative error");
      assertWithin(absError, 2e-4, "Σ_i |g_ij|: relative error");
      // The metrics from the streamed sums equal the CPU function over the explicit matrices.
      const reference = gradientInterferenceFromMatrices(brute.gradients, dReal, { interference });
      const metrics = finishGradientInterference(stats.coordinates, stats.examples, { tolerance: 1e-3 });
      assertMetricsClose(metrics, reference, 1e-3);
      assertWithin(metrics.identityError, 1e-3, "identity error |1 − D(Δ̂ℓ) − C_g·C_(u,G)/C_(u,g)|");
    },
  });
}

Deno.test({
  name: "per-token statistics do not depend on how targets are grouped into passes",
  ...GPU_TEST,
  fn: async () => {
    const four = await kernelStatistics("token", 4); // prefixes 4, 8, 12
    const five = await kernelStatistics("token", 5); // prefixes 5, 10, 12 (a short last group)
    const alone = await kernelStatistics("token", 4, 1); // one sequence's copies per backward
    for (const [label, other] of [["K = 5", five], ["one sequence per backward", alone]] as const) {
      const error = relativeError(other.stats.examples.predicted, four.stats.examples.predicted);
      assertWithin(error, 1e-5, `Δ̂ℓ with ${label} vs K = 4: relative error`);
      assertWithin(
        relativeError(other.sumAbsG, four.sumAbsG),
        1e-5,
        `Σ_i |g_ij| with ${label} vs K = 4: relative error`,
      );
    }
    // Floor: Σ over targets of their prefix length, T(T−1)/2 per sequence; K = 4 pads to 4·(4+8+12).
    assertEquals(alone.stats.rowsBackpropagated, SEQUENCES * 4 * (4 + 8 + 12));
    // Two sequences per backward: the third sequence's backward carries a padding sequence.
    assertEquals(four.stats.rowsBackpropagated, 2 * 2 * 4 * (4 + 8 + 12));
  },
});

Deno.test({
  name: "gradient statistics: bad pass sizes are refused with a clear error",
  ...GPU_TEST,
  fn: async () => {
    const { gpu, kernels } = await testGpu();
    const create = (options: { targetsPerPass?: number; sequencesPerBackward?: number }) =>
      GradientStatistics.create(gpu, config, {
        granularity: "token",
        kernels,
        sequencesPerPass: 2,
        ...options,
      });
    await assertRejects(
      () => create({ targetsPerPass: 1 }),
      Error,
      "targetsPerPass must be an integer in 2…",
    );
    await assertRejects(
      () => create({ sequencesPerBackward: 3 }),
      Error,
      "sequencesPerBackward must be an integer in 1…2 (sequencesPerPass), got 3",
    );
  },
});
