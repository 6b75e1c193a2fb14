/**
 * Gradient interference (docs/method.md#gradient-interference): exact per-example gradient statistics on the GPU, the CPU
 * function over explicit matrices, per-run analysis, its result rows, and comparisons of projected
 * per-example gradients.
 *
 * @module
 */
export * from "./metrics.ts";
export * from "./statistics.ts";
export * from "./run.ts";
export * from "./rows.ts";
export * from "./projection.ts";
export * from "./predicted.ts";
