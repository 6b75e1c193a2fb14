/**
 * What the benchmarks share: deterministic fill values, the timing of repeated records (the best of a
 * few trials, with the process CPU time that shows how many cores the run got), and the common settings.
 *
 * @module
 */
import process from "node:process";
import type { Kernels } from "../gpu/kernels.ts";

/** The settings every benchmark section takes. */
export interface BenchSettings {
  /** Fewer cases and shorter trials (default false). */
  quick?: boolean;
  /** Target seconds per timed trial (default 0.3, quick 0.1). */
  seconds?: number;
  /** Timed trials per case, best taken (default 3). */
  trials?: number;
  /** Progress and notes (default: stderr). */
  log?: (line: string) => void;
}

/** `settings` with the defaults filled in. */
export function benchSettings(settings: BenchSettings): Required<BenchSettings> {
  const quick = settings.quick ?? false;
  return {
    quick,
    seconds: settings.seconds ?? (quick ? 0.1 : 0.3),
    trials: settings.trials ?? 3,
    log: settings.log ?? ((line: string) => console.error(line)),
  };
}

/** `count` deterministic values in [−0.5, 0.5) (`seed` shifts them). */
export function fill(count: number, seed: number): Float32Array {
  const values = new Float32Array(count);
  for (let i = 0; i < count; i++) values[i] = ((i * 7919 + seed * 104729) % 1000) / 1000 - 0.5;
  return values;
}

/** Best seconds per call of `record` (one warm-up that compiles, then trials of repeated calls). */
export async function timeRecords(
  kernels: Kernels,
  record: (pass: GPUComputePassEncoder) => void,
  seconds: number,
  trials: number,
): Promise<{ seconds: number; busy: number }> {
  const gpu = kernels.gpu;
  const run = async (reps: number) => {
    const encoder = gpu.device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    for (let i = 0; i < reps; i++) record(pass);
    pass.end();
    const cpu0 = process.cpuUsage();
    const start = performance.now();
    gpu.device.queue.submit([encoder.finish()]);
    await gpu.sync();
    const wall = (performance.now() - start) / 1000;
    const cpu = process.cpuUsage(cpu0);
    return { wall, busy: (cpu.user + cpu.system) / 1e6 / wall };
  };
  await run(1);
  const once = (await run(1)).wall;
  const reps = Math.max(1, Math.min(1000, Math.round(seconds / Math.max(once, 1e-6))));
  let best = { wall: Infinity, busy: 0 };
  for (let trial = 0; trial < trials; trial++) {
    const result = await run(reps);
    if (result.wall < best.wall) best = result;
  }
  return { seconds: best.wall / reps, busy: best.busy };
}

/**
 * glibc malloc settings for the PyTorch runs: no `mmap` for large blocks, no trimming of the heap. By
 * default glibc hands PyTorch's activation-sized tensors (~1 MB) fresh pages from `mmap` and returns them
 * at free, so every step pays page faults and zero-fills: `aten::fill_` and the log-softmax ran 2× slower
 * at cpu-s than at cpu-m on tensors of the same size. With these, as a user tuning PyTorch for a CPU
 * would set them (or preload jemalloc/tcmalloc), PyTorch's 1-thread BLAS step went from 20.7k to 37.6k
 * tokens/s at cpu-s and from 48.6k to 78.7k at cpu-xs (batch 16 × 64, 2-core Zen 4): the anchor is
 * PyTorch at its best, so they are always set.
 */
export const TORCH_ALLOCATOR_ENV: Record<string, string> = {
  MALLOC_MMAP_THRESHOLD_: "4294967296",
  MALLOC_TRIM_THRESHOLD_: "4294967296",
  MALLOC_TOP_PAD_: "1073741824",
};

/** The AVX-512 extensions OpenBLAS's SkylakeX kernels use (its own check for that core type). */
const SKYLAKEX_FLAGS = ["avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"];

/**
 * Environment of the PyTorch reference runs with `threads` threads: the thread counts, the allocator
 * ({@linkcode TORCH_ALLOCATOR_ENV}), and on a CPU with AVX-512 `OPENBLAS_CORETYPE=SkylakeX`. Debian's
 * OpenBLAS 0.3.21 does not know Zen 4 and takes its AVX2 (Haswell) kernels there; the AVX-512 ones made
 * PyTorch's 1-thread step 7–13% faster at cpu-xs…cpu-m (2-core Zen 4), so the anchor uses them. `python`
 * reads the CPU's flags (Deno may not read /proc without --allow-all).
 */
export async function torchEnvironment(threads: number, python: string): Promise<Record<string, string>> {
  const env: Record<string, string> = {
    OMP_NUM_THREADS: String(threads),
    OPENBLAS_NUM_THREADS: String(threads),
    MKL_NUM_THREADS: String(threads),
    ...TORCH_ALLOCATOR_ENV,
  };
  if (await cpuHasFlags(python, SKYLAKEX_FLAGS)) env.OPENBLAS_CORETYPE = "SkylakeX";
  return env;
}

const flagAnswers = new Map<string, Promise<boolean>>();

/** Whether /proc/cpuinfo lists every flag in `flags` (false where it cannot be read), asked once per python. */
function cpuHasFlags(python: string, flags: string[]): Promise<boolean> {
  const key = `${python} ${flags.join(",")}`;
  let answer = flagAnswers.get(key);
  if (!answer) {
    const code = [
      "import sys",
      "try:",
      "    words = open('/proc/cpuinfo').read().split()",
      "except OSError:",
      "    words = []",
      "print(all(flag in words for flag in sys.argv[1:]))",
    ].join("\n");
    answer = new Deno.Command(python, { args: ["-c", code, ...flags], stdout: "piped", stderr: "null" })
      .output()
      .then((output) => output.success && new TextDecoder().decode(output.stdout).trim() === "True")
      .catch(() => false);
    flagAnswers.set(key, answer);
  }
  return answer;
}
