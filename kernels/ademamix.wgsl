// AdEMAMix (docs/method.md#optimizers), one tensor per dispatch, fused with global-norm clipping:
//   m1 ← β1·m1 + (1−β1)·g;  m2 ← β3_t·m2 + (1−β3_t)·g;  v ← β2·v + (1−β2)·g²;
//   p ← p − lr·((m1/bc1 + α_t·m2)/(√v/√bc2 + eps) + wd·p)   (wd·p on decaying tensors only).
// α_t and β3_t (their warmup) are computed on the host per step and passed in the uniform, with each
// 1 − β computed in float64 on the host: in float32, 1 − β3 for β3 = 0.9999 would lose 3 digits.

override N: u32;              // elements of this tensor
override DECAY: bool;         // weight decay applies to this tensor
override WG: u32 = 256u;

struct Hyper {
  lr: f32,
  beta1: f32,
  beta2: f32,
  beta3: f32,                 // β3_t
  one_minus_beta1: f32,
  one_minus_beta2: f32,
  one_minus_beta3: f32,       // 1 − β3_t
  alpha: f32,                 // α_t
  eps: f32,
  weight_decay: f32,
  bias_correction1: f32,      // 1 − β1^t
  bias_correction2_sqrt: f32, // sqrt(1 − β2^t)
  max_norm: f32,              // clip threshold; ≤ 0 disables clipping
}

// ademamix_step bindings: 0 param (rw), 1 grad (read), 2 exp_avg_fast (rw), 3 exp_avg_slow (rw),
// 4 exp_avg_sq (rw), 5 hyper (uniform), 6 grad_norm (read, one f32: the global norm before clipping)
@group(0) @binding(0) var<storage, read_write> param: array<f32>;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> exp_avg_fast: array<f32>;
@group(0) @binding(3) var<storage, read_write> exp_avg_slow: array<f32>;
@group(0) @binding(4) var<storage, read_write> exp_avg_sq: array<f32>;
@group(0) @binding(5) var<uniform> hyper: Hyper;
@group(0) @binding(6) var<storage, read> grad_norm: array<f32>;

@compute @workgroup_size(WG)
fn ademamix_step(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= N) {
    return;
  }
  // A non-finite gradient norm (NaN or ±Inf: all exponent bits set; tested on the bits because compilers
  // may assume floats are finite) skips the step: the weights and the three moments keep their values,
  // as in kernels/adamw.wgsl.
  if ((bitcast<u32>(grad_norm[0]) & 0x7f800000u) == 0x7f800000u) {
    return;
  }
  var clip = 1.0;
  if (hyper.max_norm > 0.0) {
    clip = min(hyper.max_norm / (grad_norm[0] + 1e-6), 1.0);
  }
  let g = grad[i] * clip;
  let m1 = hyper.beta1 * exp_avg_fast[i] + hyper.one_minus_beta1 * g;
  let m2 = hyper.beta3 * exp_avg_slow[i] + hyper.one_minus_beta3 * g;
  let v = hyper.beta2 * exp_avg_sq[i] + hyper.one_minus_beta2 * g * g;
  exp_avg_fast[i] = m1;
  exp_avg_slow[i] = m2;
  exp_avg_sq[i] = v;
  let p = param[i];
  var update = (m1 / hyper.bias_correction1 + hyper.alpha * m2) /
    (sqrt(v) / hyper.bias_correction2_sqrt + hyper.eps);
  if (DECAY) {
    update = update + hyper.weight_decay * p;
  }
  param[i] = p - hyper.lr * update;
}
