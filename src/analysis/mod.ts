/**
 * The three analyses of a training run (docs/method.md): loss deceleration (#loss-deceleration), loss
 * interference (#loss-interference) and gradient interference (#gradient-interference). Each computes and returns typed rows of the result tables
 * (`src/results/`); none renders or names a file.
 *
 * @module
 */
export * from "./deceleration/mod.ts";
export * from "./interference/mod.ts";
export * from "./gradients/mod.ts";
