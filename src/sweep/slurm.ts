/**
 * Runs a sweep on a SLURM cluster: one job array that trains every unfinished run (one run per array
 * task, through the same code path as a local sweep, so a task resumes from its run's last checkpoint),
 * and one analysis job that starts when the whole array has succeeded and writes `SWEEP/results/`.
 *
 * Everything lives in `SWEEP/slurm/`: `train.sbatch`, `analyse.sbatch`, `jobs.json` (the last
 * submission) and `logs/` (`<array job>_<task>.out`, `<job>_analyse.out`).
 *
 * @module
 */
import { join, resolve } from "../util/path.ts";
import { ensureWritableDirectory, writeFileAtomic, writeJsonAtomic } from "../io/atomic.ts";
import { resolveRun } from "../train/run.ts";
import type { SweepDefinition, SweepRun } from "./definition.ts";
import { expandSweep } from "./definition.ts";
import type { GpuDevice } from "../gpu/device.ts";
import type { RunStatus, SweepEvent } from "./local.ts";
import { runStatus } from "./local.ts";
import { analyseSweep } from "./analyse.ts";
import { SWEEP_DEFINITION_FILE, sweepRunDir } from "../results/sweep.ts";
import { checkOnly, guardSweepRuns, lockSweep } from "./guard.ts";
import { preemptionLines, requeueOnInterrupt, sweepJobPermissions } from "./preemption.ts";

/** Resources and scheduling options of both jobs (each maps to one `#SBATCH` line). */
export interface SlurmOptions {
  /** `--partition`. */
  partition?: string;
  /** GPUs per array task and for the analysis job, as `--gres=gpu:N`; 0 or absent requests none. */
  gpus?: number;
  /** `--time` per task (e.g. `2:00:00` or `1-00:00:00`). */
  time?: string;
  /** `--cpus-per-task`. */
  cpus?: number;
  /** `--mem` per node (e.g. `16G`). */
  mem?: string;
  /** `--account`. */
  account?: string;
  /** Extra sbatch options, one `#SBATCH` line each (e.g. `--qos=high`, `--constraint=a100`). */
  sbatchArgs?: string[];
}

/** What a submission will do: the runs to train and the two scripts, written under `SWEEP/slurm/`. */
export interface SlurmPlan {
  /** Absolute sweep directory. */
  sweepDir: string;
  /** The sweep definition the jobs read (`SWEEP/sweep.json`). */
  definitionPath: string;
  /** Ids of the runs that are not finished: one array task each, in array-index order. */
  pendingRuns: string[];
  /** Ids of every run the analysis covers. */
  runs: string[];
  /** `SWEEP/slurm/train.sbatch`, or null when every run is finished (no array to submit). */
  trainScriptPath: string | null;
  /** The array script's text, or null when there is none. */
  trainScript: string | null;
  /** `SWEEP/slurm/analyse.sbatch`. */
  analyseScriptPath: string;
  /** The analysis script's text. */
  analyseScript: string;
  /** `SWEEP/slurm/logs/`. */
  logsDir: string;
}

/** The jobs of one submission, as written to `SWEEP/slurm/jobs.json`. */
export interface SlurmSubmission {
  /** The training array's job id, or null when every run was already finished. */
  trainJobId: string | null;
  /** The analysis job's id. */
  analyseJobId: string;
  /** Run ids in array-index order (task i trains `pendingRuns[i]`). */
  pendingRuns: string[];
  /** Log file patterns: `train` with `<task>` for the array index, `analyse`. */
  logs: { train: string | null; analyse: string };
  /** ISO time of the submission. */
  submitted: string;
}

/** The repository root, from this module's location (`src/sweep/slurm.ts`). */
function repositoryRoot(): string {
  const url = new URL("../../", import.meta.url);
  if (url.protocol !== "file:") {
    throw new Error(
      `zsl: --executor slurm needs zsl checked out on a shared filesystem (loaded from ${url.href}); ` +
        `clone the repository and run deno task sweep from it`,
    );
  }
  return decodeURIComponent(url.pathname).replace(/\/$/, "");
}

/** Quotes `value` for a POSIX shell. */
export function shellQuote(value: string): string {
  return /^[A-Za-z0-9_./:=,@%+-]+$/.test(value) ? value : `'${value.replaceAll("'", `'"'"'`)}'`;
}

/** Checks the options, naming the bad one and the fix. */
export function validateSlurmOptions(options: SlurmOptions): void {
  const { gpus, cpus } = options;
  if (gpus !== undefined && !(Number.isInteger(gpus) && gpus >= 0)) {
    throw new Error(`zsl: --gpus must be a whole number ≥ 0 (GPUs per task), got ${gpus}`);
  }
  if (cpus !== undefined && !(Number.isInteger(cpus) && cpus >= 1)) {
    throw new Error(`zsl: --cpus must be a whole number ≥ 1 (CPUs per task), got ${cpus}`);
  }
  const texts: [string, string | undefined][] = [
    ["--partition", options.partition],
    ["--time", options.time],
    ["--mem", options.mem],
    ["--account", options.account],
    ...(options.sbatchArgs ?? []).map((arg): [string, string] => ["--sbatch-arg", arg]),
  ];
  for (const [name, value] of texts) {
    if (value === undefined) continue;
    // One value becomes one #SBATCH line: a line break or an empty value would break the script.
    if (value.trim() === "" || /[\n\r]/.test(value)) {
      throw new Error(`zsl: ${name} must be a non-empty single line, got ${JSON.stringify(value)}`);
    }
  }
  for (const arg of options.sbatchArgs ?? []) {
    if (!arg.startsWith("-")) {
      throw new Error(
        `zsl: --sbatch-arg takes one sbatch option, got "${arg}": write e.g. --sbatch-arg=--qos=high`,
      );
    }
  }
}

/** The `#SBATCH` lines shared by both jobs. */
function resourceLines(options: SlurmOptions, workingDir: string): string[] {
  const lines = [`--export=ALL`, `--chdir=${workingDir}`];
  if (options.partition) lines.push(`--partition=${options.partition}`);
  if (options.account) lines.push(`--account=${options.account}`);
  if (options.gpus) lines.push(`--gres=gpu:${options.gpus}`);
  if (options.cpus) lines.push(`--cpus-per-task=${options.cpus}`);
  if (options.mem) lines.push(`--mem=${options.mem}`);
  if (options.time) lines.push(`--time=${options.time}`);
  lines.push(...(options.sbatchArgs ?? []));
  return lines.map((line) => `#SBATCH ${line}`);
}

/** Lines that make the GPU stack work inside a batch job. */
const ENVIRONMENT_LINES = [
  "set -euo pipefail",
  "# Vulkan and Mesa want a private runtime directory, which batch jobs often lack.",
  'if [ -z "${XDG_RUNTIME_DIR:-}" ]; then',
  '  export XDG_RUNTIME_DIR="${TMPDIR:-/tmp}/zsl-runtime-$(id -u)"',
  '  mkdir -p -m 700 "$XDG_RUNTIME_DIR"',
  "fi",
];

/** What the job scripts are written for: where things are, and which Deno and checkout run them. */
export interface SlurmScriptContext {
  /** Sweep name (the job names are `zsl-<name>-train` and `zsl-<name>-analyse`). */
  name: string;
  /** Absolute sweep directory. */
  sweepDir: string;
  /** Absolute path of the sweep definition the jobs read. */
  definitionPath: string;
  /** Absolute log directory. */
  logsDir: string;
  /** The jobs' working directory (relative paths in the definition resolve against it). */
  workingDir: string;
  /** Absolute path of the Deno executable. */
  denoPath: string;
  /** Absolute path of the zsl checkout (holding `deno.json` and `scripts/sweep.ts`). */
  repoRoot: string;
  /** Only these run ids (the analysis covers them alone). */
  only?: string[];
}

function sweepCommand(context: SlurmScriptContext, tail: string[]): string {
  return [
    "exec",
    shellQuote(context.denoPath),
    "run",
    `--config=${shellQuote(join(context.repoRoot, "deno.json"))}`,
    ...sweepJobPermissions(context.repoRoot),
    shellQuote(join(context.repoRoot, "scripts", "sweep.ts")),
    "--sweep",
    shellQuote(context.definitionPath),
    "--out",
    shellQuote(context.sweepDir),
    ...tail,
  ].join(" ");
}

/** The job array script: task i trains `runIds[i]` with `scripts/sweep.ts --only <id> --train-only`. */
export function trainArrayScript(
  context: SlurmScriptContext,
  runIds: string[],
  options: SlurmOptions,
): string {
  return [
    "#!/bin/bash",
    `# zsl sweep "${context.name}": trains one run per array task (written by deno task sweep --executor slurm).`,
    `#SBATCH --job-name=zsl-${context.name}-train`,
    `#SBATCH --array=0-${runIds.length - 1}`,
    `#SBATCH --output=${join(context.logsDir, "%A_%a.out")}`,
    ...resourceLines(options, context.workingDir),
    ...preemptionLines(options.sbatchArgs),
    ...ENVIRONMENT_LINES,
    `RUN_IDS=(${runIds.map(shellQuote).join(" ")})`,
    'RUN_ID="${RUN_IDS[$SLURM_ARRAY_TASK_ID]}"',
    'echo "zsl: array task $SLURM_ARRAY_TASK_ID of job $SLURM_ARRAY_JOB_ID trains run $RUN_ID on $(hostname)"',
    ...requeueOnInterrupt(sweepCommand(context, ["--only", '"$RUN_ID"', "--train-only"])),
    "",
  ].join("\n");
}

/** The analysis script: `scripts/sweep.ts --analyse-only` over the sweep's runs. */
export function analyseScript(context: SlurmScriptContext, options: SlurmOptions): string {
  return [
    "#!/bin/bash",
    `# zsl sweep "${context.name}": analyses every run and writes the results, once the training array succeeded.`,
    `#SBATCH --job-name=zsl-${context.name}-analyse`,
    `#SBATCH --output=${join(context.logsDir, "%j_analyse.out")}`,
    // Without this a failed array task would leave the job pending forever (DependencyNeverSatisfied).
    "#SBATCH --kill-on-invalid-dep=yes",
    ...resourceLines(options, context.workingDir),
    ...ENVIRONMENT_LINES,
    sweepCommand(context, [
      ...(context.only ? ["--only", shellQuote(context.only.join(","))] : []),
      "--analyse-only",
    ]),
    "",
  ].join("\n");
}

/** Each run of the sweep (all, or `only`) with its status in `SWEEP/runs/<id>/`. */
export async function sweepRunStatuses(
  definition: SweepDefinition,
  sweepDir: string,
  only?: string[],
): Promise<{ run: SweepRun; status: RunStatus }[]> {
  const all = expandSweep(definition);
  const unknown = (only ?? []).filter((id) => !all.some((run) => run.id === id));
  if (unknown.length > 0) {
    throw new Error(
      `zsl: --only names run(s) ${unknown.join(", ")} that the sweep does not have; its runs: ${
        all.map((run) => run.id).join(", ")
      }`,
    );
  }
  const statuses = [];
  for (const run of all.filter((run) => !only || only.includes(run.id))) {
    const out = sweepRunDir(sweepDir, run.id);
    // The steps are in the spec almost always; resolving the run (which reads its corpus) is the fallback.
    const steps = run.spec.steps ?? (await resolveRun({ ...run.spec, out })).options.steps;
    statuses.push({ run, status: await runStatus(out, steps) });
  }
  return statuses;
}

/**
 * Writes `SWEEP/sweep.json` and the two job scripts under `SWEEP/slurm/` (the logs directory too, since
 * SLURM does not create it), for the runs that are not finished.
 */
export async function planSlurmSweep(
  definition: SweepDefinition,
  sweepDir: string,
  options: SlurmOptions & { only?: string[]; restartChanged?: boolean } = {},
): Promise<SlurmPlan> {
  validateSlurmOptions(options);
  checkOnly(definition, options.only);
  if (!/^[A-Za-z0-9._-]+$/.test(definition.name)) {
    throw new Error(
      `zsl: the sweep name "${definition.name}" becomes a SLURM job name: use letters, digits, ".", "_", "-"`,
    );
  }
  const absoluteSweepDir = resolve(sweepDir);
  for (const [what, path] of [["--out", absoluteSweepDir], ["the working directory", Deno.cwd()]]) {
    // They go into #SBATCH lines (--output, --chdir), which sbatch splits at whitespace.
    if (/\s/.test(path)) {
      throw new Error(
        `zsl: ${what} (${path}) contains whitespace, which #SBATCH lines cannot hold: pick another`,
      );
    }
  }
  const lock = await lockSweep(absoluteSweepDir);
  try {
    await guardSweepRuns(definition, absoluteSweepDir, options);
  } finally {
    lock.release();
  }
  const slurmDir = join(absoluteSweepDir, "slurm");
  const logsDir = join(slurmDir, "logs");
  await ensureWritableDirectory(logsDir);
  const definitionPath = join(absoluteSweepDir, SWEEP_DEFINITION_FILE);
  await writeJsonAtomic(definitionPath, definition);
  const statuses = await sweepRunStatuses(definition, absoluteSweepDir, options.only);
  const pendingRuns = statuses.filter((entry) => entry.status !== "done").map((entry) => entry.run.id);
  const context: SlurmScriptContext = {
    name: definition.name,
    sweepDir: absoluteSweepDir,
    definitionPath,
    logsDir,
    // Relative paths in the definition (data files, model configs) are relative to where sweep runs.
    workingDir: Deno.cwd(),
    denoPath: Deno.execPath(),
    repoRoot: repositoryRoot(),
    only: options.only,
  };
  const trainScriptPath = pendingRuns.length > 0 ? join(slurmDir, "train.sbatch") : null;
  const trainScript = pendingRuns.length > 0 ? trainArrayScript(context, pendingRuns, options) : null;
  const analyseScriptPath = join(slurmDir, "analyse.sbatch");
  const analyse = analyseScript(context, options);
  if (trainScriptPath && trainScript) await writeFileAtomic(trainScriptPath, trainScript);
  else await Deno.remove(join(slurmDir, "train.sbatch")).catch(() => {});
  await writeFileAtomic(analyseScriptPath, analyse);
  return {
    sweepDir: absoluteSweepDir,
    definitionPath,
    pendingRuns,
    runs: statuses.map((entry) => entry.run.id),
    trainScriptPath,
    trainScript,
    analyseScriptPath,
    analyseScript: analyse,
    logsDir,
  };
}

/** The sbatch commands of a plan as one shell snippet (what `--dry-run` prints, and what submit runs). */
export function sbatchCommands(plan: SlurmPlan): string {
  if (!plan.trainScriptPath) return `sbatch --parsable ${shellQuote(plan.analyseScriptPath)}`;
  return [
    `TRAIN_JOB=$(sbatch --parsable ${shellQuote(plan.trainScriptPath)})`,
    `sbatch --parsable --dependency=afterok:\${TRAIN_JOB%%;*} ${shellQuote(plan.analyseScriptPath)}`,
  ].join("\n");
}

async function slurmCommand(command: string, args: string[]): Promise<string> {
  let result: Deno.CommandOutput;
  try {
    result = await new Deno.Command(command, { args, stdout: "piped", stderr: "piped" }).output();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Error(
        `zsl: ${command} not found: --executor slurm needs SLURM's commands (sbatch, squeue) on PATH; ` +
          `run it on a cluster login node, or install slurm-client`,
      );
    }
    throw error;
  }
  const text = new TextDecoder();
  if (!result.success) {
    throw new Error(
      `zsl: ${command} ${args.join(" ")} failed: ${
        text.decode(result.stderr).trim() || `exit ${result.code}`
      }`,
    );
  }
  return text.decode(result.stdout).trim();
}

/** Submits a plan: the array (when any run is unfinished), then the analysis job depending on it. */
export async function submitSlurmSweep(plan: SlurmPlan): Promise<SlurmSubmission> {
  // --parsable prints "jobid" or "jobid;cluster".
  const jobId = (output: string) => output.split(";")[0].trim();
  let trainJobId: string | null = null;
  if (plan.trainScriptPath) {
    trainJobId = jobId(await slurmCommand("sbatch", ["--parsable", plan.trainScriptPath]));
  }
  let analyseJobId: string;
  try {
    const dependency = trainJobId ? [`--dependency=afterok:${trainJobId}`] : [];
    analyseJobId = jobId(await slurmCommand("sbatch", ["--parsable", ...dependency, plan.analyseScriptPath]));
  } catch (error) {
    if (trainJobId) {
      throw new Error(
        `${(error as Error).message}\nzsl: the training array ${trainJobId} is submitted; ` +
          `cancel it with scancel ${trainJobId}, or submit the analysis after it yourself: ` +
          `sbatch --dependency=afterok:${trainJobId} ${plan.analyseScriptPath}`,
      );
    }
    throw error;
  }
  const submission: SlurmSubmission = {
    trainJobId,
    analyseJobId,
    pendingRuns: plan.pendingRuns,
    logs: {
      train: trainJobId ? join(plan.logsDir, `${trainJobId}_<task>.out`) : null,
      analyse: join(plan.logsDir, `${analyseJobId}_analyse.out`),
    },
    submitted: new Date().toISOString(),
  };
  await writeJsonAtomic(join(plan.sweepDir, "slurm", "jobs.json"), submission);
  return submission;
}

/** How to follow a submission: job ids, `squeue`, log paths, `scancel`. */
export function describeSubmission(submission: SlurmSubmission): string {
  const { trainJobId, analyseJobId, pendingRuns, logs } = submission;
  const ids = [trainJobId, analyseJobId].filter((id) => id !== null);
  const lines = trainJobId
    ? [
      `submitted training array job ${trainJobId} (${pendingRuns.length} task(s): ` +
      pendingRuns.map((id, index) => `${index}=${id}`).join(", ") + ")",
      `submitted analysis job ${analyseJobId} (starts when every task of ${trainJobId} succeeded)`,
    ]
    : [`every run is finished: submitted analysis job ${analyseJobId} only`];
  lines.push(`  follow: squeue -j ${ids.join(",")}`);
  if (logs.train) lines.push(`  logs:   ${logs.train} (one per task)`);
  lines.push(`          ${logs.analyse}`);
  lines.push(`  cancel: scancel ${ids.join(" ")}`);
  return lines.join("\n");
}

/** SLURM job states after which a job never runs again. */
const FINAL_STATES = new Set([
  "COMPLETED",
  "FAILED",
  "CANCELLED",
  "TIMEOUT",
  "NODE_FAIL",
  "PREEMPTED",
  "OUT_OF_MEMORY",
  "BOOT_FAIL",
  "DEADLINE",
  "SPECIAL_EXIT",
  "REVOKED",
]);

/**
 * The states of one job's tasks (one entry for a plain job), from `squeue --states=all`, which keeps
 * finished jobs for `MinJobAge` (300 s by default); after that from `sacct` when accounting is on.
 */
export async function slurmJobStates(jobId: string): Promise<string[]> {
  try {
    const output = await slurmCommand("squeue", ["-h", "-r", "-t", "all", "-j", jobId, "-o", "%T"]);
    const states = output.split("\n").map((line) => line.trim()).filter((line) => line !== "");
    if (states.length > 0) return states;
  } catch (error) {
    if (!/Invalid job id/i.test((error as Error).message)) throw error;
  }
  try {
    const output = await slurmCommand("sacct", ["-X", "-n", "-P", "-j", jobId, "-o", "State"]);
    // sacct writes e.g. "CANCELLED by 0": the state is the first word.
    const states = output.split("\n").map((line) => line.trim().split(" ")[0]).filter((s) => s !== "");
    if (states.length > 0) return states;
  } catch {
    // Accounting disabled: nothing more to learn.
  }
  return ["UNKNOWN"];
}

/** A job's tasks summed up: "COMPLETED", or e.g. "COMPLETED×1 FAILED×1" when they differ. */
export function summariseStates(states: string[]): string {
  const counts = new Map<string, number>();
  for (const state of states) counts.set(state, (counts.get(state) ?? 0) + 1);
  if (counts.size === 1) return states[0];
  return [...counts].map(([state, count]) => `${state}×${count}`).join(" ");
}

/**
 * Polls `squeue` until every task of every job has ended (or is unknown), calling `onChange` when a
 * summary changes. Polls every 2 s at first, backing off to 30 s while nothing changes.
 * Returns each job's summary (see {@linkcode summariseStates}).
 */
export async function waitForSlurmJobs(
  jobIds: string[],
  onChange: (summaries: Record<string, string>) => void = () => {},
): Promise<Record<string, string>> {
  let delay = 2;
  let previous = "";
  while (true) {
    const states: Record<string, string[]> = {};
    for (const id of jobIds) states[id] = await slurmJobStates(id);
    const summaries = Object.fromEntries(jobIds.map((id) => [id, summariseStates(states[id])]));
    const key = JSON.stringify(summaries);
    if (key !== previous) {
      onChange(summaries);
      previous = key;
      delay = 2;
    } else delay = Math.min(30, delay * 1.5);
    const finished = Object.values(states).every((list) =>
      list.every((state) => FINAL_STATES.has(state) || state === "UNKNOWN")
    );
    if (finished) return summaries;
    await new Promise((done) => setTimeout(done, delay * 1000));
  }
}

/** Options of {@linkcode runSweepOnSlurm}. */
export interface SlurmSweepOptions extends SlurmOptions {
  /** Only these run ids (default: all). */
  only?: string[];
  /** Delete and retrain the runs whose stored definition differs from the requested one (else refuse). */
  restartChanged?: boolean;
  /** Write and print the scripts and the sbatch commands; submit nothing. */
  dryRun?: boolean;
  /** Poll until both jobs end and report their states. */
  wait?: boolean;
  /** Where messages go (default: stderr); dry-run scripts go to stdout. */
  log?: (line: string) => void;
}

/**
 * `deno task sweep --executor slurm`: plans, then prints (`dryRun`) or submits, and with `wait` follows
 * the jobs to their end. Returns false when a waited-for job did not complete.
 */
export async function runSweepOnSlurm(
  definition: SweepDefinition,
  sweepDir: string,
  options: SlurmSweepOptions = {},
): Promise<boolean> {
  const log = options.log ?? ((line: string) => console.error(line));
  const plan = await planSlurmSweep(definition, sweepDir, options);
  const finished = plan.runs.length - plan.pendingRuns.length;
  log(
    `zsl sweep "${definition.name}" on SLURM → ${plan.sweepDir}: ${plan.pendingRuns.length} run(s) to train` +
      (finished > 0 ? `, ${finished} finished (skipped)` : ""),
  );
  if (options.dryRun) {
    for (
      const [path, script] of [[plan.trainScriptPath, plan.trainScript], [
        plan.analyseScriptPath,
        plan.analyseScript,
      ]]
    ) {
      if (path && script) console.log(`# ---- ${path}\n${script}`);
    }
    console.log(`# ---- submit (dry run: nothing was submitted)\n${sbatchCommands(plan)}`);
    return true;
  }
  const submission = await submitSlurmSweep(plan);
  log(describeSubmission(submission));
  if (!options.wait) return true;
  const jobs = [submission.trainJobId, submission.analyseJobId].filter((id) => id !== null);
  const names = (id: string) => id === submission.trainJobId ? `training ${id}` : `analysis ${id}`;
  const summaries = await waitForSlurmJobs(jobs, (summary) => {
    log(`  ${jobs.map((id) => `${names(id)}: ${summary[id]}`).join(", ")}`);
  });
  const ok = jobs.every((id) => summaries[id] === "COMPLETED");
  log(
    ok
      ? `zsl sweep: every job completed; results in ${join(plan.sweepDir, "results")}`
      : `zsl sweep: not every job completed (${
        jobs.map((id) => `${names(id)}: ${summaries[id]}`).join(", ")
      }); ` +
        `see the logs in ${plan.logsDir}, then rerun the same command to resume`,
  );
  return ok;
}

/**
 * The SLURM analysis job's work (`--analyse-only`): checks that every run (all, or `only`) is finished,
 * then runs {@linkcode analyseSweep} on them.
 */
export async function analyseFinishedSweep(
  gpu: GpuDevice,
  definition: SweepDefinition,
  sweepDir: string,
  options: { only?: string[]; onEvent?: (event: SweepEvent) => void } = {},
): Promise<string[]> {
  const lock = await lockSweep(sweepDir);
  try {
    return await analyseLocked(gpu, definition, sweepDir, options);
  } finally {
    lock.release();
  }
}

async function analyseLocked(
  gpu: GpuDevice,
  definition: SweepDefinition,
  sweepDir: string,
  options: { only?: string[]; onEvent?: (event: SweepEvent) => void },
): Promise<string[]> {
  const statuses = await sweepRunStatuses(definition, sweepDir, options.only);
  const unfinished = statuses.filter((entry) => entry.status !== "done").map((entry) => entry.run.id);
  if (unfinished.length > 0) {
    throw new Error(
      `zsl: run(s) ${unfinished.join(", ")} of ${sweepDir} are not finished, so there is nothing complete ` +
        `to analyse: train them first (rerun deno task sweep with the same --sweep and --out)`,
    );
  }
  return await analyseSweep(definition, sweepDir, statuses.map((entry) => entry.run), { gpu, ...options });
}
