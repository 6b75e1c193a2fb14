import { assert, assertClose, assertEquals, assertRejects, assertThrows } from "./asserts.ts";
import { createBuffer, readFloats, uploadBuffer } from "../src/gpu/mod.ts";
import { registerVariantSupported } from "../src/ops/matmul.ts";
import {
  EmbeddingExampleStats,
  ExampleStatsReduce,
  exampleTokenIndex,
  type LinearExampleShape,
  LinearExampleStats,
  type LiveRows,
  paddedPartialColumns,
  type PerExampleVariant,
} from "../src/ops/per_example.ts";
import { matmulDyTx } from "../src/reference/matmul.ts";
import {
  embeddingExampleStats,
  type ExampleStatsReference,
  linearExampleStats,
} from "../src/reference/per_example.ts";
import { GPU_TEST, Random, randomInputs, testGpu } from "./helpers.ts";

// Each distinct (entry point, out, in) is a pipeline to compile on lavapipe (about a second each; the
// whole file runs in about 9 s with Mesa's shader cache disabled), so the shapes are few: odd sizes (7 × 9, the tiled kernel, which every register request
// with sizes not multiples of 4 also takes), and 72 × 68, which spans several blocks of both kernels
// with partial blocks at both edges (register: 16 × 32, tiled: 64 × 64).
const E = 3;
const P = 5;

// Bounds. float32 products of values in [-1, 1), summed over at most 2·P = 10 rows per example and then
// over E = 3 examples: per-coordinate sums within 1e-5 of the largest value. Per-example sums run over up
// to 72·68 coordinates in float32 (within a lane, then a fixed tree): within 5e-5 of Σ_j |·| of the same
// example (the signed Σ_j G·δ is compared against Σ_j |G·δ|, since it may cancel).
const COORDINATE_BOUND = 1e-5;
const EXAMPLE_BOUND = 5e-5;

async function variants(): Promise<PerExampleVariant[]> {
  const { gpu } = await testGpu();
  return registerVariantSupported(gpu) ? ["register", "tiled"] : ["tiled"];
}

/** What a record left: sums (after `calls` records from `sums0`) and the reduced per-example sums. */
interface Outcome {
  sumG: Float32Array;
  sumAbsG: Float32Array;
  perExample: Float32Array;
  partials: Float32Array;
}

interface Recordable {
  partialColumns: number;
}

/**
 * Records `calls` times into one pass with sums starting at `sums0` and partials holding garbage, then
 * reduces the partials.
 */
async function runStats(
  op: Recordable,
  inputs: Float32Array[],
  coordinates: number,
  sums0: Float32Array,
  calls: number,
  record: (
    pass: GPUComputePassEncoder,
    inputs: GPUBuffer[],
    sumG: GPUBuffer,
    sumAbsG: GPUBuffer,
    partials: GPUBuffer,
  ) => void,
): Promise<Outcome> {
  const { gpu, kernels } = await testGpu();
  const buffers = inputs.map((values, i) => uploadBuffer(gpu, values, `input ${i}`));
  const sumG = uploadBuffer(gpu, sums0, "sumG");
  const sumAbsG = uploadBuffer(gpu, sums0.map(Math.abs), "sumAbsG");
  const floats = op.partialColumns * E * 4;
  const partials = uploadBuffer(gpu, new Float32Array(floats).fill(1234.5), "partials");
  const out = createBuffer(gpu, E * 16, "per-example sums");
  const reduce = await ExampleStatsReduce.create(kernels, { examples: E, columns: op.partialColumns });
  const encoder = gpu.device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  for (let call = 0; call < calls; call++) record(pass, buffers, sumG, sumAbsG, partials);
  reduce.record(pass, partials, out);
  pass.end();
  gpu.device.queue.submit([encoder.finish()]);
  const outcome = {
    sumG: await readFloats(gpu, sumG, 0, coordinates),
    sumAbsG: await readFloats(gpu, sumAbsG, 0, coordinates),
    perExample: await readFloats(gpu, out, 0, E * 4),
    partials: await readFloats(gpu, partials, 0, floats),
  };
  for (const buffer of [...buffers, sumG, sumAbsG, partials, out]) buffer.destroy();
  reduce.destroy();
  return outcome;
}

/** Checks an outcome of `calls` records against the reference, sums having started at `sums0`. */
function checkOutcome(
  got: Outcome,
  expected: ExampleStatsReference,
  sums0: Float32Array,
  calls: number,
  label: string,
) {
  const sumG = expected.sumG.map((v, j) => sums0[j] + calls * v);
  const sumAbsG = expected.sumAbsG.map((v, j) => Math.abs(sums0[j]) + calls * v);
  assertClose(got.sumG, sumG, COORDINATE_BOUND, `${label} sumG`);
  assertClose(got.sumAbsG, sumAbsG, COORDINATE_BOUND, `${label} sumAbsG`);
  for (let e = 0; e < E; e++) {
    const want = expected.perExample.subarray(4 * e, 4 * e + 4);
    const have = got.perExample.subarray(4 * e, 4 * e + 4);
    const scales = [want[1], want[1], want[2], want[3]];
    for (let s = 0; s < 4; s++) {
      const error = Math.abs(have[s] - want[s]);
      assert(
        error <= EXAMPLE_BOUND * scales[s],
        `${label} example ${e} statistic ${s}: got ${have[s]}, expected ${want[s]} (error ${error})`,
      );
    }
  }
}

interface LinearCase {
  out: number;
  in: number;
  variant: PerExampleVariant;
  rowBlocksPerWorkgroup?: number;
  examplesPerSlice?: number;
  liveRows?: LiveRows;
  calls: number;
}

const LINEAR_CASES: LinearCase[] = [
  { out: 7, in: 9, variant: "tiled", liveRows: { first: 2, perExample: 2 }, calls: 1 },
  { out: 72, in: 68, variant: "register", liveRows: { first: 2, perExample: 2, period: 2 }, calls: 2 },
  { out: 72, in: 68, variant: "tiled", liveRows: { first: 1, perExample: 1 }, calls: 1 },
  { out: 7, in: 9, variant: "tiled", calls: 2 },
  { out: 72, in: 68, variant: "tiled", calls: 1 },
  { out: 72, in: 68, variant: "tiled", examplesPerSlice: E, calls: 2 },
  { out: 72, in: 68, variant: "tiled", rowBlocksPerWorkgroup: 2, calls: 1 },
  { out: 72, in: 68, variant: "register", calls: 2 },
  { out: 72, in: 68, variant: "register", rowBlocksPerWorkgroup: 2, calls: 1 },
];

Deno.test({
  name: "per-example Linear stats: both variants, odd sizes, slices, row groups, two calls accumulate",
  ...GPU_TEST,
  async fn() {
    const { kernels } = await testGpu();
    const available = await variants();
    const random = new Random(11);
    let tested = 0;
    for (const c of LINEAR_CASES) {
      if (!available.includes(c.variant)) continue;
      const op = await LinearExampleStats.create(kernels, {
        examples: E,
        rowsPerExample: P,
        out: c.out,
        in: c.in,
        variant: c.variant,
        rowBlocksPerWorkgroup: c.rowBlocksPerWorkgroup,
        examplesPerSlice: c.examplesPerSlice,
        liveRows: c.liveRows,
      });
      const coordinates = c.out * c.in;
      const dy = randomInputs(random, E * P * c.out);
      // Rows without gradient, as where an example's loss does not reach.
      dy.f32.fill(0, 0, c.out);
      dy.f64.fill(0, 0, c.out);
      if (c.liveRows) {
        // Rows past an example's live rows must be skipped: the kernel sees random values there, the
        // reference zeros, so reading them fails the comparison.
        for (let e = 0; e < E; e++) {
          const { first, perExample, period = E } = c.liveRows;
          const live = Math.min(P, first + (e % period) * perExample);
          dy.f64.fill(0, (e * P + live) * c.out, (e + 1) * P * c.out);
        }
      }
      const x = randomInputs(random, E * P * c.in);
      const delta = randomInputs(random, coordinates, 0.01);
      const sums0 = randomInputs(random, coordinates).f32;
      const got = await runStats(
        op,
        [dy.f32, x.f32, delta.f32],
        coordinates,
        sums0,
        c.calls,
        (pass, b, g, a, p) => {
          op.record(pass, b[0], b[1], b[2], g, a, p);
        },
      );
      const expected = linearExampleStats(dy.f64, x.f64, delta.f64, E, P, c.out, c.in);
      const label = `${op.variant}/${op.entryPoint} ${c.out}×${c.in} slices=${op.slices} ` +
        `group=${c.rowBlocksPerWorkgroup ?? "default"} calls=${c.calls} live=${JSON.stringify(c.liveRows)}`;
      checkOutcome(got, expected, sums0, c.calls, label);
      // Σ_e G_e is the ordinary weight gradient Σ_r dy_r x_rᵀ.
      const weightGradient = matmulDyTx(dy.f64, x.f64, E * P, c.out, c.in);
      const accumulated = Float64Array.from(got.sumG, (v, j) => (v - sums0[j]) / c.calls);
      assertClose(accumulated, weightGradient, 1e-5, `${label}: sumG against dyᵀx`);
      if (c.variant === "register") assertEquals(op.entryPoint, "linear_v4");
      if (c.examplesPerSlice === undefined && c.variant === "tiled") {
        assert(op.slices > 1, `${label}: expected slices`);
      }
      op.destroy();
      tested++;
    }
    assert(tested >= 3, `only ${tested} cases ran`);
  },
});

Deno.test({
  name: "per-example Linear stats: bit-identical run to run",
  ...GPU_TEST,
  async fn() {
    const { kernels } = await testGpu();
    for (const variant of await variants()) {
      const results: Outcome[] = [];
      for (let run = 0; run < 2; run++) {
        const op = await LinearExampleStats.create(kernels, {
          examples: E,
          rowsPerExample: P,
          out: 72,
          in: 68,
          variant,
        });
        const random = new Random(5);
        const inputs = [E * P * 72, E * P * 68, 72 * 68].map((n) => randomInputs(random, n).f32);
        results.push(
          await runStats(op, inputs, 72 * 68, new Float32Array(72 * 68), 1, (pass, b, g, a, p) => {
            op.record(pass, b[0], b[1], b[2], g, a, p);
          }),
        );
        op.destroy();
      }
      assertEquals(results[0], results[1], `${variant} differs between runs`);
    }
  },
});

interface EmbeddingCase {
  vocab: number;
  d: number;
  variant: PerExampleVariant;
  rowBlocksPerWorkgroup?: number;
}

const EMBEDDING_CASES: EmbeddingCase[] = [
  { vocab: 11, d: 9, variant: "tiled" },
  { vocab: 36, d: 36, variant: "register" },
  { vocab: 36, d: 36, variant: "register", rowBlocksPerWorkgroup: 2 },
];

/** Token ids with repeats inside an example and across examples, and ids that never occur. */
function tokenIds(vocab: number): Uint32Array {
  // Example 0 repeats the last id and the first; example 1 repeats id 3; example 2 holds distinct ids
  // spread over the vocabulary (several row blocks of the register kernel). Ids 1, 2 are absent.
  const top = vocab - 1;
  return Uint32Array.from([
    top,
    0,
    top,
    5,
    0,
    3,
    3,
    7,
    3,
    4,
    top - 1,
    6,
    Math.floor(vocab / 2),
    0,
    4,
  ]);
}

Deno.test({
  name: "per-example embedding stats: LM-head and input parts, repeated and absent tokens, both variants",
  ...GPU_TEST,
  async fn() {
    const { kernels } = await testGpu();
    const available = await variants();
    const random = new Random(23);
    let tested = 0;
    for (const c of EMBEDDING_CASES) {
      if (!available.includes(c.variant)) continue;
      const op = await EmbeddingExampleStats.create(kernels, {
        examples: E,
        rowsPerExample: P,
        vocab: c.vocab,
        d: c.d,
        variant: c.variant,
        rowBlocksPerWorkgroup: c.rowBlocksPerWorkgroup,
      });
      const coordinates = c.vocab * c.d;
      const ids = tokenIds(c.vocab);
      op.writeIndex(ids);
      const dlogits = randomInputs(random, E * P * c.vocab);
      const final = randomInputs(random, E * P * c.d);
      const dEmbedding = randomInputs(random, E * P * c.d);
      const delta = randomInputs(random, coordinates, 0.01);
      const sums0 = randomInputs(random, coordinates).f32;
      const got = await runStats(
        op,
        [dlogits.f32, final.f32, dEmbedding.f32, delta.f32],
        coordinates,
        sums0,
        1,
        (pass, b, g, a, p) => op.record(pass, b[0], b[1], b[2], b[3], g, a, p),
      );
      const expected = embeddingExampleStats(
        dlogits.f64,
        final.f64,
        dEmbedding.f64,
        ids,
        delta.f64,
        E,
        P,
        c.vocab,
        c.d,
      );
      const label = `${op.variant}/${op.entryPoint} V=${c.vocab} d=${c.d} group=${
        c.rowBlocksPerWorkgroup ?? "default"
      }`;
      checkOutcome(got, expected, sums0, 1, label);
      // The input part matters: without it the sums differ (guards against a test that cannot fail).
      const lmOnly = linearExampleStats(dlogits.f64, final.f64, delta.f64, E, P, c.vocab, c.d);
      const lmSumAbs = lmOnly.sumAbsG.map((v, j) => Math.abs(sums0[j]) + v);
      assert(
        Math.abs(got.sumAbsG[3 * c.d] - lmSumAbs[3 * c.d]) > 1e-3,
        `${label}: token 3's row shows no input part`,
      );
      op.destroy();
      // The LM-head part on one row per example (a per-token pass's gathered target rows): the same as
      // P rows per example of which all but that one are zero. Same pipelines: the rows come in params.
      const compact = await EmbeddingExampleStats.create(kernels, {
        examples: E,
        rowsPerExample: P,
        vocab: c.vocab,
        d: c.d,
        variant: c.variant,
        rowBlocksPerWorkgroup: c.rowBlocksPerWorkgroup,
        headRowsPerExample: 1,
      });
      compact.writeIndex(ids);
      const headLogits = randomInputs(random, E * c.vocab);
      const headFinal = randomInputs(random, E * c.d);
      const wideLogits = new Float64Array(E * P * c.vocab);
      const wideFinal = new Float64Array(E * P * c.d);
      for (let e = 0; e < E; e++) {
        const row = e * P + (e % P); // where the example's one target row would be
        wideLogits.set(headLogits.f64.subarray(e * c.vocab, (e + 1) * c.vocab), row * c.vocab);
        wideFinal.set(headFinal.f64.subarray(e * c.d, (e + 1) * c.d), row * c.d);
      }
      const gotCompact = await runStats(
        compact,
        [headLogits.f32, headFinal.f32, dEmbedding.f32, delta.f32],
        coordinates,
        sums0,
        1,
        (pass, b, g, a, p) => compact.record(pass, b[0], b[1], b[2], b[3], g, a, p),
      );
      const expectedCompact = embeddingExampleStats(
        wideLogits,
        wideFinal,
        dEmbedding.f64,
        ids,
        delta.f64,
        E,
        P,
        c.vocab,
        c.d,
      );
      checkOutcome(gotCompact, expectedCompact, sums0, 1, `${label} one head row per example`);
      compact.destroy();
      tested++;
    }
    assert(tested >= 1, "no embedding case ran");
  },
});

Deno.test("per-example embedding index: per example, rows sorted by (token id, row)", () => {
  const ids = [4, 1, 4, 0, 2, 2];
  const index = exampleTokenIndex(ids, 2, 3, 5);
  // Example 0: rows 0 (4), 1 (1), 2 (4) → ids 1, 4, 4 at rows 1, 0, 2; example 1: 0, 2, 2 at rows 3, 4, 5.
  assertEquals(Array.from(index), [1, 4, 4, 0, 2, 2, 1, 0, 2, 3, 4, 5]);
  assertThrows(() => exampleTokenIndex([0, 9], 1, 2, 5), RangeError, "token id 9");
});

Deno.test({
  name: "per-example stats reduce: columns summed per example, padding columns of zeros ignored",
  ...GPU_TEST,
  async fn() {
    const { gpu, kernels } = await testGpu();
    const examples = 5;
    const columns = 300;
    const random = new Random(3);
    const partials = randomInputs(random, columns * examples * 4).f32;
    // Columns 100 … 119 are padding between two regions: zeros.
    partials.fill(0, 100 * examples * 4, 120 * examples * 4);
    const reduce = await ExampleStatsReduce.create(kernels, { examples, columns });
    const input = uploadBuffer(gpu, partials, "partials");
    const out = uploadBuffer(gpu, new Float32Array(examples * 4).fill(7), "out");
    const encoder = gpu.device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    reduce.record(pass, input, out);
    pass.end();
    gpu.device.queue.submit([encoder.finish()]);
    const got = await readFloats(gpu, out, 0, examples * 4);
    const expected = new Float64Array(examples * 4);
    for (let c = 0; c < columns; c++) {
      for (let i = 0; i < examples * 4; i++) expected[i] += partials[c * examples * 4 + i];
    }
    // 300 float32 terms of size ≤ 1 summed in float32: within 300 · 2⁻²⁴ · 300 / |sum| ≲ 1e-4 relative.
    assertClose(got, expected, 1e-4, "reduce");
    input.destroy();
    out.destroy();
    reduce.destroy();
  },
});

Deno.test({
  name: "per-example stats: bad shapes, short bindings and bad token ids are refused with a clear error",
  ...GPU_TEST,
  async fn() {
    const { gpu, kernels } = await testGpu();
    const linear = (options: Partial<LinearExampleShape>) =>
      LinearExampleStats.create(kernels, { examples: 3, rowsPerExample: 5, out: 7, in: 9, ...options });
    await assertRejects(() => linear({ examples: 0 }), RangeError, "examples, got 0");
    await assertRejects(
      () => linear({ variant: "fast" as "tiled" }),
      RangeError,
      'unknown LinearExampleStats variant "fast"',
    );
    await assertRejects(
      () => linear({ liveRows: { first: 0, perExample: 1 } }),
      RangeError,
      "liveRows needs integers first ≥ 1",
    );
    // The register kernels need multiples of 4: other sizes take the tiled kernel.
    const op = await LinearExampleStats.create(kernels, {
      examples: E,
      rowsPerExample: P,
      out: 7,
      in: 9,
      variant: (await variants())[0],
    });
    assertEquals([op.variant, op.entryPoint], ["tiled", "linear_tiled"]);
    const small = createBuffer(gpu, 16, "small");
    const big = createBuffer(gpu, 4096, "big");
    const encoder = gpu.device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    assertThrows(() => op.record(pass, small, big, big, big, big, big), RangeError, "needs 420 bytes for dy");
    pass.end();
    encoder.finish();
    const embedding = await EmbeddingExampleStats.create(kernels, {
      examples: E,
      rowsPerExample: P,
      vocab: 11,
      d: 9,
      variant: "tiled",
    });
    assertThrows(() => embedding.writeIndex(new Uint32Array(4)), RangeError, "needs E·P = 3·5 = 15 ids");
    assertThrows(() => embedding.writeIndex(new Uint32Array(15).fill(11)), RangeError, "token id 11");
    assertEquals(paddedPartialColumns(3, 5), 16); // 3 · 5 · 16 = 240 bytes → 256 = 16 columns of 16 bytes
    for (const resource of [small, big]) resource.destroy();
    op.destroy();
    embedding.destroy();
  },
});
