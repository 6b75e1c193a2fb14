/**
 * The GPU runtime: device, buffers, kernels.
 *
 * @module
 */
export * from "./device.ts";
export * from "./buffers.ts";
export * from "./kernels.ts";
