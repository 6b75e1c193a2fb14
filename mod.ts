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
export {
  GpuDevice,
  GpuError,
  NO_ADAPTER_HELP,
  NoAdapterError,
  openGpu,
} from "./src/gpu/device.ts";
export type { AdapterReport, OpenGpuOptions } from "./src/gpu/device.ts";
export { alignUp, createBuffer, readBuffer, readFloats, uploadBuffer, writeBuffer } from "./src/gpu/buffers.ts";
export { grid, kernelSource, kernelUrl, Kernels } from "./src/gpu/kernels.ts";
export type { Binding, Constants } from "./src/gpu/kernels.ts";

// Model
export {
  ConfigError,
  headDim,
  kaplanPeakLr,
  mlpHidden,
  PAPER_PRESETS,
  parameterCount,
  PRESETS,
  presetByName,
  readConfigFile,
  trainingFlopsPerToken,
  validateConfig,
} from "./src/model/config.ts";
export type { ModelConfig, Preset } from "./src/model/config.ts";
export { flattenTensors, initParameters, parameterLayout, tensorsOf } from "./src/model/parameters.ts";
export type { ParameterLayout, ParameterSpec } from "./src/model/parameters.ts";
export { dropLastPositions, NO_TARGET, Transformer } from "./src/model/transformer.ts";
export type { TransformerOptions } from "./src/model/transformer.ts";
export { defaultEvalBatch, evaluateTokenLosses, toTokenIds } from "./src/model/evaluate.ts";
export type { EvaluateOptions, TokenLosses } from "./src/model/evaluate.ts";
export { kernelSelfTest } from "./src/model/selftest.ts";
export type { SelfTestResult } from "./src/model/selftest.ts";

// Float64 references
export { nextTokenTargets, referenceForward, referenceGradients } from "./src/reference/model.ts";
export type { ReferenceLosses, ReferenceParameters } from "./src/reference/model.ts";

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
  saveCheckpoint,
} from "./src/train/checkpoint.ts";
export type { Checkpoint, CheckpointState } from "./src/train/checkpoint.ts";
export { MetricsLog } from "./src/train/metrics.ts";
export type { MetricsRow } from "./src/train/metrics.ts";
export { train } from "./src/train/trainer.ts";
export type { StepProgress, TrainingData, TrainOptions, TrainResult } from "./src/train/trainer.ts";
export { loadRun, resolveRun } from "./src/train/run.ts";
export type { LoadedRun, ResolvedRun, RunSpec } from "./src/train/run.ts";

// Data
export * from "./src/data/mod.ts";

// Files
export { decodeArrow, encodeArrow, numericColumn, readArrow, toArrowTable, writeArrow } from "./src/io/arrow.ts";
export type { Column, Columns, TableData } from "./src/io/arrow.ts";
export { decodeSafetensors, encodeSafetensors, readSafetensors, writeSafetensors } from "./src/io/safetensors.ts";
export type { SafetensorsFile, Tensor } from "./src/io/safetensors.ts";
export { encodeNpy, parseNpy, readNpy, writeNpy } from "./src/io/npy.ts";
export type { NpyArray, NpyData, NpyDtype } from "./src/io/npy.ts";
export { ensureWritableDirectory, writeFileAtomic, writeJsonAtomic } from "./src/io/atomic.ts";
export { Random } from "./src/util/random.ts";
