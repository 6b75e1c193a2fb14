// Matrix products of a Linear layer, register-tiled for CPU adapters (lavapipe/llvmpipe).
//
//   xwT   C[N,M] = X[N,K] · W[M,K]ᵀ     (forward)
//   dyW   C[N,K] = dY[N,M] · W[M,K]      (input gradient)
//   dyTx  C[M,K] = dY[N,M]ᵀ · X[N,K]     (weight gradient; reduction over the N token rows)
//
// Every entry point binds 0 A (read), 1 B (read), 2 C (read_write): A = X or dY, B = W or X as in the
// formulas above. With ACCUMULATE, C += product instead of C = product. Row-major float32, no strides:
// sub-blocks are passed as byte-offset bindings.
//
// Why these shapes: llvmpipe runs the 8 invocations of a workgroup as the 8 lanes of one SIMD vector. A
// storage load whose address differs across lanes becomes a scalar loop over the lanes with a bounds
// check per element (~9 instructions per float), while an FMA costs 1-2 instructions for all 8 lanes.
// So each workgroup is one subgroup of 8 lanes; values every lane needs are loaded once, cooperatively
// (lane l loads element l as a vec4 along the reduction), and handed around with subgroupShuffle (one
// vpermps). The fast kernels (stationary_b, dytx_stationary) keep one operand on the stack (a private
// array read at constant indices) and one to three vec4 accumulators in registers, and reach 40-60
// (stationary_b) and 20-37 (dytx_stationary) GFLOP/s of CPU time on a 2-core Zen 4 at the cpu presets'
// shapes (`deno task bench --sections matmul --presets cpu-s`); the register-tiled xwt_v4 (16 × 32
// blocks, accumulators spilled to the stack) reaches about 25. LLVM emits no FMA instructions here (a
// multiply and an add each), so 8-lane vectors cap a core near 2 · 8 flops a cycle. Tried and slower:
// workgroup-memory tiles (workgroup loads are lane loops too, and barriers switch coroutines),
// textureLoad (a function call per fetch), vec4 accumulators (spills), llvmpipe's 16-wide mode
// (LP_NATIVE_VECTOR_WIDTH=512).
//
// Entry points:
//   stationary_b     xwT and dyW, contiguous sizes multiples of 4: B held per lane for 1–3 groups of 4
//                    columns, the reduction in chunks of ≤ 128 (≤ 96 with 3 groups)
//   dytx_stationary  dyTx, M % 4 == 0 and K % 4 == 0: X held per lane, dY read down its columns
//   xwt_v4           xwT, K % 4 == 0 (M not): vec4 loads along the reduction for both operands
//   any_s            every layout and size (scalar loads; strides as constants); slower, for odd shapes
//
// Workgroup grid: x = column blocks, y and z = row blocks (row block = wid.y + wid.z · nwg.y), so row
// counts beyond 65535 blocks fit. Requires subgroups with at least 8 invocations per subgroup.

enable subgroups;

// Every set of override values is a pipeline that lavapipe compiles at its first dispatch (up to a
// second each for the stationary kernels), so the token count, the one size that changes with the batch,
// is an override only in the fallback kernels: stationary_b reads the rows of C, and dytx_stationary the
// token rows of its reduction, from the length of a binding the host sizes exactly. A loop bounded by
// them stays rolled either way; a new batch size then compiles no new stationary pipeline (cpu-s: 9 of
// its 13 matmul pipelines, and the 4 others too when the chunks of the reduction are alike).
override ROWS: u32;               // rows of C (not in stationary_b)
override COLS: u32;               // columns of C
override RED: u32;                // reduction length (not in dytx_stationary)
override ACCUMULATE: bool = false;

// ---------------------------------------------------------------------------------------------
// xwt_v4: C[i,j] = Σ_k X[i,k] W[j,k]; ROWS = N, COLS = M, RED = K (multiple of 4).
// A lane owns columns j = c0 + lane + 8c (c < XC); rows r0 … r0 + XR − 1 are shared.

const XR = 16u;
const XC = 4u;

@group(0) @binding(0) var<storage, read> xv_a: array<vec4f>;
@group(0) @binding(1) var<storage, read> xv_b: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> xv_c: array<f32>;

@compute @workgroup_size(8)
fn xwt_v4(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
          @builtin(local_invocation_id) lid: vec3u) {
  let red4 = RED / 4u;
  let lane = lid.x;
  let r0 = (wid.y + wid.z * nwg.y) * XR;
  let c0 = wid.x * 8u * XC + lane;
  var wrow: array<u32, XC>;
  for (var c = 0u; c < XC; c++) { wrow[c] = min(c0 + 8u * c, COLS - 1u) * red4; }
  var xrow: array<u32, XR / 8u>;
  for (var q = 0u; q < XR / 8u; q++) { xrow[q] = min(r0 + 8u * q + lane, ROWS - 1u) * red4; }
  var acc: array<array<f32, XC>, XR>;
  for (var t = 0u; t < red4; t++) {
    var w: array<vec4f, XC>;
    for (var c = 0u; c < XC; c++) { w[c] = xv_b[wrow[c] + t]; }
    for (var q = 0u; q < XR / 8u; q++) {
      let xs = xv_a[xrow[q] + t];
      for (var r = 0u; r < 8u; r++) {
        let x = subgroupShuffle(xs, r);
        for (var c = 0u; c < XC; c++) { acc[8u * q + r][c] += dot(x, w[c]); }
      }
    }
  }
  // The stores run in a loop with a runtime trip count, which the compiler keeps as a loop: one store
  // in the code instead of XR · XC lane loops (this halves the compile time on lavapipe).
  var out: array<f32, XR * XC>;
  for (var r = 0u; r < XR; r++) { for (var c = 0u; c < XC; c++) { out[r * XC + c] = acc[r][c]; } }
  let rows = min(XR, ROWS - min(r0, ROWS));
  for (var e = 0u; e < rows * XC; e++) {
    let col = c0 + 8u * (e % XC);
    if (col < COLS) {
      let at = (r0 + e / XC) * COLS + col;
      if (ACCUMULATE) { xv_c[at] += out[e]; } else { xv_c[at] = out[e]; }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// stationary_b: xwT (B_T false, B = W[COLS, RED]) and dyW (B_T true, B = W[RED, COLS]); COLS and RED
// multiples of 4. The B operand stays on the stack while the rows of A stream through: a lane owns
// SB_GROUPS (1–3) groups of 4 output columns, groups g0 + 8s for s < SB_GROUPS with g0 = wid.x · 8 ·
// SB_GROUPS + lane (so a workgroup owns 32 · SB_GROUPS columns), and first loads their B values for one
// chunk of the reduction (SB_CHUNK4 vec4 steps) into `w0`, `w1`, `w2` (up to 32, 32 and 24 mat4x4: with
// 3 groups a chunk holds at most 24, i.e. 36 KiB of stack per workgroup, 1–2 groups at most 32). Then, per row of A, the 8 lanes load the chunk of the row cooperatively (lane l
// the vec4s l, l + 8, …) and every lane multiplies its matrices with the shuffled vec4s: 16 · SB_GROUPS
// FMAs per shuffle, the B values coming from the stack with plain vector loads. Reductions longer than
// one chunk run the chunks one after another in the same workgroup, each adding its partial sums onto
// the rows of C it wrote (a fixed order: chunk 0, 1, …); the last chunk is zero-padded.
//
// Why: on llvmpipe every storage load whose address differs across lanes (or depends on a loop
// variable) is a scalar loop over the lanes (~8 instructions per float, a bounds check each), while a
// load from a private array at a compile-time index is one vector load. The loop over the arrays runs to
// their size (32), which Mesa unrolls fully, so every index is a constant (SB_CHUNK4 and SB_GROUPS are
// overrides, so `k4 < SB_CHUNK4` and `SB_GROUPS > 1u` are decided at compile time; the arrays of unused
// groups are never read and vanish); the preload loops have bounds the compiler cannot see through: one
// load site for all groups (a third less compile time than one per group at 3 groups, and no slower).
// Loading a row of A costs about as many instructions as the 16 FMAs per vec4 of one column group
// (GALLIVM_DEBUG=asm: ~40 per lane-vec4), so each row loaded feeds up to 3 groups: at 1,024 rows, 3
// groups a lane (96 columns) ran 1.15–1.5× the GFLOP/s of CPU time of one group, 2 groups 1.1–1.3× at
// 64 and 320 columns, also where their chunks of 32 save a pass over C at reductions of 128 and 320
// (cpu-m); 4 groups (48 KiB of stack) ran slower than 1, and 3 groups in chunks of 16 (24 KiB) slower
// than in chunks of 24. The preload of B costs about as much as 25 streamed rows, so the
// host gives each workgroup as many rows as keep 2 threads busy (2 workgroups at 96 columns).
//
// The never-taken store every 4 steps of the product loop (`zero` is 0) splits the unrolled products
// into blocks the compiler cannot schedule across. Without it LLVM sometimes hoisted all 128–512
// multiplies above the adds and spilled every product to the stack (about 400 extra stores per row:
// seen with GALLIVM_DEBUG=asm in every xwT with ACCUMULATE, i.e. the residual products attn_out and
// ff_out, and in dytx_stationary with ACCUMULATE), which cost up to 1.8× the time.

override B_T: bool = false;
override ROWS_PER_WG: u32 = 64u;
override SB_CHUNK4: u32 = 24u;    // vec4 steps of the reduction per chunk, ≤ SB_MAX4 (≤ SB_WIDE_MAX4 with 3 groups)
override SB_GROUPS: u32 = 1u;     // column groups of 4 per lane, 1–3

const SB_WIDE_MAX4 = 24u;
const SB_MAX4 = 32u;

@group(0) @binding(0) var<storage, read> sb_a: array<vec4f>;
@group(0) @binding(1) var<storage, read> sb_b: array<f32>;
@group(0) @binding(2) var<storage, read_write> sb_c: array<vec4f>;

// The B values of the 4 columns of group `grp` at reduction index k (zero beyond RED). Where the chunks
// cover the reduction exactly, the bounds test is left out at compile time (as the first-chunk test of
// the stores where there is one chunk, and dytx_stationary's clamps): 2–5% less CPU time for dyTx at
// 1,024 token rows, and no slower elsewhere.
fn sb_value(grp: u32, k: u32) -> vec4f {
  if ((RED / 4u) % SB_CHUNK4 != 0u && k >= RED) { return vec4f(0.0); }
  if (B_T) {
    let base = k * COLS + 4u * grp;
    return vec4f(sb_b[base], sb_b[base + 1u], sb_b[base + 2u], sb_b[base + 3u]);
  }
  let base = 4u * grp * RED + k;
  return vec4f(sb_b[base], sb_b[base + RED], sb_b[base + 2u * RED], sb_b[base + 3u * RED]);
}

// The B values of group `grp` (clamped to the last group) for the 16 reduction indices from k.
fn sb_block(grp: u32, k: u32) -> mat4x4f {
  let p = min(grp, COLS / 4u - 1u);
  return mat4x4f(sb_value(p, k), sb_value(p, k + 1u), sb_value(p, k + 2u), sb_value(p, k + 3u));
}

@compute @workgroup_size(8)
fn stationary_b(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                @builtin(local_invocation_id) lid: vec3u) {
  let red4 = RED / 4u;
  let cols4 = COLS / 4u;
  let lane = lid.x;
  let g0 = wid.x * 8u * SB_GROUPS + lane;
  let g1 = g0 + 8u;
  let g2 = g0 + 16u;
  // min(nwg.z, 1) − 1 is 0, but the compiler cannot know it: loops bounded with it stay rolled.
  let zero = min(nwg.z, 1u) - 1u;
  // The row count comes from C's binding (exactly ROWS · COLS floats) and the rows of a workgroup from
  // the grid, not from overrides: they only bound the rolled row loop, and so one pipeline serves every
  // batch size (each new override set is a pipeline lavapipe compiles, about a second at 3 groups).
  let rows = arrayLength(&sb_c) / cols4;
  let row_blocks = nwg.y * nwg.z;
  let rows_per_wg = (rows + row_blocks - 1u) / row_blocks;
  let r_begin = (wid.y + wid.z * nwg.y) * rows_per_wg;
  let r_end = min(r_begin + rows_per_wg, rows);
  var w0: array<mat4x4f, SB_MAX4>;
  var w1: array<mat4x4f, SB_MAX4>;
  var w2: array<mat4x4f, SB_WIDE_MAX4>;
  for (var c4 = 0u; c4 < red4 + zero; c4 += SB_CHUNK4) {
    for (var k4 = 0u; k4 < SB_CHUNK4 + zero; k4++) {
      let k = 4u * (c4 + k4);
      for (var s = 0u; s < SB_GROUPS + zero; s++) {
        let m = sb_block(g0 + 8u * s, k);
        if (s == 0u) { w0[k4] = m; } else if (s == 1u) { w1[k4] = m; } else { w2[k4] = m; }
      }
    }
    for (var r = r_begin; r < r_end; r++) {
      var xs: array<vec4f, SB_MAX4 / 8u>;
      for (var q = 0u; q < SB_MAX4 / 8u; q++) {
        if (q * 8u < SB_CHUNK4) { xs[q] = sb_a[r * red4 + min(c4 + q * 8u + lane, red4 - 1u)]; }
      }
      var acc0 = vec4f(0.0);
      var acc1 = vec4f(0.0);
      var acc2 = vec4f(0.0);
      for (var k4 = 0u; k4 < SB_MAX4; k4++) {
        if (k4 < SB_CHUNK4) {
          let x = subgroupShuffle(xs[k4 / 8u], k4 % 8u);
          acc0 += w0[k4] * x;
          if (SB_GROUPS > 1u) { acc1 += w1[k4] * x; }
          if (SB_GROUPS > 2u && k4 < SB_WIDE_MAX4) { acc2 += w2[k4] * x; }
        }
        if (k4 % 4u == 3u && zero != 0u) { sb_c[0] = acc0 + acc1 + acc2; }
      }
      let at = r * cols4;
      let add = ACCUMULATE || (RED / 4u > SB_CHUNK4 && c4 > 0u);
      sb_store(at, g0, acc0, add);
      if (SB_GROUPS > 1u) { sb_store(at, g1, acc1, add); }
      if (SB_GROUPS > 2u) { sb_store(at, g2, acc2, add); }
    }
  }
}

// C's vec4 of column group g in the row starting at vec4 `at`: set, or added to with `add`.
fn sb_store(at: u32, g: u32, value: vec4f, add: bool) {
  if (g < COLS / 4u) {
    if (add) { sb_c[at + g] += value; } else { sb_c[at + g] = value; }
  }
}

// ---------------------------------------------------------------------------------------------
// dytx_stationary: dyTx as stationary_b with A = dYᵀ read in place: C[j,k] = Σ_i dY[i,j] X[i,k];
// ROWS = M, COLS = K, RED = N (ROWS and COLS multiples of 4; N any). The lanes hold X of one chunk of
// token rows for their 4 output columns (one vec4 load per token row, as stationary_b holds W), and
// the workgroup's output rows j stream through: lane l gathers dY[i … i + 3, j] for i = c + 4(8q + l)
// with 4 scalar loads (down a column of dY, stride M), and the shuffles and products are stationary_b's.
// Consecutive rows j read the same cache lines of dY. The preload of X costs about as much as 32
// streamed rows, so a workgroup should stream many (the host gives it all M rows of its column block,
// or half). Measured at 1,024 token rows and the cpu presets' shapes (best of 9, CPU time, 2-core Zen 4):
// 1.2–1.5× the GFLOP/s of the register-tiled dytx_v4 it replaced (16 × 32 blocks, accumulators on the
// stack), e.g. 288 × 96 (att_proj of cpu-s) 38 against 25. Tried and slower or no better: lanes loading
// a vec4 of 4 rows j (a dY row segment) and multiplying 4 rows at once (mat4x4 · mat4x4), dytx_v4 with
// 4 token rows per accumulator update (+10%), and a 32 × 32 tile with both operands packed on the stack
// and 16 accumulators in registers (spill-free code, yet 0.8× dytx_v4). Also no better (round 4, at
// 1,024 token rows): stationary_b's 2–3 column groups a lane (chunks of 96 tokens: ±5%, 0.5× at 48
// columns), the partial sums of a workgroup's rows kept in a private array instead of C (0.8–1.0×), two
// arrays along the reduction (chunks of 256 tokens, 32 KiB: 0.7×), chunks of 64 or 32 tokens (0.9×,
// 0.75×); one row chunk instead of two (3 workgroups at 96 columns) saves 10% of CPU time but leaves
// one of two threads idle for a third of the product.

@group(0) @binding(0) var<storage, read> sx_a: array<f32>;
@group(0) @binding(1) var<storage, read> sx_b: array<vec4f>;

// Whether the chunks cover the token rows exactly (their count is a multiple of 4 · SB_CHUNK4): then the
// loads below need no clamps (2–5% less CPU time at 1,024 token rows). The token count itself is not an
// override: it comes from X's binding (exactly N · K floats), so one pipeline serves every batch size
// whose chunks are alike (every even batch of the cpu presets).
override SX_EXACT: bool = false;

// dY[k … k + 3, j]: the values of output row j at token rows k … k + 3 (indices beyond the `red` token
// rows are clamped; they meet zero X values).
fn sx_column(j: u32, k: u32, red: u32) -> vec4f {
  if (SX_EXACT) {
    return vec4f(sx_a[k * ROWS + j], sx_a[(k + 1u) * ROWS + j], sx_a[(k + 2u) * ROWS + j], sx_a[(k + 3u) * ROWS + j]);
  }
  let last = red - 1u;
  return vec4f(sx_a[min(k, last) * ROWS + j], sx_a[min(k + 1u, last) * ROWS + j],
               sx_a[min(k + 2u, last) * ROWS + j], sx_a[min(k + 3u, last) * ROWS + j]);
}

// X[i, 4grp … 4grp + 3] (zero beyond `red`): one vec4 load, which costs less than 4 scalar loads.
fn sx_row(grp: u32, i: u32, red: u32) -> vec4f {
  if (SX_EXACT) { return sx_b[i * (COLS / 4u) + grp]; }
  return select(vec4f(0.0), sx_b[min(i, red - 1u) * (COLS / 4u) + grp], i < red);
}

@compute @workgroup_size(8)
fn dytx_stationary(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                   @builtin(local_invocation_id) lid: vec3u) {
  let cols4 = COLS / 4u;
  let red = arrayLength(&sx_b) / cols4;
  let red4 = (red + 3u) / 4u;
  let lane = lid.x;
  let g = wid.x * 8u + lane;
  let grp = min(g, cols4 - 1u);
  let zero = min(nwg.z, 1u) - 1u;   // 0, opaque to the compiler (see stationary_b, also for its use below)
  let r_begin = (wid.y + wid.z * nwg.y) * ROWS_PER_WG;
  let r_end = min(r_begin + ROWS_PER_WG, ROWS);
  var w: array<mat4x4f, SB_MAX4>;
  for (var c4 = 0u; c4 < red4 + zero; c4 += SB_CHUNK4) {
    for (var k4 = 0u; k4 < SB_CHUNK4 + zero; k4++) {
      let k = 4u * (c4 + k4);
      w[k4] = mat4x4f(sx_row(grp, k, red), sx_row(grp, k + 1u, red), sx_row(grp, k + 2u, red), sx_row(grp, k + 3u, red));
    }
    for (var r = r_begin; r < r_end; r++) {
      var xs: array<vec4f, SB_MAX4 / 8u>;
      for (var q = 0u; q < SB_MAX4 / 8u; q++) {
        if (q * 8u < SB_CHUNK4) { xs[q] = sx_column(r, 4u * (c4 + q * 8u + lane), red); }
      }
      var acc = vec4f(0.0);
      for (var k4 = 0u; k4 < SB_MAX4; k4++) {
        if (k4 < SB_CHUNK4) {
          acc += w[k4] * subgroupShuffle(xs[k4 / 8u], k4 % 8u);
        }
        if (k4 % 8u == 7u && zero != 0u) { sb_c[0] = acc; }
      }
      if (g < cols4) {
        let at = r * cols4 + g;
        if (ACCUMULATE || (red > 4u * SB_CHUNK4 && c4 > 0u)) { sb_c[at] += acc; } else { sb_c[at] = acc; }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// any_s: C[r,c] = Σ_t A[r·A_ROW + t·A_RED] · B[c·B_COL + t·B_RED] for any sizes and layout:
//   xwT  A_ROW = K, A_RED = 1; B_COL = K, B_RED = 1
//   dyW  A_ROW = M, A_RED = 1; B_COL = 1, B_RED = K
//   dyTx A_ROW = 1, A_RED = M; B_COL = 1, B_RED = K
// A lane owns columns c0 + lane + 8c (c < SC); the SR rows are loaded by lane r % 8 and shuffled.

override A_ROW: u32 = 1u;
override A_RED: u32 = 1u;
override B_COL: u32 = 1u;
override B_RED: u32 = 1u;

const SR = 8u;
const SC = 4u;

@group(0) @binding(0) var<storage, read> s_a: array<f32>;
@group(0) @binding(1) var<storage, read> s_b: array<f32>;
@group(0) @binding(2) var<storage, read_write> s_c: array<f32>;

@compute @workgroup_size(8)
fn any_s(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
         @builtin(local_invocation_id) lid: vec3u) {
  let lane = lid.x;
  let r0 = (wid.y + wid.z * nwg.y) * SR;
  let c0 = wid.x * 8u * SC + lane;
  var bcol: array<u32, SC>;
  for (var c = 0u; c < SC; c++) { bcol[c] = min(c0 + 8u * c, COLS - 1u) * B_COL; }
  let arow = min(r0 + lane, ROWS - 1u) * A_ROW;
  var acc: array<array<f32, SC>, SR>;
  for (var t = 0u; t < RED; t++) {
    var b: array<f32, SC>;
    for (var c = 0u; c < SC; c++) { b[c] = s_b[bcol[c] + t * B_RED]; }
    let as_ = s_a[arow + t * A_RED];
    for (var r = 0u; r < SR; r++) {
      let a = subgroupShuffle(as_, r);
      for (var c = 0u; c < SC; c++) { acc[r][c] = fma(a, b[c], acc[r][c]); }
    }
  }
  var out: array<f32, SR * SC>;
  for (var r = 0u; r < SR; r++) { for (var c = 0u; c < SC; c++) { out[r * SC + c] = acc[r][c]; } }
  let rows = min(SR, ROWS - min(r0, ROWS));
  for (var e = 0u; e < rows * SC; e++) {
    let col = c0 + 8u * (e % SC);
    if (col < COLS) {
      let at = (r0 + e / SC) * COLS + col;
      if (ACCUMULATE) { s_c[at] += out[e]; } else { s_c[at] = out[e]; }
    }
  }
}
