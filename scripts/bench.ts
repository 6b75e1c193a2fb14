/**
 * `deno task bench [--quick] [--sections matmul,...] [--variants auto,register,tiled] [--no-reference]
 * [--json out.json]`: opens the GPU, prints what it is, runs the benchmark sections and prints a table
 * for each. Sections live in {@linkcode SECTIONS}: add one there with its runner and its table.
 */
import { parseArgs, runMain, UsageError } from "../src/cli/args.ts";
import { openGpu } from "../src/gpu/device.ts";
import { Kernels } from "../src/gpu/kernels.ts";
import { benchMatmul, type BenchRow, formatMatmulRows } from "../src/bench/matmul.ts";
import { benchTraining, formatTrainingRows } from "../src/bench/training.ts";
import { formatProfileRows, profileTrainingStep } from "../src/bench/profile.ts";
import { benchGradients, formatGradientRows } from "../src/bench/gradients.ts";
import { formatPerExampleRows, perExampleBench } from "../src/bench/per_example.ts";
import { benchOptimizers, formatOptimizerRows } from "../src/bench/optimizers.ts";
import type { MatmulVariant } from "../src/ops/matmul.ts";
import { writeFileAtomic } from "../src/io/atomic.ts";

/** What every section gets. */
interface SectionContext {
  kernels: Kernels;
  quick: boolean;
  variants: ("auto" | MatmulVariant)[];
  reference: boolean;
  presets?: string[];
  batches?: number[];
  log: (line: string) => void;
}

/** A benchmark section: measures, then formats its rows. */
interface Section {
  summary: string;
  run(context: SectionContext): Promise<BenchRow[]>;
  format(rows: readonly BenchRow[]): string;
}

/** The benchmark sections, in the order they run by default. */
const SECTIONS: Record<string, Section> = {
  matmul: {
    summary: "GFLOP/s of the Linear products xwT, dyW, dyTx on cubes and model shapes, beside PyTorch CPU",
    run: (c) =>
      benchMatmul(c.kernels, {
        quick: c.quick,
        variants: c.variants,
        reference: c.reference,
        log: c.log,
        presets: c.presets,
      }),
    format: formatMatmulRows,
  },
  training: {
    summary: "training tokens/s end to end (deno task train's loop, steady state) of cpu-xs, cpu-s, cpu-m " +
      "beside PyTorch CPU at its best (1 thread and every core, BLAS and oneDNN; the fastest is the anchor)",
    run: (c) =>
      benchTraining(c.kernels, {
        presets: c.presets ?? (c.quick ? ["cpu-s"] : undefined),
        batches: c.batches,
        steps: c.quick ? 20 : 40,
        rounds: c.quick ? 1 : 2,
        torch: c.reference ? undefined : [],
        log: c.log,
      }),
    format: formatTrainingRows,
  },
  profile: {
    summary:
      "where a training step goes: its own dispatches replayed one by one, per kernel (wall and CPU ms)",
    run: async (c) => {
      const rows: BenchRow[] = [];
      for (const preset of c.presets ?? (c.quick ? ["cpu-s"] : ["cpu-xs", "cpu-s", "cpu-m"])) {
        for (const batch of c.batches ?? [16]) {
          const profile = await profileTrainingStep(c.kernels, {
            preset,
            batch,
            reps: c.quick ? 3 : 10,
            log: c.log,
          });
          rows.push(...profile.map((row) => ({ ...row, name: `${preset} b${batch}: ${row.name}` })));
        }
      }
      return rows;
    },
    format: formatProfileRows,
  },
  "per-example": {
    summary:
      "per-example gradient statistics kernels beside the dyTx weight-gradient matmul of the same rows",
    run: (c) => perExampleBench(c.kernels, { quick: c.quick, log: c.log }),
    format: formatPerExampleRows,
  },
  optimizers: {
    summary:
      "each optimizer's update and training step relative to AdamW, both architectures (docs/method.md#optimizers)",
    run: (c) =>
      benchOptimizers(c.kernels, {
        presets: [c.quick ? "tiny" : "cpu-s"],
        trials: c.quick ? 1 : 3,
        log: c.log,
      }),
    format: formatOptimizerRows,
  },
  gradients: {
    summary:
      "exact per-token and per-sequence gradient interference of a batch, and Δ̂ℓ by the forward-mode tangent, vs a training step and the floor",
    run: (c) => benchGradients(c.kernels, { batch: c.quick ? 4 : 8, reps: c.quick ? 2 : 3, log: c.log }),
    format: formatGradientRows,
  },
};

/** A comma-separated option as a list (undefined when not given). */
function list(text: string | undefined): string[] | undefined {
  return text?.split(",").map((s) => s.trim()).filter((s) => s !== "");
}

await runMain(async () => {
  const { values } = parseArgs(
    Deno.args,
    "deno task bench",
    `Benchmarks on the GPU (or lavapipe). Sections: ${
      Object.entries(SECTIONS).map(([name, s]) => `${name} (${s.summary})`).join("; ")
    }.`,
    {
      quick: { type: "boolean", description: "fewer cases, shorter trials" },
      sections: {
        type: "string",
        description: "comma-separated sections to run",
        default: Object.keys(SECTIONS).join(","),
      },
      variants: {
        type: "string",
        description: "kernel variants to time: auto, register, tiled",
        default: "auto",
      },
      "no-reference": { type: "boolean", description: "skip the PyTorch CPU reference" },
      presets: {
        type: "string",
        description:
          "training/profile: comma-separated presets (default cpu-xs,cpu-s,cpu-m); matmul: time only " +
          "their Linear products at 16 × 64 tokens",
      },
      batches: {
        type: "string",
        description: "training/profile: comma-separated global batches (default 16)",
      },
      json: { type: "string", description: "also write all rows to this JSON file" },
    },
  );
  const names = (values.sections as string).split(",").map((s) => s.trim()).filter((s) => s !== "");
  for (const name of names) {
    if (!(name in SECTIONS)) {
      throw new UsageError(`unknown section "${name}": choose from ${Object.keys(SECTIONS).join(", ")}`);
    }
  }
  const variants = (values.variants as string).split(",").map((s) => s.trim());
  for (const variant of variants) {
    if (!["auto", "register", "tiled"].includes(variant)) {
      throw new UsageError(`unknown variant "${variant}": choose from auto, register, tiled`);
    }
  }
  const gpu = await openGpu();
  try {
    const a = gpu.adapter;
    console.log(
      `adapter: ${a.description || a.device} (${a.vendor}, ${a.architecture}, ${a.backend}) — ` +
        `${a.isSoftware ? "software (CPU)" : "hardware GPU"}; ${navigator.hardwareConcurrency} CPU threads`,
    );
    const context: SectionContext = {
      kernels: new Kernels(gpu),
      quick: values.quick === true,
      variants: variants as ("auto" | MatmulVariant)[],
      reference: values["no-reference"] !== true,
      presets: list(values.presets as string | undefined),
      batches: list(values.batches as string | undefined)?.map((text) => {
        const batch = Number(text);
        if (!Number.isInteger(batch) || batch < 1) {
          throw new UsageError(`--batches: "${text}" is not a positive integer`);
        }
        return batch;
      }),
      log: (line) => console.error(line),
    };
    const all: BenchRow[] = [];
    for (const name of names) {
      const section = SECTIONS[name];
      console.log(`\n## ${name}: ${section.summary}\n`);
      const rows = await section.run(context);
      console.log(section.format(rows));
      all.push(...rows);
    }
    if (values.json) {
      await writeFileAtomic(values.json as string, JSON.stringify({ adapter: a, rows: all }, null, 2) + "\n");
      console.error(`bench: rows written to ${values.json}`);
    }
  } finally {
    gpu.destroy();
  }
});
