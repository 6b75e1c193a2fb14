/**
 * Small helpers every layer may use: seeded random numbers, compensated sums, number and duration
 * formatting, HTML escaping, unique names, file and JSON helpers, paths.
 *
 * @module
 */
export * from "./random.ts";
export * from "./stable_sum.ts";
export * from "./format.ts";
export * from "./html.ts";
export * from "./names.ts";
export * from "./files.ts";
export * from "./path.ts";
