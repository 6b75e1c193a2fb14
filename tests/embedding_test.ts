import { assert, assertClose, relativeError } from "./asserts.ts";
import { createBuffer, readFloats, uploadBuffer } from "../src/gpu/mod.ts";
import { buildTokenIndex, Embedding } from "../src/ops/embedding.ts";
import type { RowVariant } from "../src/ops/rmsnorm.ts";
import { embeddingBackward, embeddingForward } from "../src/reference/embedding.ts";
import { GPU_TEST, Random, randomInputs, testGpu } from "./helpers.ts";

// Backward bound: sums of up to `rows` float32 values per (token, column), added onto dwte.
const BACKWARD_TOLERANCE = 1e-6;

function randomIds(random: Random, rows: number, vocab: number): Uint32Array {
  const ids = new Uint32Array(rows);
  for (let r = 0; r < rows; r++) ids[r] = random.int(vocab);
  return ids;
}

Deno.test("embedding: buildTokenIndex groups rows by id, stable, and rejects bad ids", () => {
  const index = buildTokenIndex(Uint32Array.from([5, 2, 5, 0, 2, 5]), 7);
  assert(index.uniqueIds.join() === "0,2,5", `uniqueIds ${index.uniqueIds}`);
  assert(index.offsets.join() === "0,1,3,6", `offsets ${index.offsets}`);
  assert(index.order.join() === "3,1,4,0,2,5", `order ${index.order}`);
  const random = new Random(41);
  const ids = randomIds(random, 1000, 50);
  const big = buildTokenIndex(ids, 50);
  for (let u = 0; u < big.uniqueIds.length; u++) {
    for (let k = big.offsets[u]; k < big.offsets[u + 1]; k++) {
      assert(ids[big.order[k]] === big.uniqueIds[u], "row filed under the wrong token");
      if (k > big.offsets[u]) assert(big.order[k] > big.order[k - 1], "rows of a token not increasing");
    }
  }
  assert(big.offsets[big.uniqueIds.length] === 1000, "offsets do not end at rows");
  let threw = false;
  try {
    buildTokenIndex([1, 7], 7);
  } catch {
    threw = true;
  }
  assert(threw, "an id ≥ vocab was accepted");
});

Deno.test("embedding reference: backward matches central finite differences (float64)", () => {
  const random = new Random(42);
  const vocab = 5;
  const d = 3;
  const ids = [4, 1, 4, 0];
  const wte = random.fillUniform(new Float64Array(vocab * d));
  const dx = random.fillUniform(new Float64Array(ids.length * d));
  const loss = (w: Float64Array) => embeddingForward(w, ids, vocab, d).reduce((s, v, i) => s + v * dx[i], 0);
  const numeric = new Float64Array(vocab * d);
  const h = 1e-6;
  for (let i = 0; i < wte.length; i++) {
    const plus = wte.slice();
    const minus = wte.slice();
    plus[i] += h;
    minus[i] -= h;
    numeric[i] = (loss(plus) - loss(minus)) / (2 * h);
  }
  const error = relativeError(embeddingBackward(dx, ids, vocab, d), numeric);
  assert(error < 1e-8, `finite-difference error ${error}`);
});

Deno.test({
  name: "embedding: forward gather, accumulating backward with repeated ids, odd sizes",
  ...GPU_TEST,
  async fn() {
    const { gpu, kernels } = await testGpu();
    const random = new Random(43);
    let worst = 0;
    // d a multiple of 4 takes the vec4 kernels on lavapipe (variant serial, the default there); the
    // workgroup variant runs the one-float-per-invocation kernels GPUs use.
    const shapes: [number, number, number, RowVariant?][] = [
      [1, 7, 2],
      [3, 7, 33],
      [17, 320, 6],
      [100, 7, 256],
      [100, 7, 256, "workgroup"],
      [100, 1000, 33],
      [17, 1000, 2],
      [3, 320, 256],
      [3, 320, 256, "workgroup"],
      [17, 1000, 12],
    ];
    for (const [rows, vocab, d, variant] of shapes) {
      const label = `rows=${rows} vocab=${vocab} d=${d} ${variant ?? "default"}`;
      const ids = randomIds(random, rows, vocab);
      const wte = randomInputs(random, vocab * d);
      const dx = randomInputs(random, rows * d);
      const dwte0 = randomInputs(random, vocab * d);
      const embedding = await Embedding.create(kernels, { rows, vocab, d, variant });
      embedding.writeIndex(ids);
      const bwte = uploadBuffer(gpu, wte.f32, "wte");
      const bids = uploadBuffer(gpu, ids, "ids");
      const bx = createBuffer(gpu, rows * d * 4, "x");
      const bdx = uploadBuffer(gpu, dx.f32, "dx");
      const bdwte = uploadBuffer(gpu, dwte0.f32, "dwte");
      const encoder = gpu.device.createCommandEncoder();
      const pass = encoder.beginComputePass();
      embedding.forward(pass, bwte, bids, bx);
      embedding.backward(pass, bdx, bdwte);
      pass.end();
      gpu.device.queue.submit([encoder.finish()]);
      const x = await readFloats(gpu, bx);
      const dwte = await readFloats(gpu, bdwte);
      const expectedX = embeddingForward(wte.f64, ids, vocab, d);
      assert(x.every((v, i) => v === expectedX[i]), `forward ${label}: the gather is not exact`);
      const expectedDwte = embeddingBackward(dx.f64, ids, vocab, d).map((v, i) => v + dwte0.f64[i]);
      assertClose(dwte, expectedDwte, BACKWARD_TOLERANCE, `backward ${label}`);
      worst = Math.max(worst, relativeError(dwte, expectedDwte));
      for (const buffer of [bwte, bids, bx, bdx, bdwte]) buffer.destroy();
      embedding.destroy();
    }
    console.log(`embedding worst backward relative error ${worst.toExponential(2)}`);
  },
});

Deno.test({
  name:
    "embedding: backward is bit-identical run to run; the distinct-token count changes without new pipelines",
  ...GPU_TEST,
  async fn() {
    const { gpu, kernels } = await testGpu();
    const random = new Random(44);
    const rows = 300;
    const vocab = 50;
    // 37: the scalar kernels; 12: the vec4 kernels on lavapipe.
    for (const d of [37, 12]) {
      const embedding = await Embedding.create(kernels, { rows, vocab, d });
      const dx = randomInputs(random, rows * d, 100);
      const bdx = uploadBuffer(gpu, dx.f32, "dx");
      const batches = [
        randomIds(random, rows, vocab), // most of the vocabulary
        new Uint32Array(rows).fill(13), // one token on every row
        Uint32Array.from({ length: rows }, (_, r) => (r * 7) % 3), // three tokens
      ];
      const runs: Float32Array[] = [];
      for (const ids of [...batches, batches[0]]) {
        embedding.writeIndex(ids);
        const bdwte = createBuffer(gpu, vocab * d * 4, "dwte");
        const encoder = gpu.device.createCommandEncoder();
        const pass = encoder.beginComputePass();
        embedding.backward(pass, bdx, bdwte);
        pass.end();
        gpu.device.queue.submit([encoder.finish()]);
        const dwte = await readFloats(gpu, bdwte);
        assertClose(
          dwte,
          embeddingBackward(dx.f64, ids, vocab, d),
          BACKWARD_TOLERANCE,
          `d=${d} unique ${new Set(ids).size}`,
        );
        runs.push(dwte);
        bdwte.destroy();
      }
      assert(runs[0].every((v, i) => Object.is(v, runs[3][i])), "backward not bit-identical across runs");
      embedding.destroy();
      bdx.destroy();
    }
  },
});

Deno.test({
  name: "embedding: an id ≥ vocab reads nothing out of bounds and gives a NaN row",
  ...GPU_TEST,
  async fn() {
    const { gpu, kernels } = await testGpu();
    const rows = 3;
    const vocab = 7;
    const d = 6;
    const embedding = await Embedding.create(kernels, { rows, vocab, d });
    const bwte = uploadBuffer(gpu, new Float32Array(vocab * d).fill(1), "wte");
    const bids = uploadBuffer(gpu, Uint32Array.from([2, 7, 0xffffffff]), "ids");
    const bx = createBuffer(gpu, rows * d * 4, "x");
    const encoder = gpu.device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    embedding.forward(pass, bwte, bids, bx);
    pass.end();
    gpu.device.queue.submit([encoder.finish()]);
    const x = await readFloats(gpu, bx);
    assert(x.subarray(0, d).every((v) => v === 1), "the valid row is wrong");
    assert(x.subarray(d).every(Number.isNaN), "rows with bad ids are not NaN");
    let threw = false;
    try {
      embedding.writeIndex([2, 7, 1]);
    } catch {
      threw = true;
    }
    assert(threw, "writeIndex accepted an id ≥ vocab");
    embedding.destroy();
  },
});
