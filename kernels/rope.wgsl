// Rotary position embeddings (OLMo: non-interleaved rotate-half) on the q and k blocks of the fused
// qkv [N, 3D] rows, in place. Pair i < HD/2 of a head at position t = row % T rotates by angle
// t·inv_freq[i]: out[i] = x[i]·cos − x[i+HD/2]·sin, out[i+HD/2] = x[i+HD/2]·cos + x[i]·sin.
// The backward applies the transpose (rotation by −angle) to the dq and dk blocks of dqkv.
// cos/sin come from a host-built table [T, HD/2] of (cos, sin): sin/cos of large angles in f32
// lose digits on some GPUs.
//
// One invocation per pair: N·D pairs (D/2 in the q block, D/2 in the k block of each row).

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
