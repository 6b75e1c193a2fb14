import { assert, assertEquals, assertRejects, assertThrows } from "./asserts.ts";
import {
  bnsl,
  type BnslParameters,
  decelerationCurveRows,
  decelerationRow,
  defaultD1Guess,
  defaultMinStep,
  fitDeceleration,
  logGridIndices,
  logMovingAverage,
  movingAverageWindowStart,
  onLogGrid,
  preprocessLossCurve,
} from "../src/analysis/deceleration/mod.ts";
import { parseLossCsv, readLossCurve } from "../src/results/loss_curves.ts";
import { DECELERATION_CURVES_TABLE, DECELERATION_TABLE } from "../src/results/deceleration.ts";
import { readTable, rowsToColumns } from "../src/results/table.ts";
import { decelerationMarkdown } from "../src/report/markdown.ts";
import { formatWithError } from "../src/util/format.ts";
import { decodeArrow, writeArrow } from "../src/io/arrow.ts";
import { Random } from "../src/util/random.ts";

interface Fixture {
  source: string;
  model: string;
  steps: number[];
  smoothed_loss: number[];
  expected: {
    b: number;
    c0: number;
    c1: number;
    log_d1: number;
    f1: number;
    t_d: number;
    L_d: number;
    r_d: number;
    L_hat_T: number;
    L_T: number;
    rsle: number;
    n_fit: number;
  };
}

function loadFixture(model: string): Fixture {
  return JSON.parse(Deno.readTextFileSync(new URL(`./fixtures/bnsl/${model}.json`, import.meta.url)));
}

function relative(actual: number, expected: number): number {
  return Math.abs(actual - expected) / Math.abs(expected);
}

function assertRelative(actual: number, expected: number, tolerance: number, label: string): void {
  const error = relative(actual, expected);
  assert(
    error <= tolerance,
    `${label}: got ${actual}, expected ${expected} (relative error ${error.toExponential(2)} > ${tolerance})`,
  );
}

/**
 * ± one-sigma errors printed by the authors' notebook (analyses/01-deceleration/fit_bnsl.ipynb,
 * github.com/mirandrom/zsl, Apache-2.0) for the published fits.
 */
const PUBLISHED_ERRORS: Record<string, { b: number; c0: number; c1: number; logD1: number; f1: number }> = {
  "14M": {
    b: 0.15930047836428807,
    c0: 0.001321279722445295,
    c1: 0.0017261731191718025,
    logD1: 0.022080277452029257,
    f1: 0.028712398513625444,
  },
  "144M": {
    b: 0.2633044974285944,
    c0: 0.002031934987175592,
    c1: 0.0027240512561789118,
    logD1: 0.029855239587271036,
    f1: 0.03198961927652263,
  },
  "OLMo-7B": {
    b: 0.4810755130093665,
    c0: 0.0031661505555868807,
    c1: 0.0037310031303161946,
    logD1: 0.03600737500772304,
    f1: 0.03126748064664491,
  },
};

/** t_d ranges as the authors print them (exp(log d1 ∓ σ), truncated there). */
const PUBLISHED_TD_RANGES: Record<string, [number, number]> = {
  "14M": [5749, 6008],
  "144M": [5895, 6258],
  "OLMo-7B": [4463, 4797],
};

// OLMo-7B's published curve ends with its last step twice (steps 557000, 557000), as the authors'
// subsampling appends the last row even when it is on the grid; their fit used both rows.
for (const model of ["14M", "144M", "OLMo-7B"]) {
  Deno.test(`deceleration: reproduces the paper's ${model} fit from its published curve`, () => {
    const fixture = loadFixture(model);
    const e = fixture.expected;
    const fit = fitDeceleration(fixture.steps, fixture.smoothed_loss, { preprocess: false, minStep: 100 });
    assertEquals(fit.nPoints, e.n_fit);
    assert(fit.identified, `break not identified: ${fit.reasons.join("; ")}`);
    assert(fit.converged);
    assert(fit.tDInRange);
    assertRelative(fit.b, e.b, 0.005, "b");
    assertRelative(fit.c0, e.c0, 0.005, "c0");
    assertRelative(fit.c1, e.c1, 0.005, "c1");
    assertRelative(fit.logD1, e.log_d1, 0.005, "log d1");
    assertRelative(fit.f1, e.f1, 0.005, "f1");
    assertRelative(fit.tD, e.t_d, 0.01, "t_d");
    assertRelative(fit.lossD, e.L_d, 0.005, "L_d");
    assertRelative(fit.rateD, e.r_d, 0.005, "r_d");
    assertRelative(fit.predictedFinalLoss, e.L_hat_T, 0.005, "L̂_T");
    assertRelative(fit.finalLoss, e.L_T, 1e-6, "L_T");
    assertRelative(fit.rsle, e.rsle, 0.005, "RSLE");
    const published = PUBLISHED_ERRORS[model];
    assertRelative(fit.errors.b, published.b, 0.01, "σ b");
    assertRelative(fit.errors.c0, published.c0, 0.01, "σ c0");
    assertRelative(fit.errors.c1, published.c1, 0.01, "σ c1");
    assertRelative(fit.errors.logD1, published.logD1, 0.01, "σ log d1");
    assertRelative(fit.errors.f1, published.f1, 0.01, "σ f1");
    // t_d range as the authors print it (exp(log d1 ∓ σ), truncated there, rounded here).
    const range = PUBLISHED_TD_RANGES[model];
    assert(Math.abs(fit.tDRange[0] - range[0]) < 1.5 && Math.abs(fit.tDRange[1] - range[1]) < 1.5);
  });
}

Deno.test("deceleration: the 14M curve takes the published values (docs/method.md#loss-deceleration)", () => {
  const p: BnslParameters = { b: 18.42228, c0: 0.1745420, c1: -0.1620251, logD1: 8.678863, f1: 0.203022 };
  for (const [step, loss] of [[200, 7.3066], [1000, 5.5172], [5877, 4.1435], [262153, 3.8620]]) {
    assert(Math.abs(bnsl(p, step) - loss) < 5e-5, `L(${step}) = ${bnsl(p, step)}, expected ${loss}`);
  }
  // Far from the break the softplus is evaluated without overflow: pure power laws on each side.
  const early = bnsl({ ...p, f1: 0.01 }, 10);
  assertRelative(early, p.b * 10 ** -p.c0, 1e-12, "pre-break asymptote");
  const late = bnsl({ ...p, f1: 0.01 }, 1e9);
  assertRelative(late, p.b * 1e9 ** -p.c0 * (1e9 / Math.exp(p.logD1)) ** -p.c1, 1e-9, "post-break asymptote");
});

/** The paper's log-grid steps from 110 to `last` (the points a fit with minStep 100 uses). */
function logGridSteps(last: number): number[] {
  const steps: number[] = [];
  for (let t = 101; t <= last; t++) if (onLogGrid(t)) steps.push(t);
  if (steps[steps.length - 1] !== last) steps.push(last);
  return steps;
}

const SYNTHETIC: { name: string; p: BnslParameters; last: number }[] = [
  { name: "14M-like", p: { b: 18.4, c0: 0.175, c1: -0.162, logD1: Math.log(5877), f1: 0.2 }, last: 262_144 },
  { name: "wide bend", p: { b: 25, c0: 0.27, c1: -0.23, logD1: Math.log(3700), f1: 0.76 }, last: 262_144 },
  { name: "short run", p: { b: 15, c0: 0.2, c1: -0.17, logD1: Math.log(1500), f1: 0.3 }, last: 20_000 },
];

for (const { name, p, last } of SYNTHETIC) {
  Deno.test(`deceleration: recovers the parameters of a synthetic ${name} BNSL with 1% multiplicative noise`, () => {
    const steps = logGridSteps(last);
    for (const seed of [1, 2, 3]) {
      const random = new Random(seed);
      const losses = steps.map((t) => bnsl(p, t) * Math.exp(0.01 * random.normal()));
      const fit = fitDeceleration(steps, losses, { preprocess: false, minStep: 100 });
      assert(fit.identified, `${name} seed ${seed}: ${fit.reasons.join("; ")}`);
      // Independent noise: each estimate lies within 4.5 of its standard errors (plus rounding).
      const check = (label: string, value: number, truth: number, sigma: number) => {
        assert(
          Math.abs(value - truth) <= 4.5 * sigma + 1e-9,
          `${name} seed ${seed} ${label}: ${value} vs ${truth} (σ ${sigma})`,
        );
      };
      check("b", fit.b, p.b, fit.errors.b);
      check("c0", fit.c0, p.c0, fit.errors.c0);
      check("c1", fit.c1, p.c1, fit.errors.c1);
      check("log d1", fit.logD1, p.logD1, fit.errors.logD1);
      check("f1", fit.f1, p.f1, fit.errors.f1);
      // And the stated tolerances: slopes within 3%, t_d within 10%, f1 within 35%.
      assertRelative(fit.c0, p.c0, 0.03, `${name} c0`);
      assertRelative(fit.c0 + fit.c1, p.c0 + p.c1, 0.15, `${name} r_d`);
      assertRelative(fit.tD, Math.exp(p.logD1), 0.1, `${name} t_d`);
      assertRelative(fit.f1, p.f1, 0.35, `${name} f1`);
    }
  });
}

Deno.test("deceleration: raw per-step losses are smoothed and subsampled as in the paper before the fit", () => {
  const p: BnslParameters = { b: 18.4, c0: 0.175, c1: -0.162, logD1: Math.log(5877), f1: 0.2 };
  const last = 262_144;
  const steps = Float64Array.from({ length: last }, (_, i) => i + 1);
  const clean = steps.map((t) => bnsl(p, t));
  const reference = fitDeceleration(steps, clean);
  assertEquals(reference.minStep, 100);
  assertEquals(reference.d1Guess, 6000);
  assert(reference.identified);
  // The moving average lags: the smoothed curve at t is the raw curve near 0.915·t, so the break
  // appears ≈ 9% later; the slopes are unchanged, b rises by (0.915)^−c0.
  assertRelative(reference.c0, p.c0, 0.01, "c0");
  assertRelative(reference.c1, p.c1, 0.01, "c1");
  assert(
    reference.tD / Math.exp(p.logD1) > 1.05 && reference.tD / Math.exp(p.logD1) < 1.13,
    `t_d ${reference.tD}`,
  );
  for (const seed of [11, 12]) {
    const random = new Random(seed);
    const noisy = clean.map((loss) => loss * Math.exp(0.03 * random.normal()));
    const fit = fitDeceleration(steps, noisy);
    assert(fit.identified, fit.reasons.join("; "));
    assertRelative(fit.c0, reference.c0, 0.02, "c0 vs noiseless");
    assertRelative(fit.c1, reference.c1, 0.02, "c1 vs noiseless");
    assertRelative(fit.tD, reference.tD, 0.05, "t_d vs noiseless");
    assertRelative(fit.b, reference.b, 0.05, "b vs noiseless");
    // The authors' 524 points start at step 10 (their float `%` drops 1–9); here 1–9 are kept.
    assertEquals(fit.curve.steps.length, 524 + 9);
    assertEquals(fit.nPoints, 433);
  }
});

Deno.test("preprocess: the log moving average window is floor(j/1.2) … j", () => {
  assertEquals(
    Array.from({ length: 13 }, (_, j) => movingAverageWindowStart(j)),
    [0, 0, 1, 2, 3, 4, 5, 5, 6, 7, 8, 9, 10],
  );
  const x = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096];
  const s = logMovingAverage(x);
  const expected = x.map((_, j) => {
    const window = x.slice(Math.floor(j / 1.2), j + 1);
    return window.reduce((a, b) => a + b, 0) / window.length;
  });
  assertEquals(Array.from(s), expected);
  assertEquals(s[0], 1);
  assertEquals(s[1], 1.5); // rows 0–1
  assertEquals(s[6], (32 + 64) / 2); // rows 5–6
  assertEquals(s[7], (32 + 64 + 128) / 3); // rows 5–7
  assertEquals(s[12], (1024 + 2048 + 4096) / 3); // rows 10–12
});

Deno.test("preprocess: the log grid keeps every step < 100, every 10th < 1000, 100th < 10^4, 1000th after", () => {
  for (
    const step of [
      1,
      2,
      9,
      10,
      57,
      99,
      100,
      110,
      990,
      1000,
      1100,
      9900,
      10_000,
      11_000,
      262_000,
      999_000,
      5_000_000,
    ]
  ) {
    assert(onLogGrid(step), `${step} should be kept`);
  }
  for (const step of [0, -10, 2.5, 101, 105, 1010, 1050, 10_100, 10_500, 262_144, 1_000_500]) {
    assert(!onLogGrid(step), `${step} should be dropped`);
  }
  const steps = Array.from({ length: 25_000 }, (_, i) => i + 1);
  const kept = logGridIndices(steps).map((i) => steps[i]);
  assertEquals(kept.length, 99 + 91 + 90 + 15); // 1–99, 100–1000/10, 1100–10^4/100, 11000–25000/1000
  assertEquals(kept[kept.length - 1], 25_000); // on the grid: not appended twice
  const withTail = logGridIndices([...steps, 25_001]).map((i) => [...steps, 25_001][i]);
  assertEquals(withTail.slice(-2), [25_000, 25_001]); // the last row is always kept
  // Rows with step 0 (before training) are smoothed over but not kept.
  assertEquals(logGridIndices([0, 1, 2, 3]), [1, 2, 3]);
});

Deno.test("preprocess: smoothing runs over every row, then the grid picks rows, then minStep marks the fit", () => {
  const steps = Array.from({ length: 1200 }, (_, i) => i + 1);
  const losses = steps.map((t) => 10 / Math.sqrt(t));
  const curve = preprocessLossCurve(steps, losses, 100);
  const smoothed = logMovingAverage(losses);
  assertEquals(curve.steps.length, 99 + 91 + 2); // 1–99, 100–1000 by 10, 1100, 1200 (the last row, on the grid)
  for (let k = 0; k < curve.steps.length; k++) {
    assertEquals(curve.losses[k], smoothed[curve.steps[k] - 1]);
    assertEquals(curve.fitted[k], curve.steps[k] > 100);
  }
});

Deno.test("preprocess: defaults scale with the run length", () => {
  assertEquals(defaultMinStep(262_144), 100);
  assertEquals(defaultMinStep(262_153), 100);
  assertEquals(defaultMinStep(1_000_000), 100);
  assertEquals(defaultMinStep(100_000), 70);
  assertEquals(defaultMinStep(20_000), 39);
  assertEquals(defaultMinStep(1_000), 13);
  assertEquals(defaultMinStep(1), 1);
  assertEquals(defaultD1Guess(110, 262_153), 6000);
  assertRelative(defaultD1Guess(40, 20_000), Math.sqrt(40 * 20_000), 1e-12, "short-run d1 guess");
});

Deno.test("deceleration: a repeated step is fitted as a point counted twice", () => {
  const fixture = loadFixture("14M");
  const steps = [...fixture.steps, fixture.steps.at(-1)!];
  const losses = [...fixture.smoothed_loss, fixture.smoothed_loss.at(-1)!];
  const once = fitDeceleration(fixture.steps, fixture.smoothed_loss, { preprocess: false, minStep: 100 });
  const twice = fitDeceleration(steps, losses, { preprocess: false, minStep: 100 });
  assertEquals(twice.nPoints, once.nPoints + 1);
  assert(twice.identified && twice.converged, twice.reasons.join("; "));
  // The extra weight on the last point moves the optimum a little, not the break.
  assertRelative(twice.tD, once.tD, 0.02, "t_d with the last point twice");
  assert(twice.b !== once.b, "the repeated point must count in the least squares");
  // With preprocessing too (a raw log that repeats a step, e.g. across a resume).
  const raw = Array.from({ length: 3000 }, (_, i) => i + 1);
  const rawLosses = raw.map((t) => 8 * t ** -0.2 * (1 + t / 300) ** -0.1);
  const repeated = [...raw.slice(0, 1500), 1500, ...raw.slice(1500)];
  const repeatedLosses = [...rawLosses.slice(0, 1500), rawLosses[1499], ...rawLosses.slice(1500)];
  const fit = fitDeceleration(repeated, repeatedLosses);
  assert(Number.isFinite(fit.tD), `t_d ${fit.tD}`);
});

Deno.test("deceleration: bad inputs get errors that say what to fix", () => {
  const steps = Array.from({ length: 300 }, (_, i) => (i + 1) * 10);
  const losses = steps.map((t) => 5 * t ** -0.1);
  const fails = (s: ArrayLike<number>, l: ArrayLike<number>, includes: string, options = {}) => {
    const error = assertThrows(
      () => fitDeceleration(s, l, { preprocess: false, ...options }),
      Error,
      includes,
    );
    assert(error.message.startsWith("zsl: "), error.message);
  };
  const swapped = [...steps];
  [swapped[10], swapped[11]] = [swapped[11], swapped[10]];
  fails(swapped, losses, "sort the rows");
  for (const bad of [NaN, 0, -1, Infinity]) {
    const l = [...losses];
    l[20] = bad;
    fails(steps, l, `loss at step ${steps[20]} (row 20) is ${bad}`);
  }
  const stepNaN = [...steps];
  stepNaN[3] = NaN;
  fails(stepNaN, losses, "steps must be finite");
  fails(steps.slice(0, 5), losses, "5 steps but 300 losses");
  fails([], [], "empty");
  fails(steps.slice(0, 12), losses.slice(0, 12), "only 2 points with step > 100", { minStep: 100 });
  fails(steps, losses, "label.csv: ", { label: "label.csv", minStep: 1e9 });
  fails(steps.map((t) => t + 0.5), losses, "is not an integer", { preprocess: true });
});

Deno.test("deceleration: curves without a decelerating break say so instead of returning a silent fit", () => {
  const random = new Random(7);
  const steps = Float64Array.from({ length: 20_000 }, (_, i) => i + 1);
  const noisy = (f: (t: number) => number) => steps.map((t) => f(t) * Math.exp(0.03 * random.normal()));

  const powerLaw = fitDeceleration(steps, noisy((t) => 18 * t ** -0.1));
  assertEquals(powerLaw.identified, false);
  assert(powerLaw.reasons.some((r) => r.includes("single power law")), powerLaw.reasons.join("; "));

  const lateBreak = fitDeceleration(
    steps,
    noisy((t) => bnsl({ b: 18, c0: 0.2, c1: -0.18, logD1: Math.log(100_000), f1: 0.3 }, t)),
  );
  assertEquals(lateBreak.identified, false, "a break after the last step cannot be seen");

  const steepening = fitDeceleration(
    steps,
    noisy((t) => bnsl({ b: 18, c0: 0.1, c1: 0.2, logD1: Math.log(2000), f1: 0.3 }, t)),
  );
  assertEquals(steepening.identified, false);
  assert(steepening.reasons.some((r) => r.includes("does not flatten")), steepening.reasons.join("; "));

  // A clean break well inside the data is identified, and t_d is reported as inside the range.
  const real = fitDeceleration(
    steps,
    noisy((t) => bnsl({ b: 15, c0: 0.2, c1: -0.17, logD1: Math.log(1500), f1: 0.3 }, t)),
  );
  assert(real.identified, real.reasons.join("; "));
  assert(real.tDInRange);
});

Deno.test("curves: CSV with or without header, named columns, and errors naming the line", () => {
  const plain = parseLossCsv("1,10.5\n2,9.5\n\n3,9\n", "a.csv");
  assertEquals(Array.from(plain.steps), [1, 2, 3]);
  assertEquals(Array.from(plain.losses), [10.5, 9.5, 9]);
  const named = parseLossCsv("wall,step,loss\n0.1,1,10\n0.2,2,9\n", "b.csv");
  assertEquals(Array.from(named.steps), [1, 2]);
  assertEquals(Array.from(named.losses), [10, 9]);
  const semicolons = parseLossCsv("step;train_loss\r\n5;3.5\r\n", "c.csv");
  assertEquals(Array.from(semicolons.losses), [3.5]);
  assertThrows(
    () => parseLossCsv("step,loss\n1,2\nx,3\n", "d.csv"),
    Error,
    /d\.csv line 3 .* no numeric step/,
  );
  assertThrows(() => parseLossCsv("a,b,c\n1,2,3\n", "e.csv"), Error, /e\.csv has header/);
  assertThrows(() => parseLossCsv("", "f.csv"), Error, /f\.csv is empty/);
});

Deno.test("curves: run directories, Arrow and CSV files", async () => {
  const dir = await Deno.makeTempDir({ prefix: "zsl-curves-" });
  try {
    const run = `${dir}/run-a`;
    await Deno.mkdir(run);
    await writeArrow(`${run}/metrics.arrow`, {
      step: Int32Array.from([0, 1, 2, 3]),
      tokens: [0, 10, 20, 30],
      lr: [0, 1e-3, 1e-3, 1e-3],
      train_loss: [NaN, 10, 9, 8],
      grad_norm: [NaN, 1, 1, 1],
      wall_seconds: [0, 1, 2, 3],
      eval_loss: [10.8, NaN, NaN, 7.9],
    });
    let curve = await readLossCurve(run);
    assertEquals(curve.name, "run-a");
    assertEquals(Array.from(curve.steps), [1, 2, 3]); // the eval-only row at step 0 is skipped
    assertEquals(Array.from(curve.losses), [10, 9, 8]);
    await Deno.writeTextFile(`${run}/run.json`, JSON.stringify({ name: "14M" }));
    curve = await readLossCurve(run);
    assertEquals(curve.name, "14M");

    await writeArrow(`${dir}/pair.arrow`, { s: [1, 2], l: [3, 2] });
    curve = await readLossCurve(`${dir}/pair.arrow`);
    assertEquals(curve.name, "pair");
    assertEquals(Array.from(curve.losses), [3, 2]);

    await Deno.writeTextFile(`${dir}/curve.csv`, "step,loss\n1,3\n2,2\n");
    curve = await readLossCurve(`${dir}/curve.csv`);
    assertEquals(curve.name, "curve");

    await Deno.mkdir(`${dir}/empty`);
    await assertRejects(
      () => readLossCurve(`${dir}/empty`),
      Error,
      /empty is a directory without a readable metrics\.arrow/,
    );
    await assertRejects(() => readLossCurve(`${dir}/missing`), Error, /missing does not exist/);
    await Deno.writeTextFile(`${dir}/junk.arrow`, "not arrow");
    await assertRejects(
      () => readLossCurve(`${dir}/junk.arrow`),
      Error,
      /junk\.arrow is not a readable Arrow IPC file/,
    );
    await writeArrow(`${dir}/three.arrow`, { a: [1], b: [2], c: [3] });
    await assertRejects(() => readLossCurve(`${dir}/three.arrow`), Error, /expected "step" and "train_loss"/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("report: one Arrow row per model with errors, and the paper's Markdown tables", () => {
  const models = ["14M", "144M"].map((model) => {
    const fixture = loadFixture(model);
    return {
      name: model,
      fit: fitDeceleration(fixture.steps, fixture.smoothed_loss, { preprocess: false, minStep: 100 }),
    };
  });
  const rows = models.map(decelerationRow);
  const columns = rowsToColumns(DECELERATION_TABLE, rows);
  for (const [name, column] of Object.entries(columns)) assertEquals(column.length, 2, name);
  for (
    const name of ["b_err", "c0_err", "c1_err", "log_d1_err", "f1_err", "L_d_err", "r_d_err", "L_hat_T_err"]
  ) {
    assert(name in columns, name);
  }
  assertEquals(columns.name, ["14M", "144M"]);
  // The row holds the fit's values under the table's names, and F1's points are the fit's curves.
  assertEquals([rows[0].tD, rows[0].tDMin, rows[0].lossDErr], [
    models[0].fit.tD,
    models[0].fit.tDRange[0],
    models[0].fit.errors.lossD,
  ]);
  const curve = decelerationCurveRows(models[0]);
  const smoothed = curve.filter((point) => point.series === "smoothed");
  assertEquals(smoothed.map((point) => point.loss), Array.from(models[0].fit.curve.losses));
  assertEquals(
    new Set(curve.map((point) => point.series)),
    new Set(["smoothed", "fit", "pre-break", "post-break"]),
  );
  const markdown = decelerationMarkdown(rows);
  assert(markdown.includes("| Model | L_d | t_d | r_d | L̂_T | L_T |"));
  assert(markdown.includes("| 14M | 4.050 ± 0.011 | 5877 (5749–6009) |"), markdown);
  assert(
    markdown.includes("| 14M | 18.42 ± 0.16 | 0.1745 ± 0.0013 | -0.1620 ± 0.0017 | 8.679 ± 0.022 |"),
    markdown,
  );
  assertEquals(formatWithError(18.42228, 0.1593), "18.42 ± 0.16");
  assertEquals(formatWithError(5877.4, 129.8), "5877 ± 130");
  assertEquals(formatWithError(1, Infinity), "1.000 ± ∞");
});

const SCRIPT = new URL("../scripts/decel.ts", import.meta.url).pathname;
const SCRIPT_PERMISSIONS = [
  "--allow-read",
  "--allow-write",
  "--allow-ffi",
  "--allow-sys=cpus,networkInterfaces,hostname",
];

async function runScript(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...SCRIPT_PERMISSIONS, SCRIPT, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return { code: output.code, stdout: decoder.decode(output.stdout), stderr: decoder.decode(output.stderr) };
}

Deno.test("scripts/decel.ts: a run directory with metrics.arrow and a CSV curve, end to end", async () => {
  const dir = await Deno.makeTempDir({ prefix: "zsl-decel-" });
  try {
    const random = new Random(3);
    const last = 20_000;
    const steps = Int32Array.from({ length: last }, (_, i) => i + 1);
    const p: BnslParameters = { b: 15, c0: 0.2, c1: -0.17, logD1: Math.log(1500), f1: 0.3 };
    const trainLoss = Array.from(steps, (t) => bnsl(p, t) * Math.exp(0.02 * random.normal()));
    await Deno.mkdir(`${dir}/runs/small`, { recursive: true });
    await writeArrow(`${dir}/runs/small/metrics.arrow`, {
      step: steps,
      tokens: Array.from(steps, (t) => t * 4096),
      lr: Array.from(steps, () => 1e-3),
      train_loss: trainLoss,
      grad_norm: Array.from(steps, () => 1),
      wall_seconds: Array.from(steps, (t) => t * 0.1),
      eval_loss: Array.from(steps, (t) => (t % 1000 === 0 ? trainLoss[t - 1] : NaN)),
    });
    await Deno.writeTextFile(`${dir}/runs/small/run.json`, JSON.stringify({ name: "tiny" }));
    const fixture = loadFixture("14M");
    await Deno.writeTextFile(
      `${dir}/runs/paper14M.csv`,
      "step,loss\n" + fixture.steps.map((s, i) => `${s},${fixture.smoothed_loss[i]}`).join("\n") + "\n",
    );

    // Default --out: the inputs' common parent (runs/).
    const result = await runScript([`${dir}/runs/small`]);
    assertEquals(result.code, 0, result.stderr);
    assert(result.stdout.includes("tiny: t_d = "), result.stdout);
    for (
      const file of [
        "deceleration.arrow",
        "deceleration_curves.arrow",
        "deceleration.md",
        "deceleration_f1.vl.json",
        "deceleration_f1.svg",
        "deceleration_f1.png",
      ]
    ) {
      assert((await Deno.stat(`${dir}/runs/${file}`)).size > 0, file);
    }
    const [fit, ...others] = await readTable(`${dir}/runs`, DECELERATION_TABLE);
    assertEquals(others.length, 0);
    assertEquals(fit.name, "tiny");
    assertEquals(fit.identified, true);
    const curves = await readTable(`${dir}/runs`, DECELERATION_CURVES_TABLE);
    assert(
      curves.length > 100 && curves.every((point) => point.model === "tiny"),
      "F1's points are not stored",
    );
    assertRelative(
      fit.tD,
      1500 * 1.09,
      0.08,
      "t_d of the synthetic run (smoothing lag included)",
    );

    // An already smoothed curve with the paper's options (--no-preprocess applies to every input).
    const paper = await runScript([
      `${dir}/runs/paper14M.csv`,
      "--no-preprocess",
      "--min-step",
      "100",
      "--out",
      `${dir}/out`,
    ]);
    assertEquals(paper.code, 0, paper.stderr);
    const markdown = await Deno.readTextFile(`${dir}/out/deceleration.md`);
    assert(markdown.includes("| paper14M | 4.050 ± 0.011 | 5877 (5749–6009) |"), markdown);

    // Two models in one table and one figure.
    const both = await runScript([`${dir}/runs/small`, `${dir}/runs/paper14M.csv`, "--out", `${dir}/both`]);
    assertEquals(both.code, 0, both.stderr);
    const bothTable = decodeArrow(await Deno.readFile(`${dir}/both/deceleration.arrow`));
    assertEquals(Array.from(bothTable.columns.name as string[]), ["tiny", "paper14M"]);
    const svg = await Deno.readTextFile(`${dir}/both/deceleration_f1.svg`);
    assert(svg.includes("tiny") && svg.includes("paper14M"));

    // Bad input: the error names the file and the fix, exit code 2, nothing written.
    await Deno.writeTextFile(`${dir}/bad.csv`, "step,loss\n1,3\n3,2\n2,1\n");
    const bad = await runScript([`${dir}/runs/small`, `${dir}/bad.csv`, "--out", `${dir}/bad-out`]);
    assertEquals(bad.code, 2);
    assert(bad.stderr.includes("bad.csv") && bad.stderr.includes("sort the rows"), bad.stderr);
    assertEquals([...Deno.readDirSync(`${dir}/bad-out`)].map((entry) => entry.name), []);

    const usage = await runScript(["--min-step", "abc", `${dir}/runs/small`]);
    assertEquals(usage.code, 2);
    assert(usage.stderr.includes("--min-step must be a number"), usage.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
