// RMSNorm without affine weights (OLMo's parameter-free norm), per row of width D:
//   y = x · rstd,  rstd = 1 / sqrt(mean(x²) + EPS).
// The forward saves rstd per row. Backward, with y = x·r and ∂r/∂x_j = −r³·x_j/D:
//   dx_j = r·dy_j − (r³/D)·x_j·Σ_i dy_i·x_i = r·(dy_j − y_j·mean(dy·y)).
// With ACCUMULATE the backward adds onto dx (in a pre-norm block the norm's input also feeds the
// residual, whose gradient dx already holds).
//
// Two variants of each entry point, same bindings:
// - *_serial: one invocation per row, serial loops (software adapters: no workgroup memory or
//   barriers), rows laid out on a 2-D grid of workgroups of WG invocations; *_serial4 the same with
//   vec4 loads when D is a multiple of 4 (at the end of this file);
// - *_wg: one workgroup of WG invocations (a power of two) per row, strided loads, fixed-order tree
//   reduction in workgroup memory (GPUs).
// - *_register: one 8-lane subgroup per workgroup, a row at a time: the lanes load the row once,
//   cooperatively (lane l the vec4s l, l + 8, …), keep it in registers, and sum with subgroup
//   shuffles; for D a multiple of 4 up to 128 (software adapters; at the end of this file).
// All sum in a fixed order, so results are bit-identical run to run.
//
// The serial loops run to `width = D + nwg.z - 1u`: dispatches are 2-D, so nwg.z − 1 is 0, but the
// compiler cannot know it. A trip count that is a small override constant makes llvmpipe unroll
// the loop fully, which costs seconds of compile time per pipeline (and gains nothing).

enable subgroups;

override ROWS: u32;
override D: u32;
override EPS: f32 = 1e-5;
override ACCUMULATE: bool = false;
override WG: u32 = 64u;

var<workgroup> partial: array<f32, WG>;

// Sums partial[0..WG) in a fixed tree order; every invocation of the workgroup gets the total.
// Callers write partial[lid] first; the function begins and ends with a barrier.
fn tree_sum(lid: u32) -> f32 {
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride = stride / 2u) {
    if (lid < stride) {
      partial[lid] = partial[lid] + partial[lid + stride];
    }
    workgroupBarrier();
  }
  let total = partial[0];
  workgroupBarrier();
  return total;
}

// rmsnorm_forward_* bindings: 0 x [ROWS, D] (read), 1 y [ROWS, D] (write), 2 rstd [ROWS] (write)
@group(0) @binding(0) var<storage, read> fw_x: array<f32>;
@group(0) @binding(1) var<storage, read_write> fw_y: array<f32>;
@group(0) @binding(2) var<storage, read_write> fw_rstd: array<f32>;

@compute @workgroup_size(WG)
fn rmsnorm_forward_serial(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let row = gid.x + gid.y * nwg.x * WG;
  if (row >= ROWS) {
    return;
  }
  let base = row * D;
  let width = D + nwg.z - 1u;
  var total = 0.0;
  for (var i = 0u; i < width; i++) {
    let v = fw_x[base + i];
    total += v * v;
  }
  let r = 1.0 / sqrt(total / f32(D) + EPS);
  for (var j = 0u; j < width; j++) {
    fw_y[base + j] = fw_x[base + j] * r;
  }
  fw_rstd[row] = r;
}

@compute @workgroup_size(WG)
fn rmsnorm_forward_wg(
  @builtin(local_invocation_index) lid: u32,
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= ROWS) {
    return;
  }
  let base = row * D;
  var sum = 0.0;
  for (var i = lid; i < D; i += WG) {
    let v = fw_x[base + i];
    sum += v * v;
  }
  partial[lid] = sum;
  let total = tree_sum(lid);
  let r = 1.0 / sqrt(total / f32(D) + EPS);
  for (var i = lid; i < D; i += WG) {
    fw_y[base + i] = fw_x[base + i] * r;
  }
  if (lid == 0u) {
    fw_rstd[row] = r;
  }
}

// rmsnorm_backward_* bindings: 0 dy [ROWS, D] (read), 1 y [ROWS, D] (read), 2 rstd [ROWS] (read),
// 3 dx [ROWS, D] (write, or read_write with ACCUMULATE)
@group(0) @binding(0) var<storage, read> bw_dy: array<f32>;
@group(0) @binding(1) var<storage, read> bw_y: array<f32>;
@group(0) @binding(2) var<storage, read> bw_rstd: array<f32>;
@group(0) @binding(3) var<storage, read_write> bw_dx: array<f32>;

fn store_dx(index: u32, value: f32) {
  if (ACCUMULATE) {
    bw_dx[index] = bw_dx[index] + value;
  } else {
    bw_dx[index] = value;
  }
}

@compute @workgroup_size(WG)
fn rmsnorm_backward_serial(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let row = gid.x + gid.y * nwg.x * WG;
  if (row >= ROWS) {
    return;
  }
  let base = row * D;
  let width = D + nwg.z - 1u;
  var total = 0.0;
  for (var i = 0u; i < width; i++) {
    total += bw_dy[base + i] * bw_y[base + i];
  }
  let mean_dy_y = total / f32(D);
  let r = bw_rstd[row];
  for (var j = 0u; j < width; j++) {
    store_dx(base + j, r * (bw_dy[base + j] - bw_y[base + j] * mean_dy_y));
  }
}

@compute @workgroup_size(WG)
fn rmsnorm_backward_wg(
  @builtin(local_invocation_index) lid: u32,
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= ROWS) {
    return;
  }
  let base = row * D;
  var sum = 0.0;
  for (var i = lid; i < D; i += WG) {
    sum += bw_dy[base + i] * bw_y[base + i];
  }
  partial[lid] = sum;
  let mean_dy_y = tree_sum(lid) / f32(D);
  let r = bw_rstd[row];
  for (var i = lid; i < D; i += WG) {
    store_dx(base + i, r * (bw_dy[base + i] - bw_y[base + i] * mean_dy_y));
  }
}

// *_serial4: the serial variants four columns at a time (D a multiple of 4); the sums run as four
// interleaved partial sums added at the end (still a fixed order). vec4 loads on llvmpipe cost about
// half of four scalar ones, and these kernels do little but load and store.
// rmsnorm_forward_serial4 bindings: as rmsnorm_forward_*
@group(0) @binding(0) var<storage, read> fw4_x: array<vec4f>;
@group(0) @binding(1) var<storage, read_write> fw4_y: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> fw4_rstd: array<f32>;

@compute @workgroup_size(WG)
fn rmsnorm_forward_serial4(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let row = gid.x + gid.y * nwg.x * WG;
  if (row >= ROWS) {
    return;
  }
  let d4 = D / 4u;
  let base = row * d4;
  let width = d4 + nwg.z - 1u;
  var total = vec4f(0.0);
  for (var i = 0u; i < width; i++) {
    let v = fw4_x[base + i];
    total += v * v;
  }
  let r = 1.0 / sqrt((total.x + total.y + total.z + total.w) / f32(D) + EPS);
  for (var j = 0u; j < width; j++) {
    fw4_y[base + j] = fw4_x[base + j] * r;
  }
  fw4_rstd[row] = r;
}

// rmsnorm_backward_serial4 bindings: as rmsnorm_backward_*
@group(0) @binding(0) var<storage, read> bw4_dy: array<vec4f>;
@group(0) @binding(1) var<storage, read> bw4_y: array<vec4f>;
@group(0) @binding(2) var<storage, read> bw4_rstd: array<f32>;
@group(0) @binding(3) var<storage, read_write> bw4_dx: array<vec4f>;

@compute @workgroup_size(WG)
fn rmsnorm_backward_serial4(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let row = gid.x + gid.y * nwg.x * WG;
  if (row >= ROWS) {
    return;
  }
  let d4 = D / 4u;
  let base = row * d4;
  let width = d4 + nwg.z - 1u;
  var total = vec4f(0.0);
  for (var i = 0u; i < width; i++) {
    total += bw4_dy[base + i] * bw4_y[base + i];
  }
  let mean_dy_y = (total.x + total.y + total.z + total.w) / f32(D);
  let r = bw4_rstd[row];
  for (var j = 0u; j < width; j++) {
    let value = r * (bw4_dy[base + j] - bw4_y[base + j] * mean_dy_y);
    if (ACCUMULATE) {
      bw4_dx[base + j] = bw4_dx[base + j] + value;
    } else {
      bw4_dx[base + j] = value;
    }
  }
}

// *_register: the serial4 kernels reread each row for their second pass; here the 8 lanes of a
// subgroup load a row once between them (lane l the vec4s l, l + 8, …, at most REG_MAX4 each: rows of up
// to 128 floats), keep it in private arrays indexed by constants only (so in registers: the loops over
// q run to the array size and are unrolled), and add their partial sums with a shuffle butterfly, which
// leaves the same total, bit for bit, on every lane. On llvmpipe every storage access whose address
// differs across the lanes is a loop over the lanes, so the accesses are the cost: this does 2 per
// float in the forward (serial4: 3) and 4 in the accumulating backward (serial4: 6). Measured on a
// 2-core Zen 4, 1,024 rows, d 64–128: forward 15–25% and accumulating backward 25–35% less CPU than
// serial4, at 32 rows a workgroup (16 and 64 within noise of it, 8 slower).
// Requires subgroups of at least 8 invocations (the matmul's register kernels need the same).
// Bindings as rmsnorm_forward_* and rmsnorm_backward_*.

// The row count is not an override here: the rows come from the length of the rstd binding (the op
// binds exactly `rows` floats), so one pipeline serves every batch size.
override ROWS_PER_WG: u32 = 32u;
const REG_MAX4 = 4u;

@group(0) @binding(0) var<storage, read> fwr_x: array<vec4f>;
@group(0) @binding(1) var<storage, read_write> fwr_y: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> fwr_rstd: array<f32>;

// The sum over the 8 lanes, identical on every lane (each step adds the same two values in some order).
fn lanes_sum(value: f32) -> f32 {
  var total = value;
  total += subgroupShuffleXor(total, 1u);
  total += subgroupShuffleXor(total, 2u);
  total += subgroupShuffleXor(total, 4u);
  return total;
}

@compute @workgroup_size(8)
fn rmsnorm_forward_register(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                            @builtin(local_invocation_id) lid: vec3u) {
  let d4 = D / 4u;
  let lane = lid.x;
  let r_begin = (wid.x + wid.y * nwg.x) * ROWS_PER_WG;
  let r_end = min(r_begin + ROWS_PER_WG, arrayLength(&fwr_rstd));
  for (var r = r_begin; r < r_end; r++) {
    var xs: array<vec4f, REG_MAX4>;
    for (var q = 0u; q < REG_MAX4; q++) {
      if (q * 8u < d4) { xs[q] = fwr_x[r * d4 + min(q * 8u + lane, d4 - 1u)]; }
    }
    var squares = vec4f(0.0);
    for (var q = 0u; q < REG_MAX4; q++) {
      if (q * 8u < d4) { squares += select(vec4f(0.0), xs[q] * xs[q], q * 8u + lane < d4); }
    }
    let total = lanes_sum((squares.x + squares.y) + (squares.z + squares.w));
    let rs = 1.0 / sqrt(total / f32(D) + EPS);
    for (var q = 0u; q < REG_MAX4; q++) {
      if (q * 8u + lane < d4) { fwr_y[r * d4 + q * 8u + lane] = xs[q] * rs; }
    }
    if (lane == 0u) { fwr_rstd[r] = rs; }
  }
}

@group(0) @binding(0) var<storage, read> bwr_dy: array<vec4f>;
@group(0) @binding(1) var<storage, read> bwr_y: array<vec4f>;
@group(0) @binding(2) var<storage, read> bwr_rstd: array<f32>;
@group(0) @binding(3) var<storage, read_write> bwr_dx: array<vec4f>;

@compute @workgroup_size(8)
fn rmsnorm_backward_register(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                             @builtin(local_invocation_id) lid: vec3u) {
  let d4 = D / 4u;
  let lane = lid.x;
  let r_begin = (wid.x + wid.y * nwg.x) * ROWS_PER_WG;
  let r_end = min(r_begin + ROWS_PER_WG, arrayLength(&bwr_rstd));
  for (var r = r_begin; r < r_end; r++) {
    var dys: array<vec4f, REG_MAX4>;
    var ys: array<vec4f, REG_MAX4>;
    for (var q = 0u; q < REG_MAX4; q++) {
      if (q * 8u < d4) {
        let at = r * d4 + min(q * 8u + lane, d4 - 1u);
        dys[q] = bwr_dy[at];
        ys[q] = bwr_y[at];
      }
    }
    var dots = vec4f(0.0);
    for (var q = 0u; q < REG_MAX4; q++) {
      if (q * 8u < d4) { dots += select(vec4f(0.0), dys[q] * ys[q], q * 8u + lane < d4); }
    }
    let mean_dy_y = lanes_sum((dots.x + dots.y) + (dots.z + dots.w)) / f32(D);
    let rs = bwr_rstd[r];
    for (var q = 0u; q < REG_MAX4; q++) {
      if (q * 8u + lane < d4) {
        let at = r * d4 + q * 8u + lane;
        let value = rs * (dys[q] - ys[q] * mean_dy_y);
        if (ACCUMULATE) { bwr_dx[at] += value; } else { bwr_dx[at] = value; }
      }
    }
  }
}
