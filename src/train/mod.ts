/**
 * Training: AdamW on the GPU, learning-rate schedules, the training loop, checkpoints, metrics, and runs
 * (resolving a run's spec, reopening a run directory).
 *
 * @module
 */
export * from "./adamw.ts";
export * from "./schedule.ts";
export * from "./trainer.ts";
export * from "./checkpoint.ts";
export * from "./metrics.ts";
export * from "./run.ts";
export * from "./timing.ts";
export * from "./optimizer.ts";
export * from "./optimizer_step.ts";
