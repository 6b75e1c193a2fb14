/**
 * The three analyses of a training run: loss deceleration (METHOD.md §4), loss interference (§5) and
 * gradient interference (§6). Each computes and returns typed rows of the result tables
 * (`src/results/`); none renders or names a file.
 *
 * @module
 */
export * from "./deceleration/mod.ts";
export * from "./interference/mod.ts";
export * from "./gradients/mod.ts";
