/**
 * Acquiring a WebGPU device through Dawn (`npm:webgpu`), reporting what it is, and turning
 * WebGPU's asynchronous errors (validation, out-of-memory, device loss) into thrown errors.
 *
 * @module
 */
import type * as Dawn from "npm:webgpu@0.6.2";
import { throttleImmediates } from "./ticks.ts";
import { filterKnownDawnWarnings } from "./dawn_warnings.ts";

let dawn: typeof Dawn | undefined;

/**
 * Dawn's module, loaded at the first {@linkcode openGpu}: loading it loads its native addon, which only
 * the commands that open a GPU are allowed to (`--allow-ffi`), so the others (`deno task decel`) can
 * import the library without it.
 */
async function loadDawn(): Promise<typeof Dawn> {
  if (!dawn) {
    dawn = await import("npm:webgpu@0.6.2");
    // Dawn's GPU* constructors (GPUBufferUsage, GPUMapMode, ...) are not globals in Deno until installed.
    Object.assign(globalThis, dawn.globals);
  }
  return dawn;
}

/** What the adapter is: the facts a result table or a bug report should carry. */
export interface AdapterReport {
  /** Vendor as Dawn reports it, e.g. `nvidia`, `mesa`. */
  vendor: string;
  /** Architecture, e.g. `hopper`, `software`. */
  architecture: string;
  /** Device name as Dawn spells it, without its trailing dash, e.g. `llvmpipe-llvm-15-0-6-256-bits`. */
  device: string;
  /** Driver description, e.g. `llvmpipe: Mesa 25.0.7 (LLVM 15.0.6)`. */
  description: string;
  /** Dawn backend the adapter came from. */
  backend: string;
  /** True for a CPU implementation (lavapipe/llvmpipe, SwiftShader). */
  isSoftware: boolean;
  /** Smallest subgroup size, when the adapter reports one. */
  subgroupMinSize?: number;
  /** Largest subgroup size, when the adapter reports one. */
  subgroupMaxSize?: number;
}

/** Options for {@linkcode openGpu}. */
export interface OpenGpuOptions {
  /**
   * Dawn backend: `vulkan` (default on Linux), `metal`, `d3d12`, `null`. Also read from the
   * environment variable `ZSL_BACKEND`.
   */
  backend?: string;
  /** Prefer a software adapter even when a hardware GPU exists (tests of the CPU path). */
  forceSoftware?: boolean;
}

/** The message printed when no adapter is found: it names the fix. */
export const NO_ADAPTER_HELP: string = [
  "zsl: no WebGPU adapter was found.",
  "  WebGPU runs through Dawn on Vulkan: install a Vulkan driver for your GPU, or, without a GPU,",
  "  Mesa's software Vulkan driver lavapipe (version 24 or newer; Debian bookworm's 22.3 is refused).",
  "  On Debian bookworm (as root):",
  "    echo 'deb http://deb.debian.org/debian bookworm-backports main' > /etc/apt/sources.list.d/backports.list",
  "    apt-get update && apt-get install -y -t bookworm-backports mesa-vulkan-drivers libvulkan1",
  "  On Ubuntu 24.04 or newer: apt-get install -y mesa-vulkan-drivers libvulkan1",
  "  Or let zsl do it (root, Debian/Ubuntu): deno task doctor --install",
].join("\n");

/** Thrown when no adapter exists; its message is {@linkcode NO_ADAPTER_HELP}. */
export class NoAdapterError extends Error {
  /** `detail` (what was tried, e.g. `backend=vulkan`) is appended in parentheses after the help. */
  constructor(detail = "") {
    super(NO_ADAPTER_HELP + (detail ? `\n  (${detail})` : ""));
    this.name = "NoAdapterError";
  }
}

/** Thrown for WebGPU validation/out-of-memory errors and device loss. */
export class GpuError extends Error {
  /** `message` is the whole message, `zsl: ` prefix included. */
  constructor(message: string) {
    super(message);
    this.name = "GpuError";
  }
}

type DawnGpu = ReturnType<typeof Dawn.create>;

/**
 * A device with the adapter it came from. Call {@linkcode GpuDevice.destroy} when done:
 * Dawn keeps the process alive while its instance is reachable.
 */
export class GpuDevice {
  /** The WebGPU device. */
  readonly device: GPUDevice;
  /** What the adapter is. */
  readonly adapter: AdapterReport;
  /** Limits granted to the device (the adapter's maxima). */
  readonly limits: GPUSupportedLimits;
  /** Features enabled on the device. */
  readonly features: string[];
  #instance: DawnGpu | null;
  #errors: string[] = [];
  #lost: string | null = null;
  #destroyed = false;

  /**
   * Wraps a device that {@linkcode openGpu} requested with `features`; keeps `instance` reachable until
   * `destroy`, and starts collecting uncaptured errors and device loss for `check`.
   */
  constructor(instance: DawnGpu, device: GPUDevice, adapter: AdapterReport, features: string[]) {
    this.#instance = instance;
    this.device = device;
    this.adapter = adapter;
    this.limits = device.limits;
    this.features = features;
    device.addEventListener("uncapturederror", (event) => {
      const error = (event as GPUUncapturedErrorEvent).error;
      this.#errors.push(`${error.constructor.name}: ${error.message}`);
    });
    device.lost.then((info) => {
      if (!this.#destroyed) this.#lost = `${info.reason}: ${info.message}`;
    });
  }

  /**
   * Throws if the device was lost or an error was reported since the last check. Called at every
   * point where the host waits on the GPU, so that a failed dispatch never reads back as zeros.
   */
  check(): void {
    if (this.#destroyed) throw new GpuError("zsl: the GPU device was already destroyed");
    if (this.#lost !== null) throw new GpuError(`zsl: the GPU device was lost (${this.#lost})`);
    if (this.#errors.length > 0) {
      const errors = this.#errors.splice(0);
      throw new GpuError(`zsl: WebGPU reported ${errors.length} error(s):\n  ${errors.join("\n  ")}`);
    }
  }

  /** Waits until the queue is idle, then {@linkcode GpuDevice.check}s. */
  async sync(): Promise<void> {
    await this.device.queue.onSubmittedWorkDone();
    this.check();
  }

  /** Destroys the device and drops Dawn's instance so that the process can exit. */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.device.destroy();
    this.#instance = null;
  }

  /** Whether {@linkcode GpuDevice.destroy} was called. */
  get destroyed(): boolean {
    return this.#destroyed;
  }
}

const SOFTWARE_PATTERN = /llvmpipe|lavapipe|swiftshader|software|warp/i;

function reportOf(adapter: GPUAdapter, backend: string): AdapterReport {
  const info = adapter.info as GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number };
  const text = `${info.vendor} ${info.architecture} ${info.device} ${info.description}`;
  const fallback = (adapter as GPUAdapter & { isFallbackAdapter?: boolean }).isFallbackAdapter ??
    (info as GPUAdapterInfo & { isFallbackAdapter?: boolean }).isFallbackAdapter;
  return {
    vendor: info.vendor,
    architecture: info.architecture,
    device: info.device.replace(/^-+|-+$/g, ""),
    description: info.description,
    backend,
    isSoftware: fallback === true || SOFTWARE_PATTERN.test(text),
    subgroupMinSize: info.subgroupMinSize,
    subgroupMaxSize: info.subgroupMaxSize,
  };
}

function defaultBackend(): string {
  const fromEnv = Deno.env.get("ZSL_BACKEND");
  if (fromEnv) return fromEnv;
  if (Deno.build.os === "darwin") return "metal";
  if (Deno.build.os === "windows") return "d3d12";
  return "vulkan";
}

/** Limits worth raising to the adapter's maxima: large models need large bindings. */
const RAISED_LIMITS = [
  "maxStorageBufferBindingSize",
  "maxBufferSize",
  "maxComputeWorkgroupStorageSize",
  "maxComputeInvocationsPerWorkgroup",
  "maxComputeWorkgroupSizeX",
  "maxComputeWorkgroupSizeY",
  "maxStorageBuffersPerShaderStage",
] as const;

/**
 * Opens the best WebGPU adapter (a hardware GPU before a software one) and a device with the
 * adapter's maximum limits.
 *
 * @example
 * ```ts
 * import { openGpu } from "./mod.ts";
 * const gpu = await openGpu();
 * console.log(gpu.adapter.description, gpu.adapter.isSoftware);
 * gpu.destroy();
 * ```
 */
export async function openGpu(options: OpenGpuOptions = {}): Promise<GpuDevice> {
  throttleImmediates();
  if (!Deno.env.get("XDG_RUNTIME_DIR")) Deno.env.set("XDG_RUNTIME_DIR", Deno.env.get("TMPDIR") ?? "/tmp");
  const backend = options.backend ?? defaultBackend();
  let instance: DawnGpu | null;
  try {
    instance = (await loadDawn()).create([`backend=${backend}`]);
  } catch (error) {
    throw new NoAdapterError(`Dawn failed to start with backend=${backend}: ${error}`);
  }
  const preference: GPUPowerPreference = options.forceSoftware ? "low-power" : "high-performance";
  // Dawn enumerates the physical devices at the first request, and prints its known warnings then.
  let adapter = await filterKnownDawnWarnings(() =>
    instance!.requestAdapter({
      powerPreference: preference,
      forceFallbackAdapter: options.forceSoftware ?? false,
    })
  );
  if (!adapter && options.forceSoftware) adapter = await instance.requestAdapter();
  if (!adapter) {
    instance = null;
    throw new NoAdapterError(`backend=${backend}`);
  }
  const report = reportOf(adapter, backend);
  const requiredLimits: Record<string, number> = {};
  for (const name of RAISED_LIMITS) {
    const value = (adapter.limits as unknown as Record<string, number>)[name];
    if (typeof value === "number") requiredLimits[name] = value;
  }
  const wanted: GPUFeatureName[] = ["timestamp-query", "subgroups", "shader-f16"];
  const features = wanted.filter((feature) => adapter.features.has(feature));
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures: features });
  return new GpuDevice(instance, device, report, features);
}
