// Per-example projected gradients (LoGra-style Kronecker random projection), the per-example half.
//
// A Linear W [out, in] has per-example gradient G_e = Σ_{r∈e} dy_r x_rᵀ; its projection with P_out
// [KO, out] and P_in [KI, in] is P_out G_e P_inᵀ = Σ_{r∈e} a_r b_rᵀ with a = dy·P_outᵀ [rows, KO] and
// b = x·P_inᵀ [rows, KI] (row projections, done by the matmul kernels). These entry points add the
// per-example sums of outer products into the example's row of the output [E, DIMS], at the parameter's
// slice: out[e, OFFSET + o·KI + k] += Σ_{r = e·P … e·P+P−1} a[r, o] · b[r, k].
//
// The tied embedding's input part has a = the column of P_V [KO, VOCAB] at the row's token id (the
// projection of a one-hot row), gathered instead of multiplied: outer_gather.
//
// The per-dispatch values (slice offset, rows per example P, examples E, output row length DIMS,
// vocabulary) come from a small storage buffer, one 256-byte slot per parameter, so that every
// parameter with the same KO × KI shares one pipeline (on lavapipe each pipeline costs seconds of
// compile time at its first dispatch), and so that the loop over P has a trip count the compiler cannot
// unroll. Slot layout (u32): [0] OFFSET, [1] P, [2] E, [3] DIMS, [4] VOCAB.
//
// Each output element sums its P rows in order: no atomics, a fixed order, bit-identical run to run.
// The work is P·KO·KI multiply-adds per example, small beside the row projections' P·(out·KO + in·KI).
//
// Entry points (same bindings per pair):
//   outer_sum, outer_gather        one invocation per output element (e, o, k); GPUs
//   outer_sum_sg, outer_gather_sg  8-lane subgroups with shuffles; CPU adapters (lavapipe), see below

enable subgroups;

override KO: u32;                 // projected out dimension
override KI: u32;                 // projected in dimension
override WG: u32 = 64u;

// A quiet NaN from a runtime value (WGSL rejects NaN constants).
fn nan_from(runtime: u32) -> f32 {
  return bitcast<f32>(0x7fc00000u | (runtime & 0u));
}

// outer_sum bindings: 0 a [E·P, KO] (read), 1 b [E·P, KI] (read), 2 out [E, DIMS] (read_write, added
// into), 3 slot (read, u32).
@group(0) @binding(0) var<storage, read> os_a: array<f32>;
@group(0) @binding(1) var<storage, read> os_b: array<f32>;
@group(0) @binding(2) var<storage, read_write> os_out: array<f32>;
@group(0) @binding(3) var<storage, read> os_slot: array<u32>;

@compute @workgroup_size(WG)
fn outer_sum(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  let offset = os_slot[0];
  let rows = os_slot[1];
  let examples = os_slot[2];
  let dims = os_slot[3];
  if (i >= examples * KO * KI) {
    return;
  }
  let e = i / (KO * KI);
  let c = i - e * KO * KI;
  let o = c / KI;
  let k = c - o * KI;
  var sum = 0.0;
  for (var r = e * rows; r < (e + 1u) * rows; r++) {
    sum = fma(os_a[r * KO + o], os_b[r * KI + k], sum);
  }
  let at = e * dims + offset + c;
  os_out[at] = os_out[at] + sum;
}

// outer_gather bindings: 0 P_V [KO, VOCAB] (read), 1 ids [E·P] u32 (read), 2 b [E·P, KI] (read),
// 3 out [E, DIMS] (read_write, added into), 4 slot (read, u32). An id ≥ VOCAB (a host bug: ids are
// validated first) is never read; it makes the sum NaN.
@group(0) @binding(0) var<storage, read> og_proj: array<f32>;
@group(0) @binding(1) var<storage, read> og_ids: array<u32>;
@group(0) @binding(2) var<storage, read> og_b: array<f32>;
@group(0) @binding(3) var<storage, read_write> og_out: array<f32>;
@group(0) @binding(4) var<storage, read> og_slot: array<u32>;

@compute @workgroup_size(WG)
fn outer_gather(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  let offset = og_slot[0];
  let rows = og_slot[1];
  let examples = og_slot[2];
  let dims = og_slot[3];
  let vocab = og_slot[4];
  if (i >= examples * KO * KI) {
    return;
  }
  let e = i / (KO * KI);
  let c = i - e * KO * KI;
  let o = c / KI;
  let k = c - o * KI;
  var sum = 0.0;
  for (var r = e * rows; r < (e + 1u) * rows; r++) {
    let id = og_ids[r];
    var a = nan_from(id);
    if (id < vocab) {
      a = og_proj[o * vocab + id];
    }
    sum = fma(a, og_b[r * KI + k], sum);
  }
  let at = e * dims + offset + c;
  og_out[at] = og_out[at] + sum;
}

// ---------------------------------------------------------------------------------------------
// Subgroup variants for CPU adapters (lavapipe), same bindings and results up to summation order
// (each output still sums its P rows in order). On llvmpipe a load whose address differs across the
// 8 SIMD lanes is a scalar loop (~9 instructions per float), so the plain kernels above spend two such
// loads per multiply-add. Here a workgroup is one 8-lane subgroup computing an 8 × 32 block of one
// example's KO × KI output: per row r, lane l loads a[r, o0 + l] (one value) and b[r, lane + 8c]
// (SC values), and subgroupShuffle hands each lane's a-value to all lanes: 1 + SC loads for 8·SC
// multiply-adds. Guards on the override constants KO and KI fold away after specialisation.
// Requires subgroups with at least 8 invocations (the matmul's register kernels need the same).
// Grid: x = column blocks · row blocks of the output, y and z = examples (e = wid.y + wid.z · nwg.y).

const SR = 8u;    // output rows (o) per workgroup: one per lane, shuffled
const SC = 4u;    // output column groups (k = c0 + lane + 8c) per workgroup

@group(0) @binding(0) var<storage, read> ss_a: array<f32>;
@group(0) @binding(1) var<storage, read> ss_b: array<f32>;
@group(0) @binding(2) var<storage, read_write> ss_out: array<f32>;
@group(0) @binding(3) var<storage, read> ss_slot: array<u32>;

@compute @workgroup_size(8)
fn outer_sum_sg(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                @builtin(local_invocation_id) lid: vec3u) {
  let offset = ss_slot[0];
  let rows = ss_slot[1];
  let examples = ss_slot[2];
  let dims = ss_slot[3];
  let e = wid.y + wid.z * nwg.y;
  if (e >= examples) {
    return;
  }
  let lane = lid.x;
  let column_blocks = (KI + 8u * SC - 1u) / (8u * SC);
  let o0 = (wid.x / column_blocks) * SR;
  let c0 = (wid.x % column_blocks) * 8u * SC;
  let o_lane = min(o0 + lane, KO - 1u);
  var k_lane: array<u32, SC>;
  for (var c = 0u; c < SC; c++) { k_lane[c] = min(c0 + lane + 8u * c, KI - 1u); }
  var acc: array<array<f32, SC>, SR>;
  for (var r = e * rows; r < (e + 1u) * rows; r++) {
    let a_lane = ss_a[r * KO + o_lane];
    var b: array<f32, SC>;
    for (var c = 0u; c < SC; c++) {
      if (8u * c < KI) { b[c] = ss_b[r * KI + k_lane[c]]; }
    }
    for (var i = 0u; i < SR; i++) {
      if (i < KO) {
        let a = subgroupShuffle(a_lane, i);
        for (var c = 0u; c < SC; c++) {
          if (8u * c < KI) { acc[i][c] = fma(a, b[c], acc[i][c]); }
        }
      }
    }
  }
  var values: array<f32, SR * SC>;
  for (var i = 0u; i < SR; i++) { for (var c = 0u; c < SC; c++) { values[i * SC + c] = acc[i][c]; } }
  // A runtime trip count keeps this a loop: one store in the code instead of SR · SC lane loops.
  let count = min(SR, KO - min(o0, KO)) * SC;
  for (var t = 0u; t < count; t++) {
    let k = c0 + lane + 8u * (t % SC);
    if (k < KI) {
      let at = e * dims + offset + (o0 + t / SC) * KI + k;
      ss_out[at] = ss_out[at] + values[t];
    }
  }
}

@group(0) @binding(0) var<storage, read> sg_proj: array<f32>;
@group(0) @binding(1) var<storage, read> sg_ids: array<u32>;
@group(0) @binding(2) var<storage, read> sg_b: array<f32>;
@group(0) @binding(3) var<storage, read_write> sg_out: array<f32>;
@group(0) @binding(4) var<storage, read> sg_slot: array<u32>;

@compute @workgroup_size(8)
fn outer_gather_sg(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                   @builtin(local_invocation_id) lid: vec3u) {
  let offset = sg_slot[0];
  let rows = sg_slot[1];
  let examples = sg_slot[2];
  let dims = sg_slot[3];
  let vocab = sg_slot[4];
  let e = wid.y + wid.z * nwg.y;
  if (e >= examples) {
    return;
  }
  let lane = lid.x;
  let column_blocks = (KI + 8u * SC - 1u) / (8u * SC);
  let o0 = (wid.x / column_blocks) * SR;
  let c0 = (wid.x % column_blocks) * 8u * SC;
  let o_lane = min(o0 + lane, KO - 1u);
  var k_lane: array<u32, SC>;
  for (var c = 0u; c < SC; c++) { k_lane[c] = min(c0 + lane + 8u * c, KI - 1u); }
  var acc: array<array<f32, SC>, SR>;
  for (var r = e * rows; r < (e + 1u) * rows; r++) {
    let id = sg_ids[r];
    var a_lane = nan_from(id);
    if (id < vocab) {
      a_lane = sg_proj[o_lane * vocab + id];
    }
    var b: array<f32, SC>;
    for (var c = 0u; c < SC; c++) {
      if (8u * c < KI) { b[c] = sg_b[r * KI + k_lane[c]]; }
    }
    for (var i = 0u; i < SR; i++) {
      if (i < KO) {
        let a = subgroupShuffle(a_lane, i);
        for (var c = 0u; c < SC; c++) {
          if (8u * c < KI) { acc[i][c] = fma(a, b[c], acc[i][c]); }
        }
      }
    }
  }
  var values: array<f32, SR * SC>;
  for (var i = 0u; i < SR; i++) { for (var c = 0u; c < SC; c++) { values[i * SC + c] = acc[i][c]; } }
  let count = min(SR, KO - min(o0, KO)) * SC;
  for (var t = 0u; t < count; t++) {
    let k = c0 + lane + 8u * (t % SC);
    if (k < KI) {
      let at = e * dims + offset + (o0 + t / SC) * KI + k;
      sg_out[at] = sg_out[at] + values[t];
    }
  }
}
