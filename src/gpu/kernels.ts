/**
 * WGSL kernels: loading `kernels/*.wgsl` relative to this module (so that `mod.ts` works when
 * imported from a URL), compiling them with their `override` constants, caching the pipelines,
 * and recording dispatches.
 *
 * Conventions every kernel file follows:
 * - each entry point binds its buffers at `@group(0) @binding(0..n)` in the order its doc comment
 *   lists, and uses every binding it declares (pipelines use the `auto` layout);
 * - sizes the compiler should see (widths, chunk lengths, unrolled trip counts) are `override`
 *   constants, so a pipeline is specialised per shape and cached by (file, entry point, constants);
 *   the token count, which only bounds rolled loops, is read from a binding's `arrayLength` (or a
 *   small uniform) where the lavapipe kernels allow it, so one pipeline serves every batch size;
 * - 1-D work is laid out as a 2-D grid (see {@linkcode grid}) because a dispatch dimension holds at
 *   most 65535 workgroups: the linear index is `gid.x + gid.y * nwg.x * WG`.
 *
 * @module
 */
import { GpuDevice, GpuError } from "./device.ts";

/** A buffer binding: a whole buffer or a byte range of one. */
export type Binding = GPUBuffer | { buffer: GPUBuffer; offset?: number; size?: number };

/** Specialisation constants of a pipeline (`override` declarations in WGSL). */
export type Constants = Record<string, number | boolean>;

const sourceCache = new Map<string, Promise<string>>();

/** Whether a binding is a byte range (dawn.node's buffers are not instances of Deno's `GPUBuffer`). */
function isRange(binding: Binding): binding is { buffer: GPUBuffer; offset?: number; size?: number } {
  return "buffer" in binding && !(binding instanceof GPUBuffer);
}

/** Bind groups kept per {@linkcode Kernels} before the cache is emptied. */
const MAX_CACHED_BIND_GROUPS = 8192;

/** The URL of a kernel file: `kernels/<name>.wgsl` beside `src/`. */
export function kernelUrl(name: string): URL {
  return new URL(`../../kernels/${name}.wgsl`, import.meta.url);
}

/** Reads a kernel's WGSL source (file or HTTP URL), once per process. */
export function kernelSource(name: string): Promise<string> {
  let source = sourceCache.get(name);
  if (!source) {
    const url = kernelUrl(name);
    source = (async () => {
      const response = await fetch(url);
      if (!response.ok) throw new Error(`zsl: cannot load kernel ${url}: HTTP ${response.status}`);
      return await response.text();
    })();
    sourceCache.set(name, source);
    source.catch(() => sourceCache.delete(name));
  }
  return source;
}

/** Workgroup grid for `count` items at `perWorkgroup` items per workgroup, within dispatch limits. */
export function grid(count: number, perWorkgroup: number, maxPerDimension = 65535): [number, number] {
  const groups = Math.max(1, Math.ceil(count / perWorkgroup));
  if (groups <= maxPerDimension) return [groups, 1];
  const y = Math.ceil(groups / maxPerDimension);
  const x = Math.ceil(groups / y);
  if (y > maxPerDimension) throw new GpuError(`zsl: ${count} items exceed the dispatch limit`);
  return [x, y];
}

/**
 * Compiles and caches compute pipelines, and records dispatches into a command encoder.
 *
 * @example
 * ```ts
 * import { Kernels, openGpu } from "./mod.ts";
 * const gpu = await openGpu();
 * const kernels = new Kernels(gpu);
 * const add = await kernels.pipeline("residual", "add_forward", { N: 1000 });
 * gpu.destroy();
 * ```
 */
export class Kernels {
  /** The device the pipelines are compiled on and the dispatches recorded for. */
  readonly gpu: GpuDevice;
  /**
   * Called with every dispatch {@linkcode Kernels.dispatch} records (the step profiler of
   * `src/bench/profile.ts` lists a step's dispatches with it); null: nothing is called.
   */
  onDispatch:
    | ((
      dispatch: {
        pipeline: GPUComputePipeline;
        bindGroup: GPUBindGroup;
        workgroups: [number, number, number];
      },
    ) => void)
    | null = null;
  #modules = new Map<string, Promise<GPUShaderModule>>();
  #groups = new Map<string, GPUBindGroup>();
  #layouts = new WeakMap<GPUComputePipeline, GPUBindGroupLayout>();
  #ids = new WeakMap<object, number>();
  #nextId = 1;
  #pipelines = new Map<string, Promise<GPUComputePipeline>>();

  /** An empty cache for `gpu`; shader modules and pipelines are compiled on first use. */
  constructor(gpu: GpuDevice) {
    this.gpu = gpu;
  }

  #module(name: string): Promise<GPUShaderModule> {
    let module = this.#modules.get(name);
    if (!module) {
      module = (async () => {
        const code = await kernelSource(name);
        const device = this.gpu.device;
        const shader = device.createShaderModule({ label: name, code });
        const info = await shader.getCompilationInfo();
        const errors = info.messages.filter((message) => message.type === "error");
        if (errors.length > 0) {
          const lines = errors.map((m) => `  kernels/${name}.wgsl:${m.lineNum}:${m.linePos}: ${m.message}`);
          throw new GpuError(`zsl: WGSL compilation failed:\n${lines.join("\n")}`);
        }
        return shader;
      })();
      this.#modules.set(name, module);
      module.catch(() => this.#modules.delete(name));
    }
    return module;
  }

  /** Pipelines compiled (or being compiled) so far: a sweep's estimate counts what a probe compiled. */
  get pipelineCount(): number {
    return this.#pipelines.size;
  }

  /** The compute pipeline for `file`'s `entryPoint` specialised with `constants` (cached). */
  pipeline(file: string, entryPoint: string, constants: Constants = {}): Promise<GPUComputePipeline> {
    const key = `${file}:${entryPoint}:${JSON.stringify(Object.entries(constants).sort())}`;
    let pipeline = this.#pipelines.get(key);
    if (!pipeline) {
      pipeline = (async () => {
        const module = await this.#module(file);
        const device = this.gpu.device;
        const numeric: Record<string, number> = {};
        for (const [name, value] of Object.entries(constants)) numeric[name] = Number(value);
        device.pushErrorScope("validation");
        let created: GPUComputePipeline | null = null;
        let failure: unknown = null;
        try {
          created = await device.createComputePipelineAsync({
            label: `${file}.${entryPoint}`,
            layout: "auto",
            compute: { module, entryPoint, constants: numeric },
          });
        } catch (error) {
          failure = error;
        }
        const scoped = await device.popErrorScope();
        if (failure || scoped || !created) {
          const why = scoped?.message ?? (failure instanceof Error ? failure.message : String(failure));
          throw new GpuError(
            `zsl: cannot create pipeline kernels/${file}.wgsl:${entryPoint} with ${
              JSON.stringify(constants)
            }: ${why}`,
          );
        }
        return created;
      })();
      this.#pipelines.set(key, pipeline);
      pipeline.catch(() => this.#pipelines.delete(key));
    }
    return pipeline;
  }

  /**
   * A bind group for `pipeline` with `bindings` at bindings 0, 1, 2, … of group 0. Bind groups are
   * cached by pipeline and buffer ranges: a model records the same bindings every step, and creating
   * a bind group through dawn.node costs tens of microseconds of host time per dispatch.
   */
  bindGroup(pipeline: GPUComputePipeline, bindings: Binding[]): GPUBindGroup {
    let key = `${this.#id(pipeline)}`;
    for (const binding of bindings) {
      key += isRange(binding)
        ? `|${this.#id(binding.buffer)}:${binding.offset ?? 0}:${binding.size ?? "-"}`
        : `|${this.#id(binding)}`;
    }
    let group = this.#groups.get(key);
    if (!group) {
      // A bound on the cache for callers that bind ever new ranges; steady-state models stay far below.
      if (this.#groups.size >= MAX_CACHED_BIND_GROUPS) this.#groups.clear();
      let layout = this.#layouts.get(pipeline);
      if (!layout) {
        layout = pipeline.getBindGroupLayout(0);
        this.#layouts.set(pipeline, layout);
      }
      group = this.gpu.device.createBindGroup({
        layout,
        entries: bindings.map((binding, index) => ({
          binding: index,
          resource: isRange(binding)
            ? { buffer: binding.buffer, offset: binding.offset ?? 0, size: binding.size }
            : { buffer: binding },
        })),
      });
      this.#groups.set(key, group);
    }
    return group;
  }

  /** A small integer naming `object` for cache keys (buffers and pipelines). */
  #id(object: object): number {
    let id = this.#ids.get(object);
    if (id === undefined) {
      id = this.#nextId++;
      this.#ids.set(object, id);
    }
    return id;
  }

  /** Records one dispatch of `pipeline` with `bindings` into `pass`. */
  dispatch(
    pass: GPUComputePassEncoder,
    pipeline: GPUComputePipeline,
    bindings: Binding[] | GPUBindGroup,
    workgroups: readonly number[],
  ): void {
    const group = Array.isArray(bindings) ? this.bindGroup(pipeline, bindings) : bindings;
    this.onDispatch?.({
      pipeline,
      bindGroup: group,
      workgroups: [workgroups[0], workgroups[1] ?? 1, workgroups[2] ?? 1],
    });
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, group);
    pass.dispatchWorkgroups(workgroups[0], workgroups[1] ?? 1, workgroups[2] ?? 1);
  }
}
