// Rotary position embeddings (OLMo: non-interleaved rotate-half) on the q and k blocks of the fused
// qkv [N, 3D] rows, in place. Pair i < HD/2 of a head at position t = row % T rotates by angle
// t·inv_freq[i]: out[i] = x[i]·cos − x[i+HD/2]·sin, out[i+HD/2] = x[i+HD/2]·cos + x[i]·sin.
// The backward applies the transpose (rotation by −angle) to the dq and dk blocks of dqkv.
// cos/sin come from a host-built table [T, HD/2] of (cos, sin): sin/cos of large angles in f32
// lose digits on some GPUs.
//
// One invocation per pair: N·D pairs (D/2 in the q block, D/2 in the k block of each row); the *4
// entry points take four pairs per invocation (vec4 loads) when HD/2 is a multiple of 4.

override N: u32;          // rows B·T
override T: u32;          // sequence length
override D: u32;          // d_model
override HD: u32;         // head dimension (even)
override WG: u32 = 256u;  // invocations per workgroup

// rope_forward bindings: 0 table (read, [T, HD/2] of (cos, sin)), 1 qkv (read_write)
@group(0) @binding(0) var<storage, read> fw_table: array<vec2f>;
@group(0) @binding(1) var<storage, read_write> fw_qkv: array<f32>;

// rope_backward bindings: 0 table (read), 1 dqkv (read_write)
@group(0) @binding(0) var<storage, read> bw_table: array<vec2f>;
@group(0) @binding(1) var<storage, read_write> bw_dqkv: array<f32>;

struct Pair {
  first: u32,  // index of x[i] in qkv
  entry: u32,  // index of (cos, sin) in the table
}

fn pair_of(p: u32) -> Pair {
  let half = HD / 2u;
  let row = p / D;
  let j = p % D;
  let block = select(0u, 1u, j >= D / 2u);  // 0: q, 1: k
  let in_block = j - block * (D / 2u);
  let head = in_block / half;
  let i = in_block % half;
  return Pair(row * 3u * D + block * D + head * HD + i, (row % T) * half + i);
}

@compute @workgroup_size(WG)
fn rope_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let p = gid.x + gid.y * nwg.x * WG;
  if (p < N * D) {
    let at = pair_of(p);
    let cs = fw_table[at.entry];
    let x1 = fw_qkv[at.first];
    let x2 = fw_qkv[at.first + HD / 2u];
    fw_qkv[at.first] = x1 * cs.x - x2 * cs.y;
    fw_qkv[at.first + HD / 2u] = x2 * cs.x + x1 * cs.y;
  }
}

@compute @workgroup_size(WG)
fn rope_backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let p = gid.x + gid.y * nwg.x * WG;
  if (p < N * D) {
    let at = pair_of(p);
    let cs = bw_table[at.entry];
    let g1 = bw_dqkv[at.first];
    let g2 = bw_dqkv[at.first + HD / 2u];
    bw_dqkv[at.first] = g1 * cs.x + g2 * cs.y;
    bw_dqkv[at.first + HD / 2u] = g2 * cs.x - g1 * cs.y;
  }
}

// The same, four pairs at a time (HD/2 a multiple of 4): vec4 loads of x, its partner and the table.
// The vec4 entry points take the row count N from the length of the qkv binding (the op binds exactly
// N · 3D floats) instead of the override, so one pipeline serves every batch size.
// rope_forward4 bindings: as rope_forward (the table read as vec4: two (cos, sin) pairs each)
@group(0) @binding(0) var<storage, read> fw4_table: array<vec4f>;
@group(0) @binding(1) var<storage, read_write> fw4_qkv: array<vec4f>;

// rope_backward4 bindings: as rope_backward
@group(0) @binding(0) var<storage, read> bw4_table: array<vec4f>;
@group(0) @binding(1) var<storage, read_write> bw4_dqkv: array<vec4f>;

struct Pairs4 {
  first4: u32,   // vec4 index of x[i…i+3] in qkv
  partner4: u32, // vec4 index of x[i+HD/2…]
  entry2: u32,   // vec4 index of the table entries of pairs i, i+1 (i+2, i+3 follow)
}

fn pairs4_of(p4: u32) -> Pairs4 {
  let half = HD / 2u;
  let row = p4 / (D / 4u);
  let j = 4u * (p4 % (D / 4u));
  let block = select(0u, 1u, j >= D / 2u);  // 0: q, 1: k
  let in_block = j - block * (D / 2u);
  let head = in_block / half;
  let i = in_block % half;
  let first = row * 3u * D + block * D + head * HD + i;
  return Pairs4(first / 4u, (first + half) / 4u, ((row % T) * half + i) / 2u);
}

@compute @workgroup_size(WG)
fn rope_forward4(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let p4 = gid.x + gid.y * nwg.x * WG;
  if (p4 < arrayLength(&fw4_qkv) / 3u) {
    let at = pairs4_of(p4);
    let a = fw4_table[at.entry2];
    let b = fw4_table[at.entry2 + 1u];
    let c = vec4f(a.x, a.z, b.x, b.z);
    let s = vec4f(a.y, a.w, b.y, b.w);
    let x1 = fw4_qkv[at.first4];
    let x2 = fw4_qkv[at.partner4];
    fw4_qkv[at.first4] = x1 * c - x2 * s;
    fw4_qkv[at.partner4] = x2 * c + x1 * s;
  }
}

@compute @workgroup_size(WG)
fn rope_backward4(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let p4 = gid.x + gid.y * nwg.x * WG;
  if (p4 < arrayLength(&bw4_dqkv) / 3u) {
    let at = pairs4_of(p4);
    let a = bw4_table[at.entry2];
    let b = bw4_table[at.entry2 + 1u];
    let c = vec4f(a.x, a.z, b.x, b.z);
    let s = vec4f(a.y, a.w, b.y, b.w);
    let g1 = bw4_dqkv[at.first4];
    let g2 = bw4_dqkv[at.partner4];
    bw4_dqkv[at.first4] = g1 * c + g2 * s;
    bw4_dqkv[at.partner4] = g2 * c - g1 * s;
  }
}

// rope_forward_heads4 (software adapters; HD/2 a multiple of 4): one invocation per (row, four pairs
// i … i+3), looping over the q and k heads, which share the row's (cos, sin): the table is read once per
// row instead of once per head (on llvmpipe each of those loads costs about what a vec4 of qkv does).
// Bindings as rope_forward4.
@compute @workgroup_size(WG)
fn rope_forward_heads4(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let quads = HD / 8u;  // groups of four pairs per head
  let item = gid.x + gid.y * nwg.x * WG;
  if (item >= arrayLength(&fw4_qkv) / (3u * D / 4u) * quads) {
    return;
  }
  let row = item / quads;
  let q4 = item - row * quads;
  let entry2 = ((row % T) * (HD / 2u) + 4u * q4) / 2u;
  let a = fw4_table[entry2];
  let b = fw4_table[entry2 + 1u];
  let c = vec4f(a.x, a.z, b.x, b.z);
  let s = vec4f(a.y, a.w, b.y, b.w);
  // The q and k blocks are 2·D/HD consecutive heads of HD/4 vec4s; nwg.z − 1 is 0 but opaque to
  // the compiler, which would otherwise unroll the loop around these loads (see DEVELOPERS.md).
  let heads = 2u * D / HD + nwg.z - 1u;
  var first = row * (3u * D / 4u) + q4;
  for (var h = 0u; h < heads; h++) {
    let x1 = fw4_qkv[first];
    let x2 = fw4_qkv[first + HD / 8u];
    fw4_qkv[first] = x1 * c - x2 * s;
    fw4_qkv[first + HD / 8u] = x2 * c + x1 * s;
    first += HD / 4u;
  }
}
