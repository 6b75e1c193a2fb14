// Per-example gradient statistics of one weight W [OUT, IN] (issue 6: gradient interference).
//
// A batch holds E examples of P rows each (rows e·P … e·P + P − 1 belong to example e). Example e's
// gradient of a Linear weight is G_e = Σ_{r∈e} dy_r x_rᵀ (dy [E·P, OUT], x [E·P, IN]); for the tied
// embedding wte [OUT = V, IN = d] it is the LM-head part Σ_{r∈e} dlogits_r final_rᵀ plus the input part
// G_e[v, :] += dEmbedding_r for the rows r ∈ e holding token v. dy and x may hold fewer rows per example
// than P (params.head_rows: the per-token LM head runs on each example's target row only).
// These kernels never store G_e: each workgroup computes G_e on its block of coordinates j, one example
// after the other, and folds it into
//   sum_g[j]     += G_e[j]            sum_abs_g[j] += |G_e[j]|    (one invocation owns j: no atomics)
//   partials[column][e] = (Σ_j G_e[j]·δ_j, Σ_j |G_e[j]·δ_j|, Σ_j G_e[j]², Σ_j |G_e[j]|) over its block
// where `column` is the workgroup's index (x + y · nwg.x). Every sum has a fixed order, so results are
// bit-identical run to run on one adapter. example_reduce then sums partials over columns.
//
// A workgroup owns the column block wid.x and the row blocks wid.y · group … + group − 1 (params.group,
// fewer columns of partials for very tall weights: the embedding). Its partials are written (=) by its
// first row block and added (+=) by the next ones.
//
// Entry points:
//   linear_v4 / embed_v4        register kernels for CPU adapters (lavapipe), OUT % 4 == 0, IN % 4 == 0
//   linear_tiled / embed_tiled  workgroup-memory kernels for GPUs, any sizes; examples may be split into
//                               slices along z, each writing its own plane of sum_g / sum_abs_g (scratch)
//   slice_reduce                adds those planes into sum_g / sum_abs_g in slice order
//   example_reduce              partials [columns][E] (vec4) → out [E] (vec4), columns summed in order
//
// E, P and the blocking come from a uniform (params), not override constants: P takes many values (one
// per prefix length at token granularity), each of which would otherwise be a pipeline to compile, and
// loops bounded by them stay loops (lavapipe fully unrolls small constant trip counts).
//
// Compile time on lavapipe (measured on 2 cores): a first register kernel kept δ, sum_g and sum_abs_g of
// its block in private arrays that NIR turned into registers, carried around the loop over examples
// (256 floats per lane beside the accumulators): LLVM's register allocator took 15-20 s per pipeline.
// Now one access to each of those arrays has a runtime index (the load and store loops, bounded by
// params.block = 16, a value the compiler cannot see), so they stay arrays in memory, which the fold
// reads and writes at constant indices as whole SIMD vectors: about 1 s per pipeline, and as fast.
// (Indexing them at run time in the fold too made the fold 2× slower: runtime-indexed private arrays
// are accessed lane by lane.) Likewise the tiled kernel's loops over its 16 coordinates are bounded by
// params.block: every global access whose address differs across lanes is a loop over the lanes in
// the generated code, and 16 unrolled copies of each made it slow to compile.

enable subgroups;

override OUT: u32 = 1u;  // rows of W (vocabulary for the embedding)
override IN: u32 = 1u;   // columns of W (d for the embedding)

struct Params {
  examples: u32,    // E
  rows: u32,        // P, rows per example
  group: u32,       // row blocks per workgroup
  row_blocks: u32,  // row blocks of W in all
  chunk: u32,       // tiled: examples per slice (wid.z)
  sliced: u32,      // tiled: 1 when sum_g / sum_abs_g are per-slice scratch planes (overwritten)
  plane: u32,       // tiled: floats per scratch plane (OUT · IN)
  slices: u32,      // slice_reduce: number of planes
  block: u32,       // 16 again, as a value the compiler cannot see: register rows / tiled coordinates
  head_rows: u32,   // rows per example of dy and x (P, or fewer for the embedding's LM-head part)
  live_first: u32,   // example e's dy rows past min(head_rows, live_first + (e % live_period) ·
  live_step: u32,    // live_step) are zero: skipped (per-token copies: every row after a copy's
  live_period: u32,  // target; see live_rows)
  pad0: u32,
  pad1: u32,
  pad2: u32,
}

// Bindings shared by the four main entry points (the embed ones add 7 and 8):
//   0 dy [E·P, OUT] (dlogits for the embedding), 1 x [E·P, IN] (final-norm output), 2 δ [OUT·IN],
//   3 sum_g [OUT·IN] (read_write), 4 sum_abs_g [OUT·IN] (read_write), 5 partials [columns][E] vec4
//   (read_write), 6 params (uniform), 7 dEmbedding [E·P, IN], 8 index (u32: see first_hit).
@group(0) @binding(6) var<uniform> params: Params;
@group(0) @binding(8) var<storage, read> ix: array<u32>;

// Index layout (u32), written by the host per batch: for each example e, its P rows sorted by token id
// (rows ascending within an id): ix[e·P + j] = the token id, ix[E·P + e·P + j] = the row (0 … E·P − 1).
// The first position j of example e whose id is ≥ first (binary search; every invocation reads the same
// addresses).
fn first_hit(e: u32, first: u32) -> u32 {
  let base = e * params.rows;
  var lo = 0u;
  var hi = params.rows;
  while (lo < hi) {
    let mid = (lo + hi) / 2u;
    if (ix[base + mid] < first) {
      lo = mid + 1u;
    } else {
      hi = mid;
    }
  }
  return lo;
}

// Rows of example e that can hold a nonzero dy, the leading ones (≥ 1). A per-token copy's loss sits at
// one row, and causal attention leaves every later row's gradient exactly zero: their outer products
// add nothing, so the accumulations stop there.
fn live_rows(e: u32) -> u32 {
  return max(1u, min(params.head_rows, params.live_first + (e % params.live_period) * params.live_step));
}

// Horizontal sum in a fixed order.
fn hsum(v: vec4f) -> f32 {
  return (v.x + v.y) + (v.z + v.w);
}

// ---------------------------------------------------------------------------------------------
// Register kernels (lavapipe). One 8-lane subgroup per workgroup owns TR = 16 rows × 8 vec4 column
// groups (32 columns) of W, as matmul.wgsl's dytx_v4: lane l owns the vec4 column group wid.x·8 + l of
// the 16 rows; per token row, the 16 dy values are 4 vec4s loaded by 4 lanes (two token rows per load)
// and handed around with subgroupShuffle. G_e of the block (r_acc) is indexed by constants only, so it
// stays in registers through the loop over the example's rows. δ, sum_g and sum_abs_g of the block are
// loaded once per row block into private arrays that stay in memory (see the top of the file), which
// the fold reads and writes as whole SIMD vectors, far cheaper than per-lane global accesses. The
// per-example fold reduces the 8 lanes' partial sums with a subgroupShuffleXor butterfly (floating-point
// addition is commutative, so every lane ends with the same value; lane 0 stores it).

const TR = 16u;
const TP = TR / 4u;  // lanes holding one token row's 16 dy values
const TS = 8u / TP;  // token rows per dy load

@group(0) @binding(0) var<storage, read> rv_dy: array<vec4f>;
@group(0) @binding(1) var<storage, read> rv_x: array<vec4f>;
@group(0) @binding(2) var<storage, read> rv_delta: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> rv_sum_g: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> rv_sum_abs_g: array<vec4f>;
@group(0) @binding(5) var<storage, read_write> rv_partials: array<vec4f>;
@group(0) @binding(7) var<storage, read> rv_demb: array<vec4f>;

var<private> r_acc: array<vec4f, TR>;    // G_e on the lane's 16 × 4 coordinates
var<private> r_delta: array<vec4f, TR>;
var<private> r_sum_g: array<vec4f, TR>;
var<private> r_sum_abs: array<vec4f, TR>;

struct Lane {
  lane: u32,
  xcol: u32,     // the lane's vec4 column group, clamped to the last one
  col_ok: bool,  // the lane's column group exists
  column: u32,   // the workgroup's column of partials
}

fn lane_of(wid: vec3u, nwg: vec3u, lid: vec3u) -> Lane {
  let cols4 = IN / 4u;
  let c4 = wid.x * 8u + lid.x;
  return Lane(lid.x, min(c4, cols4 - 1u), c4 < cols4, wid.x + wid.y * nwg.x);
}

// Rows of the block inside W, bounded by params.block rather than the constant TR: the load and store
// loops stay loops with a runtime index, which keeps r_delta, r_sum_g and r_sum_abs in memory (see the
// top of the file).
fn r_rows(r0: u32) -> u32 {
  return min(params.block, OUT - min(r0, OUT));
}

// Loads δ, sum_g and sum_abs_g of row block r0.
fn r_load(r0: u32, l: Lane) {
  let cols4 = IN / 4u;
  for (var r = 0u; r < r_rows(r0); r++) {
    let at = (r0 + r) * cols4 + l.xcol;
    r_delta[r] = rv_delta[at];
    r_sum_g[r] = rv_sum_g[at];
    r_sum_abs[r] = rv_sum_abs_g[at];
  }
}

// acc = Σ_{r∈e} dy_r x_rᵀ on the block (rows past OUT and columns past IN read as zero).
fn r_accumulate(e: u32, r0: u32, l: Lane) {
  let rows4 = OUT / 4u;
  let cols4 = IN / 4u;
  let base = e * params.head_rows;
  let p = live_rows(e);
  let yc4 = r0 / 4u + l.lane % TP;
  let y_ok = yc4 < rows4;
  let ycol = min(yc4, rows4 - 1u);
  let ystep = l.lane / TP;
  for (var r = 0u; r < TR; r++) { r_acc[r] = vec4f(0.0); }
  for (var i0 = 0u; i0 < p; i0 += TS) {
    let ys = select(vec4f(0.0), rv_dy[(base + min(i0 + ystep, p - 1u)) * rows4 + ycol], y_ok);
    for (var s = 0u; s < TS; s++) {
      let i = i0 + s;
      if (i < p) {
        let x = select(vec4f(0.0), rv_x[(base + i) * cols4 + l.xcol], l.col_ok);
        for (var q = 0u; q < TP; q++) {
          let y = subgroupShuffle(ys, s * TP + q);
          r_acc[4u * q] += y.x * x;
          r_acc[4u * q + 1u] += y.y * x;
          r_acc[4u * q + 2u] += y.z * x;
          r_acc[4u * q + 3u] += y.w * x;
        }
      }
    }
  }
}

// The embedding's input part: acc[v − r0] += dEmbedding_r for the rows r of example e holding a token v
// of this row block, in (id, row) order. The row index is dynamic, so every row of acc takes a select
// (hits are rare: P per example over all V / 16 row blocks).
fn r_embed_input(e: u32, r0: u32, l: Lane) {
  let cols4 = IN / 4u;
  let p = params.rows;
  let sorted = e * p;
  let rows_at = params.examples * p + sorted;
  for (var j = first_hit(e, r0); j < p; j++) {
    let id = ix[sorted + j];
    if (id >= r0 + TR) {
      break;
    }
    let v = select(vec4f(0.0), rv_demb[ix[rows_at + j] * cols4 + l.xcol], l.col_ok);
    let t = id - r0;
    for (var r = 0u; r < TR; r++) { r_acc[r] += select(vec4f(0.0), v, r == t); }
  }
}

// Folds acc into the running sums and the example's partials. `first`: the workgroup's first row block
// (its partials are overwritten, later blocks add).
fn r_fold(e: u32, l: Lane, first: bool) {
  var s_dot = vec4f(0.0);
  var s_abs_dot = vec4f(0.0);
  var s_sq = vec4f(0.0);
  var s_abs = vec4f(0.0);
  for (var r = 0u; r < TR; r++) {
    let g = r_acc[r];
    let a = abs(g);
    r_sum_g[r] += g;
    r_sum_abs[r] += a;
    let pd = g * r_delta[r];
    s_dot += pd;
    s_abs_dot += abs(pd);
    s_sq += g * g;
    s_abs += a;
  }
  var stats = vec4f(hsum(s_dot), hsum(s_abs_dot), hsum(s_sq), hsum(s_abs));
  stats += subgroupShuffleXor(stats, 1u);
  stats += subgroupShuffleXor(stats, 2u);
  stats += subgroupShuffleXor(stats, 4u);
  if (l.lane == 0u) {
    let at = l.column * params.examples + e;
    if (first) {
      rv_partials[at] = stats;
    } else {
      rv_partials[at] += stats;
    }
  }
}

// Stores sum_g and sum_abs_g of the block.
fn r_store(r0: u32, l: Lane) {
  let cols4 = IN / 4u;
  if (l.col_ok) {
    for (var r = 0u; r < r_rows(r0); r++) {
      let at = (r0 + r) * cols4 + l.xcol;
      rv_sum_g[at] = r_sum_g[r];
      rv_sum_abs_g[at] = r_sum_abs[r];
    }
  }
}

@compute @workgroup_size(8)
fn linear_v4(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
             @builtin(local_invocation_id) lid: vec3u) {
  let l = lane_of(wid, nwg, lid);
  let first = wid.y * params.group;
  let last = min(first + params.group, params.row_blocks);
  for (var rb = first; rb < last; rb++) {
    let r0 = rb * TR;
    r_load(r0, l);
    for (var e = 0u; e < params.examples; e++) {
      r_accumulate(e, r0, l);
      r_fold(e, l, rb == first);
    }
    r_store(r0, l);
  }
}

@compute @workgroup_size(8)
fn embed_v4(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
            @builtin(local_invocation_id) lid: vec3u) {
  let l = lane_of(wid, nwg, lid);
  let first = wid.y * params.group;
  let last = min(first + params.group, params.row_blocks);
  for (var rb = first; rb < last; rb++) {
    let r0 = rb * TR;
    r_load(r0, l);
    for (var e = 0u; e < params.examples; e++) {
      r_accumulate(e, r0, l);
      r_embed_input(e, r0, l);
      r_fold(e, l, rb == first);
    }
    r_store(r0, l);
  }
}

// ---------------------------------------------------------------------------------------------
// Tiled kernels (GPUs). A workgroup of 16 × 16 invocations owns a 64 × 64 block of W, each invocation
// a 4 × 4 register block (rows 4·ly …, columns 4·lx …), as matmul_tiled.wgsl; per example it stages
// 16 token rows of dy and x at a time in workgroup memory, then adds G_e into sum_g / sum_abs_g (in
// global memory: a read-modify-write per example, which a GPU's caches absorb) and reduces the 256
// invocations' partial sums with a fixed two-level tree in workgroup memory (once per example).
//
// Small weights have few blocks, so the examples are split into slices along z (params.chunk examples
// each): with params.sliced, binding 3 / 4 are scratch planes [slices][OUT·IN]; slice z writes its plane
// (z · plane + j: = for its first example, += after), and slice_reduce adds the planes into sum_g /
// sum_abs_g in slice order.

const BM = 64u;
const BN = 64u;
const BK = 16u;
const TG = 256u;  // invocations per workgroup

@group(0) @binding(0) var<storage, read> t_dy: array<f32>;
@group(0) @binding(1) var<storage, read> t_x: array<f32>;
@group(0) @binding(2) var<storage, read> t_delta: array<f32>;
@group(0) @binding(3) var<storage, read_write> t_sum_g: array<f32>;
@group(0) @binding(4) var<storage, read_write> t_sum_abs_g: array<f32>;
@group(0) @binding(5) var<storage, read_write> t_partials: array<vec4f>;
@group(0) @binding(7) var<storage, read> t_demb: array<f32>;

var<workgroup> t_as: array<vec4f, BK * BM / 4u>;  // [t][row / 4]: dy of 16 token rows
var<workgroup> t_bs: array<vec4f, BK * BN / 4u>;  // [t][column / 4]: x of 16 token rows
var<workgroup> t_red: array<vec4f, TG>;
var<workgroup> t_red16: array<vec4f, 16>;

var<private> t_acc: array<vec4f, 4>;  // t_acc[i] = G_e[row0 + i, col0 … col0 + 3]
var<private> t_dl: array<f32, 16>;

// Per-invocation values. The workgroup's row blocks and example slice are computed in the entry points
// themselves: values in a struct with the invocation index would count as non-uniform, and the loops
// over them hold barriers.
struct Block {
  tid: u32,
  lx: u32,
  ly: u32,
  col0: u32,      // the invocation's first column
  column: u32,    // the workgroup's column of partials
  plane: u32,     // offset of the slice's scratch plane (0 unless sliced)
}

fn block_of(wid: vec3u, nwg: vec3u, lid: vec3u) -> Block {
  return Block(lid.y * 16u + lid.x, lid.x, lid.y, wid.x * BN + 4u * lid.x, wid.x + wid.y * nwg.x,
               select(0u, wid.z * params.plane, params.sliced != 0u));
}

// δ of the invocation's 16 coordinates (row-major 4 × 4; outside W: 0). Loops over the 16 coordinates
// use params.block (16) as their bound, which the compiler cannot see: on lavapipe every global access
// in an unrolled copy is a loop over the lanes, and 16 copies of each made the kernel slow to compile.
fn t_load(row0: u32, b: Block) {
  for (var q = 0u; q < params.block; q++) {
    let row = row0 + q / 4u;
    let k = b.col0 + q % 4u;
    t_dl[q] = select(0.0, t_delta[min(row, OUT - 1u) * IN + min(k, IN - 1u)], row < OUT && k < IN);
  }
}

fn t_accumulate(e: u32, wrow0: u32, wcol0: u32, b: Block) {
  let base = e * params.head_rows;
  let p = live_rows(e);
  for (var i = 0u; i < 4u; i++) { t_acc[i] = vec4f(0.0); }
  for (var t0 = 0u; t0 < p; t0 += BK) {
    // 16 token rows × 64 rows of dy, 16 × 64 columns of x: invocation tid loads 4 neighbouring rows
    // (columns) of token row t0 + tid / 16; neighbours read neighbouring addresses.
    {
      let t = b.tid / 16u;
      let c = (b.tid % 16u) * 4u;
      let row_ok = t0 + t < p;
      let at = (base + min(t0 + t, p - 1u));
      var a = vec4f(0.0);
      var x = vec4f(0.0);
      for (var q = 0u; q < 4u; q++) {
        let o = wrow0 + c + q;
        a[q] = select(0.0, t_dy[at * OUT + min(o, OUT - 1u)], row_ok && o < OUT);
        let k = wcol0 + c + q;
        x[q] = select(0.0, t_x[at * IN + min(k, IN - 1u)], row_ok && k < IN);
      }
      t_as[t * (BM / 4u) + c / 4u] = a;
      t_bs[t * (BN / 4u) + c / 4u] = x;
    }
    workgroupBarrier();
    for (var t = 0u; t < BK; t++) {
      let a = t_as[t * (BM / 4u) + b.ly];
      let x = t_bs[t * (BN / 4u) + b.lx];
      t_acc[0] = fma(vec4f(a.x), x, t_acc[0]);
      t_acc[1] = fma(vec4f(a.y), x, t_acc[1]);
      t_acc[2] = fma(vec4f(a.z), x, t_acc[2]);
      t_acc[3] = fma(vec4f(a.w), x, t_acc[3]);
    }
    workgroupBarrier();
  }
}

// The embedding's input part on the invocation's 4 rows (see r_embed_input).
fn t_embed_input(e: u32, wrow0: u32, b: Block) {
  let p = params.rows;
  let sorted = e * p;
  let rows_at = params.examples * p + sorted;
  let row0 = wrow0 + 4u * b.ly;
  for (var j = first_hit(e, row0); j < p; j++) {
    let id = ix[sorted + j];
    if (id >= row0 + 4u) {
      break;
    }
    let r = ix[rows_at + j];
    var v = vec4f(0.0);
    for (var c = 0u; c < 4u; c++) {
      let k = b.col0 + c;
      v[c] = select(0.0, t_demb[r * IN + min(k, IN - 1u)], k < IN);
    }
    let t = id - row0;
    for (var i = 0u; i < 4u; i++) { t_acc[i] += select(vec4f(0.0), v, i == t); }
  }
}

fn t_fold(e: u32, row0: u32, b: Block, first: bool, first_e: bool) {
  let gv = array<f32, 16>(t_acc[0].x, t_acc[0].y, t_acc[0].z, t_acc[0].w, t_acc[1].x, t_acc[1].y, t_acc[1].z,
                          t_acc[1].w, t_acc[2].x, t_acc[2].y, t_acc[2].z, t_acc[2].w, t_acc[3].x, t_acc[3].y,
                          t_acc[3].z, t_acc[3].w);
  var stats = vec4f(0.0);
  for (var q = 0u; q < params.block; q++) {
    let g = gv[q];
    let a = abs(g);
    let pd = g * t_dl[q];
    stats += vec4f(pd, abs(pd), g * g, a);
    let row = row0 + q / 4u;
    let k = b.col0 + q % 4u;
    if (row < OUT && k < IN) {
      let at = b.plane + row * IN + k;
      if (first_e && params.sliced != 0u) {
        t_sum_g[at] = g;
        t_sum_abs_g[at] = a;
      } else {
        t_sum_g[at] += g;
        t_sum_abs_g[at] += a;
      }
    }
  }
  // Fixed tree: 16 invocations sum 16 values each, then invocation 0 sums those 16. Every read of t_red
  // and t_red16 precedes a barrier that every later write follows, so no barrier is needed at the end.
  t_red[b.tid] = stats;
  workgroupBarrier();
  if (b.tid < 16u) {
    var sum = vec4f(0.0);
    for (var q = 0u; q < params.block; q++) { sum += t_red[16u * b.tid + q]; }
    t_red16[b.tid] = sum;
  }
  workgroupBarrier();
  if (b.tid == 0u) {
    var sum = vec4f(0.0);
    for (var q = 0u; q < params.block; q++) { sum += t_red16[q]; }
    let at = b.column * params.examples + e;
    if (first) {
      t_partials[at] = sum;
    } else {
      t_partials[at] += sum;
    }
  }
}

@compute @workgroup_size(16, 16)
fn linear_tiled(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                @builtin(local_invocation_id) lid: vec3u) {
  let b = block_of(wid, nwg, lid);
  let rb0 = wid.y * params.group;
  let rb1 = min(rb0 + params.group, params.row_blocks);
  let e0 = min(wid.z * params.chunk, params.examples);
  let e1 = min(e0 + params.chunk, params.examples);
  for (var rb = rb0; rb < rb1; rb++) {
    let wrow0 = rb * BM;
    let row0 = wrow0 + 4u * b.ly;
    t_load(row0, b);
    for (var e = e0; e < e1; e++) {
      t_accumulate(e, wrow0, wid.x * BN, b);
      t_fold(e, row0, b, rb == rb0, e == e0);
    }
  }
}

@compute @workgroup_size(16, 16)
fn embed_tiled(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
               @builtin(local_invocation_id) lid: vec3u) {
  let b = block_of(wid, nwg, lid);
  let rb0 = wid.y * params.group;
  let rb1 = min(rb0 + params.group, params.row_blocks);
  let e0 = min(wid.z * params.chunk, params.examples);
  let e1 = min(e0 + params.chunk, params.examples);
  for (var rb = rb0; rb < rb1; rb++) {
    let wrow0 = rb * BM;
    let row0 = wrow0 + 4u * b.ly;
    t_load(row0, b);
    for (var e = e0; e < e1; e++) {
      t_accumulate(e, wrow0, wid.x * BN, b);
      t_embed_input(e, wrow0, b);
      t_fold(e, row0, b, rb == rb0, e == e0);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// slice_reduce bindings: 0 scratch_g [slices][plane] (read), 1 scratch_abs [slices][plane] (read),
// 2 sum_g (read_write), 3 sum_abs_g (read_write), 4 params (uniform). sum += Σ_s plane s, in slice order.

override WG: u32 = 256u;

@group(0) @binding(0) var<storage, read> s_scratch_g: array<f32>;
@group(0) @binding(1) var<storage, read> s_scratch_abs: array<f32>;
@group(0) @binding(2) var<storage, read_write> s_sum_g: array<f32>;
@group(0) @binding(3) var<storage, read_write> s_sum_abs_g: array<f32>;
@group(0) @binding(4) var<uniform> s_params: Params;

@compute @workgroup_size(WG)
fn slice_reduce(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let j = gid.x + gid.y * nwg.x * WG;
  let plane = s_params.plane;
  if (j < plane) {
    var g = 0.0;
    var a = 0.0;
    for (var s = 0u; s < s_params.slices; s++) {
      g += s_scratch_g[s * plane + j];
      a += s_scratch_abs[s * plane + j];
    }
    s_sum_g[j] += g;
    s_sum_abs_g[j] += a;
  }
}

// ---------------------------------------------------------------------------------------------
// example_reduce bindings: 0 partials [columns][E] vec4 (read), 1 out [E] vec4 (read_write), 2 params
// (uniform: examples = E, rows = the number of columns). out[e] = Σ_c partials[c][e], c ascending. One
// invocation per example: neighbouring lanes read neighbouring vec4s.

@group(0) @binding(0) var<storage, read> e_partials: array<vec4f>;
@group(0) @binding(1) var<storage, read_write> e_out: array<vec4f>;
@group(0) @binding(2) var<uniform> e_params: Params;

@compute @workgroup_size(WG)
fn example_reduce(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let e = gid.x + gid.y * nwg.x * WG;
  let examples = e_params.examples;
  if (e < examples) {
    var sum = vec4f(0.0);
    for (var c = 0u; c < e_params.rows; c++) { sum += e_partials[c * examples + e]; }
    e_out[e] = sum;
  }
}
