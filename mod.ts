/**
 * zsl: train families of OLMo-style transformer language models with hand-written WGSL kernels on
 * WebGPU (Dawn), and measure loss deceleration and zero-sum learning (Mircea et al., ACL 2025).
 *
 * Everything here works when imported from a URL: kernels are fetched relative to this module.
 *
 * @example Train a small model and read its per-token losses
 * ```ts
 * import { evaluateTokenLosses, openGpu, resolveRun, train } from "./mod.ts";
 *
 * const gpu = await openGpu();
 * const { options } = await resolveRun({ out: "runs/demo", preset: "tiny", steps: 50 });
 * await train(gpu, options);
 * gpu.destroy();
 * ```
 *
 * @module
 */

// GPU runtime
export { GpuDevice, GpuError, NO_ADAPTER_HELP, NoAdapterError, openGpu } from "./src/gpu/device.ts";
export type { AdapterReport, OpenGpuOptions } from "./src/gpu/device.ts";
export {
  alignUp,
  createBuffer,
  readBuffer,
  readFloats,
  uploadBuffer,
  writeBuffer,
} from "./src/gpu/buffers.ts";
export { grid, Kernels, kernelSource, kernelUrl } from "./src/gpu/kernels.ts";
export type { Binding, Constants } from "./src/gpu/kernels.ts";

// Model
export {
  ConfigError,
  headDim,
  kaplanPeakLr,
  mlpHidden,
  PAPER_PRESETS,
  parameterCount,
  presetByName,
  PRESETS,
  readConfigFile,
  trainingFlopsPerToken,
  validateConfig,
} from "./src/model/config.ts";
export type { ModelConfig, Preset } from "./src/model/config.ts";
export { flattenTensors, initParameters, parameterLayout, tensorsOf } from "./src/model/parameters.ts";
export type { ParameterLayout, ParameterSpec } from "./src/model/parameters.ts";
export { dropLastPositions, NO_TARGET, Transformer } from "./src/model/transformer.ts";
export type { PerExampleGradientSink, RecordOptions, TransformerOptions } from "./src/model/transformer.ts";
export { defaultEvalBatch, evaluateTokenLosses, toTokenIds } from "./src/model/evaluate.ts";
export type { EvaluateOptions, TokenLosses } from "./src/model/evaluate.ts";
export { kernelSelfTest, ODD_TINY_CONFIG } from "./src/model/selftest.ts";
export type { SelfTestResult } from "./src/model/selftest.ts";

// Kernel families (one WGSL file each, forward and backward)
export { defaultMatmulVariant, Matmul } from "./src/ops/matmul.ts";
export type { MatmulDims, MatmulLayout, MatmulShape, MatmulVariant } from "./src/ops/matmul.ts";
export { Attention, MAX_HEAD_DIM } from "./src/ops/attention.ts";
export type { AttentionShape, AttentionVariant } from "./src/ops/attention.ts";
export { Rope } from "./src/ops/rope.ts";
export type { RopeShape } from "./src/ops/rope.ts";
export { defaultRowVariant, RmsNorm } from "./src/ops/rmsnorm.ts";
export type { RmsNormShape, RowVariant } from "./src/ops/rmsnorm.ts";
export { SwiGlu } from "./src/ops/swiglu.ts";
export type { SwiGluShape } from "./src/ops/swiglu.ts";
export { CrossEntropy, SumReduce } from "./src/ops/cross_entropy.ts";
export type { CrossEntropyShape } from "./src/ops/cross_entropy.ts";
export { buildTokenIndex, Embedding } from "./src/ops/embedding.ts";
export type { EmbeddingShape, TokenIndex } from "./src/ops/embedding.ts";
export { GradNorm } from "./src/ops/grad_norm.ts";
export * from "./src/ops/per_example.ts";
export * from "./src/ops/projection.ts";

// Float64 references
export { nextTokenTargets, referenceForward, referenceGradients } from "./src/reference/model.ts";
export type { ReferenceLosses, ReferenceParameters } from "./src/reference/model.ts";

export { matmulDyTx, matmulDyW, matmulXWt } from "./src/reference/matmul.ts";
export type { Matrix } from "./src/reference/matmul.ts";
export { attentionBackward, attentionForward } from "./src/reference/attention.ts";
export { ropeBackward, ropeForward } from "./src/reference/rope.ts";
export { rmsnormBackward, rmsnormForward } from "./src/reference/rmsnorm.ts";
export { swigluBackward, swigluForward } from "./src/reference/swiglu.ts";
export { crossEntropyBackward, crossEntropyForward } from "./src/reference/cross_entropy.ts";
export { embeddingBackward, embeddingForward } from "./src/reference/embedding.ts";
export { gradNorm } from "./src/reference/grad_norm.ts";
export { adamwReferenceStep } from "./src/reference/adamw.ts";
export {
  embeddingExampleGradient,
  embeddingExampleStats,
  exampleStats,
  linearExampleGradient,
  linearExampleStats,
} from "./src/reference/per_example.ts";
export type { ExampleStatsReference } from "./src/reference/per_example.ts";
export {
  frobeniusInner,
  perExampleEmbeddingGradients,
  perExampleLinearGradients,
  projectGradient,
  projectGradients,
} from "./src/reference/projection.ts";
export type { AdamWStep, AdamWTensor } from "./src/reference/adamw.ts";

// Training
export { AdamW, PAPER_ADAMW } from "./src/train/adamw.ts";
export type { AdamWOptions } from "./src/train/adamw.ts";
export { learningRate, validateSchedule } from "./src/train/schedule.ts";
export type { Schedule, ScheduleKind } from "./src/train/schedule.ts";
export {
  checkpointName,
  checkpointPath,
  checkpointSteps,
  listCheckpoints,
  loadCheckpoint,
  removeStaleTemporaries,
  saveCheckpoint,
} from "./src/train/checkpoint.ts";
export type { Checkpoint, CheckpointState } from "./src/train/checkpoint.ts";
export { MetricsLog } from "./src/train/metrics.ts";
export type { MetricsRow } from "./src/train/metrics.ts";
export { DivergenceError, train } from "./src/train/trainer.ts";
export { CheckpointError } from "./src/train/checkpoint.ts";
export { INTERRUPT_EXIT_CODES, listenForInterrupts, resumeCommand } from "./src/train/interrupt.ts";
export type { Interrupts } from "./src/train/interrupt.ts";
export { lockDirectory, LockedError } from "./src/util/lock.ts";
export type { DirectoryLock, LockHolder, LockOptions } from "./src/util/lock.ts";
export type {
  StepProgress,
  TrainingData,
  TrainingProbe,
  TrainOptions,
  TrainResult,
} from "./src/train/trainer.ts";
export { loadRun, resolveRun } from "./src/train/run.ts";
export type { LoadedRun, ResolvedRun, RunSpec } from "./src/train/run.ts";

// Loss deceleration (METHOD.md §4) and figures
export * from "./src/analysis/deceleration/mod.ts";
export * from "./src/plot/mod.ts";

// Zero-sum learning: loss interference (METHOD.md §5) and its figures
export * from "./src/analysis/interference/mod.ts";
export * from "./src/plot/interference.ts";

// Zero-sum learning: gradient interference (METHOD.md §6), projections, and figures F5–F8
export * from "./src/analysis/gradients/mod.ts";
export * from "./src/plot/gradients.ts";

// Sweeps
export { defaultSweep, expandSweep, paperSweep, validateSweep } from "./src/sweep/definition.ts";
export type { SweepDefinition, SweepRun } from "./src/sweep/definition.ts";
export { analyseSweep, runStatus, runSweepLocally } from "./src/sweep/local.ts";
export type { LocalSweepOptions, RunStatus, SweepEvent } from "./src/sweep/local.ts";
export * from "./src/sweep/slurm.ts";
export * from "./src/sweep/results.ts";
export { escapeHtml, REPORT_FILE, sweepReportHtml, writeSweepReport } from "./src/sweep/report.ts";
export type { SweepReportOptions } from "./src/sweep/report.ts";

// Data
export * from "./src/data/mod.ts";

// Files
export {
  decodeArrow,
  encodeArrow,
  numericColumn,
  readArrow,
  toArrowTable,
  writeArrow,
} from "./src/io/arrow.ts";
export type { Column, Columns, TableData } from "./src/io/arrow.ts";
export {
  decodeSafetensors,
  encodeSafetensors,
  readSafetensors,
  writeSafetensors,
} from "./src/io/safetensors.ts";
export type { SafetensorsFile, Tensor } from "./src/io/safetensors.ts";
export { encodeNpy, parseNpy, readNpy, writeNpy } from "./src/io/npy.ts";
export type { NpyArray, NpyData, NpyDtype, NpyExpectation } from "./src/io/npy.ts";
export { ensureWritableDirectory, writeFileAtomic, writeJsonAtomic } from "./src/io/atomic.ts";
export { Random } from "./src/util/random.ts";

// Notebooks
export * from "./src/notebook/mod.ts";
