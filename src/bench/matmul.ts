/**
 * Matmul benchmark: GFLOP/s of the three Linear-layer products (`src/ops/matmul.ts`) on cubes and on
 * model shapes, beside the same products through PyTorch on the CPU (`tests/reference/bench_matmul.py`),
 * measured in the same run.
 *
 * @module
 */
import { createBuffer, uploadBuffer } from "../gpu/buffers.ts";
import type { Kernels } from "../gpu/kernels.ts";
import { mlpHidden, mlpWidth, presetByName } from "../model/config.ts";
import { Matmul, type MatmulLayout, type MatmulVariant } from "../ops/matmul.ts";
import { type Column, formatTable } from "./table.ts";
import { type BenchSettings, benchSettings, fill, timeRecords, torchEnvironment } from "./timing.ts";

/** One measured case of a benchmark section. */
export interface BenchRow {
  /** The section that measured it, e.g. `matmul`. */
  section: string;
  /** A short name of the case. */
  name: string;
  /** Named measurements; `null` where not measured. */
  values: Record<string, number | string | null>;
}

/** One product to time: N token rows, M out features, K in features. */
export interface MatmulBenchShape {
  layout: MatmulLayout;
  n: number;
  m: number;
  k: number;
}

/** Options of {@linkcode benchMatmul}. */
export interface BenchMatmulOptions extends BenchSettings {
  /** Variants to time (default `["auto"]`, the adapter's choice). */
  variants?: ("auto" | MatmulVariant)[];
  /** Shapes to time (default {@linkcode defaultMatmulShapes}, or the presets' shapes with `presets`). */
  shapes?: MatmulBenchShape[];
  /**
   * Time only the Linear products of these presets at a batch of 16 × 64 tokens
   * ({@linkcode presetLinearShapes}), e.g. `["cpu-s"]`; ignored when `shapes` is given.
   */
  presets?: string[];
  /** Also time the products with PyTorch on the CPU (default true). */
  reference?: boolean;
  /** Python interpreter for the reference (default `/usr/bin/python3`). */
  python?: string;
}

const LAYOUTS: MatmulLayout[] = ["xwT", "dyW", "dyTx"];

/**
 * The default shapes: cubes 256³, 512³, 1024³ and model shapes N = 4096 with M, K ∈ {64, 128, 256, 768}
 * (quick: cubes 256³ and 1024³, model shapes with M = K ∈ {64, 256, 768}), for each layout; then the
 * backward products (dyW, dyTx) of the Linear layers of cpu-xs, cpu-s and cpu-m at a batch of 16 × 64
 * tokens ({@linkcode presetBackwardShapes}; quick: cpu-s only).
 */
export function defaultMatmulShapes(quick = false): MatmulBenchShape[] {
  const cubes = quick ? [256, 1024] : [256, 512, 1024];
  const widths = [64, 128, 256, 768];
  const model: [number, number][] = quick
    ? [[64, 64], [256, 256], [768, 768]]
    : widths.flatMap((m) => widths.map((k) => [m, k] as [number, number]));
  const shapes: MatmulBenchShape[] = [];
  for (const layout of LAYOUTS) {
    for (const size of cubes) shapes.push({ layout, n: size, m: size, k: size });
    for (const [m, k] of model) shapes.push({ layout, n: 4096, m, k });
  }
  for (const preset of quick ? ["cpu-s"] : ["cpu-xs", "cpu-s", "cpu-m"]) {
    shapes.push(...presetBackwardShapes(preset, 16 * 64));
  }
  return shapes;
}

/**
 * The distinct products of a preset's Linear layers at `rows` token rows, forward and backward: xwT, dyW
 * and dyTx of att_proj, attn_out, ff_proj, ff_out and the tied LM head (the shapes a training step of the
 * preset runs, without the `accumulate` flag of the residual products).
 *
 * @example
 * ```ts
 * // cpu-s at a batch of 16 × 64: xwT 1024 × 288 × 96 (att_proj), …, dyTx 1024 × 320 × 96 (LM head)
 * const shapes = presetLinearShapes("cpu-s", 1024);
 * ```
 */
export function presetLinearShapes(preset: string, rows: number): MatmulBenchShape[] {
  return [...presetForwardShapes(preset, rows), ...presetBackwardShapes(preset, rows)];
}

function presetForwardShapes(preset: string, rows: number): MatmulBenchShape[] {
  const shapes = new Map<string, MatmulBenchShape>();
  for (const { m, k } of presetBackwardShapes(preset, rows)) {
    shapes.set(`${m} ${k}`, { layout: "xwT", n: rows, m, k });
  }
  return [...shapes.values()];
}

/**
 * The distinct backward products of a preset's Linear layers at `rows` token rows: dyW and dyTx of
 * att_proj (3d × d), attn_out (d × d), ff_proj (mlp width × d), ff_out (d × MLP hidden) and the tied LM
 * head (vocab × d).
 *
 * @example
 * ```ts
 * // cpu-s at a batch of 16 × 64: dyW 1024 × 288 × 96 (att_proj), dyTx 1024 × 320 × 96 (LM head), …
 * const shapes = presetBackwardShapes("cpu-s", 1024);
 * ```
 */
export function presetBackwardShapes(preset: string, rows: number): MatmulBenchShape[] {
  const config = presetByName(preset).config;
  const d = config.d_model;
  const linears: [number, number][] = [
    [3 * d, d],
    [d, d],
    [mlpWidth(config), d],
    [d, mlpHidden(config)],
    [config.vocab_size, d],
  ];
  const shapes = new Map<string, MatmulBenchShape>();
  for (const layout of ["dyW", "dyTx"] as const) {
    for (const [m, k] of linears) shapes.set(`${layout} ${m} ${k}`, { layout, n: rows, m, k });
  }
  return [...shapes.values()];
}

/** What the PyTorch reference printed. */
interface ReferenceReport {
  torch: string | null;
  numpy: string | null;
  threads: number;
  why?: string;
  results: {
    layout: MatmulLayout;
    n: number;
    m: number;
    k: number;
    torch_gflops: number | null;
    onednn_gflops: number | null;
    numpy_gflops: number | null;
  }[];
}

/** Runs the PyTorch reference; returns null (after logging why) when it cannot run. */
async function runReference(
  shapes: MatmulBenchShape[],
  python: string,
  seconds: number,
  log: (line: string) => void,
  threads: number,
): Promise<ReferenceReport | null> {
  const script = new URL("../../tests/reference/bench_matmul.py", import.meta.url);
  if (script.protocol !== "file:") {
    log(`matmul: PyTorch reference skipped: ${script} is not a local file`);
    return null;
  }
  const unique = [...new Map(shapes.map((s) => [`${s.layout} ${s.n} ${s.m} ${s.k}`, s])).values()];
  const args = [
    script.pathname,
    JSON.stringify(unique.map((s) => [s.layout, s.n, s.m, s.k])),
    "--seconds",
    String(seconds),
    "--threads",
    String(threads),
  ];
  let output: Deno.CommandOutput;
  try {
    const env = await torchEnvironment(threads, python);
    output = await new Deno.Command(python, { args, env, stdout: "piped", stderr: "piped" }).output();
  } catch (error) {
    const why = error instanceof Deno.errors.NotFound ? `${python} not found` : String(error);
    log(`matmul: PyTorch reference skipped: ${why}`);
    return null;
  }
  if (!output.success) {
    const stderr = new TextDecoder().decode(output.stderr).trim().split("\n").slice(-3).join(" | ");
    log(`matmul: PyTorch reference skipped: ${python} exited with ${output.code}: ${stderr}`);
    return null;
  }
  const report = JSON.parse(new TextDecoder().decode(output.stdout)) as ReferenceReport;
  if (report.torch === null) {
    log(
      `matmul: PyTorch reference skipped: ${report.why ?? "torch missing"}` +
        (report.numpy ? ` (NumPy ${report.numpy} column only)` : ""),
    );
  } else {
    log(
      `matmul: reference PyTorch ${report.torch} (${report.threads} threads)` +
        (report.numpy ? `, NumPy ${report.numpy}` : ""),
    );
  }
  return report;
}

/** A deterministic fill in [-0.5, 0.5) (no denormals, no random generator cost for big operands). */
/**
 * Times every shape × variant on the GPU behind `kernels` (one warm-up that includes compilation, then
 * the best of `trials` trials, each a single command buffer of enough repeated dispatches to take about
 * `seconds`, waited on with `onSubmittedWorkDone`), then the same products with PyTorch on the CPU.
 *
 * Values per row: `layout`, `n`, `m`, `k`, `variant`, `entry` (kernel entry point), `ms` (one product),
 * `gflops`, `busy` (process CPU time / wall time during the trials: on a software adapter, how many
 * cores the run actually got), `perCore` (software adapters: `gflops / busy`, which stays comparable
 * when other processes share the CPU; the rate on an idle machine is about `perCore` × cores),
 * `torch`, `onednn`, `numpy` (reference GFLOP/s) and `ratio` (zsl over the faster of the two PyTorch
 * paths).
 *
 * @example
 * ```ts
 * import { Kernels, openGpu } from "../gpu/mod.ts";
 * const kernels = new Kernels(await openGpu());
 * const rows = await benchMatmul(kernels, { quick: true });
 * console.log(formatMatmulRows(rows));
 * ```
 */
export async function benchMatmul(kernels: Kernels, options: BenchMatmulOptions = {}): Promise<BenchRow[]> {
  const { quick, seconds, trials, log } = benchSettings(options);
  const shapes = options.shapes ??
    (options.presets
      ? options.presets.flatMap((preset) => presetLinearShapes(preset, 16 * 64))
      : defaultMatmulShapes(quick));
  const variants = options.variants ?? ["auto"];
  const gpu = kernels.gpu;
  const rows: BenchRow[] = [];
  for (const shape of shapes) {
    for (const requested of variants) {
      const matmul = await Matmul.create(kernels, { ...shape, variant: requested });
      const d = matmul.dims;
      const a = uploadBuffer(gpu, fill(d.aElements, 1), "bench a");
      const b = uploadBuffer(gpu, fill(d.bElements, 2), "bench b");
      const c = createBuffer(gpu, d.cElements * 4, "bench c");
      const timed = await timeRecords(kernels, (pass) => matmul.record(pass, a, b, c), seconds, trials);
      for (const buffer of [a, b, c]) buffer.destroy();
      const seconds1 = timed.seconds;
      const busy = timed.busy;
      const row: BenchRow = {
        section: "matmul",
        name: `${shape.layout} ${shape.n}×${shape.m}×${shape.k} ${matmul.variant}`,
        values: {
          layout: shape.layout,
          n: shape.n,
          m: shape.m,
          k: shape.k,
          variant: matmul.variant,
          entry: matmul.splits > 1 ? `${matmul.entryPoint}/${matmul.splits}` : matmul.entryPoint,
          ms: seconds1 * 1000,
          gflops: matmul.flops / seconds1 / 1e9,
          busy,
          perCore: gpu.adapter.isSoftware && busy > 0 ? matmul.flops / seconds1 / 1e9 / busy : null,
          torch: null,
          onednn: null,
          numpy: null,
          ratio: null,
        },
      };
      rows.push(row);
      log(`matmul: ${row.name}: ${(row.values.gflops as number).toFixed(2)} GFLOP/s`);
    }
  }
  if (options.reference ?? true) {
    // PyTorch at its best: 1 thread and every core, the faster kept per product and route.
    for (const threads of new Set([1, navigator.hardwareConcurrency])) {
      const report = await runReference(shapes, options.python ?? "/usr/bin/python3", seconds, log, threads);
      for (const result of report?.results ?? []) {
        for (const row of rows) {
          const v = row.values;
          if (v.layout !== result.layout || v.n !== result.n || v.m !== result.m || v.k !== result.k) {
            continue;
          }
          const max = (a: unknown, b: number | null) =>
            b === null ? a as number | null : Math.max((a as number | null) ?? 0, b);
          v.torch = max(v.torch, result.torch_gflops);
          v.onednn = max(v.onednn, result.onednn_gflops);
          v.numpy = max(v.numpy, result.numpy_gflops);
          const best = Math.max((v.torch as number | null) ?? 0, (v.onednn as number | null) ?? 0);
          v.ratio = best > 0 ? (v.gflops as number) / best : null;
        }
      }
    }
  }
  return rows;
}

/** A column of `row.values[key]`, numbers with `digits` after the point (default 2). */
export function valueColumn(title: string, key: string, digits?: number): Column<BenchRow> {
  return { title, value: (r) => r.values[key], digits };
}

/** The kernel that ran a row: `variant/entry`. */
export const KERNEL_COLUMN: Column<BenchRow> = {
  title: "kernel",
  value: (r) => `${r.values.variant}/${r.values.entry}`,
};

/** Columns of the matmul table. */
export const MATMUL_COLUMNS: Column<BenchRow>[] = [
  valueColumn("layout", "layout"),
  valueColumn("N", "n", 0),
  valueColumn("M", "m", 0),
  valueColumn("K", "k", 0),
  KERNEL_COLUMN,
  valueColumn("ms", "ms"),
  valueColumn("GFLOP/s", "gflops"),
  valueColumn("busy", "busy"),
  valueColumn("/core", "perCore"),
  valueColumn("torch", "torch"),
  valueColumn("oneDNN", "onednn"),
  valueColumn("numpy", "numpy"),
  valueColumn("zsl/torch", "ratio"),
];

/** The matmul rows as an aligned table. */
export function formatMatmulRows(rows: readonly BenchRow[]): string {
  return formatTable(rows, MATMUL_COLUMNS);
}
