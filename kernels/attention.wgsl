// Causal multi-head self-attention, forward and backward, flash-attention style: the [T, T] score
// matrix never reaches global memory. Rows of qkv [B·T, 3D] hold q | k | v; head h is columns
// h·HD … (h+1)·HD of each block; y [B·T, D] has the heads concatenated.
//
// Forward: per (batch b, head h, query t) an online softmax over keys j ≤ t gives
// y_t = Σ_j softmax_j(s_tj)·v_j with s_tj = (SCALE·q_t)·k_j, and lse_t = log Σ_j exp(s_tj), saved at
// lse[(b·H + h)·T + t].
// Backward (P_tj = exp(s_tj − lse_t) recomputed, D_t = dy_t·y_t):
//   dq kernel, per query t:  dq_t = SCALE·Σ_{j≤t} P_tj (dy_t·v_j − D_t) k_j; also writes (lse_t, D_t)
//   dkdv kernels, per key j: dv_j = Σ_{t≥j} P_tj dy_t,  dk_j = Σ_{t≥j} P_tj (dy_t·v_j − D_t) SCALE·q_t
// Every output element is owned by one invocation: no atomics, a fixed summation order.
//
// Two variants with the same arithmetic, one invocation per row (query, or key for dkdv), the row held
// in private arrays, looping over the other side with a workgroup-uniform bound (rows mask the
// entries past their own causal limit):
// - `register` (lavapipe): a workgroup is one subgroup of SG = 8 rows. lavapipe runs every load whose
//   address is not a compile-time constant as a scalar loop over the 8 lanes, even when all lanes read
//   the same address; so the 8 lanes load 8 different chunks of the shared key row (one gather) and
//   hand them to each other with subgroupShuffle (a register permute), 8× fewer loads. No barriers.
// - `tiled` (GPUs): WG rows per workgroup, the other side staged in workgroup memory in tiles of BC
//   rows read as broadcasts.
// Rows are held as vec4 chunks (HD4 = ceil(HD/4); the last one half zero when HD % 4 == 2) in private
// arrays of MAX_HD4 = 32 entries. Every loop over them runs to MAX_HD4 with an `if (c4 < HD4)` guard:
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
override WG: u32 = 8u;  // rows per workgroup (register: must be SG)
override BC: u32 = 1u;  // tiled: rows per tile of the other side
override TILE4: u32 = 1u;  // tiled: BC · HD4

const SG = 8u;          // register: subgroup size, lanes per workgroup
const MAX_HD4 = 32u;
const MAX_SLOTS = 4u;   // MAX_HD4 / SG: chunks of a shared row each lane loads
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

@compute @workgroup_size(SG)
fn attention_forward_register(
  @builtin(local_invocation_id) lid: vec3u,
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
  let t = blk.first + lid.x;
  let q_base = qkv_base(b * T + min(t, T - 1u), 0u, h);
  var q: array<vec4f, MAX_HD4>;
  var acc: array<vec4f, MAX_HD4>;  // zero-initialised
  fw_load_row(q_base, SCALE, &q);
  var state = Softmax(NEG, 0.0);
  let end = min(blk.first + SG, T);
  for (var j = 0u; j < end; j++) {
    // lane loads chunks lane, lane + SG, … of k_j and v_j
    let k_base = qkv_base(b * T + j, 1u, h);
    var ks: array<vec4f, MAX_SLOTS>;
    var vs: array<vec4f, MAX_SLOTS>;
    for (var r = 0u; r < MAX_SLOTS; r++) {
      if (r * SG < HD4) {
        let c4 = min(r * SG + lane, HD4 - 1u);
        ks[r] = fw_chunk(k_base, c4);
        vs[r] = fw_chunk(k_base + shape.D / 2u, c4);
      }
    }
    var s4 = vec4f(0.0);
    for (var c4 = 0u; c4 < MAX_HD4; c4++) {
      if (c4 < HD4) {
        s4 = fma(q[c4], subgroupShuffle(ks[c4 / SG], c4 % SG), s4);
      }
    }
    let s = select(NEG, s4.x + s4.y + s4.z + s4.w, j <= t);
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
        acc[c4] = fma(vec4f(p), subgroupShuffle(vs[c4 / SG], c4 % SG), acc[c4]);
      }
    }
  }
  fw_finish(blk, t, &acc, state);
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
//           5 ld (read_write, [B·H·T] of (lse_t, D_t)), 6 dqkv (read_write, [B·T, 3D]: the q block)
@group(0) @binding(1) var<storage, read> dq_dy: array<vec2f>;
@group(0) @binding(2) var<storage, read> dq_qkv: array<vec2f>;
@group(0) @binding(3) var<storage, read> dq_y: array<vec2f>;
@group(0) @binding(4) var<storage, read> dq_lse: array<f32>;
@group(0) @binding(5) var<storage, read_write> dq_ld: array<vec2f>;
@group(0) @binding(6) var<storage, read_write> dq_dqkv: array<vec2f>;

fn dq_qkv_chunk(base: u32, c4: u32) -> vec4f {
  let upper = select(vec2f(0.0), dq_qkv[base + 2u * c4 + 1u], upper_inside(c4));
  return vec4f(dq_qkv[base + 2u * c4], upper);
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
    let q_chunk = dq_qkv_chunk(qkv_base(row, 0u, h), c) * SCALE;
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
      dq_dqkv[base + 2u * c] = value.xy * SCALE;
      if (upper_inside(c)) {
        dq_dqkv[base + 2u * c + 1u] = value.zw * SCALE;
      }
    }
    dq_ld[blk.bh * shape.T + row.t] = vec2f(row.lse, row.dd);
  }
}

@compute @workgroup_size(SG)
fn attention_backward_dq_register(
  @builtin(local_invocation_id) lid: vec3u,
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(subgroup_invocation_id) lane: u32,
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
  let end = min(blk.first + SG, T);
  for (var j = 0u; j < end; j++) {
    let k_base = qkv_base(b * T + j, 1u, h);
    var ks: array<vec4f, MAX_SLOTS>;
    var vs: array<vec4f, MAX_SLOTS>;
    for (var r = 0u; r < MAX_SLOTS; r++) {
      if (r * SG < HD4) {
        let c4 = min(r * SG + lane, HD4 - 1u);
        ks[r] = dq_qkv_chunk(k_base, c4);
        vs[r] = dq_qkv_chunk(k_base + shape.D / 2u, c4);
      }
    }
    var s4 = vec4f(0.0);
    var dp4 = vec4f(0.0);
    for (var c4 = 0u; c4 < MAX_HD4; c4++) {
      if (c4 < HD4) {
        s4 = fma(q[c4], subgroupShuffle(ks[c4 / SG], c4 % SG), s4);
        dp4 = fma(dy[c4], subgroupShuffle(vs[c4 / SG], c4 % SG), dp4);
      }
    }
    let s = s4.x + s4.y + s4.z + s4.w;
    let dp = dp4.x + dp4.y + dp4.z + dp4.w;
    let p = select(0.0, exp(s - row.lse), j <= row.t);
    let ds = p * (dp - row.dd);
    for (var c4 = 0u; c4 < MAX_HD4; c4++) {
      if (c4 < HD4) {
        dq[c4] = fma(vec4f(ds), subgroupShuffle(ks[c4 / SG], c4 % SG), dq[c4]);
      }
    }
  }
  dq_finish(blk, row, &dq);
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
      dt_k[e] = dq_qkv_chunk(k_base, e % HD4);
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
// Backward, dk or dv: one invocation per key j, looping over the queries t ≥ the workgroup's first key.
// One kernel computing both would hold k, v, dk and dv (4·HD floats per invocation); past three such
// rows lavapipe's code falls off a cliff (10× slower at HD = 64) and GPUs spill, so the pipeline is
// specialised by DV: true accumulates dv_j = Σ P_tj dy_t (needs k), false dk_j (needs k and v). The
// two share the recomputation of P, about a third of the work.
// Bindings: 0 shape (uniform), 1 dy (read), 2 qkv (read), 3 ld (read: (lse_t, D_t) from the dq kernel),
//           4 dqkv (read_write: the k block, or the v block when DV)
override DV: bool = false;

@group(0) @binding(1) var<storage, read> kv_dy: array<vec2f>;
@group(0) @binding(2) var<storage, read> kv_qkv: array<vec2f>;
@group(0) @binding(3) var<storage, read> kv_ld: array<vec2f>;
@group(0) @binding(4) var<storage, read_write> kv_dqkv: array<vec2f>;

fn kv_qkv_chunk(base: u32, c4: u32) -> vec4f {
  let upper = select(vec2f(0.0), kv_qkv[base + 2u * c4 + 1u], upper_inside(c4));
  return vec4f(kv_qkv[base + 2u * c4], upper);
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
    let k_chunk = kv_qkv_chunk(base, c);
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
      kv_dqkv[base + 2u * c] = chunk.xy;
      if (upper_inside(c)) {
        kv_dqkv[base + 2u * c + 1u] = chunk.zw;
      }
    }
  }
}

@compute @workgroup_size(SG)
fn attention_backward_dkdv_register(
  @builtin(local_invocation_id) lid: vec3u,
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(subgroup_invocation_id) lane: u32,
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
  // uniform: from the workgroup's first key, masking the queries before each lane's own key
  for (var t = blk.first; t < T; t++) {
    let q_base = qkv_base(b * T + t, 0u, h);
    let dy_base = head_base(b * T + t, h);
    var qs: array<vec4f, MAX_SLOTS>;
    var dys: array<vec4f, MAX_SLOTS>;
    for (var r = 0u; r < MAX_SLOTS; r++) {
      if (r * SG < HD4) {
        let c4 = min(r * SG + lane, HD4 - 1u);
        qs[r] = kv_qkv_chunk(q_base, c4) * SCALE;
        dys[r] = kv_dy_chunk(dy_base, c4);
      }
    }
    let ld = kv_ld[blk.bh * T + t];
    var s4 = vec4f(0.0);
    var dp4 = vec4f(0.0);
    for (var c4 = 0u; c4 < MAX_HD4; c4++) {
      if (c4 < HD4) {
        s4 = fma(subgroupShuffle(qs[c4 / SG], c4 % SG), k[c4], s4);
        if (!DV) {
          dp4 = fma(subgroupShuffle(dys[c4 / SG], c4 % SG), v[c4], dp4);
        }
      }
    }
    let p = select(0.0, exp(s4.x + s4.y + s4.z + s4.w - ld.x), t >= j);
    // dv: weight p on dy_t; dk: weight dS = p·(dp − D_t) on SCALE·q_t
    let weight = select(p * (dp4.x + dp4.y + dp4.z + dp4.w - ld.y), p, DV);
    for (var c4 = 0u; c4 < MAX_HD4; c4++) {
      if (c4 < HD4) {
        let chunk = select(subgroupShuffle(qs[c4 / SG], c4 % SG), subgroupShuffle(dys[c4 / SG], c4 % SG), DV);
        acc[c4] = fma(vec4f(weight), chunk, acc[c4]);
      }
    }
  }
  kv_finish(blk, j, &acc);
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
      kt_q[e] = kv_qkv_chunk(qkv_base(row, 0u, h), e % HD4) * SCALE;
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
