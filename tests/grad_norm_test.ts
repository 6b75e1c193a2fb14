import { assert } from "./asserts.ts";
import { alignUp, createBuffer, readFloats, uploadBuffer, writeBuffer } from "../src/gpu/mod.ts";
import type { Binding } from "../src/gpu/mod.ts";
import { GradNorm } from "../src/ops/grad_norm.ts";
import type { RowVariant } from "../src/ops/rmsnorm.ts";
import { gradNorm } from "../src/reference/grad_norm.ts";
import { GPU_TEST, Random, testGpu } from "./helpers.ts";

const VARIANTS: RowVariant[] = ["serial", "workgroup"];

Deno.test({
  name: "grad_norm: multi-million-element tensors at offsets in one buffer, both variants, within 1e-5",
  ...GPU_TEST,
  async fn() {
    const { gpu, kernels } = await testGpu();
    const random = new Random(51);
    // Every tensor contributes at least 10⁻³ of the sum of squares: leaving any out fails the bound.
    const specs = [
      { length: 3_000_017, scale: 1 },
      { length: 1, scale: 100 },
      { length: 7, scale: 30 },
      { length: 1000, scale: 10 },
      { length: 65_537, scale: 3 },
      { length: 0, scale: 1 },
    ];
    const tensors = specs.map(({ length, scale }) => random.fillNormal(new Float32Array(length), scale));
    let offset = 0;
    const offsets = specs.map(({ length }) => {
      const at = offset;
      offset = alignUp(at + length * 4);
      return at;
    });
    const grads = createBuffer(gpu, offset, "gradients");
    tensors.forEach((tensor, i) => writeBuffer(gpu, grads, tensor, offsets[i]));
    const bindings: Binding[] = specs.map(({ length }, i) => ({
      buffer: grads,
      offset: offsets[i],
      size: length * 4,
    }));
    bindings[5] = { buffer: grads, offset: offsets[5], size: 4 }; // empty tensor: any binding will do
    const expected = gradNorm(tensors);
    const out = createBuffer(gpu, 512, "norm");
    for (const variant of VARIANTS) {
      const results: number[] = [];
      for (const pieceLength of [undefined, undefined, 300_000]) {
        const norm = await GradNorm.create(kernels, { tensors: specs, variant, pieceLength });
        const encoder = gpu.device.createCommandEncoder();
        const pass = encoder.beginComputePass();
        norm.record(pass, bindings, { buffer: out, offset: 256, size: 4 });
        pass.end();
        gpu.device.queue.submit([encoder.finish()]);
        results.push((await readFloats(gpu, out, 64, 1))[0]);
        norm.destroy();
      }
      const error = Math.abs(results[0] - expected) / expected;
      console.log(
        `grad_norm ${variant}: ${results[0]} vs ${expected} (relative error ${error.toExponential(2)})`,
      );
      assert(error <= 1e-5, `${variant}: norm ${results[0]} vs ${expected}: relative error ${error}`);
      assert(Object.is(results[0], results[1]), `${variant}: not bit-identical run to run`);
      const split = Math.abs(results[2] - expected) / expected;
      assert(
        split <= 1e-5,
        `${variant}: in pieces, norm ${results[2]} vs ${expected}: relative error ${split}`,
      );
    }
    grads.destroy();
    out.destroy();
  },
});

Deno.test({
  name: "grad_norm: small odd tensors as whole buffers; a short binding is refused",
  ...GPU_TEST,
  async fn() {
    const { gpu, kernels } = await testGpu();
    const random = new Random(52);
    for (const variant of VARIANTS) {
      for (const lengths of [[1], [2, 6, 33], [256, 4097, 65537]]) {
        const tensors = lengths.map((length) => random.fillUniform(new Float32Array(length)));
        const buffers = tensors.map((tensor) => uploadBuffer(gpu, tensor, "gradient"));
        const out = createBuffer(gpu, 4, "norm");
        const norm = await GradNorm.create(kernels, { tensors, variant });
        const encoder = gpu.device.createCommandEncoder();
        const pass = encoder.beginComputePass();
        norm.record(pass, buffers, out);
        pass.end();
        gpu.device.queue.submit([encoder.finish()]);
        const result = (await readFloats(gpu, out))[0];
        const expected = gradNorm(tensors);
        const error = Math.abs(result - expected) / expected;
        assert(error <= 1e-6, `${variant} ${lengths}: norm ${result} vs ${expected}`);
        let threw = false;
        const spare = gpu.device.createCommandEncoder().beginComputePass();
        try {
          norm.record(spare, buffers.map((buffer) => ({ buffer, offset: 0, size: 4 })), out);
        } catch {
          threw = true;
        }
        spare.end();
        assert(
          threw === lengths[0] > 1,
          `${variant} ${lengths}: a binding shorter than its tensor was accepted`,
        );
        norm.destroy();
        for (const buffer of [...buffers, out]) buffer.destroy();
      }
    }
  },
});
