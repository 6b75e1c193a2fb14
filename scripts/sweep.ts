/**
 * `deno task sweep`: trains a family of models and analyses them (deceleration fit, loss interference),
 * writing `SWEEP/runs/<id>/` and `SWEEP/results/`. A rerun skips finished runs and resumes unfinished ones.
 */
import { numberOption, parseArgs, runMain } from "../src/cli/args.ts";
import { bar, formatDuration, ProgressLine } from "../src/cli/progress.ts";
import { openGpuOrInstall } from "../src/gpu/doctor.ts";
import { defaultSweep, paperSweep, validateSweep } from "../src/sweep/definition.ts";
import type { SweepDefinition } from "../src/sweep/definition.ts";
import type { SweepEvent } from "../src/sweep/local.ts";
import { runSweepLocally } from "../src/sweep/local.ts";
import { resolve } from "../src/util/path.ts";
import { pathToFileURL } from "node:url";
import { analyseFinishedSweep, runSweepOnSlurm } from "../src/sweep/slurm.ts";
import { listenForInterrupts, shellWord } from "../src/train/interrupt.ts";

await runMain(async () => {
  const { values } = parseArgs(
    Deno.args,
    "deno task sweep",
    "Trains a family of model sizes and measures loss deceleration and zero-sum learning on them.\n" +
      "With no arguments: three small models on the embedded Brown Corpus (bytes), sized for a CPU.",
    {
      preset: {
        type: "string",
        description: "default (small CPU family) or paper (the paper's six sizes, for GPUs)",
        default: "default",
      },
      sweep: { type: "string", description: "a sweep definition JSON file instead of a preset" },
      out: { type: "string", description: "sweep directory (default: sweeps/<name>)" },
      only: { type: "string", description: "comma-separated run ids to train (default: all)" },
      executor: {
        type: "string",
        description: "local (this machine) or slurm (sbatch job array)",
        default: "local",
      },
      "dry-run": { type: "boolean", description: "slurm: write and print the job scripts, submit nothing" },
      wait: { type: "boolean", description: "slurm: wait until the jobs end and report their states" },
      partition: { type: "string", description: "slurm: partition" },
      gpus: {
        type: "string",
        description: "slurm: GPUs per task (--gres=gpu:N); 0 requests none",
        default: "0",
      },
      time: { type: "string", description: "slurm: time limit per task, e.g. 4:00:00" },
      cpus: { type: "string", description: "slurm: CPUs per task" },
      mem: { type: "string", description: "slurm: memory per task, e.g. 32G" },
      account: { type: "string", description: "slurm: account to charge" },
      "sbatch-arg": {
        type: "string",
        multiple: true,
        description: "slurm: extra sbatch option, repeatable, e.g. --sbatch-arg=--qos=high",
      },
      "train-only": { type: "boolean", description: "train, skip the analyses (what each SLURM task runs)" },
      "analyse-only": { type: "boolean", description: "analyse finished runs only (the SLURM analysis job)" },
      "restart-changed": {
        type: "boolean",
        description: "delete and retrain the runs whose settings differ from the definition (else refused)",
      },
    },
  );
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
  } else if (values.preset === "paper") definition = paperSweep();
  else if (values.preset === "default") definition = defaultSweep();
  else {throw new Error(
      `zsl: unknown sweep preset "${values.preset}": use default or paper, or --sweep FILE.json`,
    );}
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
    const onEvent = (event: SweepEvent) => {
      if (event.kind === "estimate") {
        const total = event.trainingSeconds + event.analysisSeconds;
        console.error(
          `estimated time on this adapter: ~${formatDuration(total)} (training ${
            formatDuration(event.trainingSeconds)
          }: ` +
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
    console.error(`zsl sweep: done in ${formatDuration((performance.now() - started) / 1000)}`);
    for (const file of results) console.log(file);
    const report = results.find((file) => file.endsWith("report.html"));
    if (report) console.error(`zsl sweep: report ${pathToFileURL(resolve(report)).href}`);
  } finally {
    gpu.destroy();
  }
});
