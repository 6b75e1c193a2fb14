// Token cross-entropy with the per-token losses kept on the GPU, per row r of logits [ROWS, V]:
//   loss[r] = logsumexp(logits[r]) − logits[r, target[r]]   (max-subtracted, so stable),
// 0 where target[r] = NO_TARGET (the last position of a sequence predicts nothing). The train entry
// points also overwrite the logits in place with d(SCALE·Σ loss)/d(logits) = (softmax − onehot)·SCALE,
// SCALE being 1 / (predicted tokens in the global batch); rows without a target get 0. A target that
// is neither NO_TARGET nor below V is a host bug (the host validates ids first): it is never read,
// and the row's loss and gradient are NaN, so that it shows in the mean loss and the gradient norm.
//
// Variants, same bindings:
// - *_serial: one invocation per row; a max pass, then a blocked sum of exp (software adapters);
// - *_wg: one workgroup of WG invocations (a power of two) per row; each keeps a running (max, sum)
//   over a strided slice of the row, merged by a fixed-order tree in workgroup memory (GPUs).
// Both reduce in a fixed order: bit-identical run to run.
//
// The serial loops run to `width = V + nwg.z - 1u` (dispatches are 2-D: nwg.z − 1 is 0) so that
// llvmpipe does not fully unroll loops whose trip count is a small override constant (seconds of
// compile time per pipeline).

override ROWS: u32;
override V: u32;               // vocabulary: the row width
override SCALE: f32 = 1.0;     // gradient scale of the train entry points
override WG: u32 = 64u;

const NO_TARGET: u32 = 0xffffffffu;
const LOWEST: f32 = -0x1.fffffep+127f;   // the lowest finite f32
const BLOCK: u32 = 64u;        // serial sums add BLOCK terms into a block sum, then the block sum

// A quiet NaN from a runtime value (WGSL rejects NaN constants).
fn nan_from(runtime: u32) -> f32 {
  return bitcast<f32>(0x7fc00000u | (runtime & 0u));
}

// cross_entropy_{forward,train}_{serial,wg} bindings: 0 logits [ROWS, V] (read_write: the train
// entry points overwrite it with the gradient), 1 targets [ROWS] u32 (read), 2 losses [ROWS] (write)
@group(0) @binding(0) var<storage, read_write> ce_logits: array<f32>;
@group(0) @binding(1) var<storage, read> ce_targets: array<u32>;
@group(0) @binding(2) var<storage, read_write> ce_losses: array<f32>;

fn ce_row_serial(row: u32, width: u32, train: bool) {
  let base = row * V;
  let tgt = ce_targets[row];
  if (tgt == NO_TARGET || tgt >= V) {
    let value = select(nan_from(tgt), 0.0, tgt == NO_TARGET);
    ce_losses[row] = value;
    if (train) {
      for (var j = 0u; j < width; j++) {
        ce_logits[base + j] = value;
      }
    }
    return;
  }
  var m = LOWEST;
  for (var j = 0u; j < width; j++) {
    m = max(m, ce_logits[base + j]);
  }
  var total = 0.0;
  var j = 0u;
  while (j < width) {
    let end = min(j + BLOCK, width);
    var block = 0.0;
    for (; j < end; j++) {
      block += exp(ce_logits[base + j] - m);
    }
    total += block;
  }
  ce_losses[row] = log(total) + (m - ce_logits[base + tgt]);
  if (train) {
    let inv = 1.0 / total;
    for (var k = 0u; k < width; k++) {
      let p = exp(ce_logits[base + k] - m) * inv;
      ce_logits[base + k] = select(p, p - 1.0, k == tgt) * SCALE;
    }
  }
}

@compute @workgroup_size(WG)
fn cross_entropy_forward_serial(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let row = gid.x + gid.y * nwg.x * WG;
  if (row < ROWS) {
    ce_row_serial(row, V + nwg.z - 1u, false);
  }
}

@compute @workgroup_size(WG)
fn cross_entropy_train_serial(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let row = gid.x + gid.y * nwg.x * WG;
  if (row < ROWS) {
    ce_row_serial(row, V + nwg.z - 1u, true);
  }
}

// *_serial4: the serial variants four columns at a time (V a multiple of 4): vec4 loads and stores,
// whose cost on llvmpipe is about that of one scalar (every access whose address differs across the
// lanes is a loop over the lanes). The sums run as four interleaved partial sums (lane c of the vec4
// sums columns ≡ c mod 4) in blocks of BLOCK columns, added at the end: still a fixed order.
// Bindings as the serial variants.
@group(0) @binding(0) var<storage, read_write> ce4_logits: array<vec4f>;
@group(0) @binding(1) var<storage, read> ce4_targets: array<u32>;
@group(0) @binding(2) var<storage, read_write> ce4_losses: array<f32>;

fn ce_row_serial4(row: u32, width4: u32, train: bool) {
  let base = row * (V / 4u);
  let tgt = ce4_targets[row];
  if (tgt == NO_TARGET || tgt >= V) {
    let value = select(nan_from(tgt), 0.0, tgt == NO_TARGET);
    ce4_losses[row] = value;
    if (train) {
      for (var j = 0u; j < width4; j++) {
        ce4_logits[base + j] = vec4f(value);
      }
    }
    return;
  }
  let target_logit = ce4_logits[base + tgt / 4u][tgt % 4u];
  var m4 = vec4f(LOWEST);
  for (var j = 0u; j < width4; j++) {
    m4 = max(m4, ce4_logits[base + j]);
  }
  let m = max(max(m4.x, m4.y), max(m4.z, m4.w));
  var total4 = vec4f(0.0);
  var j = 0u;
  while (j < width4) {
    let end = min(j + BLOCK / 4u, width4);
    var block = vec4f(0.0);
    for (; j < end; j++) {
      block += exp(ce4_logits[base + j] - m);
    }
    total4 += block;
  }
  let total = (total4.x + total4.y) + (total4.z + total4.w);
  ce4_losses[row] = log(total) + (m - target_logit);
  if (train) {
    let inv = 1.0 / total;
    let columns = vec4u(0u, 1u, 2u, 3u);
    for (var k = 0u; k < width4; k++) {
      let p = exp(ce4_logits[base + k] - m) * inv;
      ce4_logits[base + k] = select(p, p - 1.0, columns + 4u * k == vec4u(tgt)) * SCALE;
    }
  }
}

@compute @workgroup_size(WG)
fn cross_entropy_forward_serial4(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let row = gid.x + gid.y * nwg.x * WG;
  if (row < ROWS) {
    ce_row_serial4(row, V / 4u + nwg.z - 1u, false);
  }
}

@compute @workgroup_size(WG)
fn cross_entropy_train_serial4(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let row = gid.x + gid.y * nwg.x * WG;
  if (row < ROWS) {
    ce_row_serial4(row, V / 4u + nwg.z - 1u, true);
  }
}

var<workgroup> wg_max: array<f32, WG>;
var<workgroup> wg_sum: array<f32, WG>;

// Every row runs the same reduction (rows without a target too, their results are dropped), so
// that the barriers stay in uniform control flow.
fn ce_row_wg(row: u32, lid: u32, train: bool) {
  let base = row * V;
  let tgt = ce_targets[row];
  let valid = tgt < V;
  // Read before the barriers below: after them, other invocations overwrite the row.
  var target_logit = 0.0;
  if (lid == 0u && valid) {
    target_logit = ce_logits[base + tgt];
  }
  var m = LOWEST;
  var s = 0.0;
  for (var j = lid; j < V; j += WG) {
    let x = ce_logits[base + j];
    if (x > m) {
      s = s * exp(m - x) + 1.0;
      m = x;
    } else {
      s += exp(x - m);
    }
  }
  wg_max[lid] = m;
  wg_sum[lid] = s;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride = stride / 2u) {
    if (lid < stride) {
      let m1 = wg_max[lid];
      let m2 = wg_max[lid + stride];
      let merged = max(m1, m2);
      wg_sum[lid] = wg_sum[lid] * exp(m1 - merged) + wg_sum[lid + stride] * exp(m2 - merged);
      wg_max[lid] = merged;
    }
    workgroupBarrier();
  }
  let row_max = wg_max[0];
  let row_sum = wg_sum[0];
  if (lid == 0u) {
    ce_losses[row] = select(select(nan_from(tgt), 0.0, tgt == NO_TARGET),
                            log(row_sum) + (row_max - target_logit), valid);
  }
  if (train) {
    if (valid) {
      let inv = 1.0 / row_sum;
      for (var j = lid; j < V; j += WG) {
        let p = exp(ce_logits[base + j] - row_max) * inv;
        ce_logits[base + j] = select(p, p - 1.0, j == tgt) * SCALE;
      }
    } else {
      let value = select(nan_from(tgt), 0.0, tgt == NO_TARGET);
      for (var j = lid; j < V; j += WG) {
        ce_logits[base + j] = value;
      }
    }
  }
}

@compute @workgroup_size(WG)
fn cross_entropy_forward_wg(
  @builtin(local_invocation_index) lid: u32,
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
) {
  let row = wid.x + wid.y * nwg.x;
  if (row < ROWS) {
    ce_row_wg(row, lid, false);
  }
}

@compute @workgroup_size(WG)
fn cross_entropy_train_wg(
  @builtin(local_invocation_index) lid: u32,
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
) {
  let row = wid.x + wid.y * nwg.x;
  if (row < ROWS) {
    ce_row_wg(row, lid, true);
  }
}

// ---------------------------------------------------------------------------------------------
// loss_sum: a fixed-order sum of N floats into one float, for the mean loss. Small N: one final
// pass over the input. Large N: loss_sum_partials_* first writes fixed-size partial sums (one per
// workgroup of WG·ITEMS values with *_wg, one per invocation of ITEMS values strided by WG with
// *_serial), then loss_sum_final_* adds them up.

override N: u32 = 1u;          // values to sum (partials: input length; final: values in the input)
override ITEMS: u32 = 16u;     // values per invocation in the partials pass

// loss_sum_partials_* bindings: 0 values [N] (read), 1 partials (write)
@group(0) @binding(0) var<storage, read> sp_values: array<f32>;
@group(0) @binding(1) var<storage, read_write> sp_partials: array<f32>;

// loss_sum_final_* bindings: 0 values [N] (read), 1 total (write, one float)
@group(0) @binding(0) var<storage, read> sf_values: array<f32>;
@group(0) @binding(1) var<storage, read_write> sf_total: array<f32>;

var<workgroup> wg_partial: array<f32, WG>;

fn tree_sum(lid: u32, value: f32) -> f32 {
  wg_partial[lid] = value;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride = stride / 2u) {
    if (lid < stride) {
      wg_partial[lid] = wg_partial[lid] + wg_partial[lid + stride];
    }
    workgroupBarrier();
  }
  return wg_partial[0];
}

@compute @workgroup_size(WG)
fn loss_sum_partials_wg(
  @builtin(local_invocation_index) lid: u32,
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
) {
  let group = wid.x + wid.y * nwg.x;
  let start = group * WG * ITEMS;
  if (start >= N) {
    return;
  }
  var sum = 0.0;
  for (var k = 0u; k < ITEMS; k++) {
    let i = start + k * WG + lid;
    if (i < N) {
      sum += sp_values[i];
    }
  }
  let total = tree_sum(lid, sum);
  if (lid == 0u) {
    sp_partials[group] = total;
  }
}

@compute @workgroup_size(WG)
fn loss_sum_partials_serial(
  @builtin(local_invocation_index) lid: u32,
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
) {
  let group = wid.x + wid.y * nwg.x;
  let start = group * WG * ITEMS + lid;
  let items = ITEMS + nwg.z - 1u;
  var total = 0.0;
  var k = 0u;
  while (k < items) {
    let end = min(k + BLOCK, items);
    var block = 0.0;
    for (; k < end; k++) {
      let i = start + k * WG;
      if (i < N) {
        block += sp_values[i];
      }
    }
    total += block;
  }
  sp_partials[group * WG + lid] = total;
}

@compute @workgroup_size(WG)
fn loss_sum_final_wg(@builtin(local_invocation_index) lid: u32) {
  var total = 0.0;
  var block = 0.0;
  var count = 0u;
  for (var i = lid; i < N; i += WG) {
    block += sf_values[i];
    count++;
    if (count == BLOCK) {
      total += block;
      block = 0.0;
      count = 0u;
    }
  }
  let sum = tree_sum(lid, total + block);
  if (lid == 0u) {
    sf_total[0] = sum;
  }
}

@compute @workgroup_size(1)
fn loss_sum_final_serial(@builtin(num_workgroups) nwg: vec3u) {
  let n = N + nwg.z - 1u;
  var total = 0.0;
  var i = 0u;
  while (i < n) {
    let end = min(i + BLOCK * BLOCK, n);
    var outer = 0.0;
    while (i < end) {
      let inner_end = min(i + BLOCK, end);
      var block = 0.0;
      for (; i < inner_end; i++) {
        block += sf_values[i];
      }
      outer += block;
    }
    total += outer;
  }
  sf_total[0] = total;
}

// ---------------------------------------------------------------------------------------------
// cross_entropy_tangent_*: the forward-mode derivative of each row's loss along a tangent of its
// logits ż [ROWS, V]: ℓ̇[r] = Σ_v softmax(z[r])_v ż[r, v] − ż[r, target[r]] (0 without a target, NaN
// for a target ≥ V, as the loss). Serial: a max pass, then blocked sums of e = exp(z − m) and e·ż;
// wg: running (max, Σe, Σe·ż) per invocation merged by a fixed-order tree. Both fixed order.
// Bindings: 0 logits [ROWS, V] (read), 1 tangent logits [ROWS, V] (read), 2 targets [ROWS] (read),
// 3 tangent losses [ROWS] (write)
@group(0) @binding(0) var<storage, read> ct_logits: array<f32>;
@group(0) @binding(1) var<storage, read> ct_tangent: array<f32>;
@group(0) @binding(2) var<storage, read> ct_targets: array<u32>;
@group(0) @binding(3) var<storage, read_write> ct_out: array<f32>;

@compute @workgroup_size(WG)
fn cross_entropy_tangent_serial(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let row = gid.x + gid.y * nwg.x * WG;
  if (row >= ROWS) {
    return;
  }
  let width = V + nwg.z - 1u;
  let base = row * V;
  let tgt = ct_targets[row];
  if (tgt >= V) {
    ct_out[row] = select(nan_from(tgt), 0.0, tgt == NO_TARGET);
    return;
  }
  var m = LOWEST;
  for (var j = 0u; j < width; j++) {
    m = max(m, ct_logits[base + j]);
  }
  var total = 0.0;
  var weighted = 0.0;
  var j = 0u;
  while (j < width) {
    let end = min(j + BLOCK, width);
    var block = 0.0;
    var block_weighted = 0.0;
    for (; j < end; j++) {
      let e = exp(ct_logits[base + j] - m);
      block += e;
      block_weighted += e * ct_tangent[base + j];
    }
    total += block;
    weighted += block_weighted;
  }
  ct_out[row] = weighted / total - ct_tangent[base + tgt];
}

var<workgroup> wg_weighted: array<f32, WG>;

@compute @workgroup_size(WG)
fn cross_entropy_tangent_wg(
  @builtin(local_invocation_index) lid: u32,
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= ROWS) {
    return;
  }
  let base = row * V;
  let tgt = ct_targets[row];
  var m = LOWEST;
  var s = 0.0;
  var w = 0.0;
  for (var j = lid; j < V; j += WG) {
    let x = ct_logits[base + j];
    let dz = ct_tangent[base + j];
    if (x > m) {
      let correction = exp(m - x);
      s = s * correction + 1.0;
      w = w * correction + dz;
      m = x;
    } else {
      let e = exp(x - m);
      s += e;
      w += e * dz;
    }
  }
  wg_max[lid] = m;
  wg_sum[lid] = s;
  wg_weighted[lid] = w;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride = stride / 2u) {
    if (lid < stride) {
      let m1 = wg_max[lid];
      let m2 = wg_max[lid + stride];
      let merged = max(m1, m2);
      let c1 = exp(m1 - merged);
      let c2 = exp(m2 - merged);
      wg_sum[lid] = wg_sum[lid] * c1 + wg_sum[lid + stride] * c2;
      wg_weighted[lid] = wg_weighted[lid] * c1 + wg_weighted[lid + stride] * c2;
      wg_max[lid] = merged;
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    let valid = tgt < V;
    let value = wg_weighted[0] / wg_sum[0] - ct_tangent[base + min(tgt, V - 1u)];
    ct_out[row] = select(select(nan_from(tgt), 0.0, tgt == NO_TARGET), value, valid);
  }
}
