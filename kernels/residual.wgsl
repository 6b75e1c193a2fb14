// Residual connection h = x + y, and its backward: the gradient reaching h flows unchanged into
// both branches, so the backward adds the branch's input gradient onto the skip path's gradient.

override N: u32;          // elements
override WG: u32 = 256u;  // invocations per workgroup

// residual_forward bindings: 0 x (read), 1 y (read), 2 h (write) — h = x + y
@group(0) @binding(0) var<storage, read> fw_x: array<f32>;
@group(0) @binding(1) var<storage, read> fw_y: array<f32>;
@group(0) @binding(2) var<storage, read_write> fw_h: array<f32>;

@compute @workgroup_size(WG)
fn residual_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i < N) {
    fw_h[i] = fw_x[i] + fw_y[i];
  }
}

// residual_backward bindings: 0 d_branch (read), 1 d_skip (read_write) — d_skip += d_branch
@group(0) @binding(0) var<storage, read> bw_dbranch: array<f32>;
@group(0) @binding(1) var<storage, read_write> bw_dskip: array<f32>;

@compute @workgroup_size(WG)
fn residual_backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i < N) {
    bw_dskip[i] = bw_dskip[i] + bw_dbranch[i];
  }
}
