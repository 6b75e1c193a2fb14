/**
 * The transformer: configs and presets, the parameter layout and initialisation, the GPU forward and
 * backward, and per-token losses of a model.
 *
 * @module
 */
export * from "./config.ts";
export * from "./parameters.ts";
export * from "./transformer.ts";
export * from "./evaluate.ts";
export * from "./token_losses.ts";
export * from "./tangent.ts";
