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
// Why this shape: llvmpipe runs the 8 invocations of a workgroup as the 8 lanes of one SIMD vector. A
// storage load whose address differs across lanes becomes a scalar loop over the lanes with a bounds
// check per element (~9 instructions per float), while an FMA costs 1-2 instructions for all 8 lanes.
// So each workgroup is one subgroup of 8 lanes computing an R × (8·C) block of C: the R "row" values of
// each reduction step are loaded once, cooperatively (lane l loads row l as a vec4 along the reduction),
// and handed to all lanes with subgroupShuffle (one vpermps); each lane loads its own C "column" values.
// Per reduction step that is R + 8·C loaded floats for R·C vector FMAs. Accumulator arrays with
// constant-trip loops are unrolled by NIR and kept in registers; block sizes (16 × 32 for xwT and
// dyTx) were the fastest measured on a 2-core Zen 4 (30-45 GFLOP/s of CPU time at model
// shapes; tables in the matmul benchmark). Tried and slower: workgroup-memory tiles (workgroup loads are
// lane loops too, and barriers switch coroutines), textureLoad (a function call per fetch), vec4
// accumulators (spills), llvmpipe's 16-wide mode (LP_NATIVE_VECTOR_WIDTH=512).
//
// Entry points:
//   stationary_b  xwT and dyW, contiguous sizes multiples of 4: B held per lane, the reduction in
//                 chunks of ≤ 128 (the fastest kernel here; the others are for the shapes it refuses)
//   xwt_v4   xwT, K % 4 == 0                    vec4 loads along the reduction for both operands
//   dytx_v4  dyTx, M % 4 == 0 and K % 4 == 0     vec4 of 4 output columns for X, dY rows shared
//   any_s    every layout and size (scalar loads; strides as constants); slower, for odd shapes
//
// Workgroup grid: x = column blocks, y and z = row blocks (row block = wid.y + wid.z · nwg.y), so row
// counts beyond 65535 blocks fit. Requires subgroups with at least 8 invocations per subgroup.

enable subgroups;

override ROWS: u32;               // rows of C
override COLS: u32;               // columns of C
override RED: u32;                // reduction length
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
// dytx_v4: C[j,k] = Σ_i dY[i,j] X[i,k]; ROWS = M, COLS = K, RED = N (ROWS and COLS multiples of 4).
// A lane owns the vec4 column groups g = c0 + lane + 8c (c < TC). The TR rows j0 … j0 + TR − 1 of one
// token row i are TR / 4 vec4s of dY, loaded by TR / 4 lanes; the 8 lanes load TS = 32 / TR token rows
// at once, and the shuffles hand each step's values to every lane.

const TR = 16u;
const TC = 1u;
const TP = TR / 4u;   // lanes holding one token row's dY values
const TS = 8u / TP;   // token rows per dY load

@group(0) @binding(0) var<storage, read> tv_a: array<vec4f>;
@group(0) @binding(1) var<storage, read> tv_b: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> tv_c: array<vec4f>;

@compute @workgroup_size(8)
fn dytx_v4(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
           @builtin(local_invocation_id) lid: vec3u) {
  let rows4 = ROWS / 4u;
  let cols4 = COLS / 4u;
  let lane = lid.x;
  let r0 = (wid.y + wid.z * nwg.y) * TR;
  let c0 = wid.x * 8u * TC + lane;
  var xcol: array<u32, TC>;
  for (var c = 0u; c < TC; c++) { xcol[c] = min(c0 + 8u * c, cols4 - 1u); }
  let ycol = min(r0 / 4u + lane % TP, rows4 - 1u);
  let ystep = lane / TP;
  var acc: array<array<vec4f, TC>, TR>;
  for (var i0 = 0u; i0 < RED; i0 += TS) {
    let ys = tv_a[min(i0 + ystep, RED - 1u) * rows4 + ycol];
    for (var s = 0u; s < TS; s++) {
      let i = i0 + s;
      if (i < RED) {
        var x: array<vec4f, TC>;
        for (var c = 0u; c < TC; c++) { x[c] = tv_b[i * cols4 + xcol[c]]; }
        for (var p = 0u; p < TP; p++) {
          let y = subgroupShuffle(ys, s * TP + p);
          for (var c = 0u; c < TC; c++) {
            acc[4u * p][c] += y.x * x[c];
            acc[4u * p + 1u][c] += y.y * x[c];
            acc[4u * p + 2u][c] += y.z * x[c];
            acc[4u * p + 3u][c] += y.w * x[c];
          }
        }
      }
    }
  }
  var out: array<vec4f, TR * TC>;
  for (var r = 0u; r < TR; r++) { for (var c = 0u; c < TC; c++) { out[r * TC + c] = acc[r][c]; } }
  let rows = min(TR, ROWS - min(r0, ROWS));
  for (var e = 0u; e < rows * TC; e++) {
    let col = c0 + 8u * (e % TC);
    if (col < cols4) {
      let at = (r0 + e / TC) * cols4 + col;
      if (ACCUMULATE) { tv_c[at] += out[e]; } else { tv_c[at] = out[e]; }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// stationary_b: xwT (B_T false, B = W[COLS, RED]) and dyW (B_T true, B = W[RED, COLS]); COLS and RED
// multiples of 4. The B operand stays on the stack while the rows of A stream through: a lane owns the
// 4 output columns 4g … 4g + 3 of column group g = wid.x · 8 + lane and first loads their B values for
// one chunk of the reduction (SB_CHUNK4 vec4 steps) into `w` (at most 32 mat4x4: 16 KiB per workgroup,
// which stays in L1). Then, per row of A, the 8 lanes load the chunk of the row cooperatively (lane l the
// vec4s l, l + 8, …) and every lane multiplies its matrices with the shuffled vec4s: 16 FMAs per shuffle,
// the B values coming from the stack with plain vector loads. Reductions longer than one chunk run the
// chunks one after another in the same workgroup, each adding its partial sums onto the rows of C it
// wrote (a fixed order: chunk 0, 1, …); the last chunk is zero-padded.
//
// Why: on llvmpipe every storage load whose address differs across lanes (or depends on a loop
// variable) is a scalar loop over the lanes (~10 instructions per float), while a load from a private
// array at a compile-time index is one vector load. The loop over `w` runs to the array size (32),
// which Mesa unrolls fully, so every index is a constant (SB_CHUNK4 is an override, so `k4 < SB_CHUNK4`
// is decided at compile time); the preload loop has a bound the compiler cannot see through (one load
// site, not 32). Measured on a 2-core Zen 4 at the cpu-s shapes: 1.5–2× the GFLOP/s of xwt_v4 and of
// the former dyw_v4 (about 6 instructions per vector FMA instead of 14). The chunks cost one
// read-modify-write of C per row and chunk; at 1,024 rows and reductions of 192–384 (dyW of att_proj
// and the LM head) they still ran 1.3–2× dyw_v4's GFLOP/s of CPU time, and 1.5× xwt_v4's at xwT
// reductions of 192–768, so this kernel now takes every reduction length.

override B_T: bool = false;
override ROWS_PER_WG: u32 = 64u;
override SB_CHUNK4: u32 = 32u;    // vec4 steps of the reduction per chunk, ≤ SB_MAX4

const SB_MAX4 = 32u;

@group(0) @binding(0) var<storage, read> sb_a: array<vec4f>;
@group(0) @binding(1) var<storage, read> sb_b: array<f32>;
@group(0) @binding(2) var<storage, read_write> sb_c: array<vec4f>;

// The B values of the 4 columns of group `grp` at reduction index k (zero beyond RED).
fn sb_value(grp: u32, k: u32) -> vec4f {
  if (k >= RED) { return vec4f(0.0); }
  if (B_T) {
    let base = k * COLS + 4u * grp;
    return vec4f(sb_b[base], sb_b[base + 1u], sb_b[base + 2u], sb_b[base + 3u]);
  }
  let base = 4u * grp * RED + k;
  return vec4f(sb_b[base], sb_b[base + RED], sb_b[base + 2u * RED], sb_b[base + 3u * RED]);
}

@compute @workgroup_size(8)
fn stationary_b(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                @builtin(local_invocation_id) lid: vec3u) {
  let red4 = RED / 4u;
  let cols4 = COLS / 4u;
  let lane = lid.x;
  let g = wid.x * 8u + lane;
  let grp = min(g, cols4 - 1u);
  // min(nwg.z, 1) − 1 is 0, but the compiler cannot know it: loops bounded with it stay rolled.
  let zero = min(nwg.z, 1u) - 1u;
  let r_begin = (wid.y + wid.z * nwg.y) * ROWS_PER_WG;
  let r_end = min(r_begin + ROWS_PER_WG, ROWS);
  var w: array<mat4x4f, SB_MAX4>;
  for (var c4 = 0u; c4 < red4 + zero; c4 += SB_CHUNK4) {
    for (var k4 = 0u; k4 < SB_CHUNK4 + zero; k4++) {
      let k = 4u * (c4 + k4);
      w[k4] = mat4x4f(sb_value(grp, k), sb_value(grp, k + 1u), sb_value(grp, k + 2u), sb_value(grp, k + 3u));
    }
    for (var r = r_begin; r < r_end; r++) {
      var xs: array<vec4f, SB_MAX4 / 8u>;
      for (var q = 0u; q < SB_MAX4 / 8u; q++) {
        if (q * 8u < SB_CHUNK4) { xs[q] = sb_a[r * red4 + min(c4 + q * 8u + lane, red4 - 1u)]; }
      }
      var acc = vec4f(0.0);
      for (var k4 = 0u; k4 < SB_MAX4; k4++) {
        if (k4 < SB_CHUNK4) {
          acc += w[k4] * subgroupShuffle(xs[k4 / 8u], k4 % 8u);
        }
      }
      if (g < cols4) {
        let at = r * cols4 + g;
        if (ACCUMULATE || c4 > 0u) { sb_c[at] += acc; } else { sb_c[at] = acc; }
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
