/**
 * Loss interference of a whole training run (docs/method.md#loss-interference): Δ_t^{2t} between consecutive
 * power-of-two checkpoints on the run's eval split, and Δ_t^{t+1}, one step of the run's own optimizer (with
 * its state, without clipping, at lr(t)) from every power-of-two checkpoint on K batches training never
 * saw, measured on that batch ("train") and on the eval split ("eval").
 *
 * Work is cached in `RUN/interference/` (the files are `src/results/interference.ts`'s): the eval split's
 * per-token losses of each checkpoint, the per-batch one-step rows with the settings they were made with,
 * and which tokens the loss files are of. A cached file is reused when it is newer than its checkpoint and
 * was made with the same eval set and settings. The rows returned are those of the result tables.
 *
 * @module
 */
import type { GpuDevice } from "../../gpu/device.ts";
import { Kernels } from "../../gpu/kernels.ts";
import { Transformer } from "../../model/transformer.ts";
import { parameterLayout } from "../../model/parameters.ts";
import { fingerprint } from "../../data/batches.ts";
import { checkpointPath, listCheckpoints, loadCheckpoint } from "../../train/checkpoint.ts";
import type { StepState } from "../../train/optimizer_step.ts";
import { analysisOptimizerOptions, checkpointStepState, OptimizerStep } from "../../train/optimizer_step.ts";
import type { LoadedRun } from "../../train/run.ts";
import { modelTokenLosses } from "../../model/token_losses.ts";
import { newerThanCheckpoint } from "../../results/cache.ts";
import type { Dt1BatchRow, Dt1Row, Dt2tGroupRow, Dt2tRow, OneStepCache } from "../../results/interference.ts";
import {
  interferenceDir,
  oneStepFile,
  readEvalSetKey,
  readOneStepCache,
  readTokenLosses,
  tokenLossFile,
  writeEvalSetKey,
  writeOneStepCache,
  writeTokenLosses,
} from "../../results/interference.ts";
import { join } from "../../util/path.ts";
import { lossInterference, meanStd } from "./loss.ts";
import type { InterferenceResult } from "./loss.ts";
import { oneStepLearningRate } from "./one_step.ts";
import type { OneStepLr } from "./one_step.ts";
import { tokenSetOf } from "./token_losses.ts";
import type { TokenSet } from "./token_losses.ts";

/** Default number of unseen batches of the one-step analysis (the paper's). */
export const DEFAULT_ONE_STEP_BATCHES = 5;

/** Options of {@linkcode analyseRun}. */
export interface RunInterferenceOptions {
  /** Use only the first this many eval sequences (default: all). */
  evalSequences?: number;
  /** Run Δ_t^{t+1} (default true). */
  oneStep?: boolean;
  /** Unseen batches K of the one-step analysis (default 5). */
  batches?: number;
  /** Learning rate of the one step (default "checkpoint": lr(t), the peak LR where that is 0). */
  lr?: OneStepLr;
  /** Gradient clipping of the one step (default 0: none, as the paper). */
  clip?: number;
  /** Recompute everything, ignoring the caches. */
  force?: boolean;
  /** Only checkpoints up to this step. */
  maxStep?: number;
  /** Pipeline cache to share when the GPU is used (default: a new one). */
  kernels?: Kernels;
  /** Progress text as the work goes (what is being done, done/total). */
  onProgress?: (text: string, done: number, total: number) => void;
}

/** Everything the analysis of one run produced. */
export interface RunInterference {
  /** The run's name (from its run info). */
  name: string;
  /** The run's directory. */
  runDir: string;
  /** Power-of-two checkpoint steps analysed, ascending (up to `maxStep`). */
  checkpoints: number[];
  /** Δ_t^{2t} totals, one row per consecutive pair (t, 2t). */
  dt2t: Dt2tRow[];
  /** Δ_t^{2t} per genre and per document. */
  dt2tGroups: Dt2tGroupRow[];
  /** Δ_t^{t+1} summaries, one row per (t, set), sorted by t; empty without the one-step analysis. */
  dt1: Dt1Row[];
  /** Δ_t^{t+1} per unseen batch, two rows (train, eval) per batch. */
  dt1Batches: Dt1BatchRow[];
  /** Token losses computed (not from the cache), and one-step checkpoints computed. */
  computed: { losses: number; oneStep: number };
  /** Wall-clock seconds the analysis took. */
  seconds: number;
}

/** Whether `n` is a power of two (1, 2, 4, …). */
export function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && (n & (n - 1)) === 0 && n <= 2 ** 30;
}

/**
 * The checkpoints of a run an analysis steps from: `requested` (each must exist) or every power of two;
 * throws naming the steps the run has, or that it has none to analyse.
 */
export async function analysedCheckpoints(runDir: string, requested?: number[]): Promise<number[]> {
  const available = await listCheckpoints(runDir);
  const steps = requested ?? available.filter(isPowerOfTwo);
  for (const step of steps) {
    if (!available.includes(step)) {
      throw new Error(`zsl: ${runDir} has no checkpoint of step ${step} (it has ${available.join(", ")})`);
    }
  }
  if (steps.length === 0) {
    throw new Error(`zsl: ${runDir} has no power-of-two checkpoints: train it first (deno task train)`);
  }
  return steps;
}

/** Consecutive power-of-two pairs (t, 2t) among `steps`. */
export function powerOfTwoPairs(steps: number[]): [number, number][] {
  const set = new Set(steps);
  return steps.filter((t) => isPowerOfTwo(t) && set.has(2 * t)).map((t) => [t, 2 * t]);
}

function mean(values: Float32Array): number {
  let sum = 0;
  for (const value of values) sum += value;
  return sum / values.length;
}

/** The eval token set of a run (its first `maxSequences` eval sequences when given). */
export function evalTokenSet(run: LoadedRun, maxSequences?: number): TokenSet {
  const corpus = run.plan.corpus;
  return tokenSetOf(
    run.plan.evalSet(),
    corpus.genres.map((genre) => genre.id),
    maxSequences,
    corpus.documents.map((document) => document.name),
  );
}

/** Per-group rows of one interference result, labelled by `names` (by id; "none" for −1). */
function groupRows(
  model: string,
  t: number,
  grouping: string,
  result: InterferenceResult,
  names?: string[],
): Dt2tGroupRow[] {
  const rows: Dt2tGroupRow[] = [];
  const entries = [...(result.groups ?? new Map())].sort((a, b) => Number(a[0]) - Number(b[0]));
  for (const [label, value] of entries) {
    const id = Number(label);
    const group = id < 0 ? "none" : names?.[id] ?? String(label);
    rows.push({ model, t, grouping, group, ...value });
  }
  return rows;
}

/**
 * Runs (or reads from the cache) the interference analyses of one run. `device` is the GPU, or a
 * function that opens it, called only when something has to be computed.
 *
 * @example
 * ```ts
 * import { analyseRun, loadRun, openGpu } from "../../../mod.ts";
 * const result = await analyseRun(openGpu, await loadRun("runs/cpu-s"), { batches: 5 });
 * result.dt2t; // [{ model, t, t2, D, M, deltaL, … }]
 * ```
 */
export async function analyseRun(
  device: GpuDevice | (() => Promise<GpuDevice>),
  run: LoadedRun,
  options: RunInterferenceOptions = {},
): Promise<RunInterference> {
  const start = performance.now();
  const cacheDir = interferenceDir(run.runDir);
  const layout = parameterLayout(run.config);
  const all = await listCheckpoints(run.runDir);
  const checkpoints = all.filter((step) => isPowerOfTwo(step) && step <= (options.maxStep ?? Infinity));
  if (checkpoints.length === 0) {
    throw new Error(`zsl: ${run.runDir} has no power-of-two checkpoints: train it first (deno task train)`);
  }
  const set = evalTokenSet(run, options.evalSequences);
  const T = run.config.seq_len;
  const predicted = set.documents.length;
  const evalKey = {
    sequences: set.tokens.length / T,
    fingerprint: fingerprint([set.tokens]),
  };
  await Deno.mkdir(cacheDir, { recursive: true });
  const sameEvalSet = JSON.stringify(await readEvalSetKey(cacheDir)) === JSON.stringify(evalKey);
  const doOneStep = options.oneStep ?? true;
  const K = options.batches ?? DEFAULT_ONE_STEP_BATCHES;
  if (doOneStep && (!Number.isInteger(K) || K < 1)) throw new Error(`zsl: --batches must be ≥ 1, got ${K}`);
  const lrChoice = options.lr ?? "checkpoint";
  const clip = options.clip ?? 0;
  // The run's own optimizer and settings, without clipping unless asked (docs/method.md#one-step).
  const optimizer = { ...analysisOptimizerOptions(run.optimizer), maxNorm: clip };

  // What must be computed.
  const needLosses: number[] = [];
  for (const step of checkpoints) {
    const path = join(cacheDir, tokenLossFile(step));
    if (options.force || !sameEvalSet || !(await newerThanCheckpoint(path, run.runDir, step))) {
      needLosses.push(step);
    }
  }
  const oneStepSettings = (step: number) => ({
    batches: K,
    lr: oneStepLearningRate(run.schedule, step, lrChoice),
    lrChoice,
    clip,
    afterStep: run.steps,
    optimizer,
    eval: evalKey,
  });
  const needOneStep: number[] = [];
  if (doOneStep) {
    for (const step of checkpoints) {
      const path = join(cacheDir, oneStepFile(step));
      const cached = await readOneStepCache(path);
      if (
        options.force || !cached ||
        JSON.stringify(cached.settings) !== JSON.stringify(oneStepSettings(step)) ||
        !(await newerThanCheckpoint(path, run.runDir, step))
      ) needOneStep.push(step);
    }
  }
  const unseen: Uint32Array[] = [];
  if (needOneStep.length > 0) {
    for (let k = 0; k < K; k++) unseen.push(run.plan.unseenBatch(run.steps, k).tokens);
  }

  const total = needLosses.length + needOneStep.length * K;
  let done = 0;
  const report = (text: string) => options.onProgress?.(`${run.info.name}: ${text}`, done, total);
  if (needLosses.length > 0 || needOneStep.length > 0) {
    // The GPU is opened only when something is not cached.
    const gpu = typeof device === "function" ? await device() : device;
    const kernels = options.kernels ?? new Kernels(gpu);
    const stepper = needOneStep.length > 0
      ? await OptimizerStep.create(gpu, run.config, {
        batch: run.batch,
        microbatch: run.microbatch,
        optimizer,
        kernels,
      })
      : null;
    // Eval losses always come from a model with the run's microbatch, so that cached files and the
    // one-step "before" losses are the same numbers (bit for bit) whichever model computed them.
    const evaluator = stepper?.model ??
      await Transformer.create(gpu, run.config, { batch: run.microbatch, training: false }, kernels);
    try {
      for (const step of checkpoints) {
        const lossesNeeded = needLosses.includes(step);
        const oneStepNeeded = needOneStep.includes(step);
        if (!lossesNeeded && !oneStepNeeded) continue;
        const checkpoint = await loadCheckpoint(checkpointPath(run.runDir, step), layout);
        let evalBefore: Float32Array;
        if (lossesNeeded || !stepper) {
          report(`eval losses of step ${step}`);
          evaluator.setParameters(checkpoint.parameters);
          evalBefore = await modelTokenLosses(evaluator, set.tokens);
          await writeTokenLosses(join(cacheDir, tokenLossFile(step)), { ...set, losses: evalBefore });
          done++;
        } else {
          evalBefore = await readTokenLosses(join(cacheDir, tokenLossFile(step)), predicted);
        }
        if (oneStepNeeded && stepper) {
          await oneStepAtCheckpoint(stepper, {
            step,
            state: checkpointStepState(checkpoint, "or pass --no-one-step"),
            source: `${checkpoint.directory}/optimizer.safetensors`,
            unseen,
            afterStep: run.steps,
            set,
            evalBefore,
            settings: oneStepSettings(step),
            path: join(cacheDir, oneStepFile(step)),
            onBatch: (k) => {
              done++;
              report(`one step from step ${step}, batch ${k + 1}/${K}`);
            },
          });
        }
      }
    } finally {
      if (stepper) stepper.destroy();
      else evaluator.destroy();
    }
    await writeEvalSetKey(cacheDir, evalKey);
  }

  // Assemble the tables from the cache.
  const lossesOf = new Map<number, Float32Array>();
  for (const step of checkpoints) {
    lossesOf.set(step, await readTokenLosses(join(cacheDir, tokenLossFile(step)), predicted));
  }
  const dt2t: Dt2tRow[] = [];
  const dt2tGroups: Dt2tGroupRow[] = [];
  for (const [t, t2] of powerOfTwoPairs(checkpoints)) {
    const before = lossesOf.get(t)!;
    const after = lossesOf.get(t2)!;
    const result = lossInterference(before, after);
    const model = run.info.name;
    dt2t.push({
      model,
      t,
      t2,
      D: result.D,
      M: result.M,
      deltaL: result.deltaL,
      absDeltaL: Math.abs(result.deltaL),
      n: result.n,
      lossT: mean(before),
      lossT2: mean(after),
      reason: result.reason ?? "",
    });
    const genres = lossInterference(before, after, set.genres);
    dt2tGroups.push(...groupRows(model, t, "genre", genres, set.genreNames));
    const documents = lossInterference(before, after, set.documents);
    dt2tGroups.push(...groupRows(model, t, "document", documents, set.documentNames));
  }
  const dt1Batches: Dt1BatchRow[] = [];
  if (doOneStep) {
    for (const step of checkpoints) {
      const cached = await readOneStepCache(join(cacheDir, oneStepFile(step)));
      for (const row of cached?.rows ?? []) dt1Batches.push({ model: run.info.name, ...row });
    }
  }
  return {
    name: run.info.name,
    runDir: run.runDir,
    checkpoints,
    dt2t,
    dt2tGroups,
    dt1: summariseOneStep(dt1Batches),
    dt1Batches,
    computed: { losses: needLosses.length, oneStep: needOneStep.length },
    seconds: (performance.now() - start) / 1000,
  };
}

interface OneStepWork {
  step: number;
  state: StepState;
  /** Where the state is from (for errors). */
  source: string;
  unseen: Uint32Array[];
  afterStep: number;
  set: TokenSet;
  evalBefore: Float32Array;
  settings: { lr: number };
  path: string;
  onBatch: (k: number) => void;
}

/** The K one-step measurements of one checkpoint, written to its cache file. */
async function oneStepAtCheckpoint(stepper: OptimizerStep, work: OneStepWork): Promise<void> {
  stepper.load(work.state, work.source);
  const rows: OneStepCache["rows"] = [];
  const lr = work.settings.lr;
  const evalMean = mean(work.evalBefore);
  for (let k = 0; k < work.unseen.length; k++) {
    const tokens = work.unseen[k];
    // The checkpoint holds `step` updates: this is update step + 1 (bias corrections).
    const { before, meanLoss, gradNorm } = await stepper.step(tokens, work.step + 1, lr);
    const trainAfter = await stepper.losses(tokens);
    const evalAfter = await stepper.losses(work.set.tokens);
    const common = { t: work.step, batch: k, batchStep: work.afterStep + 1 + k, lr, gradNorm };
    const train = lossInterference(before, trainAfter);
    const evaluation = lossInterference(work.evalBefore, evalAfter);
    rows.push(
      {
        ...common,
        set: "train",
        D: train.D,
        M: train.M,
        deltaL: train.deltaL,
        n: train.n,
        lossBefore: meanLoss,
      },
      {
        ...common,
        set: "eval",
        D: evaluation.D,
        M: evaluation.M,
        deltaL: evaluation.deltaL,
        n: evaluation.n,
        lossBefore: evalMean,
      },
    );
    work.onBatch(k);
  }
  await writeOneStepCache(work.path, { settings: work.settings, rows });
}

/** Mean ± std over batches, one row per (t, set). */
export function summariseOneStep(rows: Dt1BatchRow[]): Dt1Row[] {
  const keys = new Map<string, Dt1BatchRow[]>();
  for (const row of rows) {
    const key = `${row.t}|${row.set}`;
    if (!keys.has(key)) keys.set(key, []);
    keys.get(key)!.push(row);
  }
  const out: Dt1Row[] = [];
  for (const group of keys.values()) {
    const pick = (get: (row: Dt1BatchRow) => number | null) => meanStd(group.map((row) => get(row) ?? NaN));
    const D = pick((r) => r.D);
    const M = pick((r) => r.M);
    const deltaL = pick((r) => r.deltaL);
    const abs = pick((r) => (r.deltaL === null ? NaN : Math.abs(r.deltaL)));
    out.push({
      model: group[0].model,
      t: group[0].t,
      set: group[0].set,
      lr: group[0].lr,
      batches: group.length,
      D: D.mean,
      DStd: D.std,
      M: M.mean,
      MStd: M.std,
      deltaL: deltaL.mean,
      deltaLStd: deltaL.std,
      absDeltaL: abs.mean,
      absDeltaLStd: abs.std,
    });
  }
  return out.sort((a, b) => a.t - b.t || a.set.localeCompare(b.set));
}
