/**
 * `deno task decel RUN_DIR… [--out DIR]`: fits the loss-deceleration BNSL to each run's training
 * loss and writes the table (`deceleration.arrow`), the paper's tables (`deceleration.md`) and
 * figure F1 (`deceleration_f1.vl.json`, `.svg`, `.png`).
 *
 * @module
 */
import type { DecelerationFit } from "../src/analysis/deceleration/mod.ts";
import { writeDecelerationReport } from "../src/analysis/deceleration/write.ts";
import { ensureWritableDirectory } from "../src/io/atomic.ts";
import { numberOption, parseArgs, rangeOption, runMain, UsageError } from "../src/cli/args.ts";
import { commonParent, resolve } from "../src/util/path.ts";

const COMMAND = "deno task decel RUN_DIR|CURVE_FILE…";
const SUMMARY = "Fits the loss-deceleration BNSL (Mircea et al. 2025) to each run's training loss.\n\n" +
  "Each argument is a run directory (its metrics.arrow, columns step and train_loss; the model's name\n" +
  'from run.json\'s "name", else the directory name) or an Arrow or CSV file of step, loss (named after\n' +
  "the file). Writes deceleration.arrow (one row per model, every parameter with its ± error),\n" +
  "deceleration.md (the paper's tables) and figure F1 as deceleration_f1.vl.json/.svg/.png.";

const OPTIONS = {
  out: {
    type: "string",
    short: "o",
    multiple: false,
    description: "output directory (default: the inputs' common parent directory, or the current directory " +
      "when they share none)",
  },
  "min-step": {
    type: "string",
    short: "m",
    multiple: false,
    description: "fit only steps > this (default: 100 for runs of ≥ 262,144 steps, T^0.369 for shorter runs)",
  },
  "d1-guess": {
    type: "string",
    short: "d",
    multiple: false,
    description:
      "initial guess of the break in steps (default: 6000 when inside the fitted range, else its " +
      "log-middle)",
  },
  "no-preprocess": {
    type: "boolean",
    short: "n",
    multiple: false,
    description:
      "fit the given points as they are (already smoothed curves), without the log moving average " +
      "and log-grid subsample",
  },
} as const;

function summaryLine(name: string, fit: DecelerationFit): string {
  const status = fit.identified ? "" : `  ⚠ break not identified: ${fit.reasons.join("; ")}`;
  return `${name}: t_d = ${Math.round(fit.tD)} (${Math.round(fit.tDRange[0])}–${
    Math.round(fit.tDRange[1])
  }), ` +
    `L_d = ${fit.lossD.toFixed(4)}, r_d = ${fit.rateD.toFixed(4)}, L̂_T = ${
      fit.predictedFinalLoss.toFixed(4)
    }, ` +
    `L_T = ${fit.finalLoss.toFixed(4)}, RSLE = ${fit.rsle.toFixed(4)} (${fit.nPoints} points)${status}`;
}

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

  const { models, files } = await writeDecelerationReport(positionals, out, { preprocess, minStep, d1Guess });
  for (const { name, fit } of models) console.log(summaryLine(name, fit));
  console.log(`wrote ${files.join(", ")}`);
}

if (import.meta.main) await runMain(main);
