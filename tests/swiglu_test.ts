import { assert, assertClose, relativeError } from "./asserts.ts";
import { createBuffer, readFloats, uploadBuffer } from "../src/gpu/mod.ts";
import { SwiGlu } from "../src/ops/swiglu.ts";
import type { RowVariant } from "../src/ops/rmsnorm.ts";
import { swigluBackward, swigluForward } from "../src/reference/swiglu.ts";
import { GPU_TEST, Random, randomInputs, testGpu } from "./helpers.ts";

// Backward bound: a handful of float32 roundings per element (σ, products), relative to max |du|.
const BACKWARD_TOLERANCE = 1e-5;

Deno.test("swiglu reference: backward matches central finite differences (float64)", () => {
  const random = new Random(31);
  for (const [rows, width] of [[1, 2], [3, 6], [2, 34]]) {
    const u = random.fillUniform(new Float64Array(rows * width), -4, 4);
    const dout = random.fillUniform(new Float64Array((rows * width) / 2));
    const loss = (input: Float64Array) =>
      swigluForward(input, rows, width).reduce((s, v, i) => s + v * dout[i], 0);
    const numeric = new Float64Array(rows * width);
    const h = 1e-6;
    for (let i = 0; i < u.length; i++) {
      const plus = u.slice();
      const minus = u.slice();
      plus[i] += h;
      minus[i] -= h;
      numeric[i] = (loss(plus) - loss(minus)) / (2 * h);
    }
    const error = relativeError(swigluBackward(dout, u, rows, width), numeric);
    assert(error < 1e-8, `rows=${rows} width=${width}: finite-difference error ${error}`);
  }
});

Deno.test({
  name: "swiglu: forward and backward against float64, odd sizes, large |gate|",
  ...GPU_TEST,
  async fn() {
    const { gpu, kernels } = await testGpu();
    const random = new Random(32);
    let worstForward = 0;
    let worstBackward = 0;
    for (const rows of [1, 3, 17, 100]) {
      // Width 256 on lavapipe: the rows4 kernels (variant serial, the default there) and the *4 ones.
      const widths: [number, RowVariant?][] = [[2], [6], [34], [256], [256, "workgroup"]];
      for (const [width, variant] of widths) {
        const label = `rows=${rows} width=${width} ${variant ?? "default"}`;
        const u = randomInputs(random, rows * width, 6);
        // Gates far in both tails: silu must neither overflow nor give NaN there.
        u.f32[width / 2] = 200;
        u.f32[width - 1] = -200;
        u.f64[width / 2] = 200;
        u.f64[width - 1] = -200;
        const dout = randomInputs(random, (rows * width) / 2);
        const bu = uploadBuffer(gpu, u.f32, "u");
        const bdout = uploadBuffer(gpu, dout.f32, "dout");
        const bout = createBuffer(gpu, (rows * width) / 2 * 4, "out");
        const bdu = uploadBuffer(gpu, new Float32Array(rows * width).fill(7), "du");
        const swiglu = await SwiGlu.create(kernels, { rows, width, variant });
        const encoder = gpu.device.createCommandEncoder();
        const pass = encoder.beginComputePass();
        swiglu.forward(pass, bu, bout);
        swiglu.backward(pass, bdout, bu, bdu);
        pass.end();
        gpu.device.queue.submit([encoder.finish()]);
        const out = await readFloats(gpu, bout);
        const du = await readFloats(gpu, bdu);
        const expectedOut = swigluForward(u.f64, rows, width);
        const expectedDu = swigluBackward(dout.f64, u.f64, rows, width);
        assertClose(out, expectedOut, 1e-4, `forward ${label}`);
        assertClose(du, expectedDu, BACKWARD_TOLERANCE, `backward ${label}`);
        worstForward = Math.max(worstForward, relativeError(out, expectedOut));
        worstBackward = Math.max(worstBackward, relativeError(du, expectedDu));
        for (const buffer of [bu, bdout, bout, bdu]) buffer.destroy();
      }
    }
    console.log(
      `swiglu worst relative error: forward ${worstForward.toExponential(2)}, backward ${
        worstBackward.toExponential(2)
      }`,
    );
  },
});
