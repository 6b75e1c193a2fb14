/**
 * Shared test helpers: one GPU device per test file, seeded random inputs, and running scripts. The
 * assertions are in `asserts.ts`.
 *
 * @module
 */
import { Kernels, openGpu, writeBuffer } from "../src/gpu/mod.ts";
import type { GpuDevice } from "../src/gpu/mod.ts";
import type { ParameterLayout } from "../src/model/parameters.ts";
import { Random } from "../src/util/random.ts";

export { Random };

let shared: Promise<{ gpu: GpuDevice; kernels: Kernels }> | null = null;

/** The test file's GPU device and kernel cache, opened on first use and destroyed at exit. */
export function testGpu(): Promise<{ gpu: GpuDevice; kernels: Kernels }> {
  if (!shared) {
    shared = openGpu().then((gpu) => {
      globalThis.addEventListener("unload", () => gpu.destroy());
      return { gpu, kernels: new Kernels(gpu) };
    });
  }
  return shared;
}

/** Options for GPU tests: Dawn's pending callbacks are not leaks. */
export const GPU_TEST = { sanitizeOps: false, sanitizeResources: false } as const;

/** Random float32 values in [-scale, scale) with their float64 copy. */
export function randomInputs(random: Random, n: number, scale = 1): { f32: Float32Array; f64: Float64Array } {
  const f32 = new Float32Array(n);
  for (let i = 0; i < n; i++) f32[i] = (random.uniform() * 2 - 1) * scale;
  return { f32, f64: Float64Array.from(f32) };
}

/** What a script run by {@linkcode runScript} printed, and its exit code. */
export interface ScriptOutput {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * The `deno run` permission flags of a deno.json task, with `$VAR`s expanded as `deno task` expands
 * them, and `extraEnv` added to `--allow-env` (a test hook's variable): children started with them
 * check that the task's (least) permissions suffice.
 */
export function taskPermissions(task: string, extraEnv: string[] = []): string[] {
  const config = JSON.parse(Deno.readTextFileSync(new URL("../deno.json", import.meta.url)));
  const words = (config.tasks[task] as string).split(/\s+/).filter((word) => word.startsWith("--allow-"));
  return words.map((word) => {
    const expanded = word.replace(/\$([A-Z_]+)/g, (_, name) => Deno.env.get(name) ?? "");
    return expanded.startsWith("--allow-env=") && extraEnv.length > 0
      ? `${expanded},${extraEnv.join(",")}`
      : expanded;
  });
}

/** The permissions of the analysis tasks (`deno task zsl`, `deno task gradients`), from deno.json. */
export const ANALYSIS_PERMISSIONS: string[] = taskPermissions("zsl");

/** Runs `scripts/<name>.ts` in a child Deno with `permissions` and `args`, capturing its output. */
export async function runScript(name: string, permissions: string[], args: string[]): Promise<ScriptOutput> {
  const script = new URL(`../scripts/${name}.ts`, import.meta.url).pathname;
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...permissions, script, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return { code: output.code, stdout: decoder.decode(output.stdout), stderr: decoder.decode(output.stderr) };
}

/** (t, lr, gradient scale) of the optimizer tests' steps: around the clipping threshold, steps 1 and 3 are clipped, step 2 is not. */
export const CLIPPING_STEPS = [[1, 1e-2, 0.5], [2, 3e-3, 0.002], [3, 5e-3, 1.0]] as const;

/**
 * Draws gradients of `scale` into `gradBuffer` and each reference tensor's float64 `grad` (layout
 * order), then records and submits one step `t` of `optimizer` at `lr`.
 */
export function optimizerStepOnRandomGradients(
  gpu: GpuDevice,
  optimizer: {
    record(pass: GPUComputePassEncoder, params: GPUBuffer, grads: GPUBuffer, t: number, lr: number): void;
  },
  buffers: { params: GPUBuffer; grads: GPUBuffer },
  layout: ParameterLayout,
  tensors: { grad: Float64Array }[],
  random: Random,
  [t, lr, scale]: readonly [number, number, number],
): void {
  const grads = new Float32Array(layout.totalLength);
  for (const [index, spec] of layout.specs.entries()) {
    for (let i = 0; i < spec.length; i++) {
      grads[spec.offset + i] = random.normal() * scale;
      tensors[index].grad[i] = grads[spec.offset + i];
    }
  }
  writeBuffer(gpu, buffers.grads, grads);
  const encoder = gpu.device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  optimizer.record(pass, buffers.params, buffers.grads, t, lr);
  pass.end();
  gpu.device.queue.submit([encoder.finish()]);
}
