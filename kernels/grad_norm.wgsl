// Global L2 norm of the gradients (for clipping at 1.0 and logging), deterministic: a partials pass
// per tensor (bound separately, with a byte offset, in pieces below the binding-size limit) writes
// fixed-size partial sums of squares into the op's scratch buffer; a final pass adds every partial
// in a fixed order and writes the square root. Fixed order everywhere: bit-identical run to run.
//
// Variants, same bindings:
// - *_wg (GPUs): a partial per workgroup of WG·ITEMS elements (each invocation ITEMS elements strided
//   by WG, then a fixed-order tree); the final pass is one workgroup, strided then a tree;
// - *_serial (software adapters: no workgroup memory, no barriers): a partial per invocation of
//   ITEMS elements strided by WG (so that neighbouring invocations read neighbouring elements), WG
//   partials per workgroup; the final pass is one invocation.
// Every sequential run of additions is blocked (BLOCK terms into a block sum, then the block sum into
// the total), which keeps float32 accurate on tensors of hundreds of millions of elements.
//
// Loop bounds add `nwg.z - 1u` (0 at run time: dispatches are 2-D) so that llvmpipe does not unroll
// loops whose trip count is an override constant (seconds of compile time per pipeline).

override N: u32 = 1u;          // partials pass: elements of the tensor piece
override M: u32 = 1u;          // final pass: partial sums in the scratch buffer
override WG: u32 = 256u;
override ITEMS: u32 = 16u;     // partials pass: elements per invocation

const BLOCK: u32 = 32u;

var<workgroup> wg_sum: array<f32, WG>;

fn tree_sum(lid: u32, value: f32) -> f32 {
  wg_sum[lid] = value;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride = stride / 2u) {
    if (lid < stride) {
      wg_sum[lid] = wg_sum[lid] + wg_sum[lid + stride];
    }
    workgroupBarrier();
  }
  return wg_sum[0];
}

// sumsq_partials_* bindings: 0 tensor piece [N] (read), 1 partials (write: ceil(N / (WG·ITEMS)) with
// *_wg, that many times WG with *_serial)
@group(0) @binding(0) var<storage, read> p_tensor: array<f32>;
@group(0) @binding(1) var<storage, read_write> p_partials: array<f32>;

@compute @workgroup_size(WG)
fn sumsq_partials_wg(
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
      let g = p_tensor[i];
      sum += g * g;
    }
  }
  let total = tree_sum(lid, sum);
  if (lid == 0u) {
    p_partials[group] = total;
  }
}

@compute @workgroup_size(WG)
fn sumsq_partials_serial(
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
        let g = p_tensor[i];
        block += g * g;
      }
    }
    total += block;
  }
  p_partials[group * WG + lid] = total;
}

// sumsq_partials_serial4: sumsq_partials_serial four elements at a time (N a multiple of 4): a
// partial per invocation of ITEMS vec4s strided by WG; the squares summed as four interleaved block
// sums, added at the end (a fixed order). On llvmpipe a vec4 load whose address differs across the
// lanes costs about what a scalar one does. Bindings as sumsq_partials_serial.
@group(0) @binding(0) var<storage, read> p4_tensor: array<vec4f>;
@group(0) @binding(1) var<storage, read_write> p4_partials: array<f32>;

@compute @workgroup_size(WG)
fn sumsq_partials_serial4(
  @builtin(local_invocation_index) lid: u32,
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
) {
  let group = wid.x + wid.y * nwg.x;
  let start = group * WG * ITEMS + lid;
  let n4 = N / 4u;
  let items = ITEMS + nwg.z - 1u;
  var total = vec4f(0.0);
  var k = 0u;
  while (k < items) {
    let end = min(k + BLOCK, items);
    var block = vec4f(0.0);
    for (; k < end; k++) {
      let i = start + k * WG;
      if (i < n4) {
        let g = p4_tensor[i];
        block += g * g;
      }
    }
    total += block;
  }
  p4_partials[group * WG + lid] = (total.x + total.y) + (total.z + total.w);
}

// norm_final_* bindings: 0 partials [M] (read), 1 norm (write, one float)
@group(0) @binding(0) var<storage, read> f_partials: array<f32>;
@group(0) @binding(1) var<storage, read_write> f_norm: array<f32>;

@compute @workgroup_size(WG)
fn norm_final_wg(@builtin(local_invocation_index) lid: u32) {
  var total = 0.0;
  var block = 0.0;
  var count = 0u;
  for (var i = lid; i < M; i += WG) {
    block += f_partials[i];
    count++;
    if (count == BLOCK) {
      total += block;
      block = 0.0;
      count = 0u;
    }
  }
  let sum = tree_sum(lid, total + block);
  if (lid == 0u) {
    f_norm[0] = sqrt(sum);
  }
}

@compute @workgroup_size(1)
fn norm_final_serial(@builtin(num_workgroups) nwg: vec3u) {
  let m = M + nwg.z - 1u;
  var total = 0.0;
  var i = 0u;
  while (i < m) {
    let end = min(i + BLOCK * BLOCK, m);
    var outer = 0.0;
    while (i < end) {
      let inner_end = min(i + BLOCK, end);
      var block = 0.0;
      for (; i < inner_end; i++) {
        block += f_partials[i];
      }
      outer += block;
    }
    total += outer;
  }
  f_norm[0] = sqrt(total);
}
