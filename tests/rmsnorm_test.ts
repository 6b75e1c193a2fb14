import { assert, assertClose, relativeError } from "./asserts.ts";
import { createBuffer, readFloats, uploadBuffer } from "../src/gpu/mod.ts";
import { RmsNorm } from "../src/ops/rmsnorm.ts";
import type { RowVariant } from "../src/ops/rmsnorm.ts";
import { rmsnormBackward, rmsnormForward } from "../src/reference/rmsnorm.ts";
import { GPU_TEST, Random, randomInputs, testGpu } from "./helpers.ts";

const VARIANTS: RowVariant[] = ["serial", "workgroup"];
// Every (rows, d) pair for the serial variant (d 256: serial4; 2, 6, 33: serial); for the workgroup variant (slow to compile on
// lavapipe: about a second a pipeline) a set that still covers every row count and width.
const SHAPES: [RowVariant, number, number][] = [
  ...[1, 3, 17, 100].flatMap((rows) =>
    [2, 6, 33, 256].map((d) => ["serial", rows, d] as [RowVariant, number, number])
  ),
  // d a multiple of 4 up to 128: the register kernels (32 rows a workgroup; 100 rows leave a partial
  // one; d 12 and 68 leave lanes idle)
  ["serial", 3, 12],
  ["serial", 100, 68],
  ["serial", 33, 128],
  ["workgroup", 1, 256],
  ["workgroup", 3, 2],
  ["workgroup", 17, 33],
  ["workgroup", 100, 6],
];
// Backward bound: dx = rstd·(dy − y·mean(dy·y)) loses a few bits to cancellation in dy − y·mean.
const BACKWARD_TOLERANCE = 1e-4;

Deno.test("rmsnorm reference: backward matches central finite differences (float64)", () => {
  const random = new Random(11);
  for (const [rows, d] of [[1, 2], [3, 6], [2, 33]]) {
    const x = random.fillUniform(new Float64Array(rows * d), -2, 2);
    const dy = random.fillUniform(new Float64Array(rows * d));
    const loss = (input: Float64Array) =>
      rmsnormForward(input, rows, d).reduce((s, v, i) => s + v * dy[i], 0);
    const numeric = new Float64Array(rows * d);
    const h = 1e-6;
    for (let i = 0; i < x.length; i++) {
      const plus = x.slice();
      const minus = x.slice();
      plus[i] += h;
      minus[i] -= h;
      numeric[i] = (loss(plus) - loss(minus)) / (2 * h);
    }
    const analytic = rmsnormBackward(dy, x, rows, d);
    const error = relativeError(analytic, numeric);
    assert(error < 1e-8, `rows=${rows} d=${d}: finite-difference error ${error}`);
  }
});

Deno.test({
  name: "rmsnorm: forward, backward and accumulating backward against float64, both variants, odd sizes",
  ...GPU_TEST,
  async fn() {
    const { gpu, kernels } = await testGpu();
    const random = new Random(12);
    let worstForward = 0;
    let worstBackward = 0;
    for (const [variant, rows, d] of SHAPES) {
      {
        {
          const label = `${variant} rows=${rows} d=${d}`;
          const x = randomInputs(random, rows * d, 3);
          const dy = randomInputs(random, rows * d);
          const dx0 = randomInputs(random, rows * d);
          const bx = uploadBuffer(gpu, x.f32, "x");
          const bdy = uploadBuffer(gpu, dy.f32, "dy");
          const by = createBuffer(gpu, rows * d * 4, "y");
          const brstd = createBuffer(gpu, rows * 4, "rstd");
          const bdx = createBuffer(gpu, rows * d * 4, "dx");
          const bdxAcc = uploadBuffer(gpu, dx0.f32, "dx accumulated");
          const norm = await RmsNorm.create(kernels, { rows, d, variant });
          const normAcc = await RmsNorm.create(kernels, { rows, d, variant, accumulate: true });
          const encoder = gpu.device.createCommandEncoder();
          const pass = encoder.beginComputePass();
          norm.forward(pass, bx, by, brstd);
          norm.backward(pass, bdy, by, brstd, bdx);
          normAcc.backward(pass, bdy, by, brstd, bdxAcc);
          pass.end();
          gpu.device.queue.submit([encoder.finish()]);
          const y = await readFloats(gpu, by);
          const rstd = await readFloats(gpu, brstd);
          const dx = await readFloats(gpu, bdx);
          const dxAcc = await readFloats(gpu, bdxAcc);
          const expectedY = rmsnormForward(x.f64, rows, d);
          const expectedDx = rmsnormBackward(dy.f64, x.f64, rows, d);
          const expectedRstd = new Float64Array(rows);
          for (let r = 0; r < rows; r++) {
            let sum = 0;
            for (let j = 0; j < d; j++) sum += x.f64[r * d + j] ** 2;
            expectedRstd[r] = 1 / Math.sqrt(sum / d + 1e-5);
          }
          assertClose(y, expectedY, 1e-4, `forward y ${label}`);
          assertClose(rstd, expectedRstd, 1e-4, `forward rstd ${label}`);
          assertClose(dx, expectedDx, BACKWARD_TOLERANCE, `backward ${label}`);
          assertClose(
            dxAcc,
            expectedDx.map((v, i) => v + dx0.f64[i]),
            BACKWARD_TOLERANCE,
            `accumulate ${label}`,
          );
          worstForward = Math.max(worstForward, relativeError(y, expectedY));
          worstBackward = Math.max(worstBackward, relativeError(dx, expectedDx));
          for (const buffer of [bx, bdy, by, brstd, bdx, bdxAcc]) buffer.destroy();
        }
      }
    }
    console.log(
      `rmsnorm worst relative error: forward ${worstForward.toExponential(2)}, ` +
        `backward ${worstBackward.toExponential(2)}`,
    );
  },
});

Deno.test({
  name: "rmsnorm: both variants agree and are bit-identical run to run",
  ...GPU_TEST,
  async fn() {
    const { gpu, kernels } = await testGpu();
    const random = new Random(13);
    const rows = 9;
    // d 1000: serial4; d 96: the register kernels (shuffle-butterfly sums).
    for (const d of [1000, 96]) {
      const x = randomInputs(random, rows * d);
      const bx = uploadBuffer(gpu, x.f32, "x");
      const results: Float32Array[] = [];
      for (const variant of [...VARIANTS, ...VARIANTS]) {
        const norm = await RmsNorm.create(kernels, { rows, d, variant });
        const by = createBuffer(gpu, rows * d * 4, "y");
        const brstd = createBuffer(gpu, rows * 4, "rstd");
        const encoder = gpu.device.createCommandEncoder();
        const pass = encoder.beginComputePass();
        norm.forward(pass, bx, by, brstd);
        pass.end();
        gpu.device.queue.submit([encoder.finish()]);
        results.push(await readFloats(gpu, by));
      }
      assert(results[0].every((v, i) => Object.is(v, results[2][i])), `serial d=${d} not bit-identical`);
      assert(results[1].every((v, i) => Object.is(v, results[3][i])), `workgroup d=${d} not bit-identical`);
      assertClose(results[0], results[1], 1e-6, `serial vs workgroup d=${d}`);
    }
  },
});

Deno.test({
  name:
    "rmsnorm: the register kernels serve another row count with the same pipelines, rstd in a larger buffer",
  ...GPU_TEST,
  async fn() {
    const { gpu, kernels } = await testGpu();
    const random = new Random(14);
    const d = 68; // the register shape of SHAPES at 100 rows: its pipelines are compiled
    await RmsNorm.create(kernels, { rows: 100, d, variant: "serial" });
    const before = kernels.pipelineCount;
    const rows = 45; // a partial second workgroup of 32 rows
    const norm = await RmsNorm.create(kernels, { rows, d, variant: "serial" });
    assert(
      kernels.pipelineCount === before,
      `rows=${rows} compiled ${kernels.pipelineCount - before} pipelines`,
    );
    const x = randomInputs(random, rows * d, 3);
    const bx = uploadBuffer(gpu, x.f32, "x");
    const by = createBuffer(gpu, rows * d * 4, "y");
    // rstd followed by 40 floats the kernels must not count as rows (they would write them).
    const brstd = uploadBuffer(gpu, new Float32Array(rows + 40).fill(7), "rstd");
    const encoder = gpu.device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    norm.forward(pass, bx, by, brstd);
    pass.end();
    gpu.device.queue.submit([encoder.finish()]);
    assertClose(await readFloats(gpu, by), rmsnormForward(x.f64, rows, d), 1e-4, `forward y rows=${rows}`);
    const tail = await readFloats(gpu, brstd, rows);
    assert(tail.every((v) => v === 7), "the forward wrote rstd past its rows");
    for (const buffer of [bx, by, brstd]) buffer.destroy();
  },
});
