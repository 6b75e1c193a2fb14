/**
 * Training throughput of the small presets, end to end, beside PyTorch on the same CPU at its best.
 *
 * zsl is timed as `deno task train` runs: {@linkcode train} on the Brown corpus with the byte tokenizer,
 * data, metrics and checkpoints included, evaluation off; the steady state is the median time between
 * consecutive steps after the first few (which compile pipelines). PyTorch is the independent OLMo
 * reference (`tests/reference/olmo.py bench`, same model, batch and AdamW with clipping) in several
 * configurations — 1 thread and every core, plain `F.linear` through the system BLAS and through oneDNN,
 * each with glibc's allocator tuned and OpenBLAS's AVX-512 kernels where the CPU has them
 * ({@linkcode torchEnvironment}) — each timed by its median step;
 * the fastest is the anchor of the ratio. The runs of one preset are
 * interleaved and repeated (`rounds`), the best of each kept, so that zsl and PyTorch see the same load.
 *
 * On a machine shared with other processes the wall-clock ratio also measures how the scheduler shares
 * the cores (zsl runs lavapipe's threads, PyTorch's best is usually one thread), so both sides are also
 * given as tokens per second of process CPU time (`per cpu-s`: work, not share). On an idle machine
 * with C cores the wall-clock ratio is about the CPU ratio times zsl's parallel speed-up (≤ C).
 *
 * @module
 */
import process from "node:process";
import type { Kernels } from "../gpu/kernels.ts";
import type { ModelConfig } from "../model/config.ts";
import { parameterCount, presetByName, trainingFlopsPerToken } from "../model/config.ts";
import { resolveRun } from "../train/run.ts";
import { train } from "../train/trainer.ts";
import { timeTrainingStep } from "../train/timing.ts";
import type { BenchRow } from "./matmul.ts";
import { torchEnvironment } from "./timing.ts";
import { type Column, formatTable } from "./table.ts";

/** One PyTorch configuration of the reference training step. */
export interface TorchConfig {
  /** CPU threads (torch, OpenMP and OpenBLAS alike). */
  threads: number;
  /** `blas`: `F.linear`/`torch.matmul` through the BLAS torch loads; `onednn`: torch's mkldnn linear. */
  matmul: "blas" | "onednn";
}

/** The configurations tried by default: 1 thread and every core, each matrix-product route. */
export function torchConfigs(cores = navigator.hardwareConcurrency): TorchConfig[] {
  const threads = [...new Set([1, cores])];
  return threads.flatMap((t) => (["blas", "onednn"] as const).map((matmul) => ({ threads: t, matmul })));
}

/** Options of {@linkcode benchTraining}. */
export interface BenchTrainingOptions {
  /** Presets to time (default cpu-xs, cpu-s, cpu-m). */
  presets?: string[];
  /** Global batches in sequences (default [16]). */
  batches?: number[];
  /** zsl training steps per run (default 40); the first `warmSteps` are left out of the steady state. */
  steps?: number;
  /** Steps left out of zsl's steady state (default 6). */
  warmSteps?: number;
  /** PyTorch timed steps per configuration (default 20, after 2 untimed). */
  torchSteps?: number;
  /** Repetitions of the interleaved runs, best kept (default 2). */
  rounds?: number;
  /** PyTorch configurations (default {@linkcode torchConfigs}); empty: no reference. */
  torch?: TorchConfig[];
  /** Python interpreter with torch (default `/usr/bin/python3`). */
  python?: string;
  /** Progress and notes (default stderr). */
  log?: (line: string) => void;
}

/** What `olmo.py bench` prints (the fields used here). */
interface TorchReport {
  tokens_per_s: number;
  seconds_per_step_median: number;
  cpu_seconds_per_step_median: number;
  tokens_per_step: number;
  threads: number;
  matmul: string;
  blas: string;
  torch: string;
}

/** Tokens/s of the PyTorch reference for one configuration (median step), or null with the reason logged. */
export async function torchTrainingRate(
  config: ModelConfig,
  batch: number,
  steps: number,
  torch: TorchConfig,
  options: { python?: string; log?: (line: string) => void } = {},
): Promise<(TorchReport & { rate: number; cpuRate: number }) | null> {
  const log = options.log ?? ((line: string) => console.error(line));
  const script = new URL("../../tests/reference/olmo.py", import.meta.url);
  if (script.protocol !== "file:") {
    log(`training: PyTorch reference skipped: ${script} is not a local file`);
    return null;
  }
  const dir = await Deno.makeTempDir({ prefix: "zsl-bench-" });
  try {
    await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(config));
    const threads = String(torch.threads);
    const python = options.python ?? "/usr/bin/python3";
    const output = await new Deno.Command(python, {
      args: [
        script.pathname,
        "bench",
        "--config",
        `${dir}/config.json`,
        "--batch",
        String(batch),
        "--steps",
        String(steps),
        "--warmup-steps",
        "2",
        "--threads",
        threads,
        "--matmul",
        torch.matmul,
        "--fast",
        "--max-seconds",
        "20",
      ],
      env: await torchEnvironment(torch.threads, python),
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!output.success) {
      const why = new TextDecoder().decode(output.stderr).trim().split("\n").pop();
      log(`training: PyTorch ${torch.matmul}/${torch.threads} skipped: ${why}`);
      return null;
    }
    const report = JSON.parse(new TextDecoder().decode(output.stdout)) as TorchReport;
    return {
      ...report,
      rate: report.tokens_per_step / report.seconds_per_step_median,
      cpuRate: report.tokens_per_step / report.cpu_seconds_per_step_median,
    };
  } catch (error) {
    log(
      `training: PyTorch reference skipped (/usr/bin/python3 with torch needed): ${(error as Error).message}`,
    );
    return null;
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/**
 * zsl's end-to-end training rate: {@linkcode train} as `deno task train` runs it (Brown, byte tokenizer,
 * metrics and checkpoints into a temporary run directory, no evaluation), tokens/s of the median step
 * after the first `warmSteps`; also the mean over the same steps (checkpoint writes included), and
 * tokens per second of process CPU time (the median step's: lavapipe's threads included), which does
 * not depend on how much of a shared machine the run got.
 */
export async function zslTrainingRate(
  kernels: Kernels,
  preset: string,
  batch: number,
  steps: number,
  warmSteps = 6,
): Promise<{ median: number; mean: number; cpu: number; tokensPerStep: number }> {
  const dir = await Deno.makeTempDir({ prefix: "zsl-bench-run-" });
  try {
    const resolved = await resolveRun({ out: `${dir}/run`, preset, batch, steps, evalEvery: 0 });
    const stamps: number[] = [];
    const cpuStamps: number[] = [];
    await train(kernels.gpu, {
      ...resolved.options,
      kernels,
      onStep: () => {
        stamps.push(performance.now());
        const usage = process.cpuUsage();
        cpuStamps.push((usage.user + usage.system) / 1000);
      },
    });
    const durations = stamps.slice(warmSteps).map((t, i) => t - stamps[warmSteps + i - 1]).slice(1);
    const cpuDurations = cpuStamps.slice(warmSteps).map((t, i) => t - cpuStamps[warmSteps + i - 1]).slice(1);
    const usable = durations.length > 0 ? durations : [stamps[stamps.length - 1] - stamps[0]];
    const tokensPerStep = batch * resolved.config.seq_len;
    const mean = usable.reduce((sum, value) => sum + value, 0) / usable.length;
    return {
      median: tokensPerStep / (median(usable) / 1000),
      mean: tokensPerStep / (mean / 1000),
      cpu: cpuDurations.length > 0 ? tokensPerStep / (median(cpuDurations) / 1000) : 0,
      tokensPerStep,
    };
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** Short name of a PyTorch configuration, e.g. `blas/1`. */
export function torchConfigName(config: TorchConfig): string {
  return `${config.matmul}/${config.threads}`;
}

/**
 * Training throughput of each preset and batch: zsl end to end (median and mean step) and its
 * kernel-only step (forward, backward, AdamW of random tokens, nothing else), beside every PyTorch
 * configuration; `ratio` is zsl's median rate over the best PyTorch rate.
 */
export async function benchTraining(
  kernels: Kernels,
  options: BenchTrainingOptions = {},
): Promise<BenchRow[]> {
  const log = options.log ?? ((line: string) => console.error(line));
  const presets = options.presets ?? ["cpu-xs", "cpu-s", "cpu-m"];
  const batches = options.batches ?? [16];
  const steps = options.steps ?? 40;
  const rounds = options.rounds ?? 2;
  const configs = options.torch ?? torchConfigs();
  const rows: BenchRow[] = [];
  let warnedBlas = false;
  if (configs.length > 0) {
    const env = await torchEnvironment(1, options.python ?? "/usr/bin/python3");
    const tuned = Object.entries(env).filter(([name]) => !name.endsWith("_NUM_THREADS"));
    log(`training: PyTorch runs with ${tuned.map(([name, value]) => `${name}=${value}`).join(" ")}`);
  }
  for (const name of presets) {
    for (const batch of batches) {
      const config = presetByName(name).config;
      const tokens = batch * config.seq_len;
      const torchBest = new Map<string, number>();
      const torchCpu = new Map<string, number>();
      let zsl = { median: 0, mean: 0, cpu: 0 };
      let kernelOnly = 0;
      for (let round = 0; round < rounds; round++) {
        for (const torch of configs) {
          const report = await torchTrainingRate(config, batch, options.torchSteps ?? 20, torch, {
            python: options.python,
            log,
          });
          if (!report) continue;
          if (!warnedBlas && torch.matmul === "blas" && !/openblas|mkl|blis/i.test(report.blas)) {
            log(
              `training: PyTorch uses ${report.blas}, the reference BLAS (~10× slower): ` +
                "run `deno run -A scripts/setup.ts --tests` (installs libopenblas0-pthread)",
            );
            warnedBlas = true;
          }
          const key = torchConfigName(torch);
          torchBest.set(key, Math.max(torchBest.get(key) ?? 0, report.rate));
          torchCpu.set(key, Math.max(torchCpu.get(key) ?? 0, report.cpuRate));
        }
        const run = await zslTrainingRate(kernels, name, batch, steps, options.warmSteps ?? 6);
        if (run.median > zsl.median) zsl = { ...run, cpu: Math.max(run.cpu, zsl.cpu) };
        else zsl.cpu = Math.max(zsl.cpu, run.cpu);
        kernelOnly = Math.max(kernelOnly, tokens / await timeTrainingStep(kernels, config, batch, 10));
        log(`training: ${name} batch ${batch} round ${round + 1}: zsl ${run.median.toFixed(0)} tokens/s`);
      }
      let best: [string, number] | null = null;
      for (const entry of torchBest) if (!best || entry[1] > best[1]) best = entry;
      let bestCpu: [string, number] | null = null;
      for (const entry of torchCpu) if (!bestCpu || entry[1] > bestCpu[1]) bestCpu = entry;
      const values: BenchRow["values"] = {
        preset: name,
        batch,
        params: parameterCount(config).total,
        tokens,
        zsl: zsl.median,
        zsl_mean: zsl.mean,
        zsl_kernels: kernelOnly,
        gflops: (trainingFlopsPerToken(config) * zsl.median) / 1e9,
        torch_best: best?.[1] ?? null,
        torch_config: best?.[0] ?? null,
        ratio: best ? zsl.median / best[1] : null,
        zsl_cpu: zsl.cpu,
        torch_cpu: bestCpu?.[1] ?? null,
        torch_cpu_config: bestCpu?.[0] ?? null,
        cpu_ratio: bestCpu && zsl.cpu > 0 ? zsl.cpu / bestCpu[1] : null,
      };
      for (const torch of configs) {
        values[`torch ${torchConfigName(torch)}`] = torchBest.get(torchConfigName(torch)) ?? null;
      }
      rows.push({ section: "training", name: `${name} b${batch}`, values });
    }
  }
  return rows;
}

/** Columns of the training table (the PyTorch configurations are appended from the rows). */
function trainingColumns(rows: readonly BenchRow[]): Column<BenchRow>[] {
  const torchKeys = [
    ...new Set(rows.flatMap((r) => Object.keys(r.values).filter((k) => k.startsWith("torch ")))),
  ];
  return [
    { title: "preset", value: (r) => r.values.preset },
    { title: "batch", value: (r) => r.values.batch as number, digits: 0 },
    { title: "tokens/step", value: (r) => r.values.tokens as number, digits: 0 },
    { title: "zsl tok/s", value: (r) => r.values.zsl as number, digits: 0 },
    { title: "(mean)", value: (r) => r.values.zsl_mean as number, digits: 0 },
    { title: "kernels only", value: (r) => r.values.zsl_kernels as number, digits: 0 },
    { title: "GFLOP/s", value: (r) => r.values.gflops as number, digits: 1 },
    ...torchKeys.map((key): Column<BenchRow> => ({
      title: key,
      value: (r) => r.values[key] as number | null,
      digits: 0,
    })),
    { title: "best torch", value: (r) => r.values.torch_config as string | null },
    { title: "zsl/best", value: (r) => r.values.ratio as number | null, digits: 2 },
    { title: "zsl tok/cpu-s", value: (r) => r.values.zsl_cpu as number, digits: 0 },
    { title: "torch tok/cpu-s", value: (r) => r.values.torch_cpu as number | null, digits: 0 },
    { title: "(config)", value: (r) => r.values.torch_cpu_config as string | null },
    { title: "per cpu-s", value: (r) => r.values.cpu_ratio as number | null, digits: 2 },
  ];
}

/** Formats training rows. */
export function formatTrainingRows(rows: readonly BenchRow[]): string {
  return formatTable(rows, trainingColumns(rows));
}
