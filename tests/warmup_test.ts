/**
 * Issue 14's controls: the warmup and peak-LR axes of the sweep, the warmup-end identification rule, the fit
 * against the learning-rate area S, and the warmup control's verdict on synthetic t_d tables.
 */
import { assert, assertClose, assertEquals, assertThrows, assertWithin } from "./asserts.ts";
import {
  atWarmupEnd,
  bnsl,
  type BnslParameters,
  decelerationRow,
  fitCurves,
  fitDeceleration,
  fitLrArea,
  LrArea,
  warmupControlRows,
  warmupSlope,
  warmupVerdict,
  warmupVerdicts,
} from "../src/analysis/deceleration/mod.ts";
import {
  defaultSweep,
  expandSweep,
  paperWarmupSweep,
  quickSweep,
  validateSweep,
  warmupControls,
} from "../src/sweep/definition.ts";
import { learningRate, type Schedule } from "../src/train/schedule.ts";
import { resolveRun } from "../src/train/run.ts";
import { kaplanPeakLr, parameterCount, presetByName } from "../src/model/config.ts";
import type { WarmupControlRow } from "../src/results/warmup.ts";
import type { LossCurve } from "../src/results/loss_curves.ts";
import { Random } from "../src/util/random.ts";

Deno.test("warmup axes: warmups and lrScales expand into named runs, grouped by everything but the warmup", () => {
  const runs = expandSweep({
    ...defaultSweep(),
    models: ["cpu-xs", "cpu-s"],
    seeds: [0, 1],
    warmups: [0, 8],
    lrScales: [1, 0.5],
    common: { steps: 100 },
  });
  assertEquals(runs.length, 16);
  assertEquals(runs.slice(0, 4).map((run) => run.id), [
    "cpu-xs_s0_lrx1_w0",
    "cpu-xs_s0_lrx1_w8",
    "cpu-xs_s0_lrx0.5_w0",
    "cpu-xs_s0_lrx0.5_w8",
  ]);
  assertEquals(runs[3].group, "cpu-xs_s0_lrx0.5");
  assertEquals([runs[3].spec.warmup, runs[3].spec.lrScale], [8, 0.5]);
  const controls = warmupControls(runs);
  assertEquals(controls.size, 8);
  assertEquals(controls.get("cpu-s_s1_lrx1")!.map((run) => run.id), ["cpu-s_s1_lrx1_w0", "cpu-s_s1_lrx1_w8"]);
  // The default sweep: each model with warmup 4 and none (docs/warmup-study.md), paired by model.
  const plain = expandSweep(defaultSweep());
  assertEquals(plain.map((run) => [run.id, run.group, run.spec.warmup, run.spec.lrScale]), [
    ["cpu-xs_w4", "cpu-xs", 4, undefined],
    ["cpu-xs_w0", "cpu-xs", 0, undefined],
    ["cpu-s_w4", "cpu-s", 4, undefined],
    ["cpu-s_w0", "cpu-s", 0, undefined],
    ["cpu-m_w4", "cpu-m", 4, undefined],
    ["cpu-m_w0", "cpu-m", 0, undefined],
  ]);
  assert(plain.every((run) => run.spec.steps === 512 && run.spec.batch === 16), "512 steps of 16 sequences");
  assertEquals(defaultSweep().analyses.decelerationMinStep, 3);
  // One warmup and one scale: the ids and specs are as before the axes.
  const single = expandSweep({ ...defaultSweep(), warmups: [], common: { steps: 600, warmup: 30 } });
  assertEquals(single.map((run) => [run.id, run.group, run.spec.warmup]), [
    ["cpu-xs", "cpu-xs", 30],
    ["cpu-s", "cpu-s", 30],
    ["cpu-m", "cpu-m", 30],
  ]);
  // The quick preset: the same runs for 256 steps.
  const quick = expandSweep(quickSweep());
  assertEquals(quick.map((run) => run.id), plain.map((run) => run.id));
  assert(quick.every((run) => run.spec.steps === 256), "256 steps");
  // paper-warmup: 14M, five warmups, the paper's other settings.
  const paper = expandSweep(paperWarmupSweep());
  assertEquals(paper.map((run) => run.id), ["14M_w0", "14M_w500", "14M_w1000", "14M_w2000", "14M_w4000"]);
  assert(
    paper.every((run) => run.spec.steps === 262144 && run.spec.microbatch === 64 && run.group === "14M"),
  );
  // What the sweep stores as sweep.json (and SLURM tasks read back) validates to the same runs.
  for (const definition of [paperWarmupSweep(), defaultSweep()]) {
    const back = validateSweep(JSON.parse(JSON.stringify(definition)), "sweep.json");
    assertEquals(expandSweep(back), expandSweep(definition));
  }
});

Deno.test("warmup axes: the JSON validation checks the lists and refuses a warmup set twice", () => {
  const ok = validateSweep({ models: ["tiny"], warmups: [0, 16], lrScales: [2], common: { steps: 50 } });
  assertEquals([ok.warmups, ok.lrScales], [[0, 16], [2]]);
  // A definition without warmups or a fit start does not take the default sweep's.
  const own = validateSweep({ models: ["tiny"], common: { steps: 50, warmup: 5 } });
  assertEquals([own.warmups, own.analyses.decelerationMinStep], [[], undefined]);
  assertThrows(() => validateSweep({ warmups: [8, -1] }), Error, "warmups[1] must be an integer ≥ 0");
  assertThrows(() => validateSweep({ lrScales: [0] }), Error, "lrScales[0] must be a number > 0");
  assertThrows(() => validateSweep({ warmups: 8 }), Error, "warmups must be an array");
  assertThrows(
    () => validateSweep({ warmups: [8], common: { steps: 50, warmup: 4 } }),
    Error,
    'common.warmup cannot be set when "warmups" lists values',
  );
  assertThrows(
    () => validateSweep({ models: ["tiny"], lrScales: [2], perModel: { tiny: { lrScale: 3 } } }),
    Error,
    'perModel.tiny.lrScale cannot be set when "lrScales" lists values',
  );
  // A definition object gets the same check when it is expanded.
  assertThrows(
    () => expandSweep({ ...defaultSweep(), common: { steps: 100, warmup: 30 } }),
    Error,
    "the sweep lists warmups and also sets common.warmup",
  );
});

Deno.test("warmup axes: lrScale multiplies the peak learning rate (Kaplan's, or --lr)", async () => {
  const out = await Deno.makeTempDir({ prefix: "zsl-lrscale-" });
  try {
    const base = { out, preset: "tiny", steps: 20, warmup: 2, evalSequences: 4 };
    const kaplan = kaplanPeakLr(
      parameterCount({ ...presetByName("tiny").config, vocab_size: 320 }).nonEmbedding,
    );
    const scaled = await resolveRun({ ...base, lrScale: 2 });
    assertClose([scaled.options.schedule.peakLr], [2 * kaplan], 1e-12, "2 × Kaplan");
    const given = await resolveRun({ ...base, lr: 1e-3, lrScale: 0.25 });
    assertClose([given.options.schedule.peakLr], [2.5e-4], 1e-12, "0.25 × --lr");
    await resolveRun({ ...base, lrScale: 0 }).then(
      () => assert(false, "lrScale 0 was accepted"),
      (error) => assert(String(error).includes("--lr-scale must be a number > 0"), String(error)),
    );
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

/** Raw per-step losses of a BNSL in steps 1…T with 1% multiplicative noise. */
function rawCurve(
  p: BnslParameters,
  last: number,
  seed: number,
): { steps: Float64Array; losses: Float64Array } {
  const random = new Random(seed);
  const steps = Float64Array.from({ length: last }, (_, i) => i + 1);
  return { steps, losses: steps.map((t) => bnsl(p, t) * Math.exp(0.01 * random.normal())) };
}

Deno.test("warmup end: a break within 2× of the end of the warmup is marked and not identified", () => {
  assert(atWarmupEnd(50, 25) && atWarmupEnd(12.5, 25) && !atWarmupEnd(50.5, 25) && !atWarmupEnd(12, 25));
  assert(!atWarmupEnd(10, 0) && !atWarmupEnd(10, undefined), "no warmup, no warmup end");
  const p: BnslParameters = { b: 6, c0: 0.3, c1: -0.25, logD1: Math.log(120), f1: 0.2 };
  const { steps, losses } = rawCurve(p, 3000, 5);
  const plain = fitDeceleration(steps, losses);
  assert(plain.identified && !plain.atWarmupEnd, plain.reasons.join("; "));
  // The smoothing lags the break by ~9%: t_d ≈ 131.
  assert(plain.tD > 110 && plain.tD < 150, `t_d ${plain.tD}`);
  const atEnd = fitDeceleration(steps, losses, { warmup: 100 });
  assertEquals([atEnd.identified, atEnd.atWarmupEnd], [false, true]);
  assertEquals(atEnd.reasons.length, 1);
  assert(atEnd.reasons[0].startsWith("at the warmup end: t_d = 1"), atEnd.reasons[0]);
  assert(atEnd.reasons[0].includes("100-step warmup ([50.0, 200])"), atEnd.reasons[0]);
  assertEquals(atEnd.tD, plain.tD, "the rule changes the verdict, not the fit");
  const early = fitDeceleration(steps, losses, { warmup: 40 });
  assert(early.identified && !early.atWarmupEnd, "t_d ≈ 3.3× a 40-step warmup is not its end");
  // A break that fails another rule is not also called the warmup's.
  const flat = rawCurve({ b: 6, c0: 0.3, c1: -0.01, logD1: Math.log(120), f1: 0.2 }, 3000, 6);
  const none = fitDeceleration(flat.steps, flat.losses, { warmup: 100 });
  assert(!none.identified && !none.atWarmupEnd, none.reasons.join("; "));
});

/** The trapezoidal schedule's rate of every step 1…T. */
function rates(schedule: Schedule): Float64Array {
  return Float64Array.from({ length: schedule.totalSteps }, (_, i) => learningRate(schedule, i + 1));
}

Deno.test("learning-rate area: S(t) = Σ_{s≤t} lr(s), its inverse, and what it refuses", () => {
  const schedule: Schedule = { kind: "trapezoidal", peakLr: 1e-3, warmup: 10, totalSteps: 40 };
  const steps = Float64Array.from({ length: 40 }, (_, i) => i + 1);
  const area = new LrArea(steps, rates(schedule));
  const sums: number[] = [];
  for (let t = 1; t <= 40; t++) sums.push((sums[t - 2] ?? 0) + learningRate(schedule, t));
  assertClose(steps.map((t) => area.at(t)), sums, 1e-14, "S(t), t = 1…40");
  assertClose(sums.map((value) => area.stepAt(value)), steps, 1e-12, "the step at each S(t)");
  assertEquals(area.at(0), 0);
  assertClose([area.at(10.5)], [(area.at(10) + area.at(11)) / 2], 1e-14, "linear between steps");
  assertClose([area.stepAt((area.at(20) + area.at(21)) / 2)], [20.5], 1e-12, "inverse between steps");
  assert(Number.isNaN(area.at(41)) && Number.isNaN(area.stepAt(1)), "outside the run: NaN");
  assertThrows(() => new LrArea([1, 3], [1, 1]), Error, "row 1 is step 3, not 2");
  assertThrows(() => new LrArea([1, 2], [1, NaN]), Error, "the learning rate of step 2 is NaN");
  assertThrows(() => new LrArea([1, 2], [0, 0]), Error, "every learning rate is 0");
});

Deno.test("learning-rate area: the fit against S recovers a broken power law generated in S", () => {
  const schedule: Schedule = { kind: "trapezoidal", peakLr: 1e-3, warmup: 400, totalSteps: 6000 };
  const lrs = rates(schedule);
  const steps = Float64Array.from({ length: schedule.totalSteps }, (_, i) => i + 1);
  const area = new LrArea(steps, lrs);
  // The break at S = S(1500): in steps it sits after a warmup that bends the step axis (S ∝ t² inside it).
  const truth: BnslParameters = { b: 1.2, c0: 0.25, c1: -0.2, logD1: Math.log(area.at(1500)), f1: 0.25 };
  const jitter = new Random(2);
  // 0.01% noise: a noiseless curve leaves no residual variance for the convergence test to scale by.
  const losses = steps.map((t) => bnsl(truth, area.at(t)) * Math.exp(1e-4 * jitter.normal()));
  // Points as given (no smoothing): the curve is a broken power law of S.
  const exact = fitLrArea(steps, losses, lrs, { preprocess: false, minStep: 20 });
  assert(exact.fit.identified, exact.fit.reasons.join("; "));
  assertClose(
    [exact.fit.c0, exact.fit.c1, exact.fit.logD1],
    [truth.c0, truth.c1, truth.logD1],
    1e-3,
    "S fit",
  );
  assertClose([exact.tDSteps], [1500], 1e-4, "t_d in steps of the S fit");
  // Against the step the same curve is no broken power law: its early slope mixes in the warmup.
  const inSteps = fitDeceleration(steps, losses, { preprocess: false, minStep: 20 });
  const offBy = Math.abs(inSteps.c0 / truth.c0 - 1);
  assert(offBy > 0.2, `the step fit's c0 ${inSteps.c0} is within ${offBy} of the true slope in S`);
  // The paper's preprocessing on raw losses with noise: the same break within the smoothing's lag.
  const random = new Random(3);
  const noisy = losses.map((loss) => loss * Math.exp(0.01 * random.normal()));
  const smoothed = fitLrArea(steps, noisy, lrs);
  assert(smoothed.fit.identified, smoothed.fit.reasons.join("; "));
  assertClose(
    [smoothed.fit.c0, smoothed.fit.c0 + smoothed.fit.c1],
    [truth.c0, truth.c0 + truth.c1],
    0.05,
    "slopes",
  );
  assertWithin(Math.abs(smoothed.tDSteps / 1500 - 1.09), 0.06, "t_d lags by the smoothing's ~9%");
});

Deno.test("learning-rate area: with a constant rate the fit against S is the step fit moved by log LR", () => {
  const schedule: Schedule = { kind: "trapezoidal", peakLr: 2e-3, warmup: 0, totalSteps: 3000 };
  const { steps, losses } = rawCurve({ b: 6, c0: 0.3, c1: -0.25, logD1: Math.log(400), f1: 0.3 }, 3000, 9);
  const inSteps = fitDeceleration(steps, losses);
  const inArea = fitLrArea(steps, losses, rates(schedule));
  assert(inSteps.identified && inArea.fit.identified, inArea.fit.reasons.join("; "));
  assertClose([inArea.fit.tD], [2e-3 * inSteps.tD], 1e-3, "t_d in S = LR·t_d");
  assertClose([inArea.tDSteps], [inSteps.tD], 1e-3, "the same step");
  assertClose(
    [inArea.fit.c0, inArea.fit.c1, inArea.fit.f1],
    [inSteps.c0, inSteps.c1, inSteps.f1],
    1e-3,
    "shape",
  );
  assertEquals(inArea.fit.nPoints, inSteps.nPoints);
});

Deno.test("learning-rate area: fitCurves fits run curves against S and names why curve files have none", () => {
  const schedule: Schedule = { kind: "trapezoidal", peakLr: 1e-3, warmup: 100, totalSteps: 3000 };
  const { steps, losses } = rawCurve({ b: 6, c0: 0.3, c1: -0.25, logD1: Math.log(120), f1: 0.2 }, 3000, 5);
  const curves: LossCurve[] = [
    { name: "run", source: "run/metrics.arrow", steps, losses, lrs: rates(schedule), warmup: 100 },
    { name: "file", source: "file.csv", steps, losses },
  ];
  const [run, file] = fitCurves(curves).map(decelerationRow);
  assertEquals([run.warmup, run.atWarmupEnd, run.identified], [100, true, false]);
  assertClose([run.lrAreaAtTD], [new LrArea(steps, rates(schedule)).at(run.tD)], 1e-12, "S at t_d");
  assertClose([run.lrAreaAtWarmup], [1e-3 * (0.1 * 100 + 0.9 * 101 / 2)], 1e-12, "S at the warmup end");
  assert(Number.isFinite(run.tDLrArea) && run.tDLrAreaMin < run.tDLrArea && run.tDLrArea < run.tDLrAreaMax);
  assert(Number.isNaN(file.warmup) && !file.atWarmupEnd && file.identified, file.reasons);
  assert(Number.isNaN(file.tDLrArea) && !file.identifiedLrArea);
  assert(file.reasonsLrArea.includes("no learning rates"), file.reasonsLrArea);
});

/** A row of the warmup control with t_d ± `spread` (relative). */
function controlRow(
  group: string,
  warmup: number,
  tD: number,
  spread = 0.05,
  found = true,
): WarmupControlRow {
  return {
    group,
    run: `${group}_w${warmup}`,
    warmup,
    breakFound: found,
    identified: found,
    atWarmupEnd: false,
    tD,
    tDMin: tD / (1 + spread),
    tDMax: tD * (1 + spread),
    tDOverWarmup: warmup > 0 ? tD / warmup : NaN,
    tDLrArea: NaN,
    identifiedLrArea: false,
    reasons: found ? "" : "no break",
  };
}

Deno.test("warmup control: the slope of log t_d on log max(w, 1), weighted by the t_d ranges", () => {
  // Exactly on a line: any weights give it back.
  const line = [1, 8, 64].map((w, k) => controlRow("m", w, 50 * w ** 0.7, 0.02 * (k + 1)));
  const exact = warmupSlope(line);
  assertClose([exact.slope, exact.intercept], [0.7, Math.log(50)], 1e-12, "slope, intercept");
  assertWithin(exact.chi2PerDof, 1e-20, "χ² of points on the line");
  // Warmup 0 is warmup 1 (the same schedule), and σ = half the log-width of the range.
  const two = warmupSlope([controlRow("m", 0, 100, 0.1), controlRow("m", 100, 1000, 0.1)]);
  assertClose([two.slope], [0.5], 1e-12, "log 10 / log 100");
  assertClose([two.slopeErr], [Math.sqrt(2) * Math.log(1.1) / Math.log(100)], 1e-12, "s.e. from the ranges");
  // Scatter beyond the ranges scales the error up by sqrt(χ²/dof).
  const scattered = warmupSlope(
    [1, 4, 16, 64].map((w, k) => controlRow("m", w, 100 * (k % 2 ? 1.5 : 1), 0.02)),
  );
  assert(scattered.chi2PerDof > 1, `χ²/dof ${scattered.chi2PerDof}`);
  const unscaled = 1 / Math.sqrt(
    [1, 4, 16, 64].map((w) => Math.log(w)).reduce((sum, x, _, xs) => {
      const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
      return sum + (x - mean) ** 2 / Math.log(1.02) ** 2;
    }, 0),
  );
  assertClose([scattered.slopeErr], [unscaled * Math.sqrt(scattered.chi2PerDof)], 1e-9, "Birge-scaled s.e.");
  assert(Number.isNaN(warmupSlope([controlRow("m", 0, 10), controlRow("m", 1, 12)]).slope), "one distinct x");
});

Deno.test("warmup control: the verdict follows the warmup, is independent of it, or is undetermined", () => {
  const follows = warmupVerdict("a", [8, 16, 32, 64].map((w) => controlRow("a", w, 2.5 * w)));
  assertEquals(follows.verdict, "follows the warmup", follows.why);
  assertClose([follows.slope], [1], 1e-9, "t_d = 2.5·w");
  assertEquals([follows.runs, follows.breaks, follows.warmups], [4, 4, "8, 16, 32, 64"]);

  const independent = warmupVerdict("b", [
    controlRow("b", 0, 200),
    controlRow("b", 8, 210),
    controlRow("b", 32, 195),
  ]);
  assertEquals(independent.verdict, "independent of the warmup", independent.why);
  assertClose([independent.tDChange], [15 / 195], 1e-12, "largest change from the longest warmup's t_d");

  // Warmups 0 and 1 are one schedule: no control, said so (not "a break at only one warmup").
  const same = warmupVerdict("q", [controlRow("q", 0, 28, 0.02), controlRow("q", 1, 28, 0.02)]);
  assertEquals(same.verdict, "undetermined");
  assert(same.why.startsWith("warmups 0 and 1 are the same schedule"), same.why);
  // t_d moves by 40% across warmups 1 → 4 with tight ranges: a slope of 0.24, neither verdict.
  const moving = warmupVerdict("c", [controlRow("c", 0, 100, 0.01), controlRow("c", 4, 140, 0.01)]);
  assertEquals(moving.verdict, "undetermined");
  assert(moving.why.includes("neither ≥ 0.5 nor within 2 s.e. of 0 or 0.16"), moving.why);
  // The default sweep's `quick` cpu-m: 17.6 → 14.5 from W 0 to 4, tight ranges: a slope of −0.14, many
  // s.e. from 0 but ≤ 0.16 (within the seed spread), t_d moves 21%: independent.
  const quick = warmupVerdict("m", [controlRow("m", 0, 17.6, 0.05), controlRow("m", 4, 14.5, 0.05)]);
  assertEquals(quick.verdict, "independent of the warmup", quick.why);
  assert(quick.why.includes("|slope| ≤ 0.16"), quick.why);
  // Within 2 s.e. of flat (wide ranges), but t_d moves by 29%: not independent.
  const wide = warmupVerdict("c", [controlRow("c", 0, 100, 2), controlRow("c", 30, 140, 2)]);
  assertEquals(wide.verdict, "undetermined");
  assert(wide.why.includes("t_d moves by 29% (> 25%)"), wide.why);
  // The same with t_d 23% apart is independent (the rule's 25%).
  const near = warmupVerdict("c", [controlRow("c", 0, 100, 2), controlRow("c", 30, 130, 2)]);
  assertEquals(near.verdict, "independent of the warmup", near.why);
  // A steep slope that is not significant.
  const noisy = warmupVerdict("d", [controlRow("d", 8, 20, 3), controlRow("d", 16, 40, 3)]);
  assertEquals(noisy.verdict, "undetermined");
  assert(noisy.why.includes("not 2 s.e. from 0") || noisy.why.includes("neither"), noisy.why);
  // Independent numbers, but one warmup has no break: not independent.
  const missing = warmupVerdict("e", [
    controlRow("e", 0, 1, 0.05, false),
    controlRow("e", 8, 200),
    controlRow("e", 32, 205),
  ]);
  assertEquals(missing.verdict, "undetermined");
  assert(missing.why.includes("no break at warmup 0"), missing.why);

  const single = warmupVerdict("f", [{ ...controlRow("f", 30, 40), atWarmupEnd: true, identified: false }]);
  assertEquals(single.verdict, "undetermined");
  assertEquals(
    single.why,
    "one warmup only (30 steps): no control; the break lies within 2× of the warmup end",
  );
  const lonely = warmupVerdict("g", [controlRow("g", 0, 5, 0.05, false), controlRow("g", 30, 60)]);
  assertEquals(lonely.why, "a break at only one warmup of 2: warmup 30, t_d = 60");
});

Deno.test("warmup control: rows from the fits, grouped by model in order, then by warmup", () => {
  const { steps, losses } = rawCurve({ b: 6, c0: 0.3, c1: -0.25, logD1: Math.log(120), f1: 0.2 }, 3000, 5);
  const fit = (name: string, warmup: number) =>
    decelerationRow(fitCurves([{ name, source: name, steps, losses, warmup }])[0]);
  const rows = warmupControlRows([
    { group: "b", warmup: 100, fit: fit("b_w100", 100) },
    { group: "a", warmup: 100, fit: fit("a_w100", 100) },
    { group: "b", warmup: 0, fit: fit("b_w0", 0) },
  ]);
  assertEquals(rows.map((row) => row.run), ["b_w0", "b_w100", "a_w100"]);
  assertEquals(rows.map((row) => [row.breakFound, row.identified, row.atWarmupEnd]), [
    [true, true, false],
    [true, false, true],
    [true, false, true],
  ]);
  assert(Number.isNaN(rows[0].tDOverWarmup) && rows[1].tDOverWarmup > 1);
  const verdicts = warmupVerdicts(rows);
  assertEquals(verdicts.map((row) => row.group), ["b", "a"]);
  // The same curve at both warmups: t_d does not move, so the break is independent of the warmup.
  assertEquals(verdicts[0].verdict, "independent of the warmup", verdicts[0].why);
  assertThrows(
    () => warmupControlRows([{ group: "a", warmup: 2.5, fit: fit("x", 0) }]),
    Error,
    "a warmup is a whole number of steps",
  );
});
