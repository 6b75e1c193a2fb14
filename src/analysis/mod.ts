/**
 * The analyses of a training run (docs/method.md): loss deceleration (#loss-deceleration), loss
 * interference (#loss-interference), gradient interference (#gradient-interference) and the loss along the
 * update (#loss-along-the-update); and the pairing of the ablations' runs (#optimizers).
 * Each computes and returns typed rows of the result tables (`src/results/`); none renders or names a file.
 *
 * @module
 */
export * from "./deceleration/mod.ts";
export * from "./interference/mod.ts";
export * from "./gradients/mod.ts";
export * from "./landscape.ts";
export * from "./ablation.ts";
