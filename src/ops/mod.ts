/**
 * One TypeScript wrapper per WGSL kernel family (`kernels/*.wgsl`): each builds the pipelines for a shape
 * and records its dispatches, forward and backward; the shape checks the ops share with their float64
 * references.
 *
 * @module
 */
export * from "./matmul.ts";
export * from "./attention.ts";
export * from "./rope.ts";
export * from "./rmsnorm.ts";
export * from "./swiglu.ts";
export * from "./cross_entropy.ts";
export * from "./embedding.ts";
export * from "./grad_norm.ts";
export * from "./per_example.ts";
export * from "./projection.ts";
export * from "./shapes.ts";
export * from "./gelu.ts";
export * from "./position.ts";
export * from "./forward_backward.ts";
export * from "./attention_tangent.ts";
export * from "./tangent.ts";
