/**
 * `deno task sweep`: trains a family of models and analyses them (deceleration fit, loss interference),
 * writing `SWEEP/runs/<id>/` and `SWEEP/results/`. A rerun skips finished runs and resumes unfinished ones.
 */
import { helpText, numberOption, type OptionSpec, parseArgs, runMain } from "../src/cli/args.ts";
import { bar, formatDuration, ProgressLine } from "../src/cli/progress.ts";
import { openGpuOrInstall } from "../src/gpu/doctor.ts";
import {
  defaultSweep,
  expandSweep,
  SWEEP_PRESETS,
  sweepPreset,
  validateSweep,
} from "../src/sweep/definition.ts";
import type { SweepDefinition } from "../src/sweep/definition.ts";
import type { SweepEvent } from "../src/sweep/local.ts";
import { runStatus, runSweepLocally } from "../src/sweep/local.ts";
import { estimateComparison, estimateSweepTime } from "../src/sweep/estimate.ts";
import { join, resolve } from "../src/util/path.ts";
import { type GpuDevice, NoAdapterError, openGpu } from "../src/gpu/device.ts";
import { Kernels } from "../src/gpu/kernels.ts";
import { resolveRun } from "../src/train/run.ts";
import { pathToFileURL } from "node:url";
import { analyseFinishedSweep, runSweepOnSlurm } from "../src/sweep/slurm.ts";
import { listenForInterrupts, shellWord } from "../src/train/interrupt.ts";

const COMMAND = "deno task sweep";
const SUMMARY =
  "Trains a family of model sizes and measures loss deceleration and zero-sum learning on them\n" +
  "(docs/method.md). With no arguments: three small models (cpu-xs, cpu-s, cpu-m) for 512 steps on the\n" +
  "embedded Brown Corpus (bytes), each with a 4-step warmup and without one (the warmup control), sized\n" +
  "for a CPU.\n\n" +
  "Where the results go: SWEEP/runs/<id>/ holds each run (checkpoints, metrics.arrow, run.json) and\n" +
  "SWEEP/results/ the tables (Arrow and Markdown), the figures (Vega-Lite, SVG, PNG) and report.html,\n" +
  "one page with all of it to open in a browser. SWEEP is --out, by default sweeps/<name of the sweep>\n" +
  "(sweeps/default). A rerun skips finished runs and resumes unfinished ones from their last checkpoint.";

const OPTIONS: Record<string, OptionSpec> = {
  preset: {
    type: "string",
    value: "NAME",
    description: "Which family to sweep: " +
      Object.entries(SWEEP_PRESETS).map(([name, preset]) => `${name} (${preset.description})`).join(", ") +
      ". README: what each costs.",
    default: "default",
  },
  sweep: {
    type: "string",
    value: "FILE",
    description: "A sweep definition (JSON: models, seeds, schedules, batches, seqs, common, perModel, " +
      "analyses) to run instead of a preset.",
  },
  out: {
    type: "string",
    value: "DIR",
    description: "Where the sweep's runs and results go. By default sweeps/<name of the sweep>.",
  },
  only: {
    type: "string",
    value: "IDS",
    description: "Train only these runs (comma-separated run ids). By default all of them.",
  },
  executor: {
    type: "string",
    value: "NAME",
    description: "local runs the sweep on this machine; slurm submits it as a SLURM job array.",
    default: "local",
  },
  "dry-run": {
    type: "boolean",
    description: "With slurm: write and print the job scripts, and submit nothing.",
  },
  wait: {
    type: "boolean",
    description: "With slurm: wait until the jobs end, printing their states as they change.",
  },
  partition: { type: "string", value: "NAME", description: "With slurm: the partition to submit to." },
  gpus: {
    type: "string",
    value: "N",
    description: "With slurm: GPUs per task (--gres=gpu:N); 0 requests none.",
    default: "0",
  },
  time: {
    type: "string",
    value: "LIMIT",
    description: "With slurm: the time limit of each task and of the analysis job, e.g. 4:00:00.",
  },
  cpus: { type: "string", value: "N", description: "With slurm: CPUs per task." },
  mem: { type: "string", value: "SIZE", description: "With slurm: memory per task, e.g. 32G." },
  account: { type: "string", value: "NAME", description: "With slurm: the account to charge." },
  "sbatch-arg": {
    type: "string",
    value: "ARG",
    multiple: true,
    description: "With slurm: one more sbatch option, passed as is; repeat it for several, e.g. " +
      "--sbatch-arg=--qos=high.",
  },
  "train-only": {
    type: "boolean",
    description: "Train, and skip the analyses (what each SLURM task runs).",
  },
  "analyse-only": {
    type: "boolean",
    description: "Analyse the finished runs only (what the SLURM analysis job runs).",
  },
  "restart-changed": {
    type: "boolean",
    description: "Delete and retrain the runs whose settings differ from the definition (without it, a " +
      "rerun with changed settings is refused).",
  },
};

/**
 * The default sweep's expected time on the adapter found, from the sweep's own estimator (a few
 * timed steps of each model), as lines for `--help`.
 */
async function defaultSweepEstimate(): Promise<string> {
  let gpu: GpuDevice;
  try {
    gpu = await openGpu();
  } catch (error) {
    if (!(error instanceof NoAdapterError)) throw error;
    return "No WebGPU adapter was found, so there is no time estimate: deno task doctor --install sets one up.";
  }
  try {
    const definition = defaultSweep();
    const out = `sweeps/${definition.name}`;
    const runs = expandSweep(definition);
    const resolved = [];
    for (const run of runs) resolved.push(await resolveRun({ ...run.spec, out: join(out, "runs", run.id) }));
    const estimate = await estimateSweepTime(new Kernels(gpu), definition, runs, resolved);
    const adapter = `${gpu.adapter.description || gpu.adapter.device}${
      gpu.adapter.isSoftware ? " (software)" : ""
    }`;
    let started = false;
    for (const { options } of resolved) {
      started ||= (await runStatus(options.runDir, options.steps)) !== "new";
    }
    return `The default sweep takes about ${
      formatDuration(estimate.trainingSeconds + estimate.analysisSeconds)
    } ` +
      `on ${adapter}${started ? `, for what is left of ${out}` : ""}:\n  training ` +
      estimate.runs.map((run) => `${run.id} ${formatDuration(run.seconds)}`).join(", ") +
      `; analyses ${formatDuration(estimate.analysisSeconds)}.\n` +
      "(A rough estimate from a few timed steps of each model; the sweep prints it again when it starts.)";
  } finally {
    gpu.destroy();
  }
}

await runMain(async () => {
  if (Deno.args.includes("--help")) {
    console.log(helpText(COMMAND, SUMMARY, OPTIONS) + "\n");
    console.error("Estimating the default sweep's time on this machine's adapter…");
    console.log(await defaultSweepEstimate());
    return;
  }
  const { values } = parseArgs(Deno.args, COMMAND, SUMMARY, OPTIONS);
  let definition: SweepDefinition;
  if (values.sweep) {
    const path = values.sweep as string;
    let raw: unknown;
    try {
      raw = JSON.parse(await Deno.readTextFile(path));
    } catch (error) {
      throw new Error(`zsl: cannot read sweep definition ${path}: ${(error as Error).message}`);
    }
    definition = validateSweep(raw, path);
  } else definition = sweepPreset(values.preset as string);
  const out = (values.out as string | undefined) ?? `sweeps/${definition.name}`;
  const only = values.only ? (values.only as string).split(",") : undefined;
  if (values.executor === "slurm") {
    if (values["train-only"] || values["analyse-only"]) {
      throw new Error("zsl: --train-only and --analyse-only are what the SLURM jobs run; leave them out");
    }
    const ok = await runSweepOnSlurm(definition, out, {
      only,
      partition: values.partition as string | undefined,
      gpus: numberOption(values, "gpus"),
      time: values.time as string | undefined,
      cpus: numberOption(values, "cpus"),
      mem: values.mem as string | undefined,
      account: values.account as string | undefined,
      sbatchArgs: values["sbatch-arg"] as string[] | undefined,
      dryRun: values["dry-run"] as boolean | undefined,
      restartChanged: values["restart-changed"] as boolean | undefined,
      wait: values.wait as boolean | undefined,
    });
    if (!ok) Deno.exit(1);
    return;
  }
  if (values.executor !== "local") {
    throw new Error(`zsl: unknown --executor "${values.executor}": use local or slurm`);
  }
  // No installing here (the sweep may not run apt-get): the error says how (deno task doctor --install).
  const gpu = await openGpuOrInstall({ install: false });
  const progress = new ProgressLine();
  const started = performance.now();
  try {
    console.error(
      `zsl sweep "${definition.name}": ${definition.models.join(", ")} on ${
        gpu.adapter.description || gpu.adapter.device
      }` +
        `${gpu.adapter.isSoftware ? " (software)" : ""} → ${out}`,
    );
    // The whole command's time as estimated, set once the probes have run: the final line compares.
    let estimatedTotal: number | null = null;
    const onEvent = (event: SweepEvent) => {
      if (event.kind === "estimate") {
        // What the user waits for is the whole command: the probes (which paid any cold compilation
        // of the training pipelines) are already behind, the runs and analyses ahead.
        const spent = (performance.now() - started) / 1000;
        estimatedTotal = spent + event.trainingSeconds + event.analysisSeconds;
        console.error(
          `estimated time on this adapter: ~${formatDuration(estimatedTotal)} in all (${
            formatDuration(spent)
          } spent measuring; training ${formatDuration(event.trainingSeconds)}: ` +
            event.runs.map((run) => `${run.id} ${formatDuration(run.seconds)}`).join(", ") +
            `; analyses ~${formatDuration(event.analysisSeconds)})`,
        );
      } else if (event.kind === "run-start") {
        const what = event.status === "done"
          ? "finished, skipped"
          : event.status === "partial"
          ? "resuming"
          : "training";
        progress.done();
        console.error(`[${event.index + 1}/${event.total}] ${event.run.id}: ${what}`);
      } else if (event.kind === "step") {
        const p = event.progress;
        progress.update(
          `  ${bar(p.step / p.steps)} step ${p.step}/${p.steps} loss ${p.trainLoss.toFixed(4)} ` +
            `${p.tokensPerSecond.toFixed(0)} tok/s ETA ${formatDuration(p.etaSeconds)}`,
          p.step === p.steps,
        );
      } else if (event.kind === "run-done") {
        progress.done();
        console.error(`  done in ${formatDuration(event.seconds)}`);
      } else if (event.kind === "analysis-progress") {
        progress.update(`  ${bar(event.total ? event.done / event.total : 1)} ${event.text}`);
      } else {
        progress.done();
        console.error(`analysis: ${event.what}`);
      }
    };
    const interrupts = listenForInterrupts((signal) => {
      progress.done();
      console.error(`zsl sweep: ${signal}: finishing the step in flight, then writing a checkpoint of it`);
    });
    let swept: { results: string[]; interrupted?: string };
    try {
      swept = values["analyse-only"]
        ? { results: await analyseFinishedSweep(gpu, definition, out, { only, onEvent }) }
        : await runSweepLocally(gpu, definition, out, {
          only,
          trainOnly: values["train-only"] as boolean | undefined,
          restartChanged: values["restart-changed"] as boolean | undefined,
          signal: interrupts.signal,
          onEvent,
        });
    } finally {
      interrupts.dispose();
    }
    if (swept.interrupted) {
      progress.done();
      console.error(
        `zsl sweep: interrupted (${swept.interrupted}); the run in training wrote a checkpoint. ` +
          `Continue with the same command:\n  ${["deno task sweep", ...Deno.args.map(shellWord)].join(" ")}`,
      );
      gpu.destroy();
      Deno.exit(interrupts.exitCode);
    }
    const { results } = swept;
    const took = (performance.now() - started) / 1000;
    console.error(`zsl sweep: done in ${formatDuration(took)}${estimateComparison(estimatedTotal, took)}`);
    for (const file of results) console.log(file);
    const report = results.find((file) => file.endsWith("report.html"));
    if (report) console.error(`zsl sweep: report ${pathToFileURL(resolve(report)).href}`);
  } finally {
    gpu.destroy();
  }
});
