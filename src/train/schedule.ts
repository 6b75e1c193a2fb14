/**
 * Learning-rate schedules of docs/method.md#schedules. The update that produces step N (1-based) uses lr(N).
 *
 * @module
 */

/** Schedule kinds: trapezoidal (WSD: warmup, constant, optional linear decay to 0) and cosine. */
export type ScheduleKind = "trapezoidal" | "cosine";

/** A learning-rate schedule. */
export interface Schedule {
  /** The shape after warmup: trapezoidal (constant, then optional linear decay) or cosine. */
  kind: ScheduleKind;
  /** Peak learning rate LR. */
  peakLr: number;
  /** Warmup steps W: lr rises linearly from 0.1·LR at step 0 to LR at step W. */
  warmup: number;
  /** The run's last step (cosine reaches 0.1·LR there; the decay phase ends at 0 there). */
  totalSteps: number;
  /** Trapezoidal only: steps of linear decay to 0 at the end (0 = none, the paper's setting). */
  decaySteps?: number;
}

/** Validates a schedule, naming the bad field. */
export function validateSchedule(schedule: Schedule): Schedule {
  const { kind, peakLr, warmup, totalSteps } = schedule;
  const decay = schedule.decaySteps ?? 0;
  if (kind !== "trapezoidal" && kind !== "cosine") {
    throw new Error(`zsl: unknown schedule "${kind}": use trapezoidal or cosine`);
  }
  if (!(peakLr > 0) || !Number.isFinite(peakLr)) {
    throw new Error(`zsl: the learning rate must be positive, got ${peakLr}`);
  }
  if (!Number.isInteger(warmup) || warmup < 0) {
    throw new Error(`zsl: --warmup must be an integer ≥ 0, got ${warmup}`);
  }
  if (!Number.isInteger(totalSteps) || totalSteps < 1) {
    throw new Error(`zsl: --steps must be a positive integer, got ${totalSteps}`);
  }
  if (warmup > totalSteps) {
    throw new Error(
      `zsl: --warmup ${warmup} is longer than the run (--steps ${totalSteps}): the learning rate would ` +
        `never reach its peak; give --warmup ≤ ${totalSteps}`,
    );
  }
  if (!Number.isInteger(decay) || decay < 0 || decay > totalSteps - warmup) {
    throw new Error(
      `zsl: --decay must be an integer in 0…steps − warmup (${totalSteps - warmup}), got ${decay}`,
    );
  }
  return schedule;
}

/**
 * The learning rate of the update that produces step `step` (1-based).
 *
 * Warmup (step ≤ W): 0.1·LR + 0.9·LR·step/W. Trapezoidal: LR after warmup, then, if decaySteps = D,
 * LR·(T − step)/D over the last D steps. Cosine: 0.1·LR + 0.9·LR·(1 + cos(π·(step − W)/(T − W)))/2.
 *
 * @example
 * ```ts
 * import { learningRate } from "./mod.ts";
 * learningRate({ kind: "trapezoidal", peakLr: 1e-3, warmup: 100, totalSteps: 1000 }, 50); // 5.5e-4
 * ```
 */
export function learningRate(schedule: Schedule, step: number): number {
  const { peakLr: lr, warmup, totalSteps } = schedule;
  if (warmup > 0 && step <= warmup) return lr * (0.1 + 0.9 * Math.min(step, warmup) / warmup);
  if (schedule.kind === "cosine") {
    const span = Math.max(1, totalSteps - warmup);
    const progress = Math.min(1, (step - warmup) / span);
    return 0.1 * lr + 0.9 * lr * (1 + Math.cos(Math.PI * progress)) / 2;
  }
  const decay = schedule.decaySteps ?? 0;
  if (decay > 0 && step > totalSteps - decay) return lr * Math.max(0, totalSteps - step) / decay;
  return lr;
}
