/**
 * Muon (v1 of the authors, docs/method.md#optimizers) on the GPU: every weight but the embeddings is updated by the
 * orthogonalised Nesterov momentum, NS5(u), whose Newton–Schulz iterations run through the matmul
 * kernels (`src/ops/matmul.ts`) and the elementwise kernels of `kernels/muon.wgsl`; the fused q/k/v
 * weight (att_proj, attn.c_attn) is orthogonalised one row block at a time. The embeddings (wte, wpe)
 * get AdamW, always with weight decay; the Muon weights none. States: `momentum_buffer` (Muon weights),
 * `exp_avg` and `exp_avg_sq` (embeddings).
 *
 * @module
 */
import { alignUp } from "../gpu/buffers.ts";
import { grid } from "../gpu/kernels.ts";
import type { Binding, Constants, Kernels } from "../gpu/kernels.ts";
import type { ParameterSpec } from "../model/parameters.ts";
import { parameterRole } from "../model/parameters.ts";
import { Matmul } from "../ops/matmul.ts";
import { GradNorm } from "../ops/grad_norm.ts";
import { adamStepTail } from "./adamw.ts";
import { FlatStateOptimizer } from "./flat_state.ts";
import type { OptimizerTarget, TensorPipeline, TensorWork } from "./flat_state.ts";

/** The Newton–Schulz quintic's coefficients (a, b, c). */
export const NS5 = [3.4445, -4.7750, 2.0315] as const;
/** Newton–Schulz iterations. */
export const NS_STEPS = 5;

/** Bytes between the per-block Frobenius norms. */
const SLOT_BYTES = 256;

/** How many row blocks Muon orthogonalises `spec` in: 0 (an embedding: AdamW), 3 (q/k/v) or 1. */
export function muonBlockCount(spec: ParameterSpec): number {
  const role = parameterRole(spec.name);
  if (role === "token-embedding" || role === "position-embedding") return 0;
  return role === "attention-qkv" ? 3 : 1;
}

interface NewtonSchulz {
  /** Rows and columns of a block. */
  rows: number;
  cols: number;
  /** The small side m = min(rows, cols): A is m × m. */
  small: number;
  /** A = X·Xᵀ (or Xᵀ·X when rows > cols). */
  gram: Matmul;
  /** A·A (A symmetric: A·Aᵀ). */
  square: Matmul;
  /** B·X (or X·Bᵀ when rows > cols). */
  apply: Matmul;
  /** B = b·A + c·A². */
  polynomial: GPUComputePipeline;
  /** X = a·X + B·X. */
  step: GPUComputePipeline;
  /** X = u / (‖u‖ + 1e-7). */
  normalize: GPUComputePipeline;
  /** ‖u‖_F of one block. */
  norm: GradNorm;
}

interface MuonTensor extends TensorWork {
  blocks: number;
  blockLength: number;
  /** Floats between blocks in the scratch (aligned for binding). */
  stride: number;
  momentum: GPUComputePipeline;
  update: GPUComputePipeline;
  ns: NewtonSchulz;
}

/**
 * Muon with AdamW on the embeddings, over a flat parameter buffer: built by `createOptimizer`
 * (`optimizer.ts`) with `kind: "muon"` (Muon's rate is `muonLrScale`·lr).
 */
export class Muon extends FlatStateOptimizer {
  /** Always `muon`. */
  readonly kind = "muon" as const;
  #muon: MuonTensor[] = [];
  #embeddings: TensorPipeline[] = [];
  #schulz: NewtonSchulz[] = [];
  #scratch: {
    u: GPUBuffer;
    x: GPUBuffer;
    a: GPUBuffer;
    a2: GPUBuffer;
    b: GPUBuffer;
    bx: GPUBuffer;
    norms: GPUBuffer;
  };

  private constructor(target: OptimizerTarget) {
    super(target, ["momentum_buffer", "exp_avg", "exp_avg_sq"], 10, "muon");
    const { layout } = target;
    let blocked = 1;
    let square = 1;
    let block = 1;
    let blocks = 1;
    for (const spec of layout.specs) {
      const count = muonBlockCount(spec);
      if (count === 0) continue;
      const [rows, cols] = [spec.shape[0] / count, spec.shape[1]];
      const length = rows * cols;
      blocked = Math.max(blocked, count * alignUp(length * 4) / 4);
      square = Math.max(square, Math.min(rows, cols) ** 2);
      block = Math.max(block, length);
      blocks += count;
    }
    this.#scratch = {
      u: this.buffer(blocked, "muon u"),
      x: this.buffer(blocked, "muon X"),
      a: this.buffer(square, "muon A"),
      a2: this.buffer(square, "muon A²"),
      b: this.buffer(square, "muon B"),
      bx: this.buffer(block, "muon B·X"),
      norms: this.buffer((blocks * SLOT_BYTES) / 4, "muon block norms"),
    };
  }

  /** Builds the optimizer for `target.layout` (state at zero). */
  static async create(target: OptimizerTarget): Promise<Muon> {
    const { layout, kernels } = target;
    const optimizer = new Muon(target);
    await optimizer.initNorm();
    const schulz = new Map<string, Promise<NewtonSchulz>>();
    for (const spec of layout.specs) {
      const blocks = muonBlockCount(spec);
      const workgroups = optimizer.tensorGrid(spec);
      if (blocks === 0) {
        const pipeline = await kernels.pipeline("muon", "muon_adamw", { N: spec.length });
        optimizer.#embeddings.push({ spec, pipeline, workgroups });
        continue;
      }
      const rows = spec.shape[0] / blocks;
      const cols = spec.shape[1];
      const blockLength = rows * cols;
      const stride = alignUp(blockLength * 4) / 4;
      const key = `${rows}x${cols}`;
      if (!schulz.has(key)) schulz.set(key, newtonSchulz(kernels, rows, cols));
      const layoutConstants: Constants = { N: spec.length, BLOCK_LENGTH: blockLength, BLOCK_STRIDE: stride };
      optimizer.#muon.push({
        spec,
        blocks,
        blockLength,
        stride,
        momentum: await kernels.pipeline("muon", "muon_momentum", layoutConstants),
        update: await kernels.pipeline("muon", "muon_update", {
          ...layoutConstants,
          SCALE: Math.sqrt(Math.max(rows, cols)),
        }),
        ns: await schulz.get(key)!,
        workgroups,
      });
    }
    optimizer.#schulz = await Promise.all(schulz.values());
    return optimizer;
  }

  stateNames(spec: ParameterSpec): readonly string[] {
    return muonBlockCount(spec) === 0 ? ["exp_avg", "exp_avg_sq"] : ["momentum_buffer"];
  }

  protected hyperparameters(t: number, lr: number): Float32Array {
    const o = this.options;
    return new Float32Array([
      o.muonLrScale * lr,
      o.muonMomentum,
      lr,
      o.beta1,
      o.beta2,
      ...adamStepTail(o, t),
    ]);
  }

  protected recordUpdate(pass: GPUComputePassEncoder, params: GPUBuffer, grads: GPUBuffer): void {
    const k = this.kernels;
    const s = this.#scratch;
    const expAvg = this.states.get("exp_avg")!;
    const expAvgSq = this.states.get("exp_avg_sq")!;
    const momentum = this.states.get("momentum_buffer")!;
    for (const { spec, pipeline, workgroups } of this.#embeddings) {
      k.dispatch(pass, pipeline, [
        ...this.ranges(spec, params, grads, expAvg, expAvgSq),
        this.hyper,
        this.gradNorm,
      ], workgroups);
    }
    let slot = 0;
    for (const tensor of this.#muon) {
      const { spec, ns } = tensor;
      const blocked: Binding = { buffer: s.u, offset: 0, size: tensor.blocks * tensor.stride * 4 };
      k.dispatch(pass, tensor.momentum, [
        ...this.ranges(spec, grads, momentum),
        blocked,
        this.hyper,
        this.gradNorm,
      ], tensor.workgroups);
      for (let block = 0; block < tensor.blocks; block++) {
        const at = (buffer: GPUBuffer): Binding => ({
          buffer,
          offset: block * tensor.stride * 4,
          size: tensor.blockLength * 4,
        });
        const norm: Binding = { buffer: s.norms, offset: slot++ * SLOT_BYTES, size: 4 };
        this.#orthogonalise(pass, ns, at(s.u), at(s.x), norm);
      }
      k.dispatch(pass, tensor.update, [
        this.range(params, spec),
        { buffer: s.x, offset: 0, size: tensor.blocks * tensor.stride * 4 },
        this.hyper,
        this.gradNorm,
      ], tensor.workgroups);
    }
  }

  override destroy(): void {
    for (const ns of this.#schulz) ns.norm.destroy();
    super.destroy();
  }

  /** X = NS5(u) for one block (u and X bindings of rows·cols floats; `norm` one float of scratch). */
  #orthogonalise(pass: GPUComputePassEncoder, ns: NewtonSchulz, u: Binding, x: Binding, norm: Binding): void {
    const k = this.kernels;
    const s = this.#scratch;
    const squareBytes = ns.small * ns.small * 4;
    const a: Binding = { buffer: s.a, offset: 0, size: squareBytes };
    const a2: Binding = { buffer: s.a2, offset: 0, size: squareBytes };
    const b: Binding = { buffer: s.b, offset: 0, size: squareBytes };
    const bx: Binding = { buffer: s.bx, offset: 0, size: ns.rows * ns.cols * 4 };
    const blockGrid = grid(ns.rows * ns.cols, 256, k.gpu.limits.maxComputeWorkgroupsPerDimension);
    const squareGrid = grid(ns.small * ns.small, 256, k.gpu.limits.maxComputeWorkgroupsPerDimension);
    ns.norm.record(pass, [u], norm);
    k.dispatch(pass, ns.normalize, [u, x, norm], blockGrid);
    const tall = ns.rows > ns.cols;
    for (let iteration = 0; iteration < NS_STEPS; iteration++) {
      // Wide: A = X·Xᵀ, X ← a·X + B·X. Tall: the iteration runs on Y = Xᵀ without transposing, since
      // Y·Yᵀ = Xᵀ·X and (B·Y)ᵀ = X·Bᵀ.
      ns.gram.record(pass, x, x, a);
      ns.square.record(pass, a, a, a2);
      k.dispatch(pass, ns.polynomial, [a, a2, b], squareGrid);
      if (tall) ns.apply.record(pass, x, b, bx);
      else ns.apply.record(pass, b, x, bx);
      k.dispatch(pass, ns.step, [x, bx], blockGrid);
    }
  }
}

/** The pipelines of NS5 for blocks of `rows` × `cols`. */
async function newtonSchulz(kernels: Kernels, rows: number, cols: number): Promise<NewtonSchulz> {
  const tall = rows > cols;
  const small = Math.min(rows, cols);
  const [a, b, c] = NS5;
  const length = rows * cols;
  return {
    rows,
    cols,
    small,
    // Wide: A[r,r] = X[r,c]·X[r,c]ᵀ (xwT); tall: A[c,c] = X[r,c]ᵀ·X[r,c] (dyTx).
    gram: tall
      ? await Matmul.create(kernels, { layout: "dyTx", n: rows, m: cols, k: cols })
      : await Matmul.create(kernels, { layout: "xwT", n: rows, m: rows, k: cols }),
    square: await Matmul.create(kernels, { layout: "xwT", n: small, m: small, k: small }),
    // Wide: B[r,r]·X[r,c] (dyW); tall: X[r,c]·B[c,c]ᵀ (xwT).
    apply: tall
      ? await Matmul.create(kernels, { layout: "xwT", n: rows, m: cols, k: cols })
      : await Matmul.create(kernels, { layout: "dyW", n: rows, m: rows, k: cols }),
    polynomial: await kernels.pipeline("muon", "combine", { N: small * small, SCALE: b, OTHER: c }),
    step: await kernels.pipeline("muon", "combine_in_place", { N: length, SCALE: a, OTHER: 1 }),
    normalize: await kernels.pipeline("muon", "ns_normalize", { N: length }),
    norm: await GradNorm.create(kernels, { tensors: [{ length }] }),
  };
}
