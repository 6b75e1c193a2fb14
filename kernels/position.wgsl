// Learned absolute position embedding (nanoGPT's wpe, docs/method.md#the-nanogpt-variant): the token embedding's output
// x [BATCH·SEQ, D] gets wpe[s, :] added at every row of position s (in place). Its gradient is a sum over
// the batch per position, dwpe[s, c] += Σ_b dx[b·SEQ + s, c]: one invocation per (s, c) sums the BATCH
// rows in increasing b, so it is deterministic without atomics. Only the first SEQ rows of wpe are
// touched (a model of shorter sequences uses a prefix of the positions). Elementwise and short loops:
// one variant serves every adapter.

override BATCH: u32;
override SEQ: u32;
override D: u32;
override WG: u32 = 256u;

// position_forward bindings: 0 wpe [≥ SEQ, D] (read), 1 x [BATCH·SEQ, D] (read_write: x += wpe[s])
@group(0) @binding(0) var<storage, read> fw_wpe: array<f32>;
@group(0) @binding(1) var<storage, read_write> fw_x: array<f32>;

@compute @workgroup_size(WG)
fn position_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= BATCH * SEQ * D) {
    return;
  }
  let within = i % (SEQ * D); // s·D + c
  fw_x[i] = fw_x[i] + fw_wpe[within];
}

// position_backward bindings: 0 dx [BATCH·SEQ, D] (read), 1 dwpe [≥ SEQ, D] (read_write, accumulated)
@group(0) @binding(0) var<storage, read> bw_dx: array<f32>;
@group(0) @binding(1) var<storage, read_write> bw_dwpe: array<f32>;

@compute @workgroup_size(WG)
fn position_backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= SEQ * D) {
    return;
  }
  var sum = 0.0;
  // nwg.z is 1: a bound the compiler cannot see through keeps it from unrolling BATCH iterations.
  let batch = BATCH + nwg.z - 1u;
  for (var b = 0u; b < batch; b++) {
    sum += bw_dx[b * SEQ * D + i];
  }
  bw_dwpe[i] = bw_dwpe[i] + sum;
}
