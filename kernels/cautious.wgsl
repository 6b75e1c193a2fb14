// Cautious AdamW (docs/method.md#optimizers), one tensor per dispatch, fused with global-norm clipping (the clip
// coefficient read from the gradient-norm buffer, as kernels/adamw.wgsl):
//   m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²;  mask = 1[m·g > 0];  mask ← mask / max(mean(mask), 1e-3);
//   p ← p·(1 − lr·wd) (decaying tensors);  p ← p − lr·(√bc2 / bc1)·(m·mask)/(√v + eps).
// The mean of the mask is a per-tensor reduction: cautious_moments writes the 0/1 mask, a fixed-order
// sum (SumReduce) counts it, and cautious_update recomputes the same mask from m and g (bit-identical:
// the same float32 operations) and applies it.
// A non-finite gradient norm skips the step in both entry points (as kernels/adamw.wgsl): the weights and
// the moments keep their values, and the mask is written 0 so that its count stays defined.

override N: u32;              // elements of this tensor
override DECAY: bool;         // decoupled weight decay applies to this tensor
override WG: u32 = 256u;

struct Hyper {
  lr: f32,
  beta1: f32,
  beta2: f32,
  eps: f32,
  weight_decay: f32,
  bias_correction1: f32,      // 1 − β1^t
  bias_correction2_sqrt: f32, // sqrt(1 − β2^t)
  max_norm: f32,              // clip threshold; ≤ 0 disables clipping
}

// NaN or ±Inf: all exponent bits set (tested on the bits: compilers may assume floats are finite).
fn not_finite(norm: f32) -> bool {
  return (bitcast<u32>(norm) & 0x7f800000u) == 0x7f800000u;
}

// torch.nn.utils.clip_grad_norm_: coefficient max_norm / (norm + 1e-6), clamped to at most 1.
fn clip_factor(hyper: Hyper, norm: f32) -> f32 {
  if (hyper.max_norm > 0.0) {
    return min(hyper.max_norm / (norm + 1e-6), 1.0);
  }
  return 1.0;
}

// cautious_moments bindings: 0 grad (read), 1 exp_avg (rw), 2 exp_avg_sq (rw), 3 mask [N] (write),
// 4 hyper (uniform), 5 grad_norm (read, one f32)
@group(0) @binding(0) var<storage, read> mo_grad: array<f32>;
@group(0) @binding(1) var<storage, read_write> mo_exp_avg: array<f32>;
@group(0) @binding(2) var<storage, read_write> mo_exp_avg_sq: array<f32>;
@group(0) @binding(3) var<storage, read_write> mo_mask: array<f32>;
@group(0) @binding(4) var<uniform> mo_hyper: Hyper;
@group(0) @binding(5) var<storage, read> mo_grad_norm: array<f32>;

@compute @workgroup_size(WG)
fn cautious_moments(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= N) {
    return;
  }
  if (not_finite(mo_grad_norm[0])) {
    mo_mask[i] = 0.0;
    return;
  }
  let g = mo_grad[i] * clip_factor(mo_hyper, mo_grad_norm[0]);
  let m = mo_hyper.beta1 * mo_exp_avg[i] + (1.0 - mo_hyper.beta1) * g;
  let v = mo_hyper.beta2 * mo_exp_avg_sq[i] + (1.0 - mo_hyper.beta2) * g * g;
  mo_exp_avg[i] = m;
  mo_exp_avg_sq[i] = v;
  mo_mask[i] = select(0.0, 1.0, m * g > 0.0);
}

// cautious_update bindings: 0 param (rw), 1 grad (read), 2 exp_avg (read), 3 exp_avg_sq (read),
// 4 hyper (uniform), 5 grad_norm (read), 6 mask_count (read, one f32: Σ mask over the tensor)
@group(0) @binding(0) var<storage, read_write> up_param: array<f32>;
@group(0) @binding(1) var<storage, read> up_grad: array<f32>;
@group(0) @binding(2) var<storage, read> up_exp_avg: array<f32>;
@group(0) @binding(3) var<storage, read> up_exp_avg_sq: array<f32>;
@group(0) @binding(4) var<uniform> up_hyper: Hyper;
@group(0) @binding(5) var<storage, read> up_grad_norm: array<f32>;
@group(0) @binding(6) var<storage, read> up_mask_count: array<f32>;

@compute @workgroup_size(WG)
fn cautious_update(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= N || not_finite(up_grad_norm[0])) {
    return;
  }
  let g = up_grad[i] * clip_factor(up_hyper, up_grad_norm[0]);
  let m = up_exp_avg[i];
  let scale = 1.0 / max(up_mask_count[0] / f32(N), 1e-3);
  let mask = select(0.0, scale, m * g > 0.0);
  var p = up_param[i];
  if (DECAY) {
    p = p * (1.0 - up_hyper.lr * up_hyper.weight_decay);
  }
  let step_size = up_hyper.lr * up_hyper.bias_correction2_sqrt / up_hyper.bias_correction1;
  up_param[i] = p - step_size * (m * mask) / (sqrt(up_exp_avg_sq[i]) + up_hyper.eps);
}
