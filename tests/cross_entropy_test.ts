import { assert, assertClose, relativeError } from "./asserts.ts";
import { createBuffer, readFloats, uploadBuffer } from "../src/gpu/mod.ts";
import { CrossEntropy, NO_TARGET, SumReduce } from "../src/ops/cross_entropy.ts";
import type { RowVariant } from "../src/ops/rmsnorm.ts";
import { crossEntropyBackward, crossEntropyForward } from "../src/reference/cross_entropy.ts";
import { GPU_TEST, Random, testGpu } from "./helpers.ts";

// Every (rows, vocab) pair for the serial variant, plus one 50304-wide case; for the workgroup
// variant (about a second to compile a pipeline on lavapipe) a set covering every size.
const SHAPES: [RowVariant, number, number][] = [
  ...[1, 3, 17, 100].flatMap((rows) =>
    [7, 320, 1000].map((vocab) => ["serial", rows, vocab] as [RowVariant, number, number])
  ),
  ["serial", 3, 50304],
  ["workgroup", 1, 1000],
  ["workgroup", 3, 7],
  ["workgroup", 17, 320],
  ["workgroup", 100, 1000],
  ["workgroup", 3, 50304],
];
// Gradient bound: softmax·scale in float32, relative to the largest |gradient| (≈ scale).
const BACKWARD_TOLERANCE = 1e-5;

/** Logits with a spread like a trained model's (a few large ones), targets with some rows missing. */
function inputs(random: Random, rows: number, vocab: number, offset = 0) {
  const logits = new Float32Array(rows * vocab);
  for (let i = 0; i < logits.length; i++) logits[i] = offset + random.normal() * 3;
  const targets = new Int32Array(rows);
  for (let r = 0; r < rows; r++) targets[r] = r % 5 === 4 ? -1 : random.int(vocab);
  const targetsU32 = new Uint32Array(rows);
  for (let r = 0; r < rows; r++) targetsU32[r] = targets[r] < 0 ? NO_TARGET : targets[r];
  return { logits, logits64: Float64Array.from(logits), targets, targetsU32 };
}

Deno.test("cross-entropy reference: backward matches central finite differences (float64)", () => {
  const random = new Random(21);
  const rows = 4;
  const vocab = 7;
  const scale = 0.37;
  const logits = random.fillNormal(new Float64Array(rows * vocab), 2);
  const targets = Int32Array.from([3, -1, 0, 6]);
  const loss = (input: Float64Array) =>
    scale * crossEntropyForward(input, targets, rows, vocab).reduce((s, v) => s + v);
  const numeric = new Float64Array(rows * vocab);
  const h = 1e-6;
  for (let i = 0; i < logits.length; i++) {
    const plus = logits.slice();
    const minus = logits.slice();
    plus[i] += h;
    minus[i] -= h;
    numeric[i] = (loss(plus) - loss(minus)) / (2 * h);
  }
  const analytic = crossEntropyBackward(logits, targets, rows, vocab, scale);
  const error = relativeError(analytic, numeric);
  assert(error < 1e-8, `finite-difference error ${error}`);
  assert(analytic.slice(vocab, 2 * vocab).every((v) => v === 0), "the row without a target has a gradient");
});

Deno.test({
  name: "cross-entropy: forward and fused forward+backward against float64, both variants, sentinel rows",
  ...GPU_TEST,
  async fn() {
    const { gpu, kernels } = await testGpu();
    const random = new Random(22);
    let worstLoss = 0;
    let worstGrad = 0;
    for (const [variant, rows, vocab] of SHAPES) {
      const label = `${variant} rows=${rows} vocab=${vocab}`;
      const scale = 1 / (3 * rows + 1);
      const { logits, logits64, targets, targetsU32 } = inputs(random, rows, vocab);
      const ce = await CrossEntropy.create(kernels, { rows, vocab, scale, variant });
      const blogitsEval = uploadBuffer(gpu, logits, "logits (eval)");
      const blogitsTrain = uploadBuffer(gpu, logits, "logits (train)");
      const btargets = uploadBuffer(gpu, targetsU32, "targets");
      const blossesEval = createBuffer(gpu, rows * 4, "losses (eval)");
      const blossesTrain = createBuffer(gpu, rows * 4, "losses (train)");
      const encoder = gpu.device.createCommandEncoder();
      const pass = encoder.beginComputePass();
      ce.forward(pass, blogitsEval, btargets, blossesEval);
      ce.forwardBackward(pass, blogitsTrain, btargets, blossesTrain);
      pass.end();
      gpu.device.queue.submit([encoder.finish()]);
      const lossesEval = await readFloats(gpu, blossesEval);
      const lossesTrain = await readFloats(gpu, blossesTrain);
      const grad = await readFloats(gpu, blogitsTrain);
      const untouched = await readFloats(gpu, blogitsEval);
      const expectedLosses = crossEntropyForward(logits64, targets, rows, vocab);
      const expectedGrad = crossEntropyBackward(logits64, targets, rows, vocab, scale);
      assertClose(lossesEval, expectedLosses, 1e-4, `forward losses ${label}`);
      assertClose(lossesTrain, expectedLosses, 1e-4, `train losses ${label}`);
      assertClose(grad, expectedGrad, BACKWARD_TOLERANCE, `gradient ${label}`);
      assert(untouched.every((v, i) => v === logits[i]), `${label}: the forward changed the logits`);
      for (let r = 0; r < rows; r++) {
        if (targets[r] >= 0) continue;
        assert(lossesTrain[r] === 0 && lossesEval[r] === 0, `${label}: row ${r} without a target has a loss`);
        assert(
          grad.subarray(r * vocab, (r + 1) * vocab).every((v) => v === 0),
          `${label}: row ${r} has a gradient`,
        );
      }
      worstLoss = Math.max(worstLoss, relativeError(lossesTrain, expectedLosses));
      worstGrad = Math.max(worstGrad, relativeError(grad, expectedGrad));
      for (const buffer of [blogitsEval, blogitsTrain, btargets, blossesEval, blossesTrain]) buffer.destroy();
    }
    console.log(
      `cross-entropy worst relative error: loss ${worstLoss.toExponential(2)}, gradient ${
        worstGrad.toExponential(2)
      }`,
    );
  },
});

Deno.test({
  name: "cross-entropy: large logits stay finite, a target ≥ vocab gives NaN without reading out of bounds",
  ...GPU_TEST,
  async fn() {
    const { gpu, kernels } = await testGpu();
    const random = new Random(23);
    for (const variant of ["serial", "workgroup"] as RowVariant[]) {
      const rows = 3;
      const vocab = 320;
      const { logits, logits64, targets, targetsU32 } = inputs(random, rows, vocab, 1e4);
      targets[0] = -1;
      targetsU32[0] = vocab; // out of range: row 0 must come back NaN
      const ce = await CrossEntropy.create(kernels, { rows, vocab, scale: 0.5, variant });
      const blogits = uploadBuffer(gpu, logits, "logits");
      const btargets = uploadBuffer(gpu, targetsU32, "targets");
      const blosses = createBuffer(gpu, rows * 4, "losses");
      const encoder = gpu.device.createCommandEncoder();
      const pass = encoder.beginComputePass();
      ce.forwardBackward(pass, blogits, btargets, blosses);
      pass.end();
      gpu.device.queue.submit([encoder.finish()]);
      const losses = await readFloats(gpu, blosses);
      const grad = await readFloats(gpu, blogits);
      assert(Number.isNaN(losses[0]), `${variant}: bad target gave loss ${losses[0]}, not NaN`);
      assert(grad.subarray(0, vocab).every(Number.isNaN), `${variant}: bad target's gradient is not NaN`);
      const expected = crossEntropyForward(logits64, targets, rows, vocab);
      const expectedGrad = crossEntropyBackward(logits64, targets, rows, vocab, 0.5);
      // Logits near 1e4 carry float32 rounding of 1e4·2⁻²⁴ ≈ 6e-4 each: the bound is absolute.
      for (let r = 1; r < rows; r++) {
        assert(
          Math.abs(losses[r] - expected[r]) < 2e-3,
          `${variant}: row ${r} loss ${losses[r]} vs ${expected[r]}`,
        );
      }
      assertClose(
        grad.subarray(vocab),
        expectedGrad.subarray(vocab),
        2e-3,
        `${variant} large-logit gradient`,
      );
    }
  },
});

Deno.test({
  name: "loss_sum: fixed-order sum, one and two passes, both variants, deterministic, placed at an offset",
  ...GPU_TEST,
  async fn() {
    const { gpu, kernels } = await testGpu();
    const random = new Random(24);
    for (const variant of ["serial", "workgroup"] as RowVariant[]) {
      for (const n of [1, 7, 1000, 32768, 32769, 1_000_003]) {
        const values = random.fillUniform(new Float32Array(n), 0, 10);
        const expected = values.reduce((s, v) => s + v, 0);
        const input = uploadBuffer(gpu, values, "values");
        const output = createBuffer(gpu, 512, "sums");
        const sum = await SumReduce.create(kernels, { n, variant });
        const results: number[] = [];
        for (let run = 0; run < 2; run++) {
          const encoder = gpu.device.createCommandEncoder();
          const pass = encoder.beginComputePass();
          sum.record(pass, input, { buffer: output, offset: 256, size: 4 });
          pass.end();
          gpu.device.queue.submit([encoder.finish()]);
          results.push((await readFloats(gpu, output, 64, 1))[0]);
        }
        const error = Math.abs(results[0] - expected) / expected;
        assert(error < 1e-6, `${variant} n=${n}: sum ${results[0]} vs ${expected} (relative ${error})`);
        assert(Object.is(results[0], results[1]), `${variant} n=${n}: not deterministic`);
        assert((await readFloats(gpu, output, 0, 1))[0] === 0, `${variant} n=${n}: wrote outside its slot`);
        sum.destroy();
        input.destroy();
        output.destroy();
      }
    }
  },
});
