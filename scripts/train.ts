/**
 * `deno task train`: trains one model (docs/method.md#training) and writes a run directory with checkpoints at
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
import { ARCHITECTURES, PRESETS } from "../src/model/config.ts";
import type { Architecture } from "../src/model/config.ts";
import { OPTIMIZER_KINDS } from "../src/train/optimizer.ts";
import type { OptimizerKind } from "../src/train/optimizer.ts";
import { listenForInterrupts, pauseHookFromEnvironment, resumeCommand } from "../src/train/interrupt.ts";
import { createLossProbe } from "../src/analysis/interference/probe.ts";

await runMain(async () => {
  const { values } = parseArgs(
    Deno.args,
    "deno task train",
    "Trains a transformer language model with the paper's procedure (docs/method.md#training) and writes\n" +
      "a run directory: run.json, config.json, metrics.arrow (one row per step), and a checkpoint at every\n" +
      "power of two and at the last step (checkpoints/step-NNNNNNN/: model and optimizer .safetensors,\n" +
      "state.json).",
    {
      preset: {
        type: "string",
        value: "NAME",
        description: `The model to train: one of the paper's sizes or a small CPU model (${
          Object.keys(PRESETS).join(", ")
        }). By default cpu-s.`,
      },
      config: {
        type: "string",
        value: "FILE",
        description:
          "A model config (JSON with d_model, n_layers, n_heads, vocab_size, seq_len, mlp_ratio) " +
          "to train instead of a preset.",
      },
      arch: {
        type: "string",
        value: "ARCH",
        description: `The architecture of the preset: ${ARCHITECTURES.join(" or ")} ` +
          "(docs/method.md#the-nanogpt-variant). By default olmo.",
      },
      init: {
        type: "string",
        value: "FILE",
        description: "Start from these weights (a .safetensors file) instead of a seeded initialisation.",
      },
      data: {
        type: "string",
        value: "SOURCE",
        description: "What to train on: brown (the Brown Corpus, embedded), a .txt file, a folder of .txt " +
          "files, or a .npy array of token ids.",
        default: "brown",
      },
      tokenizer: {
        type: "string",
        value: "NAME",
        description: "bytes or gpt2. By default bytes for the small models and gpt2 for the paper's sizes; " +
          "a .npy needs none (any id below the model's vocab_size trains).",
      },
      "eos-id": {
        type: "string",
        value: "ID",
        description: "For a .npy or .bin of token ids: the id that ends a document. By default the named " +
          "tokenizer's, else none.",
      },
      "vocab-size": {
        type: "string",
        value: "N",
        description: "The model's vocab_size, over the preset's or config's (for token files of a larger " +
          "vocabulary).",
      },
      steps: { type: "string", value: "N", description: "How many optimizer steps to take.", default: "200" },
      batch: { type: "string", value: "N", description: "Sequences in each global batch.", default: "16" },
      microbatch: {
        type: "string",
        value: "N",
        description: "Sequences in each forward and backward pass; it divides --batch, and the gradient is " +
          "summed over the microbatches of a step. By default the whole batch at once.",
      },
      seq: { type: "string", value: "N", description: "Sequence length in tokens. By default the preset's." },
      lr: {
        type: "string",
        value: "X",
        description: "Peak learning rate. By default Kaplan's LR(N) = 0.003239 − 0.0001395·ln N, N the " +
          "non-embedding parameters (docs/method.md#learning-rate).",
      },
      "lr-scale": {
        type: "string",
        value: "X",
        description: "Multiply the peak learning rate (--lr, else Kaplan's) by X, as the sweep's lrScales " +
          "axis does. By default 1.",
      },
      warmup: {
        type: "string",
        value: "N",
        description: "Steps of linear warmup from 0.1·LR to LR. By default 2000, or a twentieth of the run " +
          "when that is fewer.",
      },
      schedule: {
        type: "string",
        value: "NAME",
        description: "trapezoidal (warmup, then constant, with an optional linear decay at the end) or " +
          "cosine (warmup, then down to 0.1·LR at the last step).",
        default: "trapezoidal",
      },
      decay: {
        type: "string",
        value: "N",
        description:
          "With the trapezoidal schedule, bring the rate linearly down to 0 over the last N steps " +
          "(0: no decay).",
        default: "0",
      },
      shuffle: {
        type: "string",
        value: "BOOL",
        description:
          "true trains on one seeded order of the sequences (--data-seed); false keeps the order " +
          "of the data.",
        default: "true",
      },
      seed: { type: "string", value: "N", description: "Seed of the initial weights.", default: "0" },
      "data-seed": {
        type: "string",
        value: "N",
        description: "Seed of the order of the training sequences.",
        default: "6198",
      },
      "eval-every": {
        type: "string",
        value: "N",
        description: "Evaluate on the held-out sequences every N steps. By default ten times in a run " +
          "(every tenth of the steps).",
      },
      "eval-sequences": {
        type: "string",
        value: "N",
        description:
          "How many sequences to hold out for evaluation. By default 2% of the corpus, at most 256.",
      },
      "weight-decay": {
        type: "string",
        value: "X",
        description: "AdamW's decoupled weight decay, applied to the Linear weights (not to the embedding).",
        default: "0.1",
      },
      clip: {
        type: "string",
        value: "X",
        description: "Clip the gradient's global norm to this before each update (0: no clipping).",
        default: "1.0",
      },
      optimizer: {
        type: "string",
        value: "NAME",
        description: `The optimizer: ${OPTIMIZER_KINDS.join(", ")} (docs/method.md#optimizers).`,
        default: "adamw",
      },
      "ademamix-alpha": {
        type: "string",
        value: "X",
        description: "AdEMAMix's final mixing coefficient α.",
        default: "8",
      },
      "ademamix-beta3": {
        type: "string",
        value: "X",
        description: "AdEMAMix's final decay β3 of the slow moving average.",
        default: "0.9999",
      },
      "ademamix-warmup": {
        type: "string",
        value: "N",
        description: "AdEMAMix's warmup of α and β3, in steps (0: none). By default min(50000, steps).",
      },
      "muon-lr-scale": {
        type: "string",
        value: "X",
        description: "Muon's learning rate as a multiple of lr(t).",
        default: "0.1",
      },
      "muon-momentum": {
        type: "string",
        value: "X",
        description: "Muon's Nesterov momentum.",
        default: "0.95",
      },
      name: {
        type: "string",
        value: "NAME",
        description: "The model's name in tables and figures. By default the preset's name.",
      },
      out: {
        type: "string",
        value: "DIR",
        description: "The run directory to write.",
        default: "runs/train",
      },
      resume: { type: "boolean", description: "Continue the run in --out from its last checkpoint." },
      "checkpoint-every": {
        type: "string",
        value: "N",
        description:
          "Also checkpoint every N steps, each replaced by the next (0: never; the powers of two " +
          "stay).",
        default: "1000",
      },
      "checkpoint-minutes": {
        type: "string",
        value: "M",
        description: "Also checkpoint every M minutes, each replaced by the next (0: never).",
        default: "30",
      },
      "probe-every": {
        type: "string",
        value: "N",
        description:
          "Every N steps, measure D, M and ΔL of the loss change since the last probe on a fixed " +
          "set of eval sequences (metrics columns probe_D, probe_M, probe_deltaL; docs/method.md#loss-interference). " +
          "0: no probe.",
        default: "0",
      },
      "probe-sequences": {
        type: "string",
        value: "N",
        description: "How many eval sequences (the first ones) the probe uses.",
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
  const arch = values.arch as string | undefined;
  if (arch !== undefined && !ARCHITECTURES.includes(arch as Architecture)) {
    throw new UsageError(`--arch must be one of ${ARCHITECTURES.join(", ")}, got "${arch}"`);
  }
  const optimizer = values.optimizer as string;
  if (!OPTIMIZER_KINDS.includes(optimizer as OptimizerKind)) {
    throw new UsageError(`--optimizer must be one of ${OPTIMIZER_KINDS.join(", ")}, got "${optimizer}"`);
  }
  const resolved = await resolveRun({
    out: values.out as string,
    name: values.name as string | undefined,
    preset: values.config ? undefined : (values.preset as string | undefined) ?? "cpu-s",
    config: values.config as string | undefined,
    arch: arch as Architecture | undefined,
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
    lrScale: numberOption(values, "lr-scale"),
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
    optimizer: optimizer as OptimizerKind,
    ademamixAlpha: numberOption(values, "ademamix-alpha"),
    ademamixBeta3: numberOption(values, "ademamix-beta3"),
    ademamixWarmup: numberOption(values, "ademamix-warmup"),
    muonLrScale: numberOption(values, "muon-lr-scale"),
    muonMomentum: numberOption(values, "muon-momentum"),
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
        }M non-embedding; ${config.arch}, d ${config.d_model}, ${config.n_layers} layers; ` +
        `${options.optimizer?.kind ?? "adamw"}) ` +
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
