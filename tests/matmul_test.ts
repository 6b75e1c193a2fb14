import { assertClose, assertEquals, assertThrows } from "./asserts.ts";
import { createBuffer, readFloats, uploadBuffer } from "../src/gpu/mod.ts";
import {
  Matmul,
  type MatmulLayout,
  type MatmulVariant,
  registerVariantSupported,
} from "../src/ops/matmul.ts";
import { matmulDyTx, matmulDyW, matmulXWt } from "../src/reference/matmul.ts";
import { GPU_TEST, Random, randomInputs, testGpu } from "./helpers.ts";

const LAYOUTS: MatmulLayout[] = ["xwT", "dyW", "dyTx"];

function reference(layout: MatmulLayout, a: Float64Array, b: Float64Array, n: number, m: number, k: number) {
  if (layout === "xwT") return matmulXWt(a, b, n, m, k);
  if (layout === "dyW") return matmulDyW(a, b, n, m, k);
  return matmulDyTx(a, b, n, m, k);
}

interface Case {
  n: number;
  m: number;
  k: number;
  accumulate: boolean;
  /** Lowered dispatch limit, to exercise the folding of row blocks into z. */
  maxGroups?: number;
}

// Every case is a pipeline to compile (0.3-2 s on lavapipe, 3-6 s for the tiled and stationary kernels),
// so the lists are short. Register: odd sizes (the scalar kernel), sizes whose contiguous dimensions are
// multiples of 4 (stationary_b for xwT and dyW with 1, 2 or 3 column groups a lane, in one chunk up to a
// reduction of 128 (96 with 3 groups) and in zero-padded chunks beyond; xwt_v4 where only K is; dytx_stationary, in 2 row chunks at 300 × 132 and with
// N = 37 and 2100 not multiples of its chunk) with partial blocks, a long reduction, and a grid
// folded into z (12 row chunks in a 4 × 4 grid). Tiled: odd sizes, and a long reduction that splits
// (dyTx) or a grid that folds (xwT, dyW: 18 row blocks in 5 × 4). Accumulate on and off for each kernel
// family.
const CASES: Record<MatmulVariant, Case[]> = {
  register: [
    { n: 1, m: 1, k: 1, accumulate: false },
    { n: 3, m: 17, k: 33, accumulate: true },
    // xwT: xwt_v4 (M odd, K a multiple of 4)
    { n: 33, m: 63, k: 100, accumulate: true },
    // reductions beyond 128 (132 for xwT, 300 for dyW): stationary_b in 2 and 3 chunks, each padded
    { n: 37, m: 300, k: 132, accumulate: false },
    // stationary_b with 3 column groups a lane (xwT: 132 columns in 2 blocks of 96, the last partial;
    // dyW: 96 columns, a reduction of 132 in 2 padded chunks); 2 groups in the case above (xwT: 300
    // columns in 5 blocks of 64, the last partial; dyW: a reduction of 300 in 3 chunks)
    { n: 45, m: 132, k: 96, accumulate: true },
    { n: 2100, m: 12, k: 20, accumulate: true },
    { n: 200, m: 8, k: 8, accumulate: false, maxGroups: 4 },
  ],
  tiled: [
    { n: 33, m: 17, k: 35, accumulate: false },
    { n: 1100, m: 8, k: 12, accumulate: true, maxGroups: 5 },
  ],
};

/** Runs one product on the GPU: returns C after `record` (C starts as `c0`). */
async function run(
  layout: MatmulLayout,
  variant: MatmulVariant,
  { n, m, k, accumulate, maxGroups }: Case,
  random: Random,
) {
  const { gpu, kernels } = await testGpu();
  const matmul = await Matmul.create(kernels, {
    layout,
    n,
    m,
    k,
    accumulate,
    variant,
    maxWorkgroupsPerDimension: maxGroups,
  });
  const d = matmul.dims;
  const a = randomInputs(random, d.aElements);
  const b = randomInputs(random, d.bElements);
  const c0 = randomInputs(random, d.cElements);
  const ba = uploadBuffer(gpu, a.f32, "a");
  const bb = uploadBuffer(gpu, b.f32, "b");
  const bc = uploadBuffer(gpu, c0.f32, "c");
  const encoder = gpu.device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  matmul.record(pass, ba, bb, bc);
  pass.end();
  gpu.device.queue.submit([encoder.finish()]);
  const c = await readFloats(gpu, bc, 0, d.cElements);
  const product = reference(layout, a.f64, b.f64, n, m, k);
  const expected = accumulate ? product.map((v, i) => v + c0.f64[i]) : product;
  for (const buffer of [ba, bb, bc]) buffer.destroy();
  return { c, expected, matmul };
}

async function variants(): Promise<MatmulVariant[]> {
  const { gpu } = await testGpu();
  return registerVariantSupported(gpu) ? ["register", "tiled"] : ["tiled"];
}

for (const layout of LAYOUTS) {
  Deno.test({
    name: `matmul ${layout}: both variants, accumulate or not, odd sizes, against the float64 reference`,
    ...GPU_TEST,
    async fn() {
      const random = new Random(layout.length);
      for (const variant of await variants()) {
        for (const shape of CASES[variant]) {
          const { c, expected, matmul } = await run(layout, variant, shape, random);
          const label = `${layout} ${variant}/${matmul.entryPoint} splits=${matmul.splits} ` +
            `n=${shape.n} m=${shape.m} k=${shape.k} accumulate=${shape.accumulate}`;
          // float32 products summed in float32 over at most 2100 terms of size ≤ 1.
          assertClose(c, expected, 1e-4, label);
        }
      }
    },
  });
}

Deno.test({
  name: "matmul: results are bit-identical run to run, and the tiled variant splits long reductions",
  ...GPU_TEST,
  async fn() {
    for (const variant of await variants()) {
      // The long-reduction case of each list (its pipelines are already compiled).
      const shape = variant === "register" ? CASES.register[3] : CASES.tiled[1];
      const first = await run("dyTx", variant, shape, new Random(7));
      const second = await run("dyTx", variant, shape, new Random(7));
      assertEquals(first.c, second.c, `${variant} differs between runs`);
      if (variant === "tiled") assertEquals(first.matmul.splits > 1, true, "expected a split reduction");
    }
  },
});

Deno.test({
  name:
    "matmul: the stationary kernels serve other row counts with the same pipeline, bound inside larger buffers",
  ...GPU_TEST,
  async fn() {
    const { gpu, kernels } = await testGpu();
    if (!registerVariantSupported(gpu)) return;
    const random = new Random(11);
    // The shapes of CASES.register[4] (pipelines already compiled) at other token counts: stationary_b
    // takes its rows from C's binding, dytx_stationary its token rows from X's (N = 46 has the chunks
    // of N = 45: one of 12 vec4 steps, clamped).
    for (const [layout, n] of [["xwT", 19], ["dyW", 19], ["dyTx", 46]] as const) {
      const before = kernels.pipelineCount;
      const matmul = await Matmul.create(kernels, {
        layout,
        n,
        m: 132,
        k: 96,
        accumulate: true,
        variant: "register",
      });
      assertEquals(kernels.pipelineCount, before, `${layout} n=${n} compiled a new pipeline`);
      const d = matmul.dims;
      // Each operand 64 floats (256 bytes) into its buffer and followed by 40 more, which must stay unread
      // (they are NaN) and unwritten.
      const pad = 64;
      const tail = 40;
      const inputs = [d.aElements, d.bElements, d.cElements].map((e) => randomInputs(random, e));
      const buffers = inputs.map((input, i) => {
        const data = new Float32Array(pad + input.f32.length + tail).fill(i < 2 ? NaN : 7);
        data.set(input.f32, pad);
        return uploadBuffer(gpu, data, `operand ${i}`);
      });
      const [a, b, c] = buffers.map((buffer) => ({ buffer, offset: pad * 4 }));
      const encoder = gpu.device.createCommandEncoder();
      const pass = encoder.beginComputePass();
      matmul.record(pass, a, b, c);
      pass.end();
      gpu.device.queue.submit([encoder.finish()]);
      const out = await readFloats(gpu, buffers[2], 0, pad + d.cElements + tail);
      const product = reference(layout, inputs[0].f64, inputs[1].f64, n, 132, 96);
      const expected = product.map((v, i) => v + inputs[2].f64[i]);
      assertClose(
        out.subarray(pad, pad + d.cElements),
        expected,
        1e-4,
        `${layout} n=${n} ${matmul.entryPoint}`,
      );
      assertEquals([...out.subarray(pad + d.cElements)], new Array(tail).fill(7), `${layout}: wrote past C`);
      for (const buffer of buffers) buffer.destroy();
    }
  },
});

Deno.test({
  name: "matmul: bad shapes and short bindings are refused with a clear error",
  ...GPU_TEST,
  async fn() {
    const { gpu, kernels } = await testGpu();
    let message = "";
    try {
      await Matmul.create(kernels, { layout: "xwT", n: 0, m: 4, k: 4 });
    } catch (error) {
      message = (error as Error).message;
    }
    assertEquals(message.includes("n=0"), true, message);
    const matmul = await Matmul.create(kernels, { layout: "xwT", n: 200, m: 8, k: 8 });
    const small = createBuffer(gpu, 16, "small");
    const big = createBuffer(gpu, 200 * 8 * 4, "big");
    const encoder = gpu.device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    assertThrows(() => matmul.record(pass, small, big, big), RangeError, "needs 6400 bytes for a");
    pass.end();
    encoder.finish();
    small.destroy();
    big.destroy();
  },
});
