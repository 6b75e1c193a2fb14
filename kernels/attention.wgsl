// Causal multi-head self-attention, forward and backward, flash-attention style: the [T, T] score
// matrix never reaches global memory. Rows of qkv [B·T, 3D] hold q | k | v; head h is columns
// h·HD … (h+1)·HD of each block; y [B·T, D] has the heads concatenated.
//
// Forward: per (batch b, head h, query t) an online softmax over keys j ≤ t gives
// y_t = Σ_j softmax_j(s_tj)·v_j with s_tj = (SCALE·q_t)·k_j, and lse_t = log Σ_j exp(s_tj), saved at
// lse[(b·H + h)·T + t].
// Backward (P_tj = exp(s_tj − lse_t) recomputed, D_t = dy_t·y_t):
//   dq kernel, per query t:  dq_t = SCALE·Σ_{j≤t} P_tj (dy_t·v_j − D_t) k_j; also writes (lse_t, D_t)
//   dkdv kernel(s), per key j: dv_j = Σ_{t≥j} P_tj dy_t,  dk_j = Σ_{t≥j} P_tj (dy_t·v_j − D_t) SCALE·q_t
// Every output element is owned by one invocation: no atomics, a fixed summation order.
//
// RoPE's backward fused (ROPE, needs HD % 4 == 0): q and k in qkv were rotated by rope.wgsl (OLMo's
// rotate-half: element i pairs with i + HD/2); the backward kernels rotate dq_t and dk_j back (the
// transpose, by a host-built table [T, HD/2] of (cos, sin) as rope.wgsl's) before writing them, so
// that dqkv is the gradient with respect to the unrotated q and k and no separate pass is needed. So
// that a lane's chunk holds both halves of its pairs, the backward kernels then hold q, k, dq and dk in
// "paired" chunks: chunk c4 = elements (2c4, 2c4+1, HD/2+2c4, HD/2+2c4+1); the scores q·k do not
// depend on the order, and v, y, dy, dv keep the plain order. (Rotating q and k as they are loaded
// instead, to drop the forward rotation pass too, cost lavapipe a table gather per shared row, more
// than that pass.)
//
// Two variants with the same arithmetic, the rows (queries, or keys for dkdv) held in private arrays,
// looping over the other side with a workgroup-uniform bound (rows mask the entries past their own
// causal limit):
// - `register` (lavapipe, HD ≤ 64): a workgroup is one subgroup of SG = 8 lanes, each holding R rows
//   (R = 2 at HD ≤ 32). lavapipe runs every load whose address is not a compile-time constant as a
//   scalar loop over the 8 lanes, even when all lanes read the same address; so the 8 lanes load 8
//   different chunks of the shared key row (one gather) and hand them to each other with
//   subgroupShuffle (a register permute), 8× fewer loads; each shuffled chunk then feeds R rows. One
//   dkdv kernel computes dk and dv together. No barriers.
// - `tiled` (GPUs): one invocation per row, WG rows per workgroup, the other side staged in workgroup
//   memory in tiles of BC rows read as broadcasts; dk and dv in two passes (DV).
// Rows are held as vec4 chunks (HD4 = ceil(HD/4); the last one half zero when HD % 4 == 2) in private
// arrays of MAX_HD4 = 32 entries (register: REG_E = 16, see there). Every loop over them runs to the
// array's length with an `if (c4 < HD4)` guard:
// a loop whose trip count equals the array size is fully unrolled by Mesa's NIR (at most 32 iterations),
// which turns the arrays into registers; once HD4 is substituted the guards fold away.
// A row's own loads and stores run in a loop bounded by a uniform (`shape.hd4`) that the compiler
// cannot unroll, moving each chunk in or out of the unrolled array through a chain of selects: lavapipe
// expands every load or store site into a branchy loop over lanes, and 100 such sites cost tens of
// seconds of LLVM time, while one site in a rolled loop costs nothing at run time that matters.
// Sizes that vary with the shape (T, D, H, B·H) come from the same uniform, so that one pipeline per
// head dimension serves every shape.
// Workgroups run heaviest first (late queries, early keys) so that the tail of a dispatch is short.

enable subgroups;

override HD: u32;       // head dimension (even, ≤ 4·MAX_HD4)
override HD4: u32;      // ceil(HD / 4)
override SCALE: f32;    // 1 / sqrt(HD)
override WG: u32 = 8u;  // rows per workgroup (register: R·SG)
override R: u32 = 1u;   // register: rows per lane (≤ 4, R·HD4 ≤ REG_E)
override BC: u32 = 1u;  // tiled: rows per tile of the other side
override TILE4: u32 = 1u;  // tiled: BC · HD4
override ROPE: bool = false;  // backward: rotate dq and dk back (HD % 4 == 0), see above

const SG = 8u;          // register: subgroup size, lanes per workgroup
const MAX_HD4 = 32u;
const REG_E = 16u;      // register: entries of a lane's row arrays (R rows of HD4 chunks)
const REG_SLOTS = 2u;   // REG_E / SG: chunks of a shared row each lane loads
const LAZY = 8.0;       // register forward: rescale only when a score passes the reference by this
const NEG = -1.0e30;    // a finite "minus infinity": exp(NEG − m) is exactly 0, no inf − inf

struct Shape {
  T: u32,    // sequence length
  D: u32,    // d_model
  H: u32,    // heads
  BH: u32,   // batch · heads
  hd4: u32,  // HD4 again, as a value the compiler cannot see: loops bounded by it stay rolled
}

// Binding 0 of every entry point.
@group(0) @binding(0) var<uniform> shape: Shape;

struct Block {
  bh: u32,     // b·H + h
  first: u32,  // first row of the workgroup
  valid: bool,
}

// Workgroup → (b·H + h, first row). Query blocks run last block first (most keys); key blocks run
// first block first (most queries).
fn block_of(wid: vec3u, nwg: vec3u, latest_first: bool) -> Block {
  let blocks = (shape.T + WG - 1u) / WG;
  let g = wid.x + wid.y * nwg.x;
  let k = g % blocks;
  let index = select(k, blocks - 1u - k, latest_first);
  return Block(g / blocks, index * WG, g < shape.BH * blocks);
}

// Index (in vec2 units) of the start of head h's block `part` (0 q, 1 k, 2 v) in row `row` of qkv.
fn qkv_base(row: u32, part: u32, h: u32) -> u32 {
  return (row * 3u * shape.D + part * shape.D + h * HD) / 2u;
}

// Index (in vec2 units) of the start of head h in row `row` of a [B·T, D] array.
fn head_base(row: u32, h: u32) -> u32 {
  return (row * shape.D + h * HD) / 2u;
}

// The upper half of chunk c4 lies inside the head (false only for the last chunk when HD % 4 == 2).
fn upper_inside(c4: u32) -> bool {
  return 4u * c4 + 2u < HD;
}

// Offsets (in vec2 units, from a head's start) of the lower and upper halves of q/k chunk c4: plain,
// or paired under ROPE.
fn qk_halves(c4: u32) -> vec2u {
  return select(vec2u(2u * c4, 2u * c4 + 1u), vec2u(c4, HD / 4u + c4), ROPE);
}

// Index (vec4 units) of the table entries of pairs 2c4 and 2c4 + 1 at position t: (cos, sin, cos, sin).
fn rope_entry(t: u32, c4: u32) -> u32 {
  return t * (HD / 4u) + c4;
}

// The gradient of a paired chunk (a0, a1, b0, b1) rotated back, the transpose of rope.wgsl's
// a' = a·cos − b·sin, b' = b·cos + a·sin: g_a = g_a'·cos + g_b'·sin, g_b = g_b'·cos − g_a'·sin.
fn unrotate(g: vec4f, cs: vec4f) -> vec4f {
  return g * cs.xzxz + g.zwxy * cs.ywyw * vec4f(1.0, 1.0, -1.0, -1.0);
}

// ---------------------------------------------------------------------------------------------------
// Forward. Bindings: 0 shape (uniform), 1 qkv (read, [B·T, 3D]), 2 y (read_write, [B·T, D]),
// 3 lse (read_write, [B·H·T])
@group(0) @binding(1) var<storage, read> fw_qkv: array<vec2f>;
@group(0) @binding(2) var<storage, read_write> fw_y: array<vec2f>;
@group(0) @binding(3) var<storage, read_write> fw_lse: array<f32>;

fn fw_chunk(base: u32, c4: u32) -> vec4f {
  let upper = select(vec2f(0.0), fw_qkv[base + 2u * c4 + 1u], upper_inside(c4));
  return vec4f(fw_qkv[base + 2u * c4], upper);
}

// row[c] = chunk c of the row at `base`, times `scale`.
fn fw_load_row(base: u32, scale: f32, row: ptr<function, array<vec4f, MAX_HD4>>) {
  for (var c = 0u; c < shape.hd4; c++) {
    let value = fw_chunk(base, c) * scale;
    for (var c4 = 0u; c4 < MAX_HD4; c4++) {
      if (c4 < HD4) {
        (*row)[c4] = select((*row)[c4], value, c4 == c);
      }
    }
  }
}

// y at `base` = row · scale.
fn fw_store_row(base: u32, scale: f32, row: ptr<function, array<vec4f, MAX_HD4>>) {
  for (var c = 0u; c < shape.hd4; c++) {
    var value = vec4f(0.0);
    for (var c4 = 0u; c4 < MAX_HD4; c4++) {
      if (c4 < HD4) {
        value = select(value, (*row)[c4], c4 == c);
      }
    }
    fw_y[base + 2u * c] = value.xy * scale;
    if (upper_inside(c)) {
      fw_y[base + 2u * c + 1u] = value.zw * scale;
    }
  }
}

// State of one query row during the forward.
struct Softmax {
  m: f32,  // running maximum of the scores
  l: f32,  // running Σ exp(s − m)
}

fn fw_finish(blk: Block, t: u32, acc: ptr<function, array<vec4f, MAX_HD4>>, state: Softmax) {
  if (t < shape.T) {
    let b = blk.bh / shape.H;
    let h = blk.bh % shape.H;
    fw_store_row(head_base(b * shape.T + t, h), 1.0 / state.l, acc);
    fw_lse[blk.bh * shape.T + t] = state.m + log(state.l);
  }
}

// Register rows: lane `lane` of a workgroup holds its R rows first + i·SG + lane (i < R), chunk c4 of
// row i at entry e = c4·R + i of its private arrays (R·HD4 ≤ REG_E entries). Per-row scalars are the
// components i of a vec4 (R ≤ 4). Every chunk of the other side a lane gathers and shuffles feeds R
// rows. The arrays have REG_E = 16 entries, not MAX_HD4 = 32: measured at HD = 32 (cpu presets),
// arrays of 32 entries made R = 2 3–4× slower than R = 1 and dk and dv in one kernel 3× slower than
// in two, and 24 entries still made the four arrays of the dkdv kernel 5× slower; with 16 both pay.
// So the register kernels take HD ≤ 64, R = 2 up to HD = 32 and 1 above (src/ops/attention.ts).
// Per-row values (lse, D) are loaded and stored inside the rolled chunk loops (at chunk 0): a loop
// over the R rows around such a load made the dq kernel 4× slower, even at R = 1.
// Tried at cpu-s (HD 32, T 64) and not kept, no faster in CPU ms: forward R = 4 in two arrays of REG_E
// (96 workgroups; fewer loads a row, more masked diagonal work); skipping row 0's work on keys past
// its queries (a second copy of the loop body); dkdv's (lse, D) loaded once per SG queries by lane
// and shuffled (fewer instructions, same time). The inner loops spend about 40% of their
// instructions on the per-lane loads of the shared row (~10 a float a lane, bounds check included).

// Rows first + i·SG + lane of the lane's R rows (components i ≥ R unused).
fn rg_rows(blk: Block, lane: u32) -> vec4u {
  return vec4u(blk.first + lane) + vec4u(0u, SG, 2u * SG, 3u * SG);
}

// Components i < R true.
fn rg_live() -> vec4<bool> {
  return vec4u(0u, 1u, 2u, 3u) < vec4u(R);
}

// x in component i and −0 in the others: adding it to a vector changes component i alone (x + −0 = x
// exactly), and the selects fold away once i is a constant in an unrolled loop.
fn rg_part(i: u32, x: f32) -> vec4f {
  return select(vec4f(-0.0), vec4f(x), vec4u(i) == vec4u(0u, 1u, 2u, 3u));
}

// Entry (c4 = c % hd4 of row i = c / hd4) of the rolled loops that move a lane's rows in and out.
fn rg_entry(c: u32) -> u32 {
  return (c % shape.hd4) * R + c / shape.hd4;
}

@compute @workgroup_size(SG)
fn attention_forward_register(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(subgroup_invocation_id) lane: u32,
) {
  let blk = block_of(wid, nwg, true);
  if (!blk.valid) {
    return;
  }
  let T = shape.T;
  let b = blk.bh / shape.H;
  let h = blk.bh % shape.H;
  let rows = rg_rows(blk, lane);
  var q: array<vec4f, REG_E>;
  var acc: array<vec4f, REG_E>;  // zero-initialised
  for (var c = 0u; c < R * shape.hd4; c++) {
    let t = min(rows[c / shape.hd4], T - 1u);
    let value = fw_chunk(qkv_base(b * T + t, 0u, h), c % shape.hd4) * SCALE;
    let slot = rg_entry(c);
    for (var e = 0u; e < REG_E; e++) {
      if (e < R * HD4) {
        q[e] = select(q[e], value, e == slot);
      }
    }
  }
  var m = vec4f(NEG);  // reference maxima of the rows' scores (≥ running maxima − LAZY)
  var l = vec4f(0.0);  // running Σ exp(s − m)
  let end = min(blk.first + R * SG, T);
  for (var j = 0u; j < end; j++) {
    // lane loads chunks lane, lane + SG, … of k_j and v_j
    let k_base = qkv_base(b * T + j, 1u, h);
    var ks: array<vec4f, REG_SLOTS>;
    var vs: array<vec4f, REG_SLOTS>;
    for (var r = 0u; r < REG_SLOTS; r++) {
      if (r * SG < HD4) {
        let c4 = min(r * SG + lane, HD4 - 1u);
        ks[r] = fw_chunk(k_base, c4);
        vs[r] = fw_chunk(k_base + shape.D / 2u, c4);
      }
    }
    var s = vec4f(0.0);
    for (var e = 0u; e < REG_E; e++) {
      if (e < R * HD4) {
        let c4 = e / R;
        s += rg_part(e % R, dot(q[e], subgroupShuffle(ks[c4 / SG], c4 % SG)));
      }
    }
    let live = rg_live();
    s = select(vec4f(NEG), s, (vec4u(j) <= rows) & live);
    // m is a reference, not the running maximum: rescaled only when a score exceeds it by more than
    // LAZY (then p ≤ e^LAZY, far from overflow), which after the first key is rare, where lavapipe
    // runs the branch for the whole workgroup with a blend per entry whenever any row takes it.
    if (any((s > m + LAZY) & live)) {
      let m_new = select(m, max(m, s), live);
      let correction = select(vec4f(1.0), exp(m - m_new), live);
      l *= correction;
      for (var e = 0u; e < REG_E; e++) {
        if (e < R * HD4) {
          acc[e] *= correction[e % R];
        }
      }
      m = m_new;
    }
    let p = select(vec4f(0.0), exp(s - m), live);
    l += p;
    for (var e = 0u; e < REG_E; e++) {
      if (e < R * HD4) {
        let c4 = e / R;
        acc[e] = fma(vec4f(p[e % R]), subgroupShuffle(vs[c4 / SG], c4 % SG), acc[e]);
      }
    }
  }
  for (var c = 0u; c < R * shape.hd4; c++) {
    let i = c / shape.hd4;
    let t = rows[i];
    if (t < T) {
      let slot = rg_entry(c);
      var value = vec4f(0.0);
      for (var e = 0u; e < REG_E; e++) {
        if (e < R * HD4) {
          value = select(value, acc[e], e == slot);
        }
      }
      value *= 1.0 / l[i];
      let base = head_base(b * T + t, h);
      let c4 = c % shape.hd4;
      fw_y[base + 2u * c4] = value.xy;
      if (upper_inside(c4)) {
        fw_y[base + 2u * c4 + 1u] = value.zw;
      }
      if (c4 == 0u) {
        fw_lse[blk.bh * T + t] = m[i] + log(l[i]);
      }
    }
  }
}

var<workgroup> ft_k: array<vec4f, TILE4>;
var<workgroup> ft_v: array<vec4f, TILE4>;

@compute @workgroup_size(WG)
fn attention_forward_tiled(
  @builtin(local_invocation_id) lid: vec3u,
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
) {
  let blk = block_of(wid, nwg, true);
  if (!blk.valid) {
    return;
  }
  let T = shape.T;
  let b = blk.bh / shape.H;
  let h = blk.bh % shape.H;
  let t = blk.first + lid.x;
  let q_base = qkv_base(b * T + min(t, T - 1u), 0u, h);
  var q: array<vec4f, MAX_HD4>;
  var acc: array<vec4f, MAX_HD4>;  // zero-initialised
  fw_load_row(q_base, SCALE, &q);
  var state = Softmax(NEG, 0.0);
  let end = min(blk.first + WG, T);
  for (var j0 = 0u; j0 < end; j0 += BC) {
    workgroupBarrier();
    for (var e = lid.x; e < TILE4; e += WG) {
      let j = min(j0 + e / HD4, T - 1u);
      let k_base = qkv_base(b * T + j, 1u, h);
      ft_k[e] = fw_chunk(k_base, e % HD4);
      ft_v[e] = fw_chunk(k_base + shape.D / 2u, e % HD4);
    }
    workgroupBarrier();
    let count = min(BC, end - j0);
    for (var jj = 0u; jj < count; jj++) {
      var s4 = vec4f(0.0);
      for (var c4 = 0u; c4 < MAX_HD4; c4++) {
        if (c4 < HD4) {
          s4 = fma(q[c4], ft_k[jj * HD4 + c4], s4);
        }
      }
      let s = select(NEG, s4.x + s4.y + s4.z + s4.w, j0 + jj <= t);
      if (s > state.m) {
        let correction = exp(state.m - s);
        state.l *= correction;
        for (var c4 = 0u; c4 < MAX_HD4; c4++) {
          if (c4 < HD4) {
            acc[c4] *= correction;
          }
        }
        state.m = s;
      }
      let p = exp(s - state.m);
      state.l += p;
      for (var c4 = 0u; c4 < MAX_HD4; c4++) {
        if (c4 < HD4) {
          acc[c4] = fma(vec4f(p), ft_v[jj * HD4 + c4], acc[c4]);
        }
      }
    }
  }
  fw_finish(blk, t, &acc, state);
}

// ---------------------------------------------------------------------------------------------------
// Backward, dq: one invocation per query. Also writes (lse_t, D_t) for the dkdv kernel.
// Bindings: 0 shape (uniform), 1 dy (read, [B·T, D]), 2 qkv (read), 3 y (read), 4 lse (read, [B·H·T]),
//           5 ld (read_write, [B·H·T] of (lse_t, D_t)), 6 dqkv (read_write, [B·T, 3D]: the q block),
//           7 RoPE table (read; read only under ROPE)
@group(0) @binding(1) var<storage, read> dq_dy: array<vec2f>;
@group(0) @binding(2) var<storage, read> dq_qkv: array<vec2f>;
@group(0) @binding(3) var<storage, read> dq_y: array<vec2f>;
@group(0) @binding(4) var<storage, read> dq_lse: array<f32>;
@group(0) @binding(5) var<storage, read_write> dq_ld: array<vec2f>;
@group(0) @binding(6) var<storage, read_write> dq_dqkv: array<vec2f>;
@group(0) @binding(7) var<storage, read> dq_rope: array<vec4f>;

fn dq_qkv_chunk(base: u32, c4: u32) -> vec4f {
  let upper = select(vec2f(0.0), dq_qkv[base + 2u * c4 + 1u], upper_inside(c4));
  return vec4f(dq_qkv[base + 2u * c4], upper);
}

// Chunk c4 of the q or k row at `base` (paired under ROPE).
fn dq_qk_chunk(base: u32, c4: u32) -> vec4f {
  let at = base + qk_halves(c4);
  return vec4f(dq_qkv[at.x], select(vec2f(0.0), dq_qkv[at.y], upper_inside(c4)));
}

fn dq_dy_chunk(base: u32, c4: u32) -> vec4f {
  let upper = select(vec2f(0.0), dq_dy[base + 2u * c4 + 1u], upper_inside(c4));
  return vec4f(dq_dy[base + 2u * c4], upper);
}

fn dq_y_chunk(base: u32, c4: u32) -> vec4f {
  let upper = select(vec2f(0.0), dq_y[base + 2u * c4 + 1u], upper_inside(c4));
  return vec4f(dq_y[base + 2u * c4], upper);
}

struct QueryRow {
  t: u32,
  lse: f32,
  dd: f32,  // D_t = dy_t·y_t
}

// Loads query row t = first + lane (clamped): q scaled by SCALE, dy; returns t, lse_t, D_t.
fn dq_row(blk: Block, lane: u32, q: ptr<function, array<vec4f, MAX_HD4>>,
          dy: ptr<function, array<vec4f, MAX_HD4>>) -> QueryRow {
  let T = shape.T;
  let b = blk.bh / shape.H;
  let h = blk.bh % shape.H;
  let t = blk.first + lane;
  let row = b * T + min(t, T - 1u);
  var dd = 0.0;
  for (var c = 0u; c < shape.hd4; c++) {
    let q_chunk = dq_qk_chunk(qkv_base(row, 0u, h), c) * SCALE;
    let dy_chunk = dq_dy_chunk(head_base(row, h), c);
    dd += dot(dy_chunk, dq_y_chunk(head_base(row, h), c));
    for (var c4 = 0u; c4 < MAX_HD4; c4++) {
      if (c4 < HD4) {
        (*q)[c4] = select((*q)[c4], q_chunk, c4 == c);
        (*dy)[c4] = select((*dy)[c4], dy_chunk, c4 == c);
      }
    }
  }
  return QueryRow(t, dq_lse[blk.bh * T + min(t, T - 1u)], dd);
}

fn dq_finish(blk: Block, row: QueryRow, dq: ptr<function, array<vec4f, MAX_HD4>>) {
  if (row.t < shape.T) {
    let b = blk.bh / shape.H;
    let h = blk.bh % shape.H;
    let base = qkv_base(b * shape.T + row.t, 0u, h);
    for (var c = 0u; c < shape.hd4; c++) {
      var value = vec4f(0.0);
      for (var c4 = 0u; c4 < MAX_HD4; c4++) {
        if (c4 < HD4) {
          value = select(value, (*dq)[c4], c4 == c);
        }
      }
      if (ROPE) {
        value = unrotate(value, dq_rope[rope_entry(row.t, c)]);
      }
      let at = base + qk_halves(c);
      dq_dqkv[at.x] = value.xy * SCALE;
      if (upper_inside(c)) {
        dq_dqkv[at.y] = value.zw * SCALE;
      }
    }
    dq_ld[blk.bh * shape.T + row.t] = vec2f(row.lse, row.dd);
  }
}

@compute @workgroup_size(SG)
fn attention_backward_dq_register(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(subgroup_invocation_id) lane: u32,
) {
  let blk = block_of(wid, nwg, true);
  if (!blk.valid) {
    return;
  }
  let T = shape.T;
  let b = blk.bh / shape.H;
  let h = blk.bh % shape.H;
  let rows = rg_rows(blk, lane);
  var q: array<vec4f, REG_E>;
  var dy: array<vec4f, REG_E>;
  var dq: array<vec4f, REG_E>;  // zero-initialised
  var dd = vec4f(0.0);            // D_t = dy_t·y_t of the rows
  var lse = vec4f(0.0);
  for (var c = 0u; c < R * shape.hd4; c++) {
    let i = c / shape.hd4;
    let c4 = c % shape.hd4;
    let row = b * T + min(rows[i], T - 1u);
    let q_chunk = dq_qk_chunk(qkv_base(row, 0u, h), c4) * SCALE;
    let dy_chunk = dq_dy_chunk(head_base(row, h), c4);
    dd += rg_part(i, dot(dy_chunk, dq_y_chunk(head_base(row, h), c4)));
    if (c4 == 0u) {
      lse += rg_part(i, dq_lse[blk.bh * T + min(rows[i], T - 1u)]);
    }
    let slot = rg_entry(c);
    for (var e = 0u; e < REG_E; e++) {
      if (e < R * HD4) {
        q[e] = select(q[e], q_chunk, e == slot);
        dy[e] = select(dy[e], dy_chunk, e == slot);
      }
    }
  }
  let live = rg_live();
  let end = min(blk.first + R * SG, T);
  for (var j = 0u; j < end; j++) {
    let k_base = qkv_base(b * T + j, 1u, h);
    var ks: array<vec4f, REG_SLOTS>;
    var vs: array<vec4f, REG_SLOTS>;
    for (var r = 0u; r < REG_SLOTS; r++) {
      if (r * SG < HD4) {
        let c4 = min(r * SG + lane, HD4 - 1u);
        ks[r] = dq_qk_chunk(k_base, c4);
        vs[r] = dq_qkv_chunk(k_base + shape.D / 2u, c4);
      }
    }
    var s = vec4f(0.0);
    var dp = vec4f(0.0);
    for (var e = 0u; e < REG_E; e++) {
      if (e < R * HD4) {
        let c4 = e / R;
        s += rg_part(e % R, dot(q[e], subgroupShuffle(ks[c4 / SG], c4 % SG)));
        dp += rg_part(e % R, dot(dy[e], subgroupShuffle(vs[c4 / SG], c4 % SG)));
      }
    }
    let p = select(vec4f(0.0), exp(s - lse), (vec4u(j) <= rows) & live);
    let ds = p * (dp - dd);
    for (var e = 0u; e < REG_E; e++) {
      if (e < R * HD4) {
        let c4 = e / R;
        dq[e] = fma(vec4f(ds[e % R]), subgroupShuffle(ks[c4 / SG], c4 % SG), dq[e]);
      }
    }
  }
  for (var c = 0u; c < R * shape.hd4; c++) {
    let t = rows[c / shape.hd4];
    if (t < T) {
      let slot = rg_entry(c);
      var value = vec4f(0.0);
      for (var e = 0u; e < REG_E; e++) {
        if (e < R * HD4) {
          value = select(value, dq[e], e == slot);
        }
      }
      let c4 = c % shape.hd4;
      if (ROPE) {
        value = unrotate(value, dq_rope[rope_entry(t, c4)]);
      }
      let at = qkv_base(b * T + t, 0u, h) + qk_halves(c4);
      dq_dqkv[at.x] = value.xy * SCALE;
      if (upper_inside(c4)) {
        dq_dqkv[at.y] = value.zw * SCALE;
      }
      if (c4 == 0u) {
        let i = c / shape.hd4;
        dq_ld[blk.bh * T + t] = vec2f(lse[i], dd[i]);
      }
    }
  }
}

var<workgroup> dt_k: array<vec4f, TILE4>;
var<workgroup> dt_v: array<vec4f, TILE4>;

@compute @workgroup_size(WG)
fn attention_backward_dq_tiled(
  @builtin(local_invocation_id) lid: vec3u,
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
) {
  let blk = block_of(wid, nwg, true);
  if (!blk.valid) {
    return;
  }
  var q: array<vec4f, MAX_HD4>;
  var dy: array<vec4f, MAX_HD4>;
  var dq: array<vec4f, MAX_HD4>;  // zero-initialised
  let row = dq_row(blk, lid.x, &q, &dy);
  let T = shape.T;
  let b = blk.bh / shape.H;
  let h = blk.bh % shape.H;
  let end = min(blk.first + WG, T);
  for (var j0 = 0u; j0 < end; j0 += BC) {
    workgroupBarrier();
    for (var e = lid.x; e < TILE4; e += WG) {
      let j = min(j0 + e / HD4, T - 1u);
      let k_base = qkv_base(b * T + j, 1u, h);
      dt_k[e] = dq_qk_chunk(k_base, e % HD4);
      dt_v[e] = dq_qkv_chunk(k_base + shape.D / 2u, e % HD4);
    }
    workgroupBarrier();
    let count = min(BC, end - j0);
    for (var jj = 0u; jj < count; jj++) {
      var s4 = vec4f(0.0);
      var dp4 = vec4f(0.0);
      for (var c4 = 0u; c4 < MAX_HD4; c4++) {
        if (c4 < HD4) {
          s4 = fma(q[c4], dt_k[jj * HD4 + c4], s4);
          dp4 = fma(dy[c4], dt_v[jj * HD4 + c4], dp4);
        }
      }
      let s = s4.x + s4.y + s4.z + s4.w;
      let dp = dp4.x + dp4.y + dp4.z + dp4.w;
      let p = select(0.0, exp(s - row.lse), j0 + jj <= row.t);
      let ds = p * (dp - row.dd);
      for (var c4 = 0u; c4 < MAX_HD4; c4++) {
        if (c4 < HD4) {
          dq[c4] = fma(vec4f(ds), dt_k[jj * HD4 + c4], dq[c4]);
        }
      }
    }
  }
  dq_finish(blk, row, &dq);
}

// ---------------------------------------------------------------------------------------------------
// Backward, dk and dv: per key j, looping over the queries t ≥ the workgroup's first key. The register
// kernel computes both in one pass (k, v, dk, dv of R rows in four arrays of REG_E entries). The tiled
// kernel would hold k, v, dk and dv of HD ≤ 128 (4·HD floats per invocation), which GPUs spill, so it
// is specialised by DV: true accumulates dv_j = Σ P_tj dy_t (needs k), false dk_j (needs k and v),
// and the two recompute P, about a third of the work, each.
// Bindings: 0 shape (uniform), 1 dy (read), 2 qkv (read), 3 ld (read: (lse_t, D_t) from the dq kernel),
//           4 dqkv (read_write: the k block, or the v block when DV), 5 RoPE table (read; read only
//           under ROPE)
override DV: bool = false;

@group(0) @binding(1) var<storage, read> kv_dy: array<vec2f>;
@group(0) @binding(2) var<storage, read> kv_qkv: array<vec2f>;
@group(0) @binding(3) var<storage, read> kv_ld: array<vec2f>;
@group(0) @binding(4) var<storage, read_write> kv_dqkv: array<vec2f>;
@group(0) @binding(5) var<storage, read> kv_rope: array<vec4f>;

fn kv_qkv_chunk(base: u32, c4: u32) -> vec4f {
  let upper = select(vec2f(0.0), kv_qkv[base + 2u * c4 + 1u], upper_inside(c4));
  return vec4f(kv_qkv[base + 2u * c4], upper);
}

// Chunk c4 of the q or k row at `base` (paired under ROPE).
fn kv_qk_chunk(base: u32, c4: u32) -> vec4f {
  let at = base + qk_halves(c4);
  return vec4f(kv_qkv[at.x], select(vec2f(0.0), kv_qkv[at.y], upper_inside(c4)));
}

fn kv_dy_chunk(base: u32, c4: u32) -> vec4f {
  let upper = select(vec2f(0.0), kv_dy[base + 2u * c4 + 1u], upper_inside(c4));
  return vec4f(kv_dy[base + 2u * c4], upper);
}

// Loads key row j = first + lane (clamped) into k and v (v only for dk); returns j.
fn kv_row(blk: Block, lane: u32, k: ptr<function, array<vec4f, MAX_HD4>>,
          v: ptr<function, array<vec4f, MAX_HD4>>) -> u32 {
  let b = blk.bh / shape.H;
  let h = blk.bh % shape.H;
  let j = blk.first + lane;
  let base = qkv_base(b * shape.T + min(j, shape.T - 1u), 1u, h);
  for (var c = 0u; c < shape.hd4; c++) {
    let k_chunk = kv_qk_chunk(base, c);
    let v_chunk = select(kv_qkv_chunk(base + shape.D / 2u, c), vec4f(0.0), DV);
    for (var c4 = 0u; c4 < MAX_HD4; c4++) {
      if (c4 < HD4) {
        (*k)[c4] = select((*k)[c4], k_chunk, c4 == c);
        (*v)[c4] = select((*v)[c4], v_chunk, c4 == c);
      }
    }
  }
  return j;
}

// Writes the accumulated dk_j (or dv_j when DV).
fn kv_finish(blk: Block, j: u32, acc: ptr<function, array<vec4f, MAX_HD4>>) {
  if (j < shape.T) {
    let b = blk.bh / shape.H;
    let h = blk.bh % shape.H;
    let base = qkv_base(b * shape.T + j, select(1u, 2u, DV), h);
    for (var c = 0u; c < shape.hd4; c++) {
      var chunk = vec4f(0.0);
      for (var c4 = 0u; c4 < MAX_HD4; c4++) {
        if (c4 < HD4) {
          chunk = select(chunk, (*acc)[c4], c4 == c);
        }
      }
      // dk: back to k's unrotated coordinates, in the paired order under ROPE; dv: plain order
      let is_dk = !DV;
      if (ROPE && is_dk) {
        chunk = unrotate(chunk, kv_rope[rope_entry(j, c)]);
      }
      let at = base + select(vec2u(2u * c, 2u * c + 1u), qk_halves(c), is_dk);
      kv_dqkv[at.x] = chunk.xy;
      if (upper_inside(c)) {
        kv_dqkv[at.y] = chunk.zw;
      }
    }
  }
}

// register: dk and dv in one pass, sharing the recomputed P and the gathered q and dy rows; each lane
// holds k, v, dk and dv of its R rows.
@compute @workgroup_size(SG)
fn attention_backward_dkdv_register(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(subgroup_invocation_id) lane: u32,
) {
  let blk = block_of(wid, nwg, false);
  if (!blk.valid) {
    return;
  }
  let T = shape.T;
  let b = blk.bh / shape.H;
  let h = blk.bh % shape.H;
  let rows = rg_rows(blk, lane);  // the lane's keys j
  var k: array<vec4f, REG_E>;
  var v: array<vec4f, REG_E>;
  var dk: array<vec4f, REG_E>;  // zero-initialised
  var dv: array<vec4f, REG_E>;  // zero-initialised
  for (var c = 0u; c < R * shape.hd4; c++) {
    let base = qkv_base(b * T + min(rows[c / shape.hd4], T - 1u), 1u, h);
    let k_chunk = kv_qk_chunk(base, c % shape.hd4);
    let v_chunk = kv_qkv_chunk(base + shape.D / 2u, c % shape.hd4);
    let slot = rg_entry(c);
    for (var e = 0u; e < REG_E; e++) {
      if (e < R * HD4) {
        k[e] = select(k[e], k_chunk, e == slot);
        v[e] = select(v[e], v_chunk, e == slot);
      }
    }
  }
  let live = rg_live();
  // uniform: from the workgroup's first key, masking the queries before each row's own key
  for (var t = blk.first; t < T; t++) {
    let q_base = qkv_base(b * T + t, 0u, h);
    let dy_base = head_base(b * T + t, h);
    var qs: array<vec4f, REG_SLOTS>;
    var dys: array<vec4f, REG_SLOTS>;
    for (var r = 0u; r < REG_SLOTS; r++) {
      if (r * SG < HD4) {
        let c4 = min(r * SG + lane, HD4 - 1u);
        qs[r] = kv_qk_chunk(q_base, c4) * SCALE;
        dys[r] = kv_dy_chunk(dy_base, c4);
      }
    }
    let ld = kv_ld[blk.bh * T + t];
    var s = vec4f(0.0);
    var dp = vec4f(0.0);
    for (var e = 0u; e < REG_E; e++) {
      if (e < R * HD4) {
        let c4 = e / R;
        s += rg_part(e % R, dot(subgroupShuffle(qs[c4 / SG], c4 % SG), k[e]));
        dp += rg_part(e % R, dot(subgroupShuffle(dys[c4 / SG], c4 % SG), v[e]));
      }
    }
    let p = select(vec4f(0.0), exp(s - ld.x), (vec4u(t) >= rows) & live);
    let ds = p * (dp - ld.y);  // dS = P·(dp − D_t), the weight of SCALE·q_t in dk
    for (var e = 0u; e < REG_E; e++) {
      if (e < R * HD4) {
        let c4 = e / R;
        dk[e] = fma(vec4f(ds[e % R]), subgroupShuffle(qs[c4 / SG], c4 % SG), dk[e]);
        dv[e] = fma(vec4f(p[e % R]), subgroupShuffle(dys[c4 / SG], c4 % SG), dv[e]);
      }
    }
  }
  for (var c = 0u; c < R * shape.hd4; c++) {
    let j = rows[c / shape.hd4];
    if (j < T) {
      let slot = rg_entry(c);
      var dk_chunk = vec4f(0.0);
      var dv_chunk = vec4f(0.0);
      for (var e = 0u; e < REG_E; e++) {
        if (e < R * HD4) {
          dk_chunk = select(dk_chunk, dk[e], e == slot);
          dv_chunk = select(dv_chunk, dv[e], e == slot);
        }
      }
      let base = qkv_base(b * T + j, 1u, h);
      let c4 = c % shape.hd4;
      if (ROPE) {
        dk_chunk = unrotate(dk_chunk, kv_rope[rope_entry(j, c4)]);
      }
      let at = base + qk_halves(c4);
      let v_base = base + shape.D / 2u;
      kv_dqkv[at.x] = dk_chunk.xy;
      kv_dqkv[v_base + 2u * c4] = dv_chunk.xy;
      if (upper_inside(c4)) {
        kv_dqkv[at.y] = dk_chunk.zw;
        kv_dqkv[v_base + 2u * c4 + 1u] = dv_chunk.zw;
      }
    }
  }
}

var<workgroup> kt_q: array<vec4f, TILE4>;   // q rows, scaled by SCALE
var<workgroup> kt_dy: array<vec4f, TILE4>;
var<workgroup> kt_ld: array<vec2f, BC>;

@compute @workgroup_size(WG)
fn attention_backward_dkdv_tiled(
  @builtin(local_invocation_id) lid: vec3u,
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
) {
  let blk = block_of(wid, nwg, false);
  if (!blk.valid) {
    return;
  }
  var k: array<vec4f, MAX_HD4>;
  var v: array<vec4f, MAX_HD4>;
  var acc: array<vec4f, MAX_HD4>;  // dk or dv, zero-initialised
  let j = kv_row(blk, lid.x, &k, &v);
  let T = shape.T;
  let b = blk.bh / shape.H;
  let h = blk.bh % shape.H;
  for (var t0 = blk.first; t0 < T; t0 += BC) {
    workgroupBarrier();
    for (var e = lid.x; e < TILE4; e += WG) {
      let row = b * T + min(t0 + e / HD4, T - 1u);
      kt_q[e] = kv_qk_chunk(qkv_base(row, 0u, h), e % HD4) * SCALE;
      kt_dy[e] = kv_dy_chunk(head_base(row, h), e % HD4);
    }
    for (var e = lid.x; e < BC; e += WG) {
      kt_ld[e] = kv_ld[blk.bh * T + min(t0 + e, T - 1u)];
    }
    workgroupBarrier();
    let count = min(BC, T - t0);
    for (var tt = 0u; tt < count; tt++) {
      var s4 = vec4f(0.0);
      var dp4 = vec4f(0.0);
      for (var c4 = 0u; c4 < MAX_HD4; c4++) {
        if (c4 < HD4) {
          s4 = fma(kt_q[tt * HD4 + c4], k[c4], s4);
          if (!DV) {
            dp4 = fma(kt_dy[tt * HD4 + c4], v[c4], dp4);
          }
        }
      }
      let ld = kt_ld[tt];
      let p = select(0.0, exp(s4.x + s4.y + s4.z + s4.w - ld.x), t0 + tt >= j);
      let weight = select(p * (dp4.x + dp4.y + dp4.z + dp4.w - ld.y), p, DV);
      for (var c4 = 0u; c4 < MAX_HD4; c4++) {
        if (c4 < HD4) {
          let chunk = select(kt_q[tt * HD4 + c4], kt_dy[tt * HD4 + c4], DV);
          acc[c4] = fma(vec4f(weight), chunk, acc[c4]);
        }
      }
    }
  }
  kv_finish(blk, j, &acc);
}
