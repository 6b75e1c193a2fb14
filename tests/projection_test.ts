import { assert, assertClose, assertEquals, assertRejects, assertThrows } from "./asserts.ts";
import { cosineSimilarityMatrix, mostOpposedPairs } from "../src/analysis/gradients/projection.ts";
import { ProjectionWriter, readProjections } from "../src/results/projections.ts";
import { formatOpposedPairs } from "../src/report/summary.ts";
import { readNpy } from "../src/io/npy.ts";
import { type MatmulVariant, registerVariantSupported } from "../src/ops/matmul.ts";
import { readFloats, uploadBuffer } from "../src/gpu/mod.ts";
import type { ParameterLayout, ParameterSpec } from "../src/model/parameters.ts";
import { GradientProjector, projectionMatrices, projectionSeed } from "../src/ops/projection.ts";
import { frobeniusInner, projectGradient, projectGradients } from "../src/reference/projection.ts";
import {
  embeddingExampleGradient,
  exampleGradients,
  linearExampleGradient,
} from "../src/reference/per_example.ts";
import { GPU_TEST, Random, randomInputs, testGpu } from "./helpers.ts";

// Odd sizes, none a multiple of any tile: E = 3 examples of P = 5 rows, Linears 7 × 9, kOut = 4, kIn = 3.
// The embedding is 11 × 9 so that its P_d projection shares the Linears' pipeline (every pipeline costs
// a compile on lavapipe).
const E = 3;
const P = 5;
const ROWS = E * P;
const OUT = 7;
const IN = 9;
const VOCAB = 11;
const K_OUT = 4;
const K_IN = 3;
const WTE = "transformer.wte.weight";
const ATT = "transformer.blocks.0.att_proj.weight";
const FF = "transformer.blocks.0.ff_out.weight";

/** A layout of just the parameters the tests use (the projector only reads names and shapes). */
function tinyLayout(): ParameterLayout {
  const shapes: [string, [number, number]][] = [[WTE, [VOCAB, IN]], [ATT, [OUT, IN]], [FF, [OUT, IN]]];
  let offset = 0;
  const specs: ParameterSpec[] = shapes.map(([name, shape], index) => {
    const spec = {
      name,
      shape,
      length: shape[0] * shape[1],
      offset,
      decay: index > 0,
      initStd: 1,
      layer: index > 0 ? 0 : -1,
    };
    offset += Math.ceil(spec.length / 64) * 64;
    return spec;
  });
  return { specs, byName: new Map(specs.map((spec) => [spec.name, spec])), totalLength: offset };
}

Deno.test("projectionMatrices: deterministic per (seed, name), N(0, 1/k) entries, independent of selection", () => {
  const layout = tinyLayout();
  const first = projectionMatrices(layout, { kOut: K_OUT, kIn: K_IN, seed: 5 });
  const second = projectionMatrices(layout, { kOut: K_OUT, kIn: K_IN, seed: 5 });
  const other = projectionMatrices(layout, { kOut: K_OUT, kIn: K_IN, seed: 6 });
  const onlyFf = projectionMatrices(layout, { kOut: K_OUT, kIn: K_IN, seed: 5, parameters: [FF] });
  assertEquals([...first.keys()], [WTE, ATT, FF]);
  assertEquals([...onlyFf.keys()], [FF]);
  for (const name of [WTE, ATT, FF]) {
    assertEquals(first.get(name), second.get(name), `${name}: same seed, different matrices`);
    assert(first.get(name)!.out[0] !== other.get(name)!.out[0], `${name}: seed 6 gave seed 5's matrix`);
  }
  assertEquals(onlyFf.get(FF), first.get(FF), "selecting parameters changed a matrix");
  assert(first.get(ATT)!.out[0] !== first.get(FF)!.out[0], "two parameters share a matrix");
  assertEquals(first.get(WTE)!.out.length, K_OUT * VOCAB);
  assertEquals(first.get(WTE)!.in.length, K_IN * IN);
  assert(
    projectionSeed(5, ATT) !== projectionSeed(5, FF) && projectionSeed(5, ATT) !== projectionSeed(6, ATT),
  );
  // Moments of a large matrix: 20000 entries of N(0, 1/kOut). The sample variance has relative standard
  // error √(2/n) = 1 %; 5 % is 5 standard errors. The mean's standard error is √(1/(kOut·n)) = 0.0035.
  const big = projectionMatrices(
    { specs: [{ ...layout.specs[0], shape: [5000, 3] }], byName: new Map() },
    { kOut: K_OUT, kIn: K_IN, seed: 1 },
  ).get(WTE)!.out;
  const mean = big.reduce((sum, value) => sum + value, 0) / big.length;
  const variance = big.reduce((sum, value) => sum + (value - mean) ** 2, 0) / big.length;
  assert(Math.abs(mean) < 5 * Math.sqrt(1 / (K_OUT * big.length)), `mean ${mean}`);
  assert(Math.abs(variance * K_OUT - 1) < 0.05, `variance ${variance}, expected ${1 / K_OUT}`);
  assertThrows(() => projectionMatrices(layout, { kOut: 0, kIn: 3, seed: 1 }), RangeError, "kOut");
  assertThrows(
    () => projectionMatrices(layout, { kOut: 2, kIn: 3, seed: 1, parameters: ["nope"] }),
    RangeError,
    `no parameter named "nope"`,
  );
});

Deno.test("projection: ⟨proj A, proj B⟩ is unbiased for ⟨A, B⟩ and norms are preserved in expectation", () => {
  // A and B are the per-example gradients of two examples of a 7 × 9 Linear (B made to correlate with A
  // so that ⟨A, B⟩ is not small beside ‖A‖‖B‖). Over seeds, X = ⟨P_o A P_iᵀ, P_o B P_iᵀ⟩ with P_o
  // [kO, out], P_i [kI, in] Gaussian N(0, 1/k). E[X] = ⟨A, B⟩ because E[P_oᵀP_o] = I, E[P_iᵀP_i] = I and
  // the two are independent. Variance bound: given P_i, with A' = A P_iᵀ, B' = B P_iᵀ and M = A'B'ᵀ,
  // X = (1/kO) Σ_t g_tᵀ M g_t over kO standard normal g_t, so Var(X | P_i) = (tr M² + ‖M‖²)/kO
  // ≤ 2‖A'‖²‖B'‖²/kO, and E‖A'‖⁴ ≤ ‖A‖⁴(1 + 2/kI) (same argument), so E[Var(X | P_i)] ≤
  // 2‖A‖²‖B‖²(1 + 2/kI)/kO by Cauchy–Schwarz; Var(E[X | P_i]) = Var⟨P_i Aᵀ, P_i Bᵀ⟩ ≤ 2‖A‖²‖B‖²/kI.
  // Total: σ² ≤ 2‖A‖²‖B‖²(1/kO + 1/kI + 2/(kO·kI)). The mean of 400 seeds must lie within 4 σ/√400 of
  // ⟨A, B⟩ (by the central limit theorem a false failure has probability below 1e-4; the seeds are
  // fixed, so the outcome is too). The same for ‖proj A‖² against ‖A‖² (B = A). Here the bound is 27 %
  // of ⟨A, B⟩ (the sample standard deviation of X is 0.6 σ-bound): a projection biased by 1.3× (entries of
  // variance 1.14/k; X scales as the fourth power of the entries' scale) would be off by 30 % and fail.
  const layout = tinyLayout();
  const random = new Random(3);
  const dy = randomInputs(random, 2 * P * OUT).f64;
  const x = randomInputs(random, 2 * P * IN).f64;
  for (let i = 0; i < P * OUT; i++) dy[P * OUT + i] = 0.8 * dy[i] + 0.3 * dy[P * OUT + i];
  for (let i = 0; i < P * IN; i++) x[P * IN + i] = 0.8 * x[i] + 0.3 * x[P * IN + i];
  const gradients = exampleGradients(2, OUT * IN, (e) => linearExampleGradient(dy, x, e, P, OUT, IN));
  const a = gradients.subarray(0, OUT * IN);
  const b = gradients.subarray(OUT * IN);
  const seeds = 400;
  const bound = (u: Float64Array, v: Float64Array) =>
    4 * Math.sqrt(
      2 * frobeniusInner(u, u) * frobeniusInner(v, v) * (1 / K_OUT + 1 / K_IN + 2 / (K_OUT * K_IN)),
    ) / Math.sqrt(seeds);
  let inner = 0;
  let normA = 0;
  for (let seed = 0; seed < seeds; seed++) {
    const m = projectionMatrices(layout, { kOut: K_OUT, kIn: K_IN, seed, parameters: [ATT] }).get(ATT)!;
    const pa = projectGradient(a, OUT, IN, m);
    const pb = projectGradient(b, OUT, IN, m);
    inner += frobeniusInner(pa, pb) / seeds;
    normA += frobeniusInner(pa, pa) / seeds;
  }
  const exactInner = frobeniusInner(a, b);
  const exactNorm = frobeniusInner(a, a);
  assert(exactInner > 0.5 * Math.sqrt(exactNorm * frobeniusInner(b, b)), "A and B should correlate");
  assert(
    Math.abs(inner - exactInner) <= bound(a, b),
    `mean ⟨proj A, proj B⟩ ${inner} vs ⟨A, B⟩ ${exactInner}: off by more than 4 standard errors ${
      bound(a, b)
    }`,
  );
  assert(
    Math.abs(normA - exactNorm) <= bound(a, a),
    `mean ‖proj A‖² ${normA} vs ‖A‖² ${exactNorm}: off by more than 4 standard errors ${bound(a, a)}`,
  );
  // The bound is tight enough to catch the scaled projection described above.
  assert(0.3 * exactInner > bound(a, b), `the bound ${bound(a, b)} is too loose to detect a 1.3× bias`);
});

interface RunOptions {
  parameters?: string[];
  variant?: MatmulVariant;
  kOut?: number;
  kIn?: number;
}

/** Runs the projector on random inputs; returns its output and the float64 reference of each slice. */
async function runProjector(random: Random, ids: number[], run: RunOptions = {}) {
  const { gpu, kernels } = await testGpu();
  const layout = tinyLayout();
  const { parameters, variant, kOut = K_OUT, kIn = K_IN } = run;
  const options = { kOut, kIn, seed: 11, parameters };
  const projector = await GradientProjector.create(kernels, layout, {
    ...options,
    examples: E,
    rowsPerExample: P,
    variant,
  });
  // Every parameter's matrices (they do not depend on which parameters are selected).
  const matrices = projectionMatrices(layout, { ...options, parameters: undefined });
  const inputs = {
    dyAtt: randomInputs(random, ROWS * OUT),
    xAtt: randomInputs(random, ROWS * IN),
    dyFf: randomInputs(random, ROWS * OUT),
    xFf: randomInputs(random, ROWS * IN),
    dlogits: randomInputs(random, ROWS * VOCAB),
    final: randomInputs(random, ROWS * IN),
    dEmbedding: randomInputs(random, ROWS * IN),
  };
  // Zero the rows of example 1 beyond its first two, as a token-granularity prefix would.
  for (let r = P + 2; r < 2 * P; r++) {
    for (let o = 0; o < OUT; o++) inputs.dyAtt.f32[r * OUT + o] = inputs.dyAtt.f64[r * OUT + o] = 0;
  }
  const buffers = Object.fromEntries(
    Object.entries(inputs).map(([name, value]) => [name, uploadBuffer(gpu, value.f32, name)]),
  );
  projector.writeIds(ids);
  const record = () => {
    const encoder = gpu.device.createCommandEncoder();
    projector.clear(encoder);
    const pass = encoder.beginComputePass();
    projector.embedding(pass, buffers.dlogits, buffers.final, buffers.dEmbedding);
    projector.linear(pass, ATT, buffers.dyAtt, buffers.xAtt);
    projector.linear(pass, layout.byName.get(FF)!, buffers.dyFf, buffers.xFf);
    pass.end();
    gpu.device.queue.submit([encoder.finish()]);
  };
  record();
  const output = await readFloats(gpu, projector.output, 0, E * projector.dims);
  record(); // cleared and recomputed: must be bit-identical
  const again = await projector.read();
  const expected = new Map<string, Float64Array>();
  const project = (name: string, gradients: Float64Array, out: number) => {
    const m = matrices.get(name)!;
    expected.set(name, projectGradients(gradients, E, out, IN, m));
  };
  const linear = (dy: Float64Array, x: Float64Array) =>
    exampleGradients(E, OUT * IN, (e) => linearExampleGradient(dy, x, e, P, OUT, IN));
  project(ATT, linear(inputs.dyAtt.f64, inputs.xAtt.f64), OUT);
  project(FF, linear(inputs.dyFf.f64, inputs.xFf.f64), OUT);
  const { dlogits, final, dEmbedding } = inputs;
  const wte = exampleGradients(
    E,
    VOCAB * IN,
    (e) => embeddingExampleGradient(dlogits.f64, final.f64, dEmbedding.f64, ids, e, P, VOCAB, IN),
  );
  project(WTE, wte, VOCAB);
  for (const buffer of Object.values(buffers)) buffer.destroy();
  return { projector, output, again, expected };
}

/** Slice `name` of every example's row of `output` ([E, dims]). */
function sliceOf(projector: GradientProjector, output: Float32Array, name: string): Float32Array {
  const slice = projector.sliceOf(name)!;
  const size = slice.kOut * slice.kIn;
  const values = new Float32Array(E * size);
  for (let e = 0; e < E; e++) {
    values.set(
      output.subarray(e * projector.dims + slice.offset, e * projector.dims + slice.offset + size),
      e * size,
    );
  }
  return values;
}

Deno.test({
  name: "GradientProjector: Linears and both parts of the tied embedding against the float64 reference, " +
    "both kernel families",
  ...GPU_TEST,
  async fn() {
    // Ids with repeats (3 four times, within and across examples) and absent ids (1, 2, 6, 8, 9).
    const ids = [3, 3, 0, 10, 3, 5, 7, 3, 0, 4, 10, 10, 5, 7, 0];
    const { gpu } = await testGpu();
    const variants: MatmulVariant[] = registerVariantSupported(gpu) ? ["register", "tiled"] : ["tiled"];
    for (const variant of variants) {
      const { projector, output, again, expected } = await runProjector(new Random(17), ids, { variant });
      assertEquals(projector.variant, variant);
      assertEquals(projector.dims, 3 * K_OUT * K_IN);
      const offsets = projector.slices.map((slice) => [slice.name, slice.offset]);
      assertEquals(offsets, [[WTE, 0], [ATT, 12], [FF, 24]]);
      for (const name of [WTE, ATT, FF]) {
        // float32 row projections (≤ 11 terms) then sums of ≤ 5 outer products, inputs in [-1, 1).
        assertClose(sliceOf(projector, output, name), expected.get(name)!, 1e-5, `${variant} ${name}`);
      }
      assertEquals(again, output, `${variant}: a second clear + record is not bit-identical`);
      projector.destroy();
    }
  },
});

Deno.test({
  name: "GradientProjector: a subset of parameters; bad input is refused with a clear error",
  ...GPU_TEST,
  async fn() {
    const ids = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0, 1, 2, 3];
    const { projector, output, expected } = await runProjector(new Random(4), ids, { parameters: [FF] });
    assertEquals(projector.dims, K_OUT * K_IN);
    assertEquals(projector.sliceOf(WTE), undefined);
    assertClose(sliceOf(projector, output, FF), expected.get(FF)!, 1e-5, "only ff_out");
    projector.destroy();

    // kOut = 9 and kIn = 33 span two row blocks and two column blocks of the subgroup kernels.
    const large = await runProjector(new Random(5), ids, { parameters: [WTE, ATT], kOut: 9, kIn: 33 });
    assertEquals(large.projector.slices.map((slice) => slice.offset), [0, 9 * 33]);
    for (const name of [WTE, ATT]) {
      assertClose(
        sliceOf(large.projector, large.output, name),
        large.expected.get(name)!,
        1e-5,
        `9 × 33 ${name}`,
      );
    }
    large.projector.destroy();

    const { gpu, kernels } = await testGpu();
    const layout = tinyLayout();
    const full = await GradientProjector.create(kernels, layout, {
      kOut: K_OUT,
      kIn: K_IN,
      seed: 11,
      examples: E,
      rowsPerExample: P,
    });
    assertThrows(() => full.writeIds([1, 2]), RangeError, "needs 15 ids");
    assertThrows(() => full.writeIds(new Array(ROWS).fill(VOCAB)), RangeError, "token id 11 at row 0");
    const short = uploadBuffer(gpu, new Float32Array(ROWS * OUT - 1), "short");
    const encoder = gpu.device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    assertThrows(() => full.embedding(pass, short, short, short), Error, "call writeIds(ids) first");
    assertThrows(
      () => full.linear(pass, "transformer.blocks.9.ff_out.weight", short, short),
      RangeError,
      "no parameter",
    );
    assertThrows(() => full.linear(pass, WTE, short, short), RangeError, "GradientProjector.embedding");
    assertThrows(
      () => full.linear(pass, ATT, short, short),
      RangeError,
      "dy of transformer.blocks.0.att_proj",
    );
    pass.end();
    encoder.finish();
    short.destroy();
    full.destroy();
    await assertRejects(
      () =>
        GradientProjector.create(kernels, layout, {
          kOut: 2,
          kIn: 2,
          seed: 0,
          examples: 0,
          rowsPerExample: 1,
        }),
      RangeError,
      "examples",
    );
  },
});

Deno.test("ProjectionWriter: streams vectors to .npy with an Arrow row table; cosines and opposed pairs", async () => {
  const directory = await Deno.makeTempDir({ prefix: "zsl-projection-" });
  try {
    const slices = [
      { name: ATT, offset: 0, kOut: 1, kIn: 2, shape: [OUT, IN] as [number, number] },
      { name: FF, offset: 2, kOut: 1, kIn: 1, shape: [OUT, IN] as [number, number] },
    ];
    const writer = await ProjectionWriter.create(directory, {
      seed: 3,
      kOut: 1,
      kIn: 2,
      slices,
      extra: { step: 7 },
    });
    assertEquals(writer.dims, 3);
    // Vector 1 is the exact opposite of vector 0; vector 2 is orthogonal to both on ATT's slice;
    // vector 3 is zero (a position without a target).
    await writer.append(
      { sequence: [0, 0], position: [4, 5], token: [10, 11], target: [11, 12] },
      new Float32Array([1, 2, 2, -1, -2, -2]),
    );
    await writer.append(
      { sequence: [1, 1], position: [0, 1], token: [20, 21], target: [21, -1] },
      new Float32Array([-2, 1, 5, 0, 0, 0]),
    );
    await assertRejects(
      () => writer.append({ sequence: [0], position: [0], token: [0], target: [0] }, new Float32Array(2)),
      RangeError,
      "not whole vectors",
    );
    const files = await writer.finish();
    assertEquals(files.count, 4);
    const npy = await readNpy(files.vectors);
    assertEquals(npy.shape, [4, 3]);
    const set = await readProjections(directory);
    assertEquals(set.count, 4);
    assertEquals(set.vectors, new Float32Array([1, 2, 2, -1, -2, -2, -2, 1, 5, 0, 0, 0]));
    assertEquals(set.target, new Int32Array([11, 12, 21, -1]));
    assertEquals(set.metadata?.extra, { step: 7 });
    assertEquals([...Deno.readDirSync(directory)].filter((entry) => entry.name.endsWith(".tmp")).length, 0);

    const cosines = cosineSimilarityMatrix(set, { rows: [0, 1, 2] });
    const expected02 = (1 * -2 + 2 * 1 + 2 * 5) / (3 * Math.sqrt(30));
    assertClose(
      cosines,
      [1, -1, expected02, -1, 1, -expected02, expected02, -expected02, 1],
      1e-12,
      "cosines",
    );
    const onAtt = cosineSimilarityMatrix(set, { parameter: ATT });
    assertEquals(onAtt[0 * 4 + 2], 0);
    assert(Number.isNaN(onAtt[0 * 4 + 3]), "a zero vector's cosine should be NaN");

    const pairs = mostOpposedPairs(set, 2);
    assertEquals(pairs.map((pair) => [pair.first.index, pair.second.index]), [[0, 1], [1, 2]]);
    assertClose([pairs[0].cosine, pairs[1].cosine], [-1, -expected02], 1e-12, "opposed cosines");
    assertEquals(pairs[0].first, { index: 0, sequence: 0, position: 4, token: 10, target: 11 });
    const text = formatOpposedPairs(pairs, (token) => ` t${token}`);
    assertEquals(
      text.split("\n")[0],
      `cos -1.000  seq 0 pos 4 " t10" → " t11"  vs  seq 0 pos 5 " t11" → " t12"`,
    );
    assertThrows(() => cosineSimilarityMatrix(set, { parameter: WTE }), RangeError, "no projected parameter");
    assertThrows(() => mostOpposedPairs(set, 1, { rows: [0, 4] }), RangeError, "row 4");

    const aborted = await ProjectionWriter.create(directory, { seed: 3, kOut: 1, kIn: 2, slices }, "aborted");
    await aborted.abort();
    assertEquals([...Deno.readDirSync(directory)].map((entry) => entry.name).sort(), [
      "projections.arrow",
      "projections.json",
      "projections.npy",
    ]);
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
});
