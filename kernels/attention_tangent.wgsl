// Forward-mode derivative (tangent) of causal multi-head self-attention (kernels/attention.wgsl's
// forward): given the forward's qkv, y and lse and a tangent q̇k̇v̇ of qkv (same layout [B·T, 3D]), the
// tangent of y. Per (batch b, head h, query t), with P_tj = exp(s_tj − lse_t) recomputed from the
// saved lse (no online softmax needed) and s_tj = SCALE·q_t·k_j:
//   ṡ_tj = SCALE·(q̇_t·k_j + q_t·k̇_j)
//   ẏ_t  = Σ_{j≤t} P_tj (v̇_j + ṡ_tj v_j) − (Σ_{j≤t} P_tj ṡ_tj)·y_t
// (the softmax's tangent is Ṗ_tj = P_tj (ṡ_tj − Σ_l P_tl ṡ_tl), and Σ_j P_tj v_j = y_t).
// One invocation per query row, a fixed summation order over j: bit-identical run to run.
//
// Two variants with the same arithmetic and the same structure as the forward in attention.wgsl
// (its comment explains the lavapipe constraints they follow):
// - `register` (lavapipe): a workgroup is one 8-lane subgroup of 8 queries; the lanes load 8 chunks
//   of the shared key row j (k, v, k̇, v̇) and hand them around with subgroupShuffle.
// - `tiled` (GPUs): WG queries per workgroup; k, v, k̇, v̇ staged in workgroup memory, BC rows a tile.
//
// Bindings of both entry points: 0 shape (uniform), 1 qkv (read, [B·T, 3D], q and k rotated),
// 2 tangent qkv (read, [B·T, 3D], q̇ and k̇ rotated), 3 y (read, [B·T, D]), 4 lse (read, [B·H·T]),
// 5 tangent y (read_write, [B·T, D], overwritten)

enable subgroups;

override HD: u32;       // head dimension (even, ≤ 4·MAX_HD4)
override HD4: u32;      // ceil(HD / 4)
override SCALE: f32;    // 1 / sqrt(HD)
override WG: u32 = 8u;  // rows per workgroup (register: must be SG)
override BC: u32 = 1u;  // tiled: rows per tile of keys
override TILE4: u32 = 1u;  // tiled: BC · HD4

const SG = 8u;
const MAX_HD4 = 32u;
const MAX_SLOTS = 4u;   // MAX_HD4 / SG

struct Shape {
  T: u32,
  D: u32,
  H: u32,
  BH: u32,
  hd4: u32,  // HD4 as a value the compiler cannot see: loops bounded by it stay rolled
}

@group(0) @binding(0) var<uniform> shape: Shape;
@group(0) @binding(1) var<storage, read> at_qkv: array<vec2f>;
@group(0) @binding(2) var<storage, read> at_tqkv: array<vec2f>;
@group(0) @binding(3) var<storage, read> at_y: array<vec2f>;
@group(0) @binding(4) var<storage, read> at_lse: array<f32>;
@group(0) @binding(5) var<storage, read_write> at_ty: array<vec2f>;

struct Block {
  bh: u32,
  first: u32,
  valid: bool,
}

// Workgroup → (b·H + h, first query), last block first (most keys).
fn block_of(wid: vec3u, nwg: vec3u) -> Block {
  let blocks = (shape.T + WG - 1u) / WG;
  let g = wid.x + wid.y * nwg.x;
  let k = g % blocks;
  return Block(g / blocks, (blocks - 1u - k) * WG, g < shape.BH * blocks);
}

fn qkv_base(row: u32, part: u32, h: u32) -> u32 {
  return (row * 3u * shape.D + part * shape.D + h * HD) / 2u;
}

fn head_base(row: u32, h: u32) -> u32 {
  return (row * shape.D + h * HD) / 2u;
}

fn upper_inside(c4: u32) -> bool {
  return 4u * c4 + 2u < HD;
}

fn qkv_chunk(base: u32, c4: u32) -> vec4f {
  let upper = select(vec2f(0.0), at_qkv[base + 2u * c4 + 1u], upper_inside(c4));
  return vec4f(at_qkv[base + 2u * c4], upper);
}

fn tqkv_chunk(base: u32, c4: u32) -> vec4f {
  let upper = select(vec2f(0.0), at_tqkv[base + 2u * c4 + 1u], upper_inside(c4));
  return vec4f(at_tqkv[base + 2u * c4], upper);
}

fn y_chunk(base: u32, c4: u32) -> vec4f {
  let upper = select(vec2f(0.0), at_y[base + 2u * c4 + 1u], upper_inside(c4));
  return vec4f(at_y[base + 2u * c4], upper);
}

struct Query {
  t: u32,
  lse: f32,
}

// Loads query row t = first + lane (clamped): q and q̇, both times SCALE.
fn load_query(blk: Block, lane: u32, q: ptr<function, array<vec4f, MAX_HD4>>,
              tq: ptr<function, array<vec4f, MAX_HD4>>) -> Query {
  let T = shape.T;
  let b = blk.bh / shape.H;
  let h = blk.bh % shape.H;
  let t = blk.first + lane;
  let base = qkv_base(b * T + min(t, T - 1u), 0u, h);
  for (var c = 0u; c < shape.hd4; c++) {
    let q_chunk = qkv_chunk(base, c) * SCALE;
    let tq_chunk = tqkv_chunk(base, c) * SCALE;
    for (var c4 = 0u; c4 < MAX_HD4; c4++) {
      if (c4 < HD4) {
        (*q)[c4] = select((*q)[c4], q_chunk, c4 == c);
        (*tq)[c4] = select((*tq)[c4], tq_chunk, c4 == c);
      }
    }
  }
  return Query(t, at_lse[blk.bh * T + min(t, T - 1u)]);
}

// ẏ_t = acc − pds·y_t.
fn store_tangent(blk: Block, query: Query, acc: ptr<function, array<vec4f, MAX_HD4>>, pds: f32) {
  if (query.t < shape.T) {
    let b = blk.bh / shape.H;
    let h = blk.bh % shape.H;
    let base = head_base(b * shape.T + query.t, h);
    for (var c = 0u; c < shape.hd4; c++) {
      var value = vec4f(0.0);
      for (var c4 = 0u; c4 < MAX_HD4; c4++) {
        if (c4 < HD4) {
          value = select(value, (*acc)[c4], c4 == c);
        }
      }
      value -= pds * y_chunk(base, c);
      at_ty[base + 2u * c] = value.xy;
      if (upper_inside(c)) {
        at_ty[base + 2u * c + 1u] = value.zw;
      }
    }
  }
}

@compute @workgroup_size(SG)
fn attention_tangent_register(
  @builtin(local_invocation_id) lid: vec3u,
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(subgroup_invocation_id) lane: u32,
) {
  let blk = block_of(wid, nwg);
  if (!blk.valid) {
    return;
  }
  var q: array<vec4f, MAX_HD4>;
  var tq: array<vec4f, MAX_HD4>;
  var acc: array<vec4f, MAX_HD4>;  // Σ P (v̇ + ṡ v), zero-initialised
  let query = load_query(blk, lid.x, &q, &tq);
  var pds = 0.0;                    // Σ P ṡ
  let T = shape.T;
  let b = blk.bh / shape.H;
  let h = blk.bh % shape.H;
  let end = min(blk.first + SG, T);
  for (var j = 0u; j < end; j++) {
    let k_base = qkv_base(b * T + j, 1u, h);
    var ks: array<vec4f, MAX_SLOTS>;
    var vs: array<vec4f, MAX_SLOTS>;
    var tks: array<vec4f, MAX_SLOTS>;
    var tvs: array<vec4f, MAX_SLOTS>;
    for (var r = 0u; r < MAX_SLOTS; r++) {
      if (r * SG < HD4) {
        let c4 = min(r * SG + lane, HD4 - 1u);
        ks[r] = qkv_chunk(k_base, c4);
        vs[r] = qkv_chunk(k_base + shape.D / 2u, c4);
        tks[r] = tqkv_chunk(k_base, c4);
        tvs[r] = tqkv_chunk(k_base + shape.D / 2u, c4);
      }
    }
    var s4 = vec4f(0.0);
    var ds4 = vec4f(0.0);
    for (var c4 = 0u; c4 < MAX_HD4; c4++) {
      if (c4 < HD4) {
        let k = subgroupShuffle(ks[c4 / SG], c4 % SG);
        s4 = fma(q[c4], k, s4);
        ds4 = fma(tq[c4], k, fma(q[c4], subgroupShuffle(tks[c4 / SG], c4 % SG), ds4));
      }
    }
    let s = s4.x + s4.y + s4.z + s4.w;
    let ds = ds4.x + ds4.y + ds4.z + ds4.w;
    let p = select(0.0, exp(s - query.lse), j <= query.t);
    pds = fma(p, ds, pds);
    let pds_j = p * ds;
    for (var c4 = 0u; c4 < MAX_HD4; c4++) {
      if (c4 < HD4) {
        let v = subgroupShuffle(vs[c4 / SG], c4 % SG);
        let tv = subgroupShuffle(tvs[c4 / SG], c4 % SG);
        acc[c4] = fma(vec4f(p), tv, fma(vec4f(pds_j), v, acc[c4]));
      }
    }
  }
  store_tangent(blk, query, &acc, pds);
}

var<workgroup> tt_k: array<vec4f, TILE4>;
var<workgroup> tt_v: array<vec4f, TILE4>;
var<workgroup> tt_tk: array<vec4f, TILE4>;
var<workgroup> tt_tv: array<vec4f, TILE4>;

@compute @workgroup_size(WG)
fn attention_tangent_tiled(
  @builtin(local_invocation_id) lid: vec3u,
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
) {
  let blk = block_of(wid, nwg);
  if (!blk.valid) {
    return;
  }
  var q: array<vec4f, MAX_HD4>;
  var tq: array<vec4f, MAX_HD4>;
  var acc: array<vec4f, MAX_HD4>;
  let query = load_query(blk, lid.x, &q, &tq);
  var pds = 0.0;
  let T = shape.T;
  let b = blk.bh / shape.H;
  let h = blk.bh % shape.H;
  let end = min(blk.first + WG, T);
  for (var j0 = 0u; j0 < end; j0 += BC) {
    workgroupBarrier();
    for (var e = lid.x; e < TILE4; e += WG) {
      let j = min(j0 + e / HD4, T - 1u);
      let k_base = qkv_base(b * T + j, 1u, h);
      tt_k[e] = qkv_chunk(k_base, e % HD4);
      tt_v[e] = qkv_chunk(k_base + shape.D / 2u, e % HD4);
      tt_tk[e] = tqkv_chunk(k_base, e % HD4);
      tt_tv[e] = tqkv_chunk(k_base + shape.D / 2u, e % HD4);
    }
    workgroupBarrier();
    let count = min(BC, end - j0);
    for (var jj = 0u; jj < count; jj++) {
      var s4 = vec4f(0.0);
      var ds4 = vec4f(0.0);
      for (var c4 = 0u; c4 < MAX_HD4; c4++) {
        if (c4 < HD4) {
          let k = tt_k[jj * HD4 + c4];
          s4 = fma(q[c4], k, s4);
          ds4 = fma(tq[c4], k, fma(q[c4], tt_tk[jj * HD4 + c4], ds4));
        }
      }
      let s = s4.x + s4.y + s4.z + s4.w;
      let ds = ds4.x + ds4.y + ds4.z + ds4.w;
      let p = select(0.0, exp(s - query.lse), j0 + jj <= query.t);
      pds = fma(p, ds, pds);
      let pds_j = p * ds;
      for (var c4 = 0u; c4 < MAX_HD4; c4++) {
        if (c4 < HD4) {
          acc[c4] = fma(vec4f(p), tt_tv[jj * HD4 + c4], fma(vec4f(pds_j), tt_v[jj * HD4 + c4], acc[c4]));
        }
      }
    }
  }
  store_tangent(blk, query, &acc, pds);
}
