/**
 * `deno task train`: trains one model (METHOD.md §3) and writes a run directory with checkpoints at
 * every power of two, metrics.arrow and run.json. `--resume` continues from the last checkpoint.
 * SIGTERM and Ctrl-C finish the step in flight, write a checkpoint of it, print the `--resume`
 * command and exit with 143 or 130.
 */
import { numberOption, parseArgs, runMain, UsageError } from "../src/cli/args.ts";
import { bar, formatDuration, ProgressLine } from "../src/cli/progress.ts";
import { openGpu } from "../src/gpu/device.ts";
import { resolveRun } from "../src/train/run.ts";
import type { ScheduleKind } from "../src/train/schedule.ts";
import { train } from "../src/train/trainer.ts";
import { listenForInterrupts, pauseHookFromEnvironment, resumeCommand } from "../src/train/interrupt.ts";
import { PRESETS } from "../src/model/config.ts";
import { createLossProbe } from "../src/analysis/interference/probe.ts";

await runMain(async () => {
  const { values } = parseArgs(
    Deno.args,
    "deno task train",
    "Trains a transformer LM with the paper's procedure and writes a run directory:\n" +
      "  run.json, config.json, metrics.arrow, checkpoints/step-NNNNNNN/{model,optimizer}.safetensors + state.json",
    {
      preset: {
        type: "string",
        description: `model preset: ${Object.keys(PRESETS).join(", ")} (default: cpu-s)`,
      },
      config: { type: "string", description: "model config JSON instead of a preset" },
      init: {
        type: "string",
        description: "start from these weights (.safetensors) instead of the seeded init",
      },
      data: {
        type: "string",
        description: "corpus: brown, a .txt file, a folder of .txt files, or a .npy token array",
        default: "brown",
      },
      tokenizer: {
        type: "string",
        description: "bytes or gpt2 (default: bytes for small presets, gpt2 for the paper's); a .npy " +
          "needs none (any id below the model's vocab_size trains)",
      },
      "eos-id": {
        type: "string",
        description: ".npy/.bin: the id that ends a document (default: the named tokenizer's, else none)",
      },
      "vocab-size": {
        type: "string",
        description:
          "the model's vocab_size, over the preset's or config's (token files of a larger vocabulary)",
      },
      steps: { type: "string", description: "optimizer steps", default: "200" },
      batch: { type: "string", description: "sequences per global batch", default: "16" },
      microbatch: {
        type: "string",
        description: "sequences per microbatch (divides --batch; default: --batch)",
      },
      seq: { type: "string", description: "sequence length (default: the preset's)" },
      lr: { type: "string", description: "peak learning rate (default: Kaplan's LR(N) of METHOD.md §2)" },
      warmup: {
        type: "string",
        description: "warmup steps from 0.1·LR to LR (default: min(2000, steps/20))",
      },
      schedule: {
        type: "string",
        description: "trapezoidal (WSD, constant after warmup) or cosine (to 0.1·LR)",
        default: "trapezoidal",
      },
      decay: {
        type: "string",
        description: "trapezoidal: linear decay to 0 over the last N steps",
        default: "0",
      },
      shuffle: {
        type: "string",
        description: "true: one seeded order (seed 6198); false: file order",
        default: "true",
      },
      seed: { type: "string", description: "initialisation seed", default: "0" },
      "data-seed": { type: "string", description: "data order seed", default: "6198" },
      "eval-every": {
        type: "string",
        description: "evaluate on the held-out split every N steps (default: 10 times a run)",
      },
      "eval-sequences": {
        type: "string",
        description: "held-out sequences (default: 2% of the corpus, ≤ 256)",
      },
      "weight-decay": {
        type: "string",
        description: "AdamW decoupled weight decay on Linear weights",
        default: "0.1",
      },
      clip: {
        type: "string",
        description: "global gradient-norm clipping threshold (0: off)",
        default: "1.0",
      },
      name: { type: "string", description: "model name in tables and figures (default: the preset)" },
      out: { type: "string", description: "run directory", default: "runs/train" },
      resume: { type: "boolean", description: "continue the run in --out from its last checkpoint" },
      "checkpoint-every": {
        type: "string",
        description: "also checkpoint every N steps, replaced by the next (0: never; powers of two stay)",
        default: "1000",
      },
      "checkpoint-minutes": {
        type: "string",
        description: "also checkpoint every M minutes, replaced by the next (0: never)",
        default: "30",
      },
      "probe-every": {
        type: "string",
        description:
          "every N steps, D, M and ΔL of the loss change since the last probe on a fixed probe set " +
          "(metrics columns probe_D, probe_M, probe_deltaL; 0: off)",
        default: "0",
      },
      "probe-sequences": {
        type: "string",
        description: "probe set: the first N eval sequences",
        default: "8",
      },
    },
  );
  const shuffle = values.shuffle as string;
  if (shuffle !== "true" && shuffle !== "false") {
    throw new UsageError(`--shuffle must be true or false, got "${shuffle}"`);
  }
  if (values.preset !== undefined && values.config !== undefined) {
    throw new UsageError("give --preset or --config, not both");
  }
  const probeEvery = numberOption(values, "probe-every") ?? 0;
  if (!Number.isInteger(probeEvery) || probeEvery < 0) {
    throw new UsageError(`--probe-every must be an integer ≥ 0 (0: off), got ${probeEvery}`);
  }
  const probeSequences = numberOption(values, "probe-sequences");
  if (probeSequences !== undefined && !(Number.isInteger(probeSequences) && probeSequences >= 1)) {
    throw new UsageError(`--probe-sequences must be a positive integer, got ${probeSequences}`);
  }
  const resolved = await resolveRun({
    out: values.out as string,
    name: values.name as string | undefined,
    preset: values.config ? undefined : (values.preset as string | undefined) ?? "cpu-s",
    config: values.config as string | undefined,
    init: values.init as string | undefined,
    data: values.data as string,
    tokenizer: values.tokenizer as string | undefined,
    eosId: numberOption(values, "eos-id"),
    vocabSize: numberOption(values, "vocab-size"),
    steps: numberOption(values, "steps"),
    batch: numberOption(values, "batch"),
    microbatch: numberOption(values, "microbatch"),
    seq: numberOption(values, "seq"),
    lr: numberOption(values, "lr"),
    warmup: numberOption(values, "warmup"),
    schedule: values.schedule as ScheduleKind,
    decay: numberOption(values, "decay"),
    shuffle: shuffle === "true",
    seed: numberOption(values, "seed"),
    dataSeed: numberOption(values, "data-seed"),
    evalEvery: numberOption(values, "eval-every"),
    evalSequences: numberOption(values, "eval-sequences"),
    weightDecay: numberOption(values, "weight-decay"),
    clip: numberOption(values, "clip"),
    resume: values.resume as boolean,
    checkpointEvery: numberOption(values, "checkpoint-every"),
    checkpointMinutes: numberOption(values, "checkpoint-minutes"),
  });
  const { options, config, plan } = resolved;
  const probe = probeEvery > 0
    ? createLossProbe({ every: probeEvery, sequences: probeSequences })
    : undefined;
  const gpu = await openGpu();
  try {
    console.error(
      `zsl train: ${options.name} (${(resolved.totalParams / 1e6).toFixed(2)}M params, ` +
        `${
          (resolved.nonEmbeddingParams / 1e6).toFixed(2)
        }M non-embedding; d ${config.d_model}, ${config.n_layers} layers) ` +
        `on ${gpu.adapter.description || gpu.adapter.device}${gpu.adapter.isSoftware ? " (software)" : ""}`,
    );
    console.error(
      `  ${options.steps} steps × ${options.batch} sequences × ${config.seq_len} tokens; ` +
        `peak lr ${
          options.schedule.peakLr.toExponential(3)
        }, warmup ${options.schedule.warmup}, ${options.schedule.kind}; ` +
        `${plan.trainSequenceCount} training / ${plan.evalSequenceCount} eval sequences → ${options.runDir}`,
    );
    const progress = new ProgressLine();
    const interrupts = listenForInterrupts((signal) => {
      progress.done();
      console.error(
        `zsl train: ${signal}: finishing the step in flight, then writing a checkpoint of it ` +
          `(Ctrl-C again to quit at once)`,
      );
    });
    const pause = pauseHookFromEnvironment(interrupts.signal);
    let result;
    try {
      result = await train(gpu, {
        ...options,
        signal: interrupts.signal,
        probe,
        onCheckpoint: pause?.at === "checkpoint"
          ? (s) => s === pause.step ? pause.pause() : undefined
          : undefined,
        onStep: async (p) => {
          const evalText = p.evalLoss !== undefined ? ` eval ${p.evalLoss.toFixed(4)}` : "";
          progress.update(
            `${bar(p.step / p.steps)} step ${p.step}/${p.steps} loss ${p.trainLoss.toFixed(4)}${evalText} ` +
              `lr ${p.lr.toExponential(2)} |g| ${p.gradNorm.toFixed(3)} ${
                p.tokensPerSecond.toFixed(0)
              } tok/s ` +
              `ETA ${formatDuration(p.etaSeconds)}`,
            p.step === p.steps || p.evalLoss !== undefined,
          );
          if (pause?.at === "step" && p.step === pause.step) await pause.pause();
        },
      });
    } finally {
      interrupts.dispose();
    }
    progress.done();
    if (result.alreadyFinished) {
      console.error(
        `zsl train: ${result.runDir} has finished all ${options.steps} steps (checkpoint step ` +
          `${result.lastCheckpoint}): nothing to resume`,
      );
      return;
    }
    if (probe) {
      console.error(
        `  loss probe: ${probe.measurements} probes of ${probe.sequences} sequences took ${
          probe.seconds.toFixed(1)
        } s, ` +
          `${(100 * probe.seconds / result.wallSeconds).toFixed(1)}% of the session's ${
            result.wallSeconds.toFixed(1)
          } s`,
      );
    }
    if (result.interrupted) {
      console.error(
        `zsl train: interrupted (${result.interrupted}) after step ${result.step} of ${options.steps}; ` +
          `checkpoint step ${result.lastCheckpoint} and metrics written. Continue with:\n  ` +
          resumeCommand("deno task train", Deno.args),
      );
      gpu.destroy();
      Deno.exit(interrupts.exitCode);
    }
    console.error(
      `zsl train: steps ${result.firstStep}–${result.step} in ${formatDuration(result.wallSeconds)}; ` +
        `final train loss ${result.losses[result.losses.length - 1]?.toFixed(4)} → ${result.runDir}`,
    );
  } finally {
    gpu.destroy();
  }
});
