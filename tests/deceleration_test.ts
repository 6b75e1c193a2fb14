import assert from "node:assert/strict";
import {
  bnsl,
  type BnslParameters,
  decelerationColumns,
  decelerationMarkdown,
  defaultD1Guess,
  defaultMinStep,
  fitDeceleration,
  formatWithError,
  logGridIndices,
  logMovingAverage,
  movingAverageWindowStart,
  onLogGrid,
  parseLossCsv,
  preprocessLossCurve,
  readLossCurve,
} from "../src/analysis/deceleration/mod.ts";
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
  assert.ok(
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
    assert.equal(fit.nPoints, e.n_fit);
    assert.ok(fit.identified, `break not identified: ${fit.reasons.join("; ")}`);
    assert.ok(fit.converged);
    assert.ok(fit.tDInRange);
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
    assert.ok(Math.abs(fit.tDRange[0] - range[0]) < 1.5 && Math.abs(fit.tDRange[1] - range[1]) < 1.5);
  });
}

Deno.test("deceleration: the 14M curve takes the published values (METHOD.md §4)", () => {
  const p: BnslParameters = { b: 18.42228, c0: 0.1745420, c1: -0.1620251, logD1: 8.678863, f1: 0.203022 };
  for (const [step, loss] of [[200, 7.3066], [1000, 5.5172], [5877, 4.1435], [262153, 3.8620]]) {
    assert.ok(Math.abs(bnsl(p, step) - loss) < 5e-5, `L(${step}) = ${bnsl(p, step)}, expected ${loss}`);
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
      assert.ok(fit.identified, `${name} seed ${seed}: ${fit.reasons.join("; ")}`);
      // Independent noise: each estimate lies within 4.5 of its standard errors (plus rounding).
      const check = (label: string, value: number, truth: number, sigma: number) => {
        assert.ok(
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
  assert.equal(reference.minStep, 100);
  assert.equal(reference.d1Guess, 6000);
  assert.ok(reference.identified);
  // The moving average lags: the smoothed curve at t is the raw curve near 0.915·t, so the break
  // appears ≈ 9% later; the slopes are unchanged, b rises by (0.915)^−c0.
  assertRelative(reference.c0, p.c0, 0.01, "c0");
  assertRelative(reference.c1, p.c1, 0.01, "c1");
  assert.ok(
    reference.tD / Math.exp(p.logD1) > 1.05 && reference.tD / Math.exp(p.logD1) < 1.13,
    `t_d ${reference.tD}`,
  );
  for (const seed of [11, 12]) {
    const random = new Random(seed);
    const noisy = clean.map((loss) => loss * Math.exp(0.03 * random.normal()));
    const fit = fitDeceleration(steps, noisy);
    assert.ok(fit.identified, fit.reasons.join("; "));
    assertRelative(fit.c0, reference.c0, 0.02, "c0 vs noiseless");
    assertRelative(fit.c1, reference.c1, 0.02, "c1 vs noiseless");
    assertRelative(fit.tD, reference.tD, 0.05, "t_d vs noiseless");
    assertRelative(fit.b, reference.b, 0.05, "b vs noiseless");
    // The authors' 524 points start at step 10 (their float `%` drops 1–9); here 1–9 are kept.
    assert.equal(fit.curve.steps.length, 524 + 9);
    assert.equal(fit.nPoints, 433);
  }
});

Deno.test("preprocess: the log moving average window is floor(j/1.2) … j", () => {
  assert.deepEqual(
    Array.from({ length: 13 }, (_, j) => movingAverageWindowStart(j)),
    [0, 0, 1, 2, 3, 4, 5, 5, 6, 7, 8, 9, 10],
  );
  const x = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096];
  const s = logMovingAverage(x);
  const expected = x.map((_, j) => {
    const window = x.slice(Math.floor(j / 1.2), j + 1);
    return window.reduce((a, b) => a + b, 0) / window.length;
  });
  assert.deepEqual(Array.from(s), expected);
  assert.equal(s[0], 1);
  assert.equal(s[1], 1.5); // rows 0–1
  assert.equal(s[6], (32 + 64) / 2); // rows 5–6
  assert.equal(s[7], (32 + 64 + 128) / 3); // rows 5–7
  assert.equal(s[12], (1024 + 2048 + 4096) / 3); // rows 10–12
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
    assert.ok(onLogGrid(step), `${step} should be kept`);
  }
  for (const step of [0, -10, 2.5, 101, 105, 1010, 1050, 10_100, 10_500, 262_144, 1_000_500]) {
    assert.ok(!onLogGrid(step), `${step} should be dropped`);
  }
  const steps = Array.from({ length: 25_000 }, (_, i) => i + 1);
  const kept = logGridIndices(steps).map((i) => steps[i]);
  assert.equal(kept.length, 99 + 91 + 90 + 15); // 1–99, 100–1000/10, 1100–10^4/100, 11000–25000/1000
  assert.equal(kept[kept.length - 1], 25_000); // on the grid: not appended twice
  const withTail = logGridIndices([...steps, 25_001]).map((i) => [...steps, 25_001][i]);
  assert.deepEqual(withTail.slice(-2), [25_000, 25_001]); // the last row is always kept
  // Rows with step 0 (before training) are smoothed over but not kept.
  assert.deepEqual(logGridIndices([0, 1, 2, 3]), [1, 2, 3]);
});

Deno.test("preprocess: smoothing runs over every row, then the grid picks rows, then minStep marks the fit", () => {
  const steps = Array.from({ length: 1200 }, (_, i) => i + 1);
  const losses = steps.map((t) => 10 / Math.sqrt(t));
  const curve = preprocessLossCurve(steps, losses, 100);
  const smoothed = logMovingAverage(losses);
  assert.equal(curve.steps.length, 99 + 91 + 2); // 1–99, 100–1000 by 10, 1100, 1200 (the last row, on the grid)
  for (let k = 0; k < curve.steps.length; k++) {
    assert.equal(curve.losses[k], smoothed[curve.steps[k] - 1]);
    assert.equal(curve.fitted[k], curve.steps[k] > 100);
  }
});

Deno.test("preprocess: defaults scale with the run length", () => {
  assert.equal(defaultMinStep(262_144), 100);
  assert.equal(defaultMinStep(262_153), 100);
  assert.equal(defaultMinStep(1_000_000), 100);
  assert.equal(defaultMinStep(100_000), 70);
  assert.equal(defaultMinStep(20_000), 39);
  assert.equal(defaultMinStep(1_000), 13);
  assert.equal(defaultMinStep(1), 1);
  assert.equal(defaultD1Guess(110, 262_153), 6000);
  assertRelative(defaultD1Guess(40, 20_000), Math.sqrt(40 * 20_000), 1e-12, "short-run d1 guess");
});

Deno.test("deceleration: a repeated step is fitted as a point counted twice", () => {
  const fixture = loadFixture("14M");
  const steps = [...fixture.steps, fixture.steps.at(-1)!];
  const losses = [...fixture.smoothed_loss, fixture.smoothed_loss.at(-1)!];
  const once = fitDeceleration(fixture.steps, fixture.smoothed_loss, { preprocess: false, minStep: 100 });
  const twice = fitDeceleration(steps, losses, { preprocess: false, minStep: 100 });
  assert.equal(twice.nPoints, once.nPoints + 1);
  assert.ok(twice.identified && twice.converged, twice.reasons.join("; "));
  // The extra weight on the last point moves the optimum a little, not the break.
  assertRelative(twice.tD, once.tD, 0.02, "t_d with the last point twice");
  assert.ok(twice.b !== once.b, "the repeated point must count in the least squares");
  // With preprocessing too (a raw log that repeats a step, e.g. across a resume).
  const raw = Array.from({ length: 3000 }, (_, i) => i + 1);
  const rawLosses = raw.map((t) => 8 * t ** -0.2 * (1 + t / 300) ** -0.1);
  const repeated = [...raw.slice(0, 1500), 1500, ...raw.slice(1500)];
  const repeatedLosses = [...rawLosses.slice(0, 1500), rawLosses[1499], ...rawLosses.slice(1500)];
  const fit = fitDeceleration(repeated, repeatedLosses);
  assert.ok(Number.isFinite(fit.tD), `t_d ${fit.tD}`);
});

Deno.test("deceleration: bad inputs get errors that say what to fix", () => {
  const steps = Array.from({ length: 300 }, (_, i) => (i + 1) * 10);
  const losses = steps.map((t) => 5 * t ** -0.1);
  const fails = (s: ArrayLike<number>, l: ArrayLike<number>, includes: string, options = {}) =>
    assert.throws(() => fitDeceleration(s, l, { preprocess: false, ...options }), (error: Error) => {
      assert.ok(error.message.startsWith("zsl: "), error.message);
      assert.ok(error.message.includes(includes), `"${error.message}" should mention "${includes}"`);
      return true;
    });
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
  assert.equal(powerLaw.identified, false);
  assert.ok(powerLaw.reasons.some((r) => r.includes("single power law")), powerLaw.reasons.join("; "));

  const lateBreak = fitDeceleration(
    steps,
    noisy((t) => bnsl({ b: 18, c0: 0.2, c1: -0.18, logD1: Math.log(100_000), f1: 0.3 }, t)),
  );
  assert.equal(lateBreak.identified, false, "a break after the last step cannot be seen");

  const steepening = fitDeceleration(
    steps,
    noisy((t) => bnsl({ b: 18, c0: 0.1, c1: 0.2, logD1: Math.log(2000), f1: 0.3 }, t)),
  );
  assert.equal(steepening.identified, false);
  assert.ok(steepening.reasons.some((r) => r.includes("does not flatten")), steepening.reasons.join("; "));

  // A clean break well inside the data is identified, and t_d is reported as inside the range.
  const real = fitDeceleration(
    steps,
    noisy((t) => bnsl({ b: 15, c0: 0.2, c1: -0.17, logD1: Math.log(1500), f1: 0.3 }, t)),
  );
  assert.ok(real.identified, real.reasons.join("; "));
  assert.ok(real.tDInRange);
});

Deno.test("curves: CSV with or without header, named columns, and errors naming the line", () => {
  const plain = parseLossCsv("1,10.5\n2,9.5\n\n3,9\n", "a.csv");
  assert.deepEqual(Array.from(plain.steps), [1, 2, 3]);
  assert.deepEqual(Array.from(plain.losses), [10.5, 9.5, 9]);
  const named = parseLossCsv("wall,step,loss\n0.1,1,10\n0.2,2,9\n", "b.csv");
  assert.deepEqual(Array.from(named.steps), [1, 2]);
  assert.deepEqual(Array.from(named.losses), [10, 9]);
  const semicolons = parseLossCsv("step;train_loss\r\n5;3.5\r\n", "c.csv");
  assert.deepEqual(Array.from(semicolons.losses), [3.5]);
  assert.throws(() => parseLossCsv("step,loss\n1,2\nx,3\n", "d.csv"), /d\.csv line 3 .* no numeric step/);
  assert.throws(() => parseLossCsv("a,b,c\n1,2,3\n", "e.csv"), /e\.csv has header/);
  assert.throws(() => parseLossCsv("", "f.csv"), /f\.csv is empty/);
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
    assert.equal(curve.name, "run-a");
    assert.deepEqual(Array.from(curve.steps), [1, 2, 3]); // the eval-only row at step 0 is skipped
    assert.deepEqual(Array.from(curve.losses), [10, 9, 8]);
    await Deno.writeTextFile(`${run}/run.json`, JSON.stringify({ name: "14M" }));
    curve = await readLossCurve(run);
    assert.equal(curve.name, "14M");

    await writeArrow(`${dir}/pair.arrow`, { s: [1, 2], l: [3, 2] });
    curve = await readLossCurve(`${dir}/pair.arrow`);
    assert.equal(curve.name, "pair");
    assert.deepEqual(Array.from(curve.losses), [3, 2]);

    await Deno.writeTextFile(`${dir}/curve.csv`, "step,loss\n1,3\n2,2\n");
    curve = await readLossCurve(`${dir}/curve.csv`);
    assert.equal(curve.name, "curve");

    await Deno.mkdir(`${dir}/empty`);
    await assert.rejects(
      () => readLossCurve(`${dir}/empty`),
      /empty is a directory without a readable metrics\.arrow/,
    );
    await assert.rejects(() => readLossCurve(`${dir}/missing`), /missing does not exist/);
    await Deno.writeTextFile(`${dir}/junk.arrow`, "not arrow");
    await assert.rejects(
      () => readLossCurve(`${dir}/junk.arrow`),
      /junk\.arrow is not a readable Arrow IPC file/,
    );
    await writeArrow(`${dir}/three.arrow`, { a: [1], b: [2], c: [3] });
    await assert.rejects(() => readLossCurve(`${dir}/three.arrow`), /expected "step" and "train_loss"/);
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
  const columns = decelerationColumns(models);
  for (const [name, column] of Object.entries(columns)) assert.equal(column.length, 2, name);
  for (
    const name of ["b_err", "c0_err", "c1_err", "log_d1_err", "f1_err", "L_d_err", "r_d_err", "L_hat_T_err"]
  ) {
    assert.ok(name in columns, name);
  }
  assert.deepEqual(columns.name, ["14M", "144M"]);
  const markdown = decelerationMarkdown(models);
  assert.ok(markdown.includes("| Model | L_d | t_d | r_d | L̂_T | L_T |"));
  assert.ok(markdown.includes("| 14M | 4.050 ± 0.011 | 5877 (5749–6009) |"), markdown);
  assert.ok(
    markdown.includes("| 14M | 18.42 ± 0.16 | 0.1745 ± 0.0013 | -0.1620 ± 0.0017 | 8.679 ± 0.022 |"),
    markdown,
  );
  assert.equal(formatWithError(18.42228, 0.1593), "18.42 ± 0.16");
  assert.equal(formatWithError(5877.4, 129.8), "5877 ± 130");
  assert.equal(formatWithError(1, Infinity), "1.000 ± ∞");
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
    assert.equal(result.code, 0, result.stderr);
    assert.ok(result.stdout.includes("tiny: t_d = "), result.stdout);
    for (
      const file of [
        "deceleration.arrow",
        "deceleration.md",
        "deceleration_f1.vl.json",
        "deceleration_f1.svg",
        "deceleration_f1.png",
      ]
    ) {
      assert.ok((await Deno.stat(`${dir}/runs/${file}`)).size > 0, file);
    }
    const table = decodeArrow(await Deno.readFile(`${dir}/runs/deceleration.arrow`));
    assert.equal(table.numRows, 1);
    assert.equal(table.columns.name[0], "tiny");
    assert.equal(table.columns.identified[0], true);
    assertRelative(
      Number(table.columns.t_d[0]),
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
    assert.equal(paper.code, 0, paper.stderr);
    const markdown = await Deno.readTextFile(`${dir}/out/deceleration.md`);
    assert.ok(markdown.includes("| paper14M | 4.050 ± 0.011 | 5877 (5749–6009) |"), markdown);

    // Two models in one table and one figure.
    const both = await runScript([`${dir}/runs/small`, `${dir}/runs/paper14M.csv`, "--out", `${dir}/both`]);
    assert.equal(both.code, 0, both.stderr);
    const bothTable = decodeArrow(await Deno.readFile(`${dir}/both/deceleration.arrow`));
    assert.deepEqual(Array.from(bothTable.columns.name as string[]), ["tiny", "paper14M"]);
    const svg = await Deno.readTextFile(`${dir}/both/deceleration_f1.svg`);
    assert.ok(svg.includes("tiny") && svg.includes("paper14M"));

    // Bad input: the error names the file and the fix, exit code 2, nothing written.
    await Deno.writeTextFile(`${dir}/bad.csv`, "step,loss\n1,3\n3,2\n2,1\n");
    const bad = await runScript([`${dir}/runs/small`, `${dir}/bad.csv`, "--out", `${dir}/bad-out`]);
    assert.equal(bad.code, 2);
    assert.ok(bad.stderr.includes("bad.csv") && bad.stderr.includes("sort the rows"), bad.stderr);
    assert.deepEqual([...Deno.readDirSync(`${dir}/bad-out`)].map((entry) => entry.name), []);

    const usage = await runScript(["--min-step", "abc", `${dir}/runs/small`]);
    assert.equal(usage.code, 2);
    assert.ok(usage.stderr.includes("--min-step must be a number"), usage.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
