/**
 * What the analysis CLIs (`deno task zsl`, `gradients`, `landscape`) share: where their output goes, the
 * runs they load (with unique names), a progress line with elapsed time and ETA per run, and a device
 * opened only when an analysis needs one.
 *
 * @module
 */
import { loadRun } from "../train/run.ts";
import type { LoadedRun } from "../train/run.ts";
import { uniqueNames } from "../util/names.ts";
import { ensureWritableDirectory } from "../io/atomic.ts";
import { commonParent, join, resolve } from "../util/path.ts";
import { formatDuration } from "../util/format.ts";
import { bar, ProgressLine } from "./progress.ts";

/**
 * Loads the run directories (names made unique for tables and legends) and makes the output
 * directory: `out` if given, else `RUN/<folder>` for one run, else `<common parent>/<folder>`.
 */
export async function loadAnalysisRuns(
  runDirs: string[],
  out: string | undefined,
  folder: string,
): Promise<{ runs: LoadedRun[]; out: string }> {
  const directory = out !== undefined
    ? resolve(out)
    : runDirs.length === 1
    ? join(resolve(runDirs[0]), folder)
    : join(commonParent(runDirs) ?? Deno.cwd(), folder);
  const runs: LoadedRun[] = [];
  for (const path of runDirs) runs.push(await loadRun(path));
  await ensureWritableDirectory(directory);
  const names = uniqueNames(runs.map((run) => run.info.name));
  runs.forEach((run, i) => (run.info.name = names[i]));
  return { runs, out: directory };
}

/**
 * Runs `analyse` on each run in turn with a progress line (bar, done/total, what, ETA), and returns
 * the results in order.
 */
export async function analyseWithProgress<R>(
  runs: LoadedRun[],
  analyse: (run: LoadedRun, onProgress: (text: string, done: number, total: number) => void) => Promise<R>,
): Promise<R[]> {
  const progress = new ProgressLine();
  const results: R[] = [];
  try {
    for (const run of runs) {
      const started = performance.now();
      results.push(
        await analyse(run, (text, done, total) => {
          const elapsed = (performance.now() - started) / 1000;
          const eta = done > 0 ? (elapsed / done) * (total - done) : NaN;
          progress.update(
            `${bar(total ? done / total : 1)} ${done}/${total} ${text} ETA ${formatDuration(eta)}`,
          );
        }),
      );
    }
  } finally {
    progress.done();
  }
  return results;
}

/**
 * {@linkcode analyseWithProgress} with a device (the GPU) that `open` opens the first time an analysis
 * asks for it (cached results need none), destroyed at the end whatever happens.
 */
export async function analyseWithDevice<Device extends { destroy(): void }, R>(
  runs: LoadedRun[],
  open: () => Promise<Device>,
  analyse: (
    device: () => Promise<Device>,
    run: LoadedRun,
    onProgress: (text: string, done: number, total: number) => void,
  ) => Promise<R>,
): Promise<R[]> {
  let device: Device | null = null;
  const lazy = async () => (device ??= await open());
  try {
    return await analyseWithProgress(runs, (run, onProgress) => analyse(lazy, run, onProgress));
  } finally {
    (device as Device | null)?.destroy();
  }
}
