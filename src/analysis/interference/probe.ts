/**
 * A live loss-interference probe for training (beyond the paper): every `every` steps it measures
 * the per-token losses of a small fixed probe set (default: the first 8 eval sequences) with the
 * training model itself, and reports D, M and ΔL of the change since the previous probe as the
 * metric columns `probe_D`, `probe_M`, `probe_deltaL` (NaN on other steps).
 *
 * It runs forward passes on the training model between steps (no extra parameter or activation
 * memory: it reuses the model's buffers, which the next step overwrites anyway), so its cost is
 * ⌈probe sequences / microbatch⌉ forwards every `every` steps. {@linkcode LossProbe.seconds} holds
 * the time it took, so the cost can be stated against the training time.
 *
 * The trainer calls it through {@linkcode TrainingProbe}: `setup` once when the model holds its
 * initial (or resumed) parameters, `afterStep` after every update.
 *
 * @module
 */
import type { TrainingProbe } from "../../train/trainer.ts";
import type { Transformer } from "../../model/transformer.ts";
import { lossInterference } from "./loss.ts";
import { TokenLossReader } from "../../model/token_losses.ts";

/** Options of {@linkcode LossProbe}. */
export interface LossProbeOptions {
  /** Probe every this many steps. */
  every: number;
  /** Probe sequences: the first this many eval sequences (default 8). */
  sequences?: number;
  /** Probe tokens (whole sequences) instead of the eval sequences. */
  tokens?: Uint32Array;
}

/** Column names of the probe. */
export const PROBE_COLUMNS = ["probe_D", "probe_M", "probe_deltaL"] as const;

/** The default probe set: the first 8 eval sequences. */
export const DEFAULT_PROBE_SEQUENCES = 8;

/** D, M, ΔL between consecutive probes on a fixed token set, during training. */
export class LossProbe implements TrainingProbe {
  /** The metric columns it fills: probe_D, probe_M, probe_deltaL. */
  readonly columns: readonly string[] = PROBE_COLUMNS;
  /** Steps between probes. */
  readonly every: number;
  /** Sequences in the probe set. */
  readonly sequences: number;
  /** Seconds spent probing (setup included). */
  seconds = 0;
  /** Probes taken (setup included). */
  measurements = 0;
  #tokens: Uint32Array | null;
  #previous: Float32Array | null = null;
  #reader: TokenLossReader | null = null;
  #previousStep = 0;

  /** A probe every `options.every` steps on the first `options.sequences` eval sequences (or given tokens). */
  constructor(options: LossProbeOptions) {
    if (!Number.isInteger(options.every) || options.every < 1) {
      throw new Error(`zsl: --probe-every must be a positive number of steps, got ${options.every}`);
    }
    const sequences = options.sequences ?? DEFAULT_PROBE_SEQUENCES;
    if (!Number.isInteger(sequences) || sequences < 1) {
      throw new Error(`zsl: --probe-sequences must be a positive integer, got ${sequences}`);
    }
    this.every = options.every;
    this.sequences = sequences;
    this.#tokens = options.tokens ?? null;
  }

  /** The step of the last probe (the start of the next window). */
  get previousStep(): number {
    return this.#previousStep;
  }

  async setup(
    model: Transformer,
    context: { firstStep: number; evalTokens: () => Uint32Array },
  ): Promise<void> {
    const T = model.config.seq_len;
    if (!this.#tokens) {
      const all = context.evalTokens();
      const available = Math.floor(all.length / T);
      if (available < 1) throw new Error("zsl: the loss probe needs an eval split: set --eval-sequences");
      this.#tokens = all.slice(0, Math.min(available, this.sequences) * T);
    }
    const start = performance.now();
    this.#reader?.destroy();
    this.#reader = new TokenLossReader(model);
    this.#previous = await this.#reader.read(this.#tokens);
    this.#previousStep = context.firstStep - 1;
    this.seconds += (performance.now() - start) / 1000;
    this.measurements++;
  }

  async afterStep(step: number, model: Transformer): Promise<Record<string, number> | null> {
    if (step % this.every !== 0) return null;
    if (!this.#tokens || !this.#reader) throw new Error("zsl: LossProbe.afterStep before setup");
    if (this.#reader.model !== model) {
      throw new Error("zsl: LossProbe.afterStep with another model than setup's");
    }
    const start = performance.now();
    const losses = await this.#reader.read(this.#tokens);
    this.seconds += (performance.now() - start) / 1000;
    this.measurements++;
    const previous = this.#previous;
    this.#previous = losses;
    this.#previousStep = step;
    if (!previous) return null;
    const result = lossInterference(previous, losses);
    return { probe_D: result.D, probe_M: result.M, probe_deltaL: result.deltaL };
  }

  /** Frees the probe's readback buffer (the trainer calls it when training ends). */
  close(): void {
    this.#reader?.destroy();
    this.#reader = null;
  }
}

/** A {@linkcode LossProbe}: `deno task train --probe-every N [--probe-sequences S]`. */
export function createLossProbe(options: LossProbeOptions): LossProbe {
  return new LossProbe(options);
}
