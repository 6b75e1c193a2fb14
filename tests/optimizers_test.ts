/**
 * The ablation optimizers (Cautious AdamW, AdEMAMix, Muon; docs/method.md#optimizers) on the GPU against their
 * float64 references (src/reference/optimizers.ts), for both architectures' layouts; the references'
 * own properties; state round trips through the Optimizer interface.
 */
import { assert, assertClose, assertEquals, assertThrows, relativeError } from "./asserts.ts";
import { CLIPPING_STEPS, GPU_TEST, optimizerStepOnRandomGradients, Random, testGpu } from "./helpers.ts";
import type { ModelConfig } from "../src/model/config.ts";
import { parameterLayout } from "../src/model/parameters.ts";
import { createBuffer, readFloats, writeBuffer } from "../src/gpu/buffers.ts";
import { createOptimizer, resolveOptimizerOptions } from "../src/train/optimizer.ts";
import type { OptimizerKind } from "../src/train/optimizer.ts";
import {
  ademamixReferenceStep,
  cautiousReferenceStep,
  muonReferenceStep,
  newtonSchulz5,
} from "../src/reference/optimizers.ts";
import type { ReferenceTensor } from "../src/reference/optimizers.ts";

const OLMO: ModelConfig = { d_model: 12, n_layers: 1, n_heads: 2, vocab_size: 19, seq_len: 5, mlp_ratio: 1 };
const NANOGPT: ModelConfig = { ...OLMO, arch: "nanogpt", mlp_ratio: 4 };

Deno.test("optimizers reference: NS5 orthogonalises, commutes with transposition, and Muon splits q/k/v", () => {
  const random = new Random(71);
  const [rows, cols] = [6, 10];
  const u = random.fillUniform(new Float64Array(rows * cols), -1, 1);
  const o = newtonSchulz5(u, rows, cols);
  // NS5's quintic maps singular values into roughly [0.7, 1.2]: O·Oᵀ is near the identity.
  for (let i = 0; i < rows; i++) {
    let diagonal = 0;
    for (let k = 0; k < cols; k++) diagonal += o[i * cols + k] ** 2;
    assert(diagonal > 0.4 && diagonal < 1.5, `row ${i} of O·Oᵀ: ${diagonal}`);
  }
  const transposed = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) transposed[j * rows + i] = u[i * cols + j];
  const oT = newtonSchulz5(transposed, cols, rows);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      assert(Math.abs(oT[j * rows + i] - o[i * cols + j]) < 1e-12, "NS5(uᵀ) ≠ NS5(u)ᵀ");
    }
  }
  // The fused attention weight: each row block orthogonalised alone.
  const d = 4;
  const grad = random.fillUniform(new Float64Array(3 * d * d), -1, 1);
  const tensor: ReferenceTensor = {
    name: "transformer.h.0.attn.c_attn.weight",
    shape: [3 * d, d],
    param: new Float64Array(3 * d * d),
    grad,
    decay: true,
    state: new Map(),
  };
  const step = { lr: 1, t: 1, beta1: 0.9, beta2: 0.95, eps: 1e-5, weightDecay: 0.1, maxNorm: 0 };
  muonReferenceStep([tensor], { ...step, lrScale: 1, momentum: 0 });
  for (let k = 0; k < 3; k++) {
    const block = grad.subarray(k * d * d, (k + 1) * d * d);
    const expected = newtonSchulz5(block, d, d).map((v) => -Math.sqrt(d) * v);
    assert(relativeError(tensor.param.subarray(k * d * d, (k + 1) * d * d), expected) < 1e-12, `block ${k}`);
  }
});

Deno.test("optimizers: options resolve per kind and bad values are refused", () => {
  assertEquals(resolveOptimizerOptions({ kind: "ademamix" }).beta2, 0.999);
  assertEquals(resolveOptimizerOptions({ kind: "cautious" }).beta2, 0.95);
  assertEquals(resolveOptimizerOptions({ kind: "muon" }).muonLrScale, 0.1);
  assertEquals(resolveOptimizerOptions({}).kind, "adamw");
  assertThrows(() => resolveOptimizerOptions({ kind: "sgd" as OptimizerKind }), Error, "unknown optimizer");
  assertThrows(() => resolveOptimizerOptions({ kind: "muon", muonMomentum: 1 }), Error, "--muon-momentum");
  assertThrows(
    () => resolveOptimizerOptions({ kind: "ademamix", ademamixWarmup: 1.5 }),
    Error,
    "--ademamix-warmup",
  );
});

const REFERENCE_STEP = {
  cautious: cautiousReferenceStep,
  ademamix: ademamixReferenceStep,
  muon: muonReferenceStep,
} as const;

for (const kind of ["cautious", "ademamix", "muon"] as const) {
  Deno.test({
    name: `optimizers: ${kind} GPU steps with clipping match the float64 reference, OLMo and nanoGPT layouts`,
    ...GPU_TEST,
    async fn() {
      const { gpu, kernels } = await testGpu();
      for (const config of [OLMO, NANOGPT]) {
        const layout = parameterLayout(config);
        const random = new Random(kind.length * 7 + (config.arch === "nanogpt" ? 1 : 0));
        const params = new Float32Array(layout.totalLength).map(() => random.normal() * 0.1);
        const paramBuffer = createBuffer(gpu, params.byteLength, "params");
        const gradBuffer = createBuffer(gpu, params.byteLength, "grads");
        writeBuffer(gpu, paramBuffer, params);
        const options = resolveOptimizerOptions({ kind, ademamixWarmup: 2 });
        const optimizer = await createOptimizer(gpu, layout, options, kernels);
        const tensors: ReferenceTensor[] = layout.specs.map((spec) => ({
          name: spec.name,
          shape: spec.shape,
          param: Float64Array.from(params.subarray(spec.offset, spec.offset + spec.length)),
          grad: new Float64Array(spec.length),
          decay: spec.decay,
          state: new Map(),
        }));
        // AdEMAMix's warmup (T = 2) covers the first step.
        for (const step of CLIPPING_STEPS) {
          const [t, lr] = step;
          optimizerStepOnRandomGradients(
            gpu,
            optimizer,
            { params: paramBuffer, grads: gradBuffer },
            layout,
            tensors,
            random,
            step,
          );
          const norm = REFERENCE_STEP[kind](tensors, {
            ...options,
            lr,
            t,
            alpha: options.ademamixAlpha,
            beta3: options.ademamixBeta3,
            warmup: options.ademamixWarmup,
            lrScale: options.muonLrScale,
            momentum: options.muonMomentum,
          });
          const gpuNorm = (await readFloats(gpu, optimizer.gradNorm))[0];
          assert(Math.abs(gpuNorm - norm) / norm < 1e-5, `grad norm ${gpuNorm} vs ${norm}`);
        }
        const after = await readFloats(gpu, paramBuffer);
        const state = await optimizer.getState();
        let worst = 0;
        for (const [index, spec] of layout.specs.entries()) {
          const label = `${kind} ${config.arch ?? "olmo"} ${spec.name}`;
          const got = after.subarray(spec.offset, spec.offset + spec.length);
          // The update moves each weight by about lr·(a few): compare the change, not the weight.
          const change = got.map((v, i) => v - params[spec.offset + i]);
          const expectedChange = tensors[index].param.map((v, i) => v - params[spec.offset + i]);
          assertClose(change, expectedChange, kind === "muon" ? 1e-4 : 1e-5, `${label} update`);
          worst = Math.max(worst, relativeError(change, expectedChange));
          assertEquals(
            [...optimizer.stateNames(spec)].sort(),
            [...tensors[index].state.keys()].sort(),
            label,
          );
          for (const [name, expected] of tensors[index].state) {
            assertClose(state.get(`${spec.name}.${name}`)!.data, expected, 1e-5, `${label} ${name}`);
          }
        }
        console.log(
          `${kind} ${config.arch ?? "olmo"}: worst relative error of the 3-step change ${
            worst.toExponential(2)
          }`,
        );
        // The state round-trips through setState, and a foreign state is refused.
        optimizer.setState(state, "test state");
        assertEquals(await optimizer.getState(), state);
        const foreign = new Map([...state].map(([key, tensor]) => [`${key}x`, tensor]));
        assertThrows(
          () => optimizer.setState(foreign, "foreign.safetensors"),
          Error,
          "foreign.safetensors has no",
        );
        optimizer.destroy();
        paramBuffer.destroy();
        gradBuffer.destroy();
      }
    },
  });
}

Deno.test({
  name: "optimizers: every optimizer skips its update when the gradient norm is NaN or ±Inf (nanoGPT layout)",
  ...GPU_TEST,
  async fn() {
    const { gpu, kernels } = await testGpu();
    // nanoGPT: every tensor decays, Muon has q/k/v blocks, square and wide blocks, and wte/wpe on AdamW.
    const layout = parameterLayout(NANOGPT);
    for (const kind of ["adamw", "cautious", "ademamix", "muon"] as const) {
      const random = new Random(31);
      const params = new Float32Array(layout.totalLength).map(() => random.normal() * 0.1);
      const paramBuffer = createBuffer(gpu, params.byteLength, "params");
      const gradBuffer = createBuffer(gpu, params.byteLength, "grads");
      writeBuffer(gpu, paramBuffer, params);
      const optimizer = await createOptimizer(gpu, layout, resolveOptimizerOptions({ kind }), kernels);
      const step = async (t: number, grads: Float32Array) => {
        writeBuffer(gpu, gradBuffer, grads);
        const encoder = gpu.device.createCommandEncoder();
        const pass = encoder.beginComputePass();
        optimizer.record(pass, paramBuffer, gradBuffer, t, 1e-2);
        pass.end();
        gpu.device.queue.submit([encoder.finish()]);
        return (await readFloats(gpu, optimizer.gradNorm))[0];
      };
      // One finite step first, so that every state holds nonzero values a skipped step could change.
      const finite = new Float32Array(layout.totalLength).map(() => random.normal() * 0.05);
      assert(Number.isFinite(await step(1, finite)), `${kind}: finite step`);
      const weights = await readFloats(gpu, paramBuffer);
      assert(weights.some((v, i) => v !== params[i]), `${kind}: the finite step changed nothing`);
      const state = await optimizer.getState();
      for (const [t, bad] of [[2, NaN], [3, Infinity], [4, -Infinity]]) {
        const grads = finite.slice();
        // One bad value in the last tensor (a Muon weight on nanoGPT), one in the embedding.
        const last = layout.specs[layout.specs.length - 1];
        grads[last.offset + last.length - 2] = bad;
        grads[3] = bad;
        const norm = await step(t, grads);
        assert(!Number.isFinite(norm), `${kind}: gradient norm ${norm}`);
        assertEquals(await readFloats(gpu, paramBuffer), weights, `${kind}: weights after a ${bad} norm`);
        const after = await optimizer.getState();
        for (const [name, tensor] of state) {
          assertEquals(after.get(name)!.data, tensor.data, `${kind}: ${name} after a ${bad} norm`);
        }
      }
      // And the next finite step goes on from the state before the skipped ones.
      assert(Number.isFinite(await step(2, finite)), `${kind}: finite step after the skips`);
      const resumed = await readFloats(gpu, paramBuffer);
      assert(resumed.every(Number.isFinite) && resumed.some((v, i) => v !== weights[i]), `${kind}: resumed`);
      optimizer.destroy();
      paramBuffer.destroy();
      gradBuffer.destroy();
    }
  },
});
