import { createBuffer, readFloats, uploadBuffer } from "../src/gpu/mod.ts";
import { Gelu } from "../src/ops/gelu.ts";
import { erf, erfc, geluBackward, geluForward } from "../src/reference/gelu.ts";
import { GPU_TEST, Random, randomInputs, testGpu } from "./helpers.ts";
import { assert, assertClose, relativeError } from "./asserts.ts";

// Backward bound: erfc's fractional error (1.2e-7) and a few float32 roundings, relative to max |dx|.
const BACKWARD_TOLERANCE = 1e-6;

Deno.test("gelu reference: erf and erfc against tabulated values, backward against finite differences", () => {
  // Values from Python's math.erf / math.erfc (double precision).
  const table: [number, number, number][] = [
    [0.5, 0.5204998778130465, 0.4795001221869535],
    [1, 0.8427007929497149, 0.15729920705028513],
    [2.4, 0.999311486103355, 0.0006885138966450786],
    [2.6, 0.9997639655834707, 0.00023603441652934908],
    [3, 0.9999779095030014, 2.209049699858544e-5],
    [5, 0.9999999999984626, 1.5374597944280349e-12],
    [10, 1, 2.088487583762545e-45],
  ];
  for (const [x, erfValue, erfcValue] of table) {
    assert(Math.abs(erf(x) - erfValue) < 1e-15, `erf(${x}) = ${erf(x)}, expected ${erfValue}`);
    assert(Math.abs(erf(-x) + erfValue) < 1e-15, `erf(−${x})`);
    // Below 2.5 erfc is 1 − erf: an absolute error of 1e-16, relative up to 3e-13.
    assert(Math.abs(erfc(x) / erfcValue - 1) < 1e-12, `erfc(${x}) = ${erfc(x)}, expected ${erfcValue}`);
  }
  const random = new Random(51);
  const x = random.fillUniform(new Float64Array(40), -6, 6);
  const dout = random.fillUniform(new Float64Array(40));
  const h = 1e-6;
  const numeric = x.map((value, i) => {
    const [plus, minus] = geluForward([value + h, value - h]);
    return dout[i] * (plus - minus) / (2 * h);
  });
  const error = relativeError(geluBackward(dout, x), numeric);
  assert(error < 1e-8, `finite-difference error ${error}`);
});

Deno.test({
  name: "gelu: forward and backward against float64, odd sizes, both tails",
  ...GPU_TEST,
  async fn() {
    const { gpu, kernels } = await testGpu();
    const random = new Random(52);
    let worstForward = 0;
    let worstBackward = 0;
    let worstTail = 0;
    for (const length of [1, 37, 1000, 4099]) {
      const x = randomInputs(random, length, 8);
      // Far tails: x·Φ(x) must be 0 (not NaN) far left and x far right.
      if (length > 2) {
        for (const [i, value] of [[0, -60], [1, 60], [2, -9.5]]) {
          x.f32[i] = value;
          x.f64[i] = value;
        }
      }
      const dout = randomInputs(random, length);
      const bx = uploadBuffer(gpu, x.f32, "x");
      const bdout = uploadBuffer(gpu, dout.f32, "dout");
      const bout = createBuffer(gpu, length * 4, "out");
      const bdx = uploadBuffer(gpu, new Float32Array(length).fill(7), "dx");
      const gelu = await Gelu.create(kernels, { length });
      const encoder = gpu.device.createCommandEncoder();
      const pass = encoder.beginComputePass();
      gelu.forward(pass, bx, bout);
      gelu.backward(pass, bdout, bx, bdx);
      pass.end();
      gpu.device.queue.submit([encoder.finish()]);
      const out = await readFloats(gpu, bout);
      const dx = await readFloats(gpu, bdx);
      const expectedOut = geluForward(x.f64);
      const expectedDx = geluBackward(dout.f64, x.f64);
      assertClose(out, expectedOut, 1e-6, `forward length=${length}`);
      assertClose(dx, expectedDx, BACKWARD_TOLERANCE, `backward length=${length}`);
      // Elementwise relative accuracy in the negative tail too (where x·Φ(x) is tiny): a few 1e-7 from
      // erfc's fit and its float32 polynomial, plus about x²·6e-8 from rounding the exponent x²/2.
      let worstElement = 0;
      for (let i = 0; i < length; i++) {
        if (x.f64[i] > -9 && Math.abs(expectedOut[i]) > 1e-30) {
          const relative = Math.abs(out[i] - expectedOut[i]) / Math.abs(expectedOut[i]);
          const bound = 1e-6 * (1 + x.f64[i] ** 2 / 2);
          assert(relative < bound, `forward at x=${x.f64[i]}: ${out[i]} vs ${expectedOut[i]} (${relative})`);
          worstElement = Math.max(worstElement, relative / (1 + x.f64[i] ** 2 / 2));
        }
      }
      worstForward = Math.max(worstForward, relativeError(out, expectedOut));
      worstTail = Math.max(worstTail, worstElement);
      worstBackward = Math.max(worstBackward, relativeError(dx, expectedDx));
      for (const buffer of [bx, bdout, bout, bdx]) buffer.destroy();
    }
    console.log(
      `gelu worst relative error: forward ${worstForward.toExponential(2)}, backward ${
        worstBackward.toExponential(2)
      }; elementwise relative / (1 + x²/2) ${worstTail.toExponential(2)} (bound 1e-6)`,
    );
  },
});
