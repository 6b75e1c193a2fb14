import process from "node:process";
import { assert, assertClose, assertEquals, assertRejects, relativeError } from "./asserts.ts";
import { createBuffer, readFloats, uploadBuffer } from "../src/gpu/mod.ts";
import type { GpuDevice, Kernels } from "../src/gpu/mod.ts";
import { Attention, MAX_REGISTER_HEAD_DIM } from "../src/ops/attention.ts";
import { attentionBackward, attentionForward, attentionForwardWithLse } from "../src/reference/attention.ts";
import { ropeBackward } from "../src/reference/rope.ts";
import { GPU_TEST, Random, randomInputs, testGpu } from "./helpers.ts";

/**
 * Backward bound, per block of dqkv (float32 sums over up to T keys against float64). Observed on
 * lavapipe: ≤ 1e-6 up to T = 256, ≤ 2e-6 at T = 1024 (both variants; forward ≤ 3e-7, 7e-7 at T = 1024).
 */
const BACKWARD_TOLERANCE = 2e-5;

interface Shape {
  batch: number;
  seqLen: number;
  nHeads: number;
  headDim: number;
}

interface GpuResult {
  y: Float32Array;
  lse: Float32Array;
  dqkv: Float32Array;
}

/**
 * Waits until this process has stopped using the CPU. lavapipe compiles a pipeline on its first
 * dispatch (seconds for these kernels); under `deno test` (not `deno run`), awaiting a Dawn promise
 * while that compile runs was seen to stall for minutes, with the main thread and a Deno runtime
 * thread spinning and lavapipe idle. Letting the compile finish before awaiting avoids it. Costs
 * ~50 ms when nothing is compiling.
 */
async function settle(): Promise<void> {
  for (let i = 0; i < 2400; i++) {
    const before = process.cpuUsage();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const used = process.cpuUsage(before);
    if (used.user + used.system < 10_000) return;
  }
}

async function runGpu(
  gpu: GpuDevice,
  kernels: Kernels,
  shape: Shape,
  variant: "register" | "tiled",
  qkv: Float32Array,
  dy: Float32Array,
  ropeTheta: number | null = null,
): Promise<GpuResult> {
  const dModel = shape.nHeads * shape.headDim;
  const attention = await Attention.create(kernels, { ...shape, dModel, variant, ropeTheta });
  assertEquals(attention.variant, variant);
  const n = shape.batch * shape.seqLen;
  const bQkv = uploadBuffer(gpu, qkv, "qkv");
  const bDy = uploadBuffer(gpu, dy, "dy");
  const bY = createBuffer(gpu, n * dModel * 4, "y");
  const bLse = createBuffer(gpu, attention.lseLength * 4, "lse");
  // dqkv starts as garbage: the backward must write every element, not accumulate
  const bDqkv = uploadBuffer(gpu, new Float32Array(n * 3 * dModel).fill(123), "dqkv");
  const encoder = gpu.device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  attention.forward(pass, bQkv, bY, bLse);
  attention.backward(pass, bDy, bQkv, bY, bLse, bDqkv);
  pass.end();
  gpu.device.queue.submit([encoder.finish()]);
  await settle();
  const result = {
    y: await readFloats(gpu, bY, 0, n * dModel),
    lse: await readFloats(gpu, bLse, 0, attention.lseLength),
    dqkv: await readFloats(gpu, bDqkv, 0, n * 3 * dModel),
  };
  for (const buffer of [bQkv, bDy, bY, bLse, bDqkv]) buffer.destroy();
  attention.destroy();
  return result;
}

const SHAPES: Shape[] = [
  { batch: 1, seqLen: 1, nHeads: 1, headDim: 2 },
  { batch: 2, seqLen: 3, nHeads: 2, headDim: 8 },
  { batch: 1, seqLen: 17, nHeads: 3, headDim: 16 },
  { batch: 2, seqLen: 17, nHeads: 2, headDim: 6 },
  { batch: 2, seqLen: 33, nHeads: 4, headDim: 2 },
  { batch: 1, seqLen: 33, nHeads: 1, headDim: 128 },
  { batch: 2, seqLen: 70, nHeads: 4, headDim: 8 },
  { batch: 1, seqLen: 70, nHeads: 2, headDim: 64 },
  { batch: 1, seqLen: 256, nHeads: 1, headDim: 64 },
  { batch: 1, seqLen: 1024, nHeads: 1, headDim: 64 },
];

for (const variant of ["register", "tiled"] as const) {
  Deno.test({
    name: `attention (${variant}): forward, lse and backward match the float64 reference`,
    ...GPU_TEST,
    async fn() {
      const { gpu, kernels } = await testGpu();
      const random = new Random(7);
      // the register kernels take hd ≤ MAX_REGISTER_HEAD_DIM; hd = 128 is the tiled kernels' alone
      for (const shape of SHAPES.filter((s) => variant === "tiled" || s.headDim <= MAX_REGISTER_HEAD_DIM)) {
        const { batch, seqLen, nHeads, headDim } = shape;
        const dModel = nHeads * headDim;
        const label = `${variant} B=${batch} T=${seqLen} H=${nHeads} hd=${headDim}`;
        // scale 2: scores spread over several units, so that softmax is far from uniform
        const qkv = randomInputs(random, batch * seqLen * 3 * dModel, 2);
        const dy = randomInputs(random, batch * seqLen * dModel);
        const got = await runGpu(gpu, kernels, shape, variant, qkv.f32, dy.f32);
        const expected = attentionForwardWithLse(qkv.f64, batch, seqLen, dModel, nHeads);
        assertClose(got.y, expected.y, 1e-4, `${label} y`);
        assertClose(got.lse, expected.lse, 1e-5, `${label} lse`);
        const dqkv = attentionBackward(dy.f64, qkv.f64, batch, seqLen, dModel, nHeads);
        // each block on its own scale: dq, dk and dv differ in size
        for (const [block, name] of [[0, "dq"], [1, "dk"], [2, "dv"]] as const) {
          const pick = (a: ArrayLike<number>) =>
            Float64Array.from({ length: batch * seqLen * dModel }, (_, e) => {
              const row = Math.floor(e / dModel);
              return a[row * 3 * dModel + block * dModel + (e % dModel)];
            });
          assertClose(pick(got.dqkv), pick(dqkv), BACKWARD_TOLERANCE, `${label} ${name}`);
        }
      }
    },
  });
}

/**
 * Keys (after each row's first) whose score passes the row's running maximum by more than `margin`:
 * the register forward rescales its accumulators at those only (its lazy reference maximum, LAZY = 8
 * in the WGSL).
 */
function maximumJumps(qkv: Float64Array, shape: Shape, margin: number): number {
  const { batch, seqLen, nHeads, headDim } = shape;
  const dModel = nHeads * headDim;
  let jumps = 0;
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < nHeads; h++) {
      for (let t = 0; t < seqLen; t++) {
        let max = -Infinity;
        for (let j = 0; j <= t; j++) {
          let s = 0;
          for (let c = 0; c < headDim; c++) {
            const q = qkv[(b * seqLen + t) * 3 * dModel + h * headDim + c];
            s += q * qkv[(b * seqLen + j) * 3 * dModel + dModel + h * headDim + c];
          }
          s /= Math.sqrt(headDim);
          if (j > 0 && s > max + margin) jumps++;
          max = Math.max(max, s);
        }
      }
    }
  }
  return jumps;
}

for (const variant of ["register", "tiled"] as const) {
  Deno.test({
    name: `attention (${variant}): peaked softmax (scores tens of units apart) matches the float64 reference`,
    ...GPU_TEST,
    async fn() {
      const { gpu, kernels } = await testGpu();
      const random = new Random(17);
      const shape = SHAPES[6]; // B 2, T 70, H 4, hd 8: a shape the test above compiled already
      const { batch, seqLen, nHeads, headDim } = shape;
      const dModel = nHeads * headDim;
      const label = `${variant} peaked B=${batch} T=${seqLen} H=${nHeads} hd=${headDim}`;
      const qkv = randomInputs(random, batch * seqLen * 3 * dModel, 6);
      const dy = randomInputs(random, batch * seqLen * dModel);
      const jumps = maximumJumps(qkv.f64, shape, 8);
      console.log(`${label}: ${jumps} keys pass their row's running maximum by more than 8`);
      assert(jumps > 100, `${label}: the inputs must make the maxima jump (${jumps} keys)`);
      const got = await runGpu(gpu, kernels, shape, variant, qkv.f32, dy.f32);
      const expected = attentionForwardWithLse(qkv.f64, batch, seqLen, dModel, nHeads);
      assertClose(got.y, expected.y, 1e-4, `${label} y`);
      assertClose(got.lse, expected.lse, 1e-5, `${label} lse`);
      const dqkv = attentionBackward(dy.f64, qkv.f64, batch, seqLen, dModel, nHeads);
      assertClose(got.dqkv, Float32Array.from(dqkv), BACKWARD_TOLERANCE, `${label} dqkv`);
    },
  });
}

/** Head dimensions divisible by 4 (RoPE's backward fused); 32 is every cpu preset's. */
const ROPE_SHAPES: Shape[] = [
  { batch: 2, seqLen: 17, nHeads: 2, headDim: 8 },
  { batch: 1, seqLen: 70, nHeads: 3, headDim: 32 },
];

for (const variant of ["register", "tiled"] as const) {
  Deno.test({
    name:
      `attention (${variant}) with RoPE's backward fused: dqkv matches float64 attention, then RoPE's backward`,
    ...GPU_TEST,
    async fn() {
      const { gpu, kernels } = await testGpu();
      const random = new Random(13);
      const theta = 500; // angles turn noticeably within 70 positions
      for (const shape of ROPE_SHAPES) {
        const { batch, seqLen, nHeads, headDim } = shape;
        const dModel = nHeads * headDim;
        const label = `${variant} RoPE B=${batch} T=${seqLen} H=${nHeads} hd=${headDim}`;
        // qkv as Rope.forward leaves it (q and k rotated): any values do
        const qkv = randomInputs(random, batch * seqLen * 3 * dModel, 2);
        const dy = randomInputs(random, batch * seqLen * dModel);
        const got = await runGpu(gpu, kernels, shape, variant, qkv.f32, dy.f32, theta);
        const expected = attentionForwardWithLse(qkv.f64, batch, seqLen, dModel, nHeads);
        assertClose(got.y, expected.y, 1e-4, `${label} y`);
        assertClose(got.lse, expected.lse, 1e-5, `${label} lse`);
        const dRotated = attentionBackward(dy.f64, qkv.f64, batch, seqLen, dModel, nHeads);
        const dqkv = ropeBackward(dRotated, batch, seqLen, dModel, headDim, theta);
        for (const [block, name] of [[0, "dq"], [1, "dk"], [2, "dv"]] as const) {
          const pick = (a: ArrayLike<number>) =>
            Float64Array.from({ length: batch * seqLen * dModel }, (_, e) => {
              const row = Math.floor(e / dModel);
              return a[row * 3 * dModel + block * dModel + (e % dModel)];
            });
          assertClose(pick(got.dqkv), pick(dqkv), BACKWARD_TOLERANCE, `${label} ${name}`);
          // the rotation back really happens: dq and dk differ from attention's own gradient
          if (block < 2) {
            assert(relativeError(pick(got.dqkv), pick(dRotated)) > 1e-2, `${label} ${name} rotated`);
          }
        }
      }
    },
  });
}

Deno.test({
  name: "attention: causality — changing a later token leaves earlier y, lse and dq bit-identical",
  ...GPU_TEST,
  async fn() {
    const { gpu, kernels } = await testGpu();
    const shape = { batch: 2, seqLen: 33, nHeads: 2, headDim: 8 };
    const dModel = shape.nHeads * shape.headDim;
    const changed = 20;
    for (const variant of ["register", "tiled"] as const) {
      const random = new Random(11);
      const qkv = randomInputs(random, shape.batch * shape.seqLen * 3 * dModel, 2).f32;
      const dy = randomInputs(random, shape.batch * shape.seqLen * dModel).f32;
      const before = await runGpu(gpu, kernels, shape, variant, qkv, dy);
      for (let b = 0; b < shape.batch; b++) {
        const row = b * shape.seqLen + changed;
        for (let c = 0; c < 3 * dModel; c++) qkv[row * 3 * dModel + c] = random.normal() * 3;
        for (let c = 0; c < dModel; c++) dy[row * dModel + c] = random.normal();
      }
      const after = await runGpu(gpu, kernels, shape, variant, qkv, dy);
      for (let b = 0; b < shape.batch; b++) {
        for (let t = 0; t < shape.seqLen; t++) {
          const row = b * shape.seqLen + t;
          const y0 = before.y.slice(row * dModel, (row + 1) * dModel);
          const y1 = after.y.slice(row * dModel, (row + 1) * dModel);
          const dq0 = before.dqkv.slice(row * 3 * dModel, row * 3 * dModel + dModel);
          const dq1 = after.dqkv.slice(row * 3 * dModel, row * 3 * dModel + dModel);
          if (t < changed) {
            assertEquals(y1, y0, `${variant} y row ${t}`);
            assertEquals(dq1, dq0, `${variant} dq row ${t}`);
            for (let h = 0; h < shape.nHeads; h++) {
              const at = (b * shape.nHeads + h) * shape.seqLen + t;
              assertEquals(after.lse[at], before.lse[at], `${variant} lse row ${t}`);
            }
          } else if (t === changed) {
            assert(relativeError(y1, y0) > 1e-3, `${variant}: changing token ${t} must change its output`);
          }
        }
      }
    }
  },
});

Deno.test("attention reference: backward matches central finite differences (float64)", () => {
  const [batch, seqLen, dModel, nHeads] = [2, 5, 12, 3];
  const random = new Random(3);
  const qkv = randomInputs(random, batch * seqLen * 3 * dModel, 2).f64;
  const dy = randomInputs(random, batch * seqLen * dModel).f64;
  const loss = (x: Float64Array) => {
    const y = attentionForward(x, batch, seqLen, dModel, nHeads);
    let sum = 0;
    for (let i = 0; i < y.length; i++) sum += y[i] * dy[i];
    return sum;
  };
  const analytic = attentionBackward(dy, qkv, batch, seqLen, dModel, nHeads);
  const numeric = new Float64Array(qkv.length);
  const step = 1e-5;
  for (let i = 0; i < qkv.length; i++) {
    const x = qkv.slice();
    x[i] = qkv[i] + step;
    const up = loss(x);
    x[i] = qkv[i] - step;
    numeric[i] = (up - loss(x)) / (2 * step);
  }
  assertClose(analytic, numeric, 1e-7, "attention backward vs finite differences");
});

Deno.test("attention reference: rows of softmax sum to one and the first position copies v", () => {
  const [batch, seqLen, dModel, nHeads] = [1, 4, 8, 2];
  const random = new Random(5);
  const qkv = randomInputs(random, batch * seqLen * 3 * dModel).f64;
  // v = 1 everywhere → y = 1 everywhere (probabilities sum to one)
  const ones = qkv.slice();
  for (let r = 0; r < batch * seqLen; r++) ones.fill(1, r * 3 * dModel + 2 * dModel, (r + 1) * 3 * dModel);
  assertClose(
    attentionForward(ones, batch, seqLen, dModel, nHeads),
    new Float64Array(seqLen * dModel).fill(1),
    1e-15,
    "sum",
  );
  const y = attentionForward(qkv, batch, seqLen, dModel, nHeads);
  assertClose(y.slice(0, dModel), qkv.slice(2 * dModel, 3 * dModel), 1e-15, "position 0");
});

Deno.test({
  name: "attention: bad shapes are refused with the fix",
  ...GPU_TEST,
  async fn() {
    const { kernels } = await testGpu();
    await assertRejects(
      () => Attention.create(kernels, { batch: 1, seqLen: 4, dModel: 12, nHeads: 4 }),
      Error,
      "even",
    );
    await assertRejects(
      () => Attention.create(kernels, { batch: 1, seqLen: 4, dModel: 12, nHeads: 5 }),
      Error,
      "divisible",
    );
    await assertRejects(
      () => Attention.create(kernels, { batch: 1, seqLen: 4, dModel: 128, nHeads: 1, variant: "register" }),
      Error,
      "tiled",
    );
    await assertRejects(
      () => Attention.create(kernels, { batch: 1, seqLen: 4, dModel: 12, nHeads: 2, ropeTheta: 10000 }),
      Error,
      "divisible by 4",
    );
  },
});
