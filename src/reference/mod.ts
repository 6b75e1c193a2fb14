/**
 * Float64 TypeScript references of every op and of the whole model (what the kernels are tested
 * against), and the kernel self-test of `deno task doctor`.
 *
 * @module
 */
export * from "./model.ts";
export * from "./selftest.ts";
export * from "./adamw.ts";
export * from "./attention.ts";
export * from "./cross_entropy.ts";
export * from "./embedding.ts";
export * from "./grad_norm.ts";
export * from "./matmul.ts";
export * from "./per_example.ts";
export * from "./projection.ts";
export * from "./rmsnorm.ts";
export * from "./rope.ts";
export * from "./swiglu.ts";
export * from "./gelu.ts";
export * from "./nanogpt.ts";
export * from "./optimizers.ts";
export * from "./position.ts";
export * from "./tangent.ts";
