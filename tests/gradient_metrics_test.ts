import { assert, assertEquals, assertRejects, assertThrows, assertWithin } from "./asserts.ts";
import { Random } from "./helpers.ts";
import {
  accumulateCoordinates,
  averageRanks,
  COHERENCE_BINS,
  emptyCoordinateSums,
  emptyExampleSums,
  finishGradientInterference,
  type GradientInterference,
  gradientInterferenceFromMatrices,
  predictionAgreement,
} from "../src/analysis/gradients/metrics.ts";
import {
  coherenceHistogramRows,
  gradientInterferenceRows,
  type GradientTableCheckpoint,
  type GradientTableRun,
} from "../src/analysis/gradients/rows.ts";
import type { RunGradients } from "../src/analysis/gradients/run.ts";
import {
  COHERENCE_HISTOGRAM_TABLE,
  type ExampleRows,
  exampleTableFile,
  GRADIENT_TABLE,
  readExampleTable,
  writeExampleTable,
} from "../src/results/gradients.ts";
import { readTable, rowsToColumns, writeTable } from "../src/results/table.ts";
import { gradientMarkdown } from "../src/report/markdown.ts";
import { writeArrow } from "../src/io/arrow.ts";

/** |a − b| ≤ tolerance·max(|b|, tiny), with a message naming the quantity. */
function near(actual: number, expected: number, tolerance: number, label: string): void {
  const error = Math.abs(actual - expected);
  assert(
    error <= tolerance * Math.max(Math.abs(expected), 1e-300),
    `${label}: got ${actual}, expected ${expected} (relative error ${error / Math.abs(expected)})`,
  );
}

function randomMatrix(random: Random, rows: number, columns: number): Float64Array[] {
  return Array.from({ length: rows }, () => Float64Array.from({ length: columns }, () => random.normal()));
}

/** Every metric straight from its definition on the explicit p_ij (plain loops, no streaming). */
function bruteForce(g: Float64Array[], delta: Float64Array, counted: boolean[]) {
  const N = g.length;
  const J = delta.length;
  const p = g.map((row) => row.map((value, j) => value * delta[j]));
  let columnAbs = 0;
  let all = 0;
  let absAll = 0;
  const D: number[] = [];
  let sumGSq = 0;
  for (let j = 0; j < J; j++) {
    let column = 0;
    let gSum = 0;
    let gAbs = 0;
    for (let i = 0; i < N; i++) {
      column += p[i][j];
      absAll += Math.abs(p[i][j]);
      gSum += g[i][j];
      gAbs += Math.abs(g[i][j]);
    }
    columnAbs += Math.abs(column);
    all += column;
    sumGSq += gSum * gSum;
    if (counted[j]) D.push(1 - Math.abs(gSum) / gAbs);
  }
  const predicted = p.map((row) => row.reduce((a, b) => a + b, 0));
  const absPredicted = predicted.reduce((a, b) => a + Math.abs(b), 0);
  const sumPredicted = predicted.reduce((a, b) => a + b, 0);
  return {
    D,
    dGrad: D.reduce((a, b) => a + b, 0) / D.length,
    cG: columnAbs / absAll,
    cUG: Math.abs(all) / columnAbs,
    cUg: absPredicted / absAll,
    oneMinusDPredicted: Math.abs(sumPredicted) / absPredicted,
    mPredicted: absPredicted / N,
    deltaNorm: Math.sqrt(delta.reduce((a, b) => a + b * b, 0)),
    meanGradientNorm: Math.sqrt(sumGSq) / N,
    meanExampleGradNorm: g.reduce((a, row) => a + Math.sqrt(row.reduce((s, v) => s + v * v, 0)), 0) / N,
    predicted,
  };
}

Deno.test("gradient metrics: the worked vector of docs/method.md#measures", () => {
  const m = gradientInterferenceFromMatrices([[1, -2], [0.5, 1], [-1, 0.5]], [0.1, -0.2]);
  near(m.cG, 0.15 / 0.95, 1e-12, "C_g");
  near(m.cG, 0.157895, 5e-6, "C_g (docs/method.md#measures)");
  near(m.cUg, 0.894737, 5e-6, "C_(u,g)");
  near(m.cUG, 1, 1e-12, "C_(u,G)");
  near(m.oneMinusDPredicted, 0.176471, 5e-6, "1 − D(Δ̂ℓ)");
  near(m.dPredicted, 1 - 0.15 / 0.85, 1e-12, "D(Δ̂ℓ)");
  near(m.mPredicted, 0.283333, 5e-6, "M(Δ̂ℓ)");
  near(m.dGrad, (0.8 + 0.857143) / 2, 5e-6, "D(∇ℓ) = mean of D_j = [0.8, 0.857143]");
  near(m.cG * m.cUG / m.cUg, m.oneMinusDPredicted, 1e-12, "identity");
  assertWithin(m.identityError, 1e-12, "identity error (float64 sums)");
  near(m.deltaNorm, Math.sqrt(0.05), 1e-12, "‖δ‖");
  near(m.meanGradientNorm, Math.hypot(0.5, -0.5) / 3, 1e-12, "‖G‖");
  near(m.sumPredicted, 0.15, 1e-12, "Σ Δ̂ℓ");
  near(m.sumP, 0.15, 1e-12, "Σ p per coordinate");
  assertEquals([m.examples, m.coordinates, m.dGradCoordinates, m.dGradZeroCoordinates], [3, 2, 2, 0]);
  assertEquals(m.reason, "");
  // C_0 = 0.2 → bin 20; C_1 = 1/7 → bin 14.
  const expected = new Array(COHERENCE_BINS).fill(0);
  expected[20] = 1;
  expected[14] = 1;
  assertEquals(m.coherenceHistogram, expected);
  // Column 1 flagged as embedding: only D_0 = 0.8 counts; the coherences do not change.
  const masked = gradientInterferenceFromMatrices([[1, -2], [0.5, 1], [-1, 0.5]], [0.1, -0.2], {
    interference: [true, false],
  });
  near(masked.dGrad, 0.8, 1e-12, "D(∇ℓ) without the embedding column");
  assertEquals(masked.dGradCoordinates, 1);
  assertEquals(masked.coherenceHistogram.reduce((a, b) => a + b, 0), 1);
  assertEquals(masked.cG, m.cG);
});

Deno.test("gradient metrics: random matrices match a direct computation of every definition", () => {
  const random = new Random(61);
  for (const [N, J] of [[1, 1], [2, 3], [7, 13], [50, 41]]) {
    const g = randomMatrix(random, N, J);
    const delta = Float64Array.from({ length: J }, () => 1e-3 * random.normal());
    const counted = Array.from({ length: J }, (_, j) => j % 5 !== 4);
    const m = gradientInterferenceFromMatrices(g, delta, { interference: counted });
    const b = bruteForce(g, delta, counted);
    const label = `N=${N} J=${J}`;
    for (const key of ["cG", "cUG", "cUg", "oneMinusDPredicted", "mPredicted"] as const) {
      near(m[key], b[key], 1e-12, `${label} ${key}`);
    }
    for (const key of ["deltaNorm", "meanGradientNorm", "meanExampleGradNorm"] as const) {
      near(m[key], b[key], 1e-12, `${label} ${key}`);
    }
    if (N === 1) {
      // One example: every D_j = 0 and no cancellation anywhere.
      near(1 - m.dGrad, 1, 1e-15, `${label} D(∇ℓ) = 0`);
      near(m.oneMinusDPredicted, 1, 1e-15, `${label} D(Δ̂ℓ) = 0`);
    } else {
      near(m.dGrad, b.dGrad, 1e-12, `${label} D(∇ℓ)`);
    }
    assertEquals(m.dGradCoordinates, counted.filter(Boolean).length);
    assertEquals(m.coherenceHistogram.reduce((a, c) => a + c, 0), m.dGradCoordinates);
    assertWithin(m.identityError, 1e-12, `${label}: identity error`);
    for (const key of ["cG", "cUG", "cUg", "oneMinusDPredicted", "dGrad"] as const) {
      assert(m[key] >= 0 && m[key] <= 1, `${label} ${key} = ${m[key]} in [0, 1]`);
    }
  }
});

Deno.test("gradient metrics: streaming chunks of coordinates and per-example partials equals the one-shot path", () => {
  const random = new Random(5);
  const N = 9;
  const J = 23;
  const g = randomMatrix(random, N, J);
  const delta = Float64Array.from({ length: J }, () => random.normal());
  // Chunks as a model's parameter tensors: [0, 10) "embedding", [10, 17) and [17, 23) Linear weights.
  const chunks: [number, number, boolean][] = [[0, 10, false], [10, 17, true], [17, 23, true]];
  const coords = emptyCoordinateSums();
  const examples = emptyExampleSums(N);
  for (const [start, end, interference] of chunks) {
    const sumG = new Float64Array(end - start);
    const sumAbsG = new Float64Array(end - start);
    for (let j = start; j < end; j++) {
      for (let i = 0; i < N; i++) {
        sumG[j - start] += g[i][j];
        sumAbsG[j - start] += Math.abs(g[i][j]);
        const p = g[i][j] * delta[j];
        examples.predicted[i] += p;
        examples.absPredicted[i] += Math.abs(p);
        examples.gradSq[i] += g[i][j] ** 2;
        examples.gradAbs[i] += Math.abs(g[i][j]);
      }
    }
    accumulateCoordinates(coords, sumG, sumAbsG, delta.subarray(start, end), { interference });
  }
  assertEquals(coords.coordinates, J);
  assertEquals(coords.dCoordinates, 13);
  const streamed = finishGradientInterference(coords, examples);
  const mask = Array.from({ length: J }, (_, j) => j >= 10);
  const oneShot = gradientInterferenceFromMatrices(g, delta, { interference: mask });
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
      "meanExampleGradNorm",
    ] as const
  ) {
    near(streamed[key], oneShot[key], 1e-12, `streamed ${key}`);
  }
  assertEquals(streamed.coherenceHistogram, oneShot.coherenceHistogram);
  assertEquals([streamed.examples, streamed.coordinates], [N, J]);
});

Deno.test("gradient metrics: the C_j histogram bins, its closed last bin, and all-zero coordinates", () => {
  // Columns of two examples with known C_j = |g_0 + g_1| / (|g_0| + |g_1|).
  const columns: [number, number][] = [
    [1, -1], // C = 0 → bin 0
    [1, -0.99], // C = 0.01/1.99 ≈ 0.005 → bin 0
    [3, -1], // C = 0.5 → bin 50
    [1, 1], // C = 1 → the last bin (closed)
    [2, 0], // C = 1 → last bin
    [0.9, -0.1], // C = 0.8 → bin 79 or 80 by rounding of 0.8·100: computed below
    [0, 0], // all zero: D_j undefined, left out
  ];
  const g = [columns.map((c) => c[0]), columns.map((c) => c[1])];
  const m = gradientInterferenceFromMatrices(g, columns.map(() => 0.1));
  const expected = new Array(COHERENCE_BINS).fill(0);
  expected[0] += 2;
  expected[50] += 1;
  expected[99] += 2;
  expected[Math.floor((0.8 / 1.0) * 100)] += 1;
  assertEquals(m.coherenceHistogram, expected);
  assertEquals(m.dGradCoordinates, 6);
  assertEquals(m.dGradZeroCoordinates, 1);
  const D = [1, 1 - 0.01 / 1.99, 0.5, 0, 0, 0.2];
  near(m.dGrad, D.reduce((a, b) => a + b, 0) / 6, 1e-12, "D(∇ℓ) over the defined coordinates");
});

Deno.test("gradient metrics: the identity check catches per-coordinate and per-example sums that disagree", () => {
  const random = new Random(9);
  const g = randomMatrix(random, 6, 8);
  const delta = Float64Array.from({ length: 8 }, () => random.normal());
  const coords = emptyCoordinateSums();
  const sumG = new Float64Array(8);
  const sumAbsG = new Float64Array(8);
  for (const row of g) row.forEach((v, j) => (sumG[j] += v, sumAbsG[j] += Math.abs(v)));
  accumulateCoordinates(coords, sumG, sumAbsG, delta, { interference: true });
  const examples = emptyExampleSums(6);
  g.forEach((row, i) =>
    row.forEach((v, j) => {
      examples.predicted[i] += v * delta[j];
      examples.absPredicted[i] += Math.abs(v * delta[j]);
      examples.gradSq[i] += v * v;
      examples.gradAbs[i] += Math.abs(v);
    })
  );
  const good = finishGradientInterference(coords, examples);
  assertWithin(good.identityError, 1e-12, "identity error of consistent sums");
  // An example sum off by 1e-6 relative (what float32 partial sums give) fails the float64 default
  // and passes a float32 tolerance.
  const off = { ...examples, predicted: examples.predicted.map((v, i) => (i === 0 ? v * (1 + 1e-6) : v)) };
  const bad = off.predicted[0] - examples.predicted[0];
  assert(bad !== 0);
  assertThrows(() => finishGradientInterference(coords, off), Error, "identity violated");
  const loose = finishGradientInterference(coords, off, { tolerance: 1e-3 });
  assert(loose.identityError > 1e-9 && loose.identityError < 1e-3, `identity error ${loose.identityError}`);
  // A dropped example (a bug in the per-example path) is far outside any tolerance.
  const dropped = { ...examples, predicted: examples.predicted.map((v, i) => (i === 2 ? 0 : v)) };
  assertThrows(() => finishGradientInterference(coords, dropped, { tolerance: 1e-2 }), Error, "identity");
});

Deno.test("gradient metrics: δ = 0, all-zero gradients and no examples give NaN with a reason or an error", () => {
  const g = [[1, -2], [0.5, 1]];
  const zeroDelta: GradientInterference = gradientInterferenceFromMatrices(g, [0, 0]);
  for (const key of ["cG", "cUG", "cUg", "oneMinusDPredicted", "dPredicted", "identityError"] as const) {
    assert(Number.isNaN(zeroDelta[key]), `${key} is NaN when δ = 0`);
  }
  assert(zeroDelta.reason.includes("δ = 0"), zeroDelta.reason);
  assertEquals(zeroDelta.mPredicted, 0);
  assert(Number.isFinite(zeroDelta.dGrad), "D(∇ℓ) needs no δ");
  const zeroGrad = gradientInterferenceFromMatrices([[0, 0], [0, 0]], [0.1, 0.2]);
  assert(Number.isNaN(zeroGrad.dGrad) && Number.isNaN(zeroGrad.cG));
  assertEquals(zeroGrad.dGradZeroCoordinates, 2);
  assert(zeroGrad.reason.includes("every gradient is 0"), zeroGrad.reason);
  assert(zeroGrad.reason.includes("D(∇ℓ) is undefined"), zeroGrad.reason);
  // Only embedding coordinates: no D(∇ℓ), coherences still defined.
  const embeddingOnly = gradientInterferenceFromMatrices(g, [0.1, 0.2], { interference: [false, false] });
  assert(Number.isNaN(embeddingOnly.dGrad) && Number.isFinite(embeddingOnly.cG));
  assert(embeddingOnly.reason.includes("no non-embedding coordinates"), embeddingOnly.reason);

  assertThrows(() => gradientInterferenceFromMatrices([], [1, 2]), Error, "0 examples");
  assertThrows(
    () => finishGradientInterference(emptyCoordinateSums(), emptyExampleSums(0)),
    Error,
    "0 examples",
  );
  assertThrows(
    () => finishGradientInterference(emptyCoordinateSums(), emptyExampleSums(2)),
    Error,
    "no coordinates",
  );
  assertThrows(() => gradientInterferenceFromMatrices([[1, 2], [3]], [1, 2]), Error, "row 1 has 1");
  assertThrows(() => gradientInterferenceFromMatrices(g, [1, 2], { interference: [true] }), Error, "mask");
  assertThrows(() => gradientInterferenceFromMatrices([[NaN, 1]], [1, 2]), Error, "sumG[0] is NaN");
  const bad = (sumG: number, sumAbsG: number, delta: number) => () =>
    accumulateCoordinates(emptyCoordinateSums(), [0, sumG], [1, sumAbsG], [0, delta], { interference: true });
  assertThrows(bad(1, -1, 1), Error, "sumAbsG[1] = -1 < 0");
  assertThrows(bad(1, Infinity, 1), Error, "sumAbsG[1] is Infinity");
  assertThrows(bad(-Infinity, 1, 1), Error, "sumG[1] is -Infinity");
  assertThrows(bad(1, 1, NaN), Error, "delta[1] is NaN");
  assertThrows(
    () => accumulateCoordinates(emptyCoordinateSums(), [1, 2], [1], [1, 2], { interference: true }),
    Error,
    "one sumG, sumAbsG and delta value per coordinate",
  );
  const sums = emptyExampleSums(3);
  assertThrows(
    () => finishGradientInterference(emptyCoordinateSums(), { ...sums, gradSq: new Float64Array(2) }),
    Error,
    "differ in length",
  );
});

Deno.test("gradient metrics: prediction agreement (correlations, slope, signs, relative error)", () => {
  const actual = [-0.3, 0.1, 0.25, -0.05, 0.4, -0.2];
  const same = predictionAgreement(actual, actual);
  assertEquals([same.n, same.signAgreement, same.medianRelativeError], [6, 1, 0]);
  near(same.pearson, 1, 1e-12, "pearson of identical");
  near(same.spearman, 1, 1e-12, "spearman of identical");
  near(same.slope, 1, 1e-12, "slope of identical");
  // Predictions twice too large: slope of actual on predicted is 1/2, relative error 1.
  const doubled = predictionAgreement(actual.map((v) => 2 * v), actual);
  near(doubled.slope, 0.5, 1e-12, "slope");
  near(doubled.pearson, 1, 1e-12, "pearson is scale-free");
  near(doubled.medianRelativeError, 1, 1e-12, "|2a − a| / |a| = 1");
  const opposite = predictionAgreement(actual.map((v) => -v), actual);
  near(opposite.pearson, -1, 1e-12, "pearson of opposite");
  assertEquals(opposite.signAgreement, 0);
  // Monotone but not linear: Spearman 1, Pearson below 1.
  const cubed = predictionAgreement(actual.map((v) => v ** 3), actual);
  near(cubed.spearman, 1, 1e-12, "spearman of a monotone map");
  assert(cubed.pearson < 0.99, `pearson ${cubed.pearson}`);
  // A hand-computed case: x = [1, 2, 3, 4], y = [2, 1, 4, 3] → r = 0.6; ranks equal the values.
  const hand = predictionAgreement([1, 2, 3, 4], [2, 1, 4, 3]);
  near(hand.pearson, 0.6, 1e-12, "pearson by hand");
  near(hand.spearman, 0.6, 1e-12, "spearman by hand");
  near(hand.slope, (2 + 2 + 12 + 12) / 30, 1e-12, "slope by hand");
  // Ties share their average rank; non-finite pairs and zero true changes are left out where needed.
  assertEquals(Array.from(averageRanks([3, 1, 3, 2])), [3.5, 1, 3.5, 2]);
  const partial = predictionAgreement([1, NaN, 2, 0.5, -1], [2, 1, Infinity, 0, -3]);
  assertEquals(partial.n, 3); // pairs 0, 3, 4
  near(partial.medianRelativeError, (0.5 + 2 / 3) / 2, 1e-12, "median over Δℓ ≠ 0 ({0.5, 2/3})");
  assertEquals(partial.signAgreement, 2 / 3); // sign(0.5) ≠ sign(0)
  const tiny = predictionAgreement([1], [2]);
  assert(Number.isNaN(tiny.pearson) && Number.isNaN(tiny.spearman) && tiny.slope === 2);
  assertThrows(() => predictionAgreement([1, 2], [1]), Error, "2 predicted and 1 actual");
});

function fakeResults(): GradientTableRun[] {
  const checkpoint = (
    step: number,
    granularity: "token" | "sequence",
    withActual: boolean,
  ): GradientTableCheckpoint => {
    const random = new Random(step * 7 + (granularity === "token" ? 0 : 1));
    const g = randomMatrix(random, 5, 6);
    const delta = Float64Array.from({ length: 6 }, () => 0.01 * random.normal());
    const metrics = gradientInterferenceFromMatrices(g, delta, {
      interference: [false, true, true, true, true, true],
    });
    return {
      ...metrics,
      step,
      granularity,
      lr: 1e-3,
      seconds: 0.5,
      sequences: 2,
      agreement: withActual ? predictionAgreement([1, 2, 3], [1.1, 2.2, 2.9]) : null,
    };
  };
  return [
    {
      name: "cpu-xs",
      runDir: "/nonexistent",
      checkpoints: [
        checkpoint(1, "token", true),
        checkpoint(2, "token", false),
        checkpoint(2, "sequence", true),
      ],
    },
    { name: "cpu-s", runDir: "/nonexistent", checkpoints: [checkpoint(4, "token", true)] },
  ];
}

Deno.test("gradient tables: rows, Arrow columns and files round-trip", async () => {
  const dir = await Deno.makeTempDir({ prefix: "zsl-gradients-" });
  try {
    const results = fakeResults();
    // What analyseRunGradients returns is what the tables take.
    const fromRun: GradientTableRun[] = [] as RunGradients[];
    assertEquals(fromRun.length, 0);
    const identities = new Map([["cpu-xs", { model: "cpu-xs", params: 1234 }]]);
    const rows = gradientInterferenceRows(results, identities);
    assertEquals(rows.map((r) => `${r.run}/${r.model}/${r.params}/${r.step}/${r.granularity}`), [
      "cpu-xs/cpu-xs/1234/1/token",
      "cpu-xs/cpu-xs/1234/2/token",
      "cpu-xs/cpu-xs/1234/2/sequence",
      "cpu-s/cpu-s/NaN/4/token",
    ]);
    assertEquals(rows[0].dGrad, results[0].checkpoints[0].dGrad);
    assertEquals(rows[3].meanGradNorm, results[1].checkpoints[0].meanGradientNorm);
    assertEquals(rows[0].pearson, results[0].checkpoints[0].agreement!.pearson);
    assert(Number.isNaN(rows[1].pearson) && Number.isNaN(rows[1].rowsBackpropagated));
    const columns = rowsToColumns(GRADIENT_TABLE, rows);
    assertEquals(Object.keys(columns), [
      "run",
      "model",
      "params",
      "step",
      "granularity",
      "examples",
      "coordinates",
      "lr",
      "d_grad",
      "d_grad_coordinates",
      "d_grad_zero_coordinates",
      "c_g",
      "c_u_G",
      "c_u_g",
      "one_minus_d_pred",
      "d_pred",
      "m_pred",
      "identity_error",
      "delta_norm",
      "mean_grad_norm",
      "mean_example_grad_norm",
      "pearson",
      "spearman",
      "slope",
      "sign_agreement",
      "median_relative_error",
      "seconds",
      "sequences",
      "rows_backpropagated",
      "mean_example_grad_sq",
      "noise_trace",
      "grad_sq_unbiased",
      "b_simple",
      "b_simple_tokens",
      "batch_examples",
      "batch_tokens",
      "jvp_max_abs_difference",
    ]);
    assert(columns.step instanceof Int32Array && columns.d_grad instanceof Float64Array, "column types");
    await writeTable(dir, GRADIENT_TABLE, rows);
    const back = await readTable(dir, GRADIENT_TABLE);
    assertEquals(back.length, 4);
    for (let i = 0; i < rows.length; i++) {
      for (const [key, value] of Object.entries(rows[i])) {
        const got = (back[i] as unknown as Record<string, unknown>)[key];
        if (typeof value === "number" && Number.isNaN(value)) {
          assert(Number.isNaN(got), `row ${i} ${key} NaN`);
        } else assertEquals(got, value, `row ${i} ${key}`);
      }
    }

    const histogram = coherenceHistogramRows(results);
    assertEquals(histogram.length, 4 * COHERENCE_BINS);
    assertEquals(histogram[COHERENCE_BINS - 1].binHi, 1);
    assertEquals(histogram.slice(0, COHERENCE_BINS).reduce((a, r) => a + r.count, 0), 5);
    await writeTable(dir, COHERENCE_HISTOGRAM_TABLE, histogram);
    assertEquals(await readTable(dir, COHERENCE_HISTOGRAM_TABLE), histogram);
    // Another table under the gradient table's name is an error naming the missing column.
    await writeArrow(`${dir}/${GRADIENT_TABLE.file}`, rowsToColumns(COHERENCE_HISTOGRAM_TABLE, histogram));
    await assertRejects(() => readTable(dir, GRADIENT_TABLE), Error, 'no column "model"');

    assertEquals(exampleTableFile(64, "token"), "gradient_examples_step-0000064_token.arrow");
    assertEquals(exampleTableFile(8, "sequence"), "gradient_examples_step-0000008_sequence.arrow");
    assertThrows(() => exampleTableFile(1, "word"), Error, "granularity");
    const examples: ExampleRows = {
      sequence: Int32Array.from([0, 0, 1]),
      position: Int32Array.from([5, 9, -1]),
      predicted: Float64Array.from([0.1, -0.2, 0.05]),
      actual: Float64Array.from([0.12, NaN, 0]),
      absPredicted: Float64Array.from([0.3, 0.2, 0.1]),
      gradSq: Float64Array.from([1, 2, 3]),
      gradAbs: Float64Array.from([2, 3, 4]),
    };
    const path = `${dir}/run/gradients/${exampleTableFile(2, "token")}`;
    await writeExampleTable(path, examples);
    const read = await readExampleTable(path);
    for (const key of ["sequence", "position", "predicted", "absPredicted", "gradSq", "gradAbs"] as const) {
      assertEquals(Array.from(read[key]), Array.from(examples[key]), key);
    }
    assert(read.sequence instanceof Int32Array && read.predicted instanceof Float64Array);
    assert(read.actual[0] === 0.12 && Number.isNaN(read.actual[1]));
    // Float32 sums (what the GPU gives) are written as float64 values of the same numbers.
    await writeExampleTable(path, { ...examples, predicted: Float32Array.from([0.1, -0.2, 0.05]) });
    assertEquals((await readExampleTable(path)).predicted[0], Math.fround(0.1));
    await assertRejects(
      () => writeExampleTable(path, { ...examples, gradAbs: [1, 2] }),
      Error,
      "2 values of gradAbs for 3 examples",
    );

    const markdown = gradientMarkdown(
      results.map((result) => result.name),
      rows,
      new Map([["cpu-xs", { tD: 100, tDRange: [80, 120] }]]),
    );
    assert(markdown.includes("## cpu-xs") && markdown.includes("## cpu-s"));
    assert(markdown.includes("t_d = 100 (80–120)"));
    assertEquals(markdown.split("\n").filter((line) => /^\| \d/.test(line)).length, 4);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
