/**
 * `deno task bench [--quick] [--sections matmul,...] [--variants auto,register,tiled] [--no-reference]
 * [--json out.json]`: opens the GPU, prints what it is, runs the benchmark sections and prints a table
 * for each. Sections live in {@linkcode SECTIONS}: add one there with its runner and its table.
 */
import { parseArgs, runMain, UsageError } from "../src/cli/args.ts";
import { openGpu } from "../src/gpu/device.ts";
import { Kernels } from "../src/gpu/kernels.ts";
import { benchMatmul, type BenchRow, formatMatmulRows } from "../src/bench/matmul.ts";
import {
  benchTraining,
  formatProfileRows,
  formatTrainingRows,
  profileTrainingStep,
} from "../src/bench/training.ts";
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
      benchMatmul(c.kernels, { quick: c.quick, variants: c.variants, reference: c.reference, log: c.log }),
    format: formatMatmulRows,
  },
  training: {
    summary: "training throughput of the small presets (forward, backward, AdamW) beside PyTorch CPU",
    run: (c) =>
      benchTraining(c.kernels, {
        presets: c.quick ? ["cpu-s"] : undefined,
        steps: c.quick ? 4 : 10,
        reference: c.reference,
        log: c.log,
      }),
    format: formatTrainingRows,
  },
  profile: {
    summary: "where a training step of cpu-s goes: each kernel family alone at the model's shapes",
    run: (c) => profileTrainingStep(c.kernels, { reps: c.quick ? 5 : 20, log: c.log }),
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
      "exact per-token and per-sequence gradient interference of a batch vs a training step and the floor",
    run: (c) => benchGradients(c.kernels, { batch: c.quick ? 4 : 8, reps: c.quick ? 2 : 3, log: c.log }),
    format: formatGradientRows,
  },
};

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
