/**
 * Files: Arrow IPC tables, safetensors, `.npy`, and atomic writes.
 *
 * @module
 */
export * from "./arrow.ts";
export * from "./safetensors.ts";
export * from "./npy.ts";
export * from "./atomic.ts";
