/**
 * SLURM array tasks that survive their time limit and preemption: SLURM sends SIGTERM to the task's
 * shell {@linkcode SIGNAL_SECONDS} before the limit (`--signal=B:TERM@…`); the shell passes it on to
 * zsl, which finishes the step in flight, writes a checkpoint of it and exits 143; the shell then
 * requeues the task (`scontrol requeue`), which resumes the run from that checkpoint when it starts
 * again. Logs of a requeued task are appended to, not overwritten.
 *
 * The jobs run `scripts/sweep.ts` with the permissions of `deno task sweep` in deno.json, minus the
 * right to run programs (a job submits nothing).
 *
 * @module
 */
import { join } from "../util/path.ts";

/** Seconds before the time limit at which SLURM signals a training task (a checkpoint's worth, and more). */
export const SIGNAL_SECONDS = 300;

/** The exit code of an interrupted `deno task sweep` / `train` (128 + SIGTERM). */
export const INTERRUPTED_EXIT_CODE = 143;

/**
 * The `#SBATCH` lines of a training array: the early signal, requeueing, appended logs. An option the
 * user gave in `sbatchArgs` (e.g. their own `--signal`) is not repeated.
 */
export function preemptionLines(sbatchArgs: readonly string[] = []): string[] {
  const given = (option: string) => sbatchArgs.some((arg) => arg === option || arg.startsWith(`${option}=`));
  const lines: string[] = [];
  if (!given("--signal")) lines.push(`--signal=B:TERM@${SIGNAL_SECONDS}`);
  if (!given("--requeue") && !given("--no-requeue")) lines.push("--requeue");
  if (!given("--open-mode")) lines.push("--open-mode=append");
  return lines.map((line) => `#SBATCH ${line}`);
}

/**
 * Bash lines that run `command` (a shell command line; a leading `exec` is dropped) in the background,
 * pass a SIGTERM on to it, wait until it has ended (its checkpoint written), and requeue the array
 * task when it was interrupted.
 */
export function requeueOnInterrupt(command: string): string[] {
  return [
    "# SIGTERM (SLURM's --signal before the time limit, or a preemption) reaches this shell: pass it on to",
    "# zsl, which finishes its step, writes a checkpoint and exits 143; then requeue the task to resume.",
    'child=""',
    `trap 'kill -TERM "$child" 2>/dev/null || true' TERM`,
    `${command.replace(/^exec\s+/, "")} &`,
    "child=$!",
    "status=0",
    'wait "$child" || status=$?',
    "# A trapped signal ends `wait` early: wait again until zsl has really exited.",
    'while kill -0 "$child" 2>/dev/null; do status=0; wait "$child" || status=$?; done',
    `if [ "$status" -eq ${INTERRUPTED_EXIT_CODE} ]; then`,
    '  echo "zsl: array task ${SLURM_ARRAY_TASK_ID} was interrupted and checkpointed: requeueing it to resume"',
    '  scontrol requeue "${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}" || true',
    "fi",
    'exit "$status"',
  ];
}

/**
 * The Deno permission flags of the sweep's jobs: those of `deno task sweep` in `repoRoot`/deno.json
 * without `--allow-run`, their `$HOME`-style variables written `${HOME:-}` for the job's bash to expand.
 */
export function sweepJobPermissions(repoRoot: string): string[] {
  const path = join(repoRoot, "deno.json");
  let task: unknown;
  try {
    task = JSON.parse(Deno.readTextFileSync(path)).tasks?.sweep;
  } catch (error) {
    throw new Error(
      `zsl: cannot read the sweep task's permissions from ${path}: ${(error as Error).message}`,
    );
  }
  if (typeof task !== "string") throw new Error(`zsl: ${path} has no "sweep" task`);
  return task.split(/\s+/)
    .filter((word) => word.startsWith("--allow-") && !word.startsWith("--allow-run"))
    // The job script runs under `set -u`: an unset variable (DENO_DIR, XDG_CACHE_HOME) expands to "".
    .map((word) => word.replace(/\$([A-Za-z_][A-Za-z0-9_]*)/g, "${$1:-}"));
}
