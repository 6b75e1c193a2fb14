// Per-example gradient statistics of nanoGPT's position embedding wpe [positions, D] (gradient
// interference, as kernels/per_example.wgsl does for the Linears and the token embedding).
//
// A batch holds E examples of P rows each; row e·P + s is at position s of its sequence, so example e's
// gradient of wpe is its rows of dEmbedding (the gradient wrt the embedding output) placed at rows
// 0 … P − 1 of wpe: G_e[s·D + c] = dEmbedding[(e·P + s)·D + c], and rows s ≥ P get nothing. With
// j = s·D + c over the P·D coordinates present (compact: a prefix of wpe, the positions present):
//   position_sums:     sum_g[j] += Σ_e G_e[j],  sum_abs_g[j] += Σ_e |G_e[j]|   (one invocation per j, e
//                      ascending)
//   position_partials: partials[column][e] = (Σ_j G_e[j]·δ_j, Σ_j |G_e[j]·δ_j|, Σ_j G_e[j]², Σ_j |G_e[j]|)
//                      over the column's block of params.block coordinates (one invocation per (column,
//                      e), j ascending), for example_reduce in kernels/per_example.wgsl.
// Fixed orders only: bit-identical run to run. E, P and the block come from a uniform (P takes a value per
// prefix length; loops bounded by uniforms stay loops on lavapipe). One variant serves every adapter: the
// work is P·D per example, nothing beside the Linears' out·in.

override WG: u32 = 64u;

struct PositionParams {
  examples: u32,  // E
  rows: u32,      // P, rows per example (= positions present)
  d: u32,         // D
  block: u32,     // coordinates per column of partials
}

// position_sums bindings: 0 dEmbedding [E·P, D] (read), 1 sum_g [≥ P·D] (read_write), 2 sum_abs_g
// [≥ P·D] (read_write), 3 params (uniform)
@group(0) @binding(0) var<storage, read> ps_demb: array<f32>;
@group(0) @binding(1) var<storage, read_write> ps_sum_g: array<f32>;
@group(0) @binding(2) var<storage, read_write> ps_sum_abs_g: array<f32>;
@group(0) @binding(3) var<uniform> ps_params: PositionParams;

@compute @workgroup_size(WG)
fn position_sums(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let j = gid.x + gid.y * nwg.x * WG;
  let coordinates = ps_params.rows * ps_params.d;
  if (j >= coordinates) {
    return;
  }
  var sum = 0.0;
  var sum_abs = 0.0;
  for (var e = 0u; e < ps_params.examples; e++) {
    let g = ps_demb[e * coordinates + j];
    sum += g;
    sum_abs += abs(g);
  }
  ps_sum_g[j] = ps_sum_g[j] + sum;
  ps_sum_abs_g[j] = ps_sum_abs_g[j] + sum_abs;
}

// position_partials bindings: 0 dEmbedding [E·P, D] (read), 1 δ [≥ P·D] (read), 2 partials
// [columns][E] vec4 (read_write, overwritten), 3 params (uniform)
@group(0) @binding(0) var<storage, read> pp_demb: array<f32>;
@group(0) @binding(1) var<storage, read> pp_delta: array<f32>;
@group(0) @binding(2) var<storage, read_write> pp_partials: array<vec4f>;
@group(0) @binding(3) var<uniform> pp_params: PositionParams;

@compute @workgroup_size(WG)
fn position_partials(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  let examples = pp_params.examples;
  let coordinates = pp_params.rows * pp_params.d;
  let columns = (coordinates + pp_params.block - 1u) / pp_params.block;
  if (i >= columns * examples) {
    return;
  }
  // Neighbouring invocations take neighbouring examples of one column (partials[column][e] adjacent).
  let column = i / examples;
  let e = i - column * examples;
  let first = column * pp_params.block;
  let last = min(first + pp_params.block, coordinates);
  var sums = vec4f(0.0);
  for (var j = first; j < last; j++) {
    let g = pp_demb[e * coordinates + j];
    let p = g * pp_delta[j];
    sums += vec4f(p, abs(p), g * g, abs(g));
  }
  pp_partials[column * examples + e] = sums;
}
