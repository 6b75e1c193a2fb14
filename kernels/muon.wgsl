// Muon (v1 of the authors, docs/method.md#optimizers) for the weights, AdamW for the embeddings, fused with
// global-norm clipping. Per Muon tensor (or per q/k/v row block of the fused attention weight):
//   b ← μ·b + g;  u = g + μ·b (Nesterov);  X = u/(‖u‖_F + 1e-7);
//   5 × { A = X·Xᵀ; B = b·A + c·A·A; X = a·X + B·X }  (on Xᵀ when rows > cols);
//   p ← p − lr_muon·√max(rows, cols)·X.
// The matrix products go through the matmul kernels (src/train/muon.ts records them); this file has
// the elementwise parts. Row blocks are stored in scratch at block offsets aligned for binding
// (BLOCK_STRIDE floats apart), so each block binds on its own.
// A non-finite gradient norm skips the whole step (as kernels/adamw.wgsl): muon_momentum leaves the
// momentum buffer and writes u = 0, muon_update and muon_adamw leave the weights and moments as they were.

override N: u32;               // elements of the tensor (muon_momentum, muon_update, muon_adamw) or block
override BLOCK_LENGTH: u32 = 1u; // elements per row block
override BLOCK_STRIDE: u32 = 1u; // floats between consecutive blocks in the scratch
override SCALE: f32 = 1.0;     // √max(rows, cols) of the block (muon_update); α of combine (below)
override OTHER: f32 = 0.0;     // β of combine
override WG: u32 = 256u;

struct Hyper {
  muon_lr: f32,                // lr_muon = muon_lr_scale·lr(t)
  momentum: f32,               // μ
  lr: f32,                     // lr(t), the embeddings' AdamW
  beta1: f32,
  beta2: f32,
  eps: f32,
  weight_decay: f32,           // the embeddings' (decayed under Muon with either architecture)
  bias_correction1: f32,       // 1 − β1^t
  bias_correction2_sqrt: f32,  // sqrt(1 − β2^t)
  max_norm: f32,               // clip threshold; ≤ 0 disables clipping
}

// NaN or ±Inf: all exponent bits set (tested on the bits: compilers may assume floats are finite).
fn not_finite(norm: f32) -> bool {
  return (bitcast<u32>(norm) & 0x7f800000u) == 0x7f800000u;
}

fn clip_factor(hyper: Hyper, norm: f32) -> f32 {
  if (hyper.max_norm > 0.0) {
    return min(hyper.max_norm / (norm + 1e-6), 1.0);
  }
  return 1.0;
}

fn scratch_index(i: u32) -> u32 {
  let block = i / BLOCK_LENGTH;
  return block * BLOCK_STRIDE + (i - block * BLOCK_LENGTH);
}

// muon_momentum bindings: 0 grad (read), 1 momentum_buffer (rw), 2 u (write, block layout),
// 3 hyper (uniform), 4 grad_norm (read, one f32)
@group(0) @binding(0) var<storage, read> mo_grad: array<f32>;
@group(0) @binding(1) var<storage, read_write> mo_buffer: array<f32>;
@group(0) @binding(2) var<storage, read_write> mo_u: array<f32>;
@group(0) @binding(3) var<uniform> mo_hyper: Hyper;
@group(0) @binding(4) var<storage, read> mo_grad_norm: array<f32>;

@compute @workgroup_size(WG)
fn muon_momentum(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= N) {
    return;
  }
  if (not_finite(mo_grad_norm[0])) {
    // NS5 of a zero block is zero: the scratch holds no stale block, whatever runs after.
    mo_u[scratch_index(i)] = 0.0;
    return;
  }
  let g = mo_grad[i] * clip_factor(mo_hyper, mo_grad_norm[0]);
  let b = mo_hyper.momentum * mo_buffer[i] + g;
  mo_buffer[i] = b;
  mo_u[scratch_index(i)] = g + mo_hyper.momentum * b;
}

// ns_normalize bindings: 0 u [N] (read), 1 x [N] (write), 2 norm (read, one f32: ‖u‖_F)
@group(0) @binding(0) var<storage, read> no_u: array<f32>;
@group(0) @binding(1) var<storage, read_write> no_x: array<f32>;
@group(0) @binding(2) var<storage, read> no_norm: array<f32>;

@compute @workgroup_size(WG)
fn ns_normalize(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= N) {
    return;
  }
  no_x[i] = no_u[i] / (no_norm[0] + 1e-7);
}

// combine bindings: 0 a [N] (read), 1 b [N] (read), 2 out [N] (write) — out = SCALE·a + OTHER·b
@group(0) @binding(0) var<storage, read> co_a: array<f32>;
@group(0) @binding(1) var<storage, read> co_b: array<f32>;
@group(0) @binding(2) var<storage, read_write> co_out: array<f32>;

@compute @workgroup_size(WG)
fn combine(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= N) {
    return;
  }
  co_out[i] = SCALE * co_a[i] + OTHER * co_b[i];
}

// combine_in_place bindings: 0 a [N] (rw), 1 b [N] (read) — a = SCALE·a + OTHER·b
@group(0) @binding(0) var<storage, read_write> ci_a: array<f32>;
@group(0) @binding(1) var<storage, read> ci_b: array<f32>;

@compute @workgroup_size(WG)
fn combine_in_place(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= N) {
    return;
  }
  ci_a[i] = SCALE * ci_a[i] + OTHER * ci_b[i];
}

// muon_update bindings: 0 param (rw), 1 x (read, block layout: NS5 of each block), 2 hyper (uniform),
// 3 grad_norm (read, one f32)
@group(0) @binding(0) var<storage, read_write> mu_param: array<f32>;
@group(0) @binding(1) var<storage, read> mu_x: array<f32>;
@group(0) @binding(2) var<uniform> mu_hyper: Hyper;
@group(0) @binding(3) var<storage, read> mu_grad_norm: array<f32>;

@compute @workgroup_size(WG)
fn muon_update(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= N || not_finite(mu_grad_norm[0])) {
    return;
  }
  mu_param[i] = mu_param[i] - mu_hyper.muon_lr * SCALE * mu_x[scratch_index(i)];
}

// muon_adamw bindings (the embeddings): 0 param (rw), 1 grad (read), 2 exp_avg (rw), 3 exp_avg_sq (rw),
// 4 hyper (uniform), 5 grad_norm (read). torch's AdamW with decoupled decay.
@group(0) @binding(0) var<storage, read_write> ad_param: array<f32>;
@group(0) @binding(1) var<storage, read> ad_grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> ad_exp_avg: array<f32>;
@group(0) @binding(3) var<storage, read_write> ad_exp_avg_sq: array<f32>;
@group(0) @binding(4) var<uniform> ad_hyper: Hyper;
@group(0) @binding(5) var<storage, read> ad_grad_norm: array<f32>;

@compute @workgroup_size(WG)
fn muon_adamw(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= N || not_finite(ad_grad_norm[0])) {
    return;
  }
  let g = ad_grad[i] * clip_factor(ad_hyper, ad_grad_norm[0]);
  let p = ad_param[i] * (1.0 - ad_hyper.lr * ad_hyper.weight_decay);
  let m = ad_hyper.beta1 * ad_exp_avg[i] + (1.0 - ad_hyper.beta1) * g;
  let v = ad_hyper.beta2 * ad_exp_avg_sq[i] + (1.0 - ad_hyper.beta2) * g * g;
  ad_exp_avg[i] = m;
  ad_exp_avg_sq[i] = v;
  let denom = sqrt(v) / ad_hyper.bias_correction2_sqrt + ad_hyper.eps;
  ad_param[i] = p - ad_hyper.lr / ad_hyper.bias_correction1 * (m / denom);
}
