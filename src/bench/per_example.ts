/**
 * Per-example gradient statistics benchmark: time of one {@linkcode LinearExampleStats} record (and of
 * an {@linkcode EmbeddingExampleStats} record) beside the weight-gradient matmul `dyTx` of the same
 * total shape (n = E·P rows, m = out, k = in), which does the same multiply-adds without the
 * per-example folds: their ratio is the price of exact per-example statistics over one backward's
 * weight gradient.
 *
 * @module
 */
import { createBuffer, uploadBuffer } from "../gpu/buffers.ts";
import type { Kernels } from "../gpu/kernels.ts";
import { Matmul } from "../ops/matmul.ts";
import { EmbeddingExampleStats, LinearExampleStats, type PerExampleVariant } from "../ops/per_example.ts";
import { type BenchRow, KERNEL_COLUMN, valueColumn } from "./matmul.ts";
import { type Column, formatTable } from "./table.ts";
import { type BenchSettings, benchSettings, fill, timeRecords } from "./timing.ts";

/** One case: E examples of P rows, a weight [out, in] (the tied embedding: out = V, in = d). */
export interface PerExampleBenchShape {
  /** `linear` (a Linear weight) or `embedding` (the tied wte, with its input part). */
  op: "linear" | "embedding";
  /** Examples E. */
  examples: number;
  /** Rows per example P. */
  rowsPerExample: number;
  /** Rows of the weight (V for the embedding). */
  out: number;
  /** Columns of the weight (d for the embedding). */
  in: number;
}

/** Options of {@linkcode perExampleBench}. */
export interface PerExampleBenchOptions extends BenchSettings {
  /** Variants to time (default `["auto"]`). */
  variants?: ("auto" | PerExampleVariant)[];
  /** Cases (default {@linkcode defaultPerExampleShapes}). */
  shapes?: PerExampleBenchShape[];
}

/**
 * The default cases: E = 16 examples of P = 64 rows with Linear weights 128 × 128 and 384 × 128 (an
 * attention projection of d = 128), the same 1024 rows as E = 64 short examples of P = 16 (short
 * prefixes at token granularity: the per-example fold weighs most), and the byte-vocabulary embedding
 * 320 × 128 (quick: the first two).
 */
export function defaultPerExampleShapes(quick = false): PerExampleBenchShape[] {
  const shapes: PerExampleBenchShape[] = [
    { op: "linear", examples: 16, rowsPerExample: 64, out: 128, in: 128 },
    { op: "linear", examples: 16, rowsPerExample: 64, out: 384, in: 128 },
    { op: "linear", examples: 64, rowsPerExample: 16, out: 128, in: 128 },
    { op: "embedding", examples: 16, rowsPerExample: 64, out: 320, in: 128 },
  ];
  return quick ? shapes.slice(0, 2) : shapes;
}

/**
 * Times each case × variant: the statistics op's record and the `dyTx` matmul of the same shape
 * (variant `auto`, the one training uses), each the best of `trials` trials of about `seconds`.
 *
 * Values per row: `op`, `examples`, `rows` (P), `out`, `in`, `variant`, `entry`, `ms` (one record),
 * `matmulMs` (one dyTx), `ratio` (ms / matmulMs), `cpuRatio` (the same ratio of process CPU time: on a
 * software adapter it stays comparable when other processes share the CPU), `gflops` (2·E·P·out·in per
 * record), `busy` (process CPU time / wall time during the op's trials).
 *
 * @example
 * ```ts
 * import { Kernels, openGpu } from "../gpu/mod.ts";
 * const kernels = new Kernels(await openGpu());
 * const rows = await perExampleBench(kernels, { quick: true });
 * console.log(formatPerExampleRows(rows));
 * ```
 */
export async function perExampleBench(
  kernels: Kernels,
  options: PerExampleBenchOptions = {},
): Promise<BenchRow[]> {
  const { quick, seconds, trials, log } = benchSettings(options);
  const shapes = options.shapes ?? defaultPerExampleShapes(quick);
  const variants = options.variants ?? ["auto"];
  const gpu = kernels.gpu;
  const rows: BenchRow[] = [];
  for (const shape of shapes) {
    const { examples, rowsPerExample, out } = shape;
    const n = examples * rowsPerExample;
    const dy = uploadBuffer(gpu, fill(n * out, 1), "bench dy");
    const x = uploadBuffer(gpu, fill(n * shape.in, 2), "bench x");
    const dEmbedding = uploadBuffer(gpu, fill(n * shape.in, 3), "bench dEmbedding");
    const delta = uploadBuffer(gpu, fill(out * shape.in, 4), "bench delta");
    const sumG = createBuffer(gpu, out * shape.in * 4, "bench sumG");
    const sumAbsG = createBuffer(gpu, out * shape.in * 4, "bench sumAbsG");
    const product = createBuffer(gpu, out * shape.in * 4, "bench dW");
    const matmul = await Matmul.create(kernels, { layout: "dyTx", n, m: out, k: shape.in });
    const reference = await timeRecords(
      kernels,
      (pass) => matmul.record(pass, dy, x, product),
      seconds,
      trials,
    );
    for (const requested of variants) {
      const op = shape.op === "linear"
        ? await LinearExampleStats.create(kernels, {
          examples,
          rowsPerExample,
          out,
          in: shape.in,
          variant: requested,
        })
        : await EmbeddingExampleStats.create(kernels, {
          examples,
          rowsPerExample,
          vocab: out,
          d: shape.in,
          variant: requested,
        });
      const partials = createBuffer(gpu, op.partialColumns * examples * 16, "bench partials");
      let record: (pass: GPUComputePassEncoder) => void;
      if (op instanceof EmbeddingExampleStats) {
        // Token ids spread over the vocabulary, with repeats.
        op.writeIndex(Uint32Array.from({ length: n }, (_, r) => (r * 37) % out));
        record = (pass) => op.record(pass, dy, x, dEmbedding, delta, sumG, sumAbsG, partials);
      } else {
        record = (pass) => op.record(pass, dy, x, delta, sumG, sumAbsG, partials);
      }
      const timed = await timeRecords(kernels, record, seconds, trials);
      partials.destroy();
      op.destroy();
      const flops = 2 * n * out * shape.in;
      const row: BenchRow = {
        section: "per-example",
        name: `${shape.op} E=${examples} P=${rowsPerExample} ${out}×${shape.in} ${op.variant}`,
        values: {
          op: shape.op,
          examples,
          rows: rowsPerExample,
          out,
          in: shape.in,
          variant: op.variant,
          entry: op.slices > 1 ? `${op.entryPoint}/${op.slices}` : op.entryPoint,
          ms: timed.seconds * 1000,
          matmulMs: reference.seconds * 1000,
          ratio: timed.seconds / reference.seconds,
          cpuRatio: (timed.seconds * timed.busy) / (reference.seconds * reference.busy),
          gflops: flops / timed.seconds / 1e9,
          busy: timed.busy,
        },
      };
      rows.push(row);
      log(
        `per-example: ${row.name}: ${(timed.seconds * 1000).toFixed(3)} ms, ` +
          `${(row.values.ratio as number).toFixed(2)}× the dyTx matmul`,
      );
    }
    for (const buffer of [dy, x, dEmbedding, delta, sumG, sumAbsG, product]) buffer.destroy();
  }
  return rows;
}

/** Columns of the per-example table. */
export const PER_EXAMPLE_COLUMNS: Column<BenchRow>[] = [
  valueColumn("op", "op"),
  valueColumn("E", "examples", 0),
  valueColumn("P", "rows", 0),
  valueColumn("out", "out", 0),
  valueColumn("in", "in", 0),
  KERNEL_COLUMN,
  valueColumn("ms", "ms", 3),
  valueColumn("dyTx ms", "matmulMs", 3),
  valueColumn("×dyTx", "ratio"),
  valueColumn("×dyTx cpu", "cpuRatio"),
  valueColumn("GFLOP/s", "gflops"),
  valueColumn("busy", "busy"),
];

/** The per-example rows as an aligned table. */
export function formatPerExampleRows(rows: readonly BenchRow[]): string {
  return formatTable(rows, PER_EXAMPLE_COLUMNS);
}
