import { readFloats, uploadBuffer } from "../src/gpu/mod.ts";
import { Rope } from "../src/ops/rope.ts";
import type { RowVariant } from "../src/ops/rmsnorm.ts";
import { ropeBackward, ropeForward } from "../src/reference/rope.ts";
import { ropeTable } from "../src/ops/shapes.ts";
import { assert, assertClose, assertEquals, assertRejects, assertThrows } from "./asserts.ts";
import { GPU_TEST, Random, randomInputs, testGpu } from "./helpers.ts";

interface Shape {
  batch: number;
  seqLen: number;
  nHeads: number;
  headDim: number;
  /** Forward variant (default: the adapter's, `serial` on lavapipe: rope_forward_heads4 at hd % 8 = 0). */
  variant?: RowVariant;
}

const SHAPES: Shape[] = [
  { batch: 1, seqLen: 1, nHeads: 1, headDim: 2 },
  { batch: 2, seqLen: 3, nHeads: 2, headDim: 8 },
  { batch: 2, seqLen: 3, nHeads: 2, headDim: 8, variant: "workgroup" },
  { batch: 1, seqLen: 17, nHeads: 3, headDim: 16 },
  { batch: 2, seqLen: 33, nHeads: 4, headDim: 6 },
  { batch: 3, seqLen: 70, nHeads: 2, headDim: 64 },
  { batch: 3, seqLen: 70, nHeads: 2, headDim: 64, variant: "workgroup" },
  { batch: 1, seqLen: 1024, nHeads: 2, headDim: 128 },
];

Deno.test({
  name: "rope: GPU forward and backward match the float64 reference, v untouched",
  ...GPU_TEST,
  async fn() {
    const { gpu, kernels } = await testGpu();
    const random = new Random(1);
    for (const { batch, seqLen, nHeads, headDim, variant } of SHAPES) {
      const dModel = nHeads * headDim;
      const label = `B=${batch} T=${seqLen} H=${nHeads} hd=${headDim} ${variant ?? "default"}`;
      const rope = await Rope.create(kernels, { batch, seqLen, dModel, headDim, variant });
      const x = randomInputs(random, batch * seqLen * 3 * dModel);
      const g = randomInputs(random, batch * seqLen * 3 * dModel);
      const bx = uploadBuffer(gpu, x.f32, "qkv");
      const bg = uploadBuffer(gpu, g.f32, "dqkv");
      const encoder = gpu.device.createCommandEncoder();
      const pass = encoder.beginComputePass();
      rope.forward(pass, bx);
      rope.backward(pass, bg);
      pass.end();
      gpu.device.queue.submit([encoder.finish()]);
      const y = await readFloats(gpu, bx);
      const dx = await readFloats(gpu, bg);
      assertClose(y, ropeForward(x.f64, batch, seqLen, dModel, headDim), 1e-6, `${label} forward`);
      assertClose(dx, ropeBackward(g.f64, batch, seqLen, dModel, headDim), 1e-6, `${label} backward`);
      for (let r = 0; r < batch * seqLen; r++) {
        const v = (a: Float32Array) => a.slice(r * 3 * dModel + 2 * dModel, (r + 1) * 3 * dModel);
        assertEquals(v(y), v(x.f32), `${label} v row ${r}`);
        assertEquals(v(dx), v(g.f32), `${label} dv row ${r}`);
      }
      bx.destroy();
      bg.destroy();
      rope.destroy();
    }
  },
});

Deno.test({
  name: "rope: GPU backward after forward gives back the input (a rotation's transpose is its inverse)",
  ...GPU_TEST,
  async fn() {
    const { gpu, kernels } = await testGpu();
    const [batch, seqLen, nHeads, headDim] = [2, 257, 2, 32];
    const dModel = nHeads * headDim;
    const rope = await Rope.create(kernels, { batch, seqLen, dModel, headDim });
    const x = randomInputs(new Random(2), batch * seqLen * 3 * dModel);
    const buffer = uploadBuffer(gpu, x.f32, "qkv");
    const encoder = gpu.device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    rope.forward(pass, buffer);
    rope.backward(pass, buffer);
    pass.end();
    gpu.device.queue.submit([encoder.finish()]);
    assertClose(await readFloats(gpu, buffer), x.f64, 1e-6, "backward(forward(x))");
    buffer.destroy();
    rope.destroy();
  },
});

Deno.test("rope reference: rotation preserves each pair's norm and the backward inverts it", () => {
  const [batch, seqLen, dModel, headDim] = [2, 9, 12, 6];
  const x = randomInputs(new Random(3), batch * seqLen * 3 * dModel).f64;
  const y = ropeForward(x, batch, seqLen, dModel, headDim);
  const half = headDim / 2;
  for (let r = 0; r < batch * seqLen; r++) {
    for (let col = 0; col < 2 * dModel; col += headDim) {
      for (let i = 0; i < half; i++) {
        const at = r * 3 * dModel + col + i;
        const before = Math.hypot(x[at], x[at + half]);
        const after = Math.hypot(y[at], y[at + half]);
        assert(Math.abs(before - after) <= 1e-15 * Math.max(1, before), `norm of pair ${at}`);
      }
    }
  }
  assertClose(ropeBackward(y, batch, seqLen, dModel, headDim), x, 1e-15, "backward(forward(x))");
  // position 0 of each sequence is not rotated
  for (let b = 0; b < batch; b++) {
    const row = b * seqLen * 3 * dModel;
    assertEquals(y.slice(row, row + 3 * dModel), x.slice(row, row + 3 * dModel));
  }
});

Deno.test("rope reference: backward matches central finite differences (float64)", () => {
  const [batch, seqLen, dModel, headDim] = [2, 5, 8, 4];
  const random = new Random(4);
  const x = randomInputs(random, batch * seqLen * 3 * dModel).f64;
  const w = randomInputs(random, batch * seqLen * 3 * dModel).f64;
  const loss = (input: Float64Array) => {
    const y = ropeForward(input, batch, seqLen, dModel, headDim);
    let sum = 0;
    for (let i = 0; i < y.length; i++) sum += y[i] * w[i];
    return sum;
  };
  const analytic = ropeBackward(w, batch, seqLen, dModel, headDim);
  const numeric = new Float64Array(x.length);
  const step = 1e-5;
  for (let i = 0; i < x.length; i++) {
    const shifted = x.slice();
    shifted[i] = x[i] + step;
    const up = loss(shifted);
    shifted[i] = x[i] - step;
    numeric[i] = (up - loss(shifted)) / (2 * step);
  }
  assertClose(analytic, numeric, 1e-9, "rope backward vs finite differences");
});

Deno.test("rope reference: the table follows OLMo's float32 angles", () => {
  const { cos, sin } = ropeTable(1025, 64);
  const f = Math.fround;
  // pair 1 at position 1024: inv_freq = fp32(1 / fp32(10000^fp32(2/64))), angle = fp32(1024·inv_freq)
  const invFreq = f(1 / f(Math.pow(10000, f(2 / 64))));
  const angle = f(1024 * invFreq);
  assertEquals(cos[1024 * 32 + 1], Math.cos(angle));
  assertEquals(sin[1024 * 32 + 1], Math.sin(angle));
  assertEquals(cos[0], 1);
  assertEquals(sin[0], 0);
  assert(Math.abs(sin[1 * 32 + 0] - Math.sin(1)) < 1e-15, "pair 0 rotates by one radian per position");
});

Deno.test({
  name: "rope: bad shapes are refused with the fix",
  ...GPU_TEST,
  async fn() {
    const { kernels } = await testGpu();
    await assertRejects(
      () => Rope.create(kernels, { batch: 1, seqLen: 4, dModel: 12, headDim: 3 }),
      Error,
      "even",
    );
    await assertRejects(
      () => Rope.create(kernels, { batch: 1, seqLen: 4, dModel: 12, headDim: 8 }),
      Error,
      "multiple",
    );
    assertThrows(() => ropeForward(new Float64Array(5), 1, 1, 4, 2), Error, "expected");
  },
});
