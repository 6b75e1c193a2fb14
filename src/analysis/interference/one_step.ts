/**
 * The learning rate of the one-step analyses (docs/method.md#one-step): Δ_t^{t+1}, the δ of gradient
 * interference and the loss along the update each re-take one step of the run's own optimizer from a
 * checkpoint (`OptimizerStep`, src/train/optimizer_step.ts) at the rate chosen here.
 *
 * @module
 */
import { learningRate } from "../../train/schedule.ts";
import type { Schedule } from "../../train/schedule.ts";

/** How the one-step learning rate is chosen. */
export type OneStepLr =
  /** lr(t), the schedule's rate at the checkpoint's step (the paper's choice). */
  | "checkpoint"
  /** lr(t + 1), the rate the trainer used for the next update. */
  | "next"
  /** The schedule's peak rate. */
  | "peak"
  /** A fixed rate. */
  | number;

/**
 * The learning rate of the one step from checkpoint `t`: by `choice` (default the paper's lr(t)),
 * the peak LR where the chosen rate is 0 (the end of a decay, or no warmup start).
 */
export function oneStepLearningRate(schedule: Schedule, t: number, choice: OneStepLr = "checkpoint"): number {
  let lr: number;
  if (typeof choice === "number") lr = choice;
  else if (choice === "checkpoint") lr = learningRate(schedule, t);
  else if (choice === "next") lr = learningRate(schedule, t + 1);
  else if (choice === "peak") lr = schedule.peakLr;
  else {throw new Error(
      `zsl: unknown one-step learning rate "${choice}": use checkpoint, next, peak or a number`,
    );}
  return lr > 0 ? lr : schedule.peakLr;
}
