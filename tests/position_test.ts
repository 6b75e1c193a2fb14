import { readFloats, uploadBuffer } from "../src/gpu/mod.ts";
import { PositionEmbedding } from "../src/ops/position.ts";
import { positionBackward, positionForward } from "../src/reference/position.ts";
import { GPU_TEST, Random, randomInputs, testGpu } from "./helpers.ts";
import { assert, assertClose, assertEquals, relativeError } from "./asserts.ts";

// Backward bound: sums of `batch` float32 values per (position, column), added onto dwpe.
const BACKWARD_TOLERANCE = 1e-6;

Deno.test("position reference: backward matches central finite differences (float64)", () => {
  const random = new Random(61);
  const [batch, seqLen, d, positions] = [3, 4, 2, 6];
  const x = random.fillUniform(new Float64Array(batch * seqLen * d));
  const wpe = random.fillUniform(new Float64Array(positions * d));
  const dout = random.fillUniform(new Float64Array(batch * seqLen * d));
  const loss = (w: Float64Array) =>
    positionForward(x, w, batch, seqLen, d).reduce((s, v, i) => s + v * dout[i], 0);
  const h = 1e-6;
  const numeric = wpe.map((_, i) => {
    const plus = wpe.slice();
    const minus = wpe.slice();
    plus[i] += h;
    minus[i] -= h;
    return (loss(plus) - loss(minus)) / (2 * h);
  });
  const analytic = positionBackward(dout, batch, seqLen, d, positions);
  assert(
    relativeError(analytic, numeric) < 1e-8,
    `finite-difference error ${relativeError(analytic, numeric)}`,
  );
  // Rows beyond the sequence get no gradient.
  assertEquals(Array.from(analytic.subarray(seqLen * d)), new Array((positions - seqLen) * d).fill(0));
});

Deno.test({
  name: "position: forward adds wpe[s], backward sums over the batch and accumulates, odd sizes",
  ...GPU_TEST,
  async fn() {
    const { gpu, kernels } = await testGpu();
    const random = new Random(62);
    let worst = 0;
    for (
      const [batch, seqLen, d, positions] of [[1, 1, 1, 1], [3, 13, 24, 13], [5, 7, 33, 11], [
        2,
        130,
        20,
        130,
      ]]
    ) {
      const label = `batch=${batch} seq=${seqLen} d=${d} positions=${positions}`;
      const x = randomInputs(random, batch * seqLen * d);
      const wpe = randomInputs(random, positions * d);
      const dx = randomInputs(random, batch * seqLen * d);
      const start = randomInputs(random, positions * d);
      const bx = uploadBuffer(gpu, x.f32, "x");
      const bwpe = uploadBuffer(gpu, wpe.f32, "wpe");
      const bdx = uploadBuffer(gpu, dx.f32, "dx");
      const bdwpe = uploadBuffer(gpu, start.f32, "dwpe");
      const op = await PositionEmbedding.create(kernels, { batch, seqLen, d });
      const encoder = gpu.device.createCommandEncoder();
      const pass = encoder.beginComputePass();
      op.forward(pass, bwpe, bx);
      op.backward(pass, bdx, bdwpe);
      pass.end();
      gpu.device.queue.submit([encoder.finish()]);
      assertClose(await readFloats(gpu, bx), positionForward(x.f64, wpe.f64, batch, seqLen, d), 1e-6, label);
      const expected = positionBackward(dx.f64, batch, seqLen, d, positions).map((v, i) => v + start.f64[i]);
      const got = await readFloats(gpu, bdwpe);
      assertClose(got, expected, BACKWARD_TOLERANCE, `backward ${label}`);
      // Rows at positions ≥ seqLen keep their value exactly.
      assertEquals(got.subarray(seqLen * d), start.f32.subarray(seqLen * d), `rows beyond ${label}`);
      worst = Math.max(worst, relativeError(got, expected));
      for (const buffer of [bx, bwpe, bdx, bdwpe]) buffer.destroy();
    }
    console.log(`position embedding worst relative error (backward): ${worst.toExponential(2)}`);
  },
});
