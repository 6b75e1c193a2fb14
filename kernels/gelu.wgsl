// Exact GELU (nanoGPT's MLP, docs/method.md#the-nanogpt-variant): out = x·Φ(x) with Φ the standard normal CDF,
// Φ(x) = erfc(−x/√2)/2. Backward: dx = dout·(Φ(x) + x·φ(x)), φ(x) = exp(−x²/2)/√(2π).
// WGSL has no erf: erfc comes from the Chebyshev-fitted formula of Numerical Recipes (erfcc, fractional
// error below 1.2e-7 everywhere), so Φ keeps its relative accuracy deep in the negative tail instead of
// cancelling in 1 + erf. Elementwise: one variant serves every adapter.

override N: u32;          // elements
override WG: u32 = 256u;

const INV_SQRT2: f32 = 0.70710678118654752;
const INV_SQRT_2PI: f32 = 0.39894228040143268;

// erfc(z) for any z; exp of a non-positive argument only, so ±large z give 0 or 2, never NaN.
fn erfc_approx(z: f32) -> f32 {
  let a = abs(z);
  let t = 1.0 / (1.0 + 0.5 * a);
  let poly = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
    t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  let r = t * exp(-a * a + poly);
  return select(2.0 - r, r, z >= 0.0);
}

fn normal_cdf(x: f32) -> f32 {
  return 0.5 * erfc_approx(-x * INV_SQRT2);
}

// gelu_forward bindings: 0 x [N] (read), 1 out [N] (write)
@group(0) @binding(0) var<storage, read> fw_x: array<f32>;
@group(0) @binding(1) var<storage, read_write> fw_out: array<f32>;

@compute @workgroup_size(WG)
fn gelu_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= N) {
    return;
  }
  let x = fw_x[i];
  fw_out[i] = x * normal_cdf(x);
}

// gelu_backward bindings: 0 dout [N] (read), 1 x [N] (read, the forward's input), 2 dx [N] (write)
@group(0) @binding(0) var<storage, read> bw_dout: array<f32>;
@group(0) @binding(1) var<storage, read> bw_x: array<f32>;
@group(0) @binding(2) var<storage, read_write> bw_dx: array<f32>;

@compute @workgroup_size(WG)
fn gelu_backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= N) {
    return;
  }
  let x = bw_x[i];
  let density = INV_SQRT_2PI * exp(-0.5 * x * x);
  bw_dx[i] = bw_dout[i] * (normal_cdf(x) + x * density);
}
