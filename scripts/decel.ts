/**
 * `deno task decel RUN_DIR… [--out DIR]`: fits the loss-deceleration BNSL to each run's training
 * loss and writes the table (`deceleration.arrow`), the points of F1 (`deceleration_curves.arrow`), the
 * paper's tables (`deceleration.md`) and figure F1 (`deceleration_f1.vl.json`, `.svg`, `.png`).
 *
 * @module
 */
import { writeDecelerationResults } from "../src/sweep/analyse.ts";
import { decelerationSummary } from "../src/report/summary.ts";
import { ensureWritableDirectory } from "../src/io/atomic.ts";
import { numberOption, parseArgs, rangeOption, runMain, UsageError } from "../src/cli/args.ts";
import { commonParent, resolve } from "../src/util/path.ts";

const COMMAND = "deno task decel RUN_DIR|CURVE_FILE…";
const SUMMARY =
  "Fits the loss-deceleration BNSL (Mircea et al. 2025; docs/method.md#loss-deceleration) to each run's\n" +
  "training loss.\n\n" +
  "Each argument is a run directory (its metrics.arrow, columns step and train_loss; the model's name\n" +
  'from run.json\'s "name", else the directory name) or an Arrow or CSV file of step, loss (named after\n' +
  "the file). Writes deceleration.arrow (one row per model, every parameter with its ± error),\n" +
  "deceleration_curves.arrow (the points of F1), deceleration.md (the paper's tables) and figure F1 as\n" +
  "deceleration_f1.vl.json/.svg/.png. Run directories are also fitted against the cumulative learning\n" +
  "rate S = Σ lr (deceleration_curves_lr_area.arrow, deceleration_f1_lr_area.*), and a break within 2×\n" +
  "of the end of a run's warmup is reported as at the warmup end (docs/method.md#warmup-control).";

const OPTIONS = {
  out: {
    type: "string",
    short: "o",
    multiple: false,
    value: "DIR",
    description: "Where to write the tables and the figure. By default the inputs' common parent " +
      "directory, or the current directory when they have none.",
  },
  "min-step": {
    type: "string",
    short: "m",
    multiple: false,
    value: "N",
    description: "Fit only the steps after N (the first transient). By default 100 for runs of 262,144 " +
      "steps or more, as the paper, and T^0.369 for a run of T steps (the same share of the log-step axis).",
  },
  "d1-guess": {
    type: "string",
    short: "d",
    multiple: false,
    value: "N",
    description:
      "The initial guess of the break, in steps. By default the paper's 6000 when it lies in the " +
      "middle third of the fitted log-step range, else the middle of that range.",
  },
  "no-preprocess": {
    type: "boolean",
    short: "n",
    multiple: false,
    description: "Fit the points as given (curves already smoothed), without the paper's log moving " +
      "average and log-grid subsample (docs/method.md#preprocessing).",
  },
} as const;

async function main(): Promise<void> {
  const { values, positionals } = parseArgs(Deno.args, COMMAND, SUMMARY, OPTIONS, true);
  if (positionals.length === 0) {
    throw new UsageError(`give at least one run directory or curve file\nRun with --help for the options.`);
  }
  const minStep = rangeOption(values, "min-step", { min: 0 });
  const d1Guess = numberOption(values, "d1-guess");
  if (d1Guess !== undefined && !(d1Guess > 0)) throw new UsageError(`--d1-guess must be a positive step`);
  const preprocess = !values["no-preprocess"];
  const out = typeof values.out === "string" ? resolve(values.out) : commonParent(positionals) ?? Deno.cwd();
  // Fail on an unwritable destination before the work, and write nothing until everything succeeded.
  await ensureWritableDirectory(out);

  const { rows, files } = await writeDecelerationResults(positionals, out, { preprocess, minStep, d1Guess });
  for (const row of rows) console.log(decelerationSummary(row));
  console.log(`wrote ${files.join(", ")}`);
}

if (import.meta.main) await runMain(main);
