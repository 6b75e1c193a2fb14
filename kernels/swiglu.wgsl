// SwiGLU as OLMo: u [ROWS, 2·HALF] splits into x = u[:, :HALF] and gate = u[:, HALF:];
//   out [ROWS, HALF] = silu(gate)·x,  silu(g) = g·σ(g).
// Backward, with σ' = σ(1 − σ):  dx = dout·silu(gate),  dgate = dout·x·σ(gate)·(1 + gate·(1 − σ(gate))),
// both halves of du [ROWS, 2·HALF] written. Elementwise: one variant serves every adapter (the *4 entry
// points, four columns per invocation, when HALF is a multiple of 4; on software adapters *_rows4, a
// row per invocation).

override ROWS: u32;
override HALF: u32;        // width / 2
override WG: u32 = 256u;

// σ(g) without overflow: exp of a non-positive argument only, so ±large g give 0 or 1, never NaN.
fn sigmoid(g: f32) -> f32 {
  if (g >= 0.0) {
    return 1.0 / (1.0 + exp(-g));
  }
  let e = exp(g);
  return e / (1.0 + e);
}

// swiglu_forward bindings: 0 u [ROWS, 2·HALF] (read), 1 out [ROWS, HALF] (write)
@group(0) @binding(0) var<storage, read> fw_u: array<f32>;
@group(0) @binding(1) var<storage, read_write> fw_out: array<f32>;

@compute @workgroup_size(WG)
fn swiglu_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= ROWS * HALF) {
    return;
  }
  let row = i / HALF;
  let base = row * 2u * HALF + (i - row * HALF);
  let x = fw_u[base];
  let gate = fw_u[base + HALF];
  fw_out[i] = gate * sigmoid(gate) * x;
}

// swiglu_backward bindings: 0 dout [ROWS, HALF] (read), 1 u [ROWS, 2·HALF] (read),
// 2 du [ROWS, 2·HALF] (write)
@group(0) @binding(0) var<storage, read> bw_dout: array<f32>;
@group(0) @binding(1) var<storage, read> bw_u: array<f32>;
@group(0) @binding(2) var<storage, read_write> bw_du: array<f32>;

@compute @workgroup_size(WG)
fn swiglu_backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= ROWS * HALF) {
    return;
  }
  let row = i / HALF;
  let base = row * 2u * HALF + (i - row * HALF);
  let x = bw_u[base];
  let gate = bw_u[base + HALF];
  let s = sigmoid(gate);
  let dout = bw_dout[i];
  bw_du[base] = dout * gate * s;
  bw_du[base + HALF] = dout * x * s * (1.0 + gate * (1.0 - s));
}

// The same, four columns at a time (HALF a multiple of 4): a vec4 load on llvmpipe costs about half
// of four scalar ones, and the kernel does little but load and store.
fn sigmoid4(g: vec4f) -> vec4f {
  let e = exp(-abs(g));
  return select(e / (1.0 + e), 1.0 / (1.0 + e), g >= vec4f(0.0));
}

// swiglu_forward4 bindings: as swiglu_forward
@group(0) @binding(0) var<storage, read> fw4_u: array<vec4f>;
@group(0) @binding(1) var<storage, read_write> fw4_out: array<vec4f>;

@compute @workgroup_size(WG)
fn swiglu_forward4(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let half4 = HALF / 4u;
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= ROWS * half4) {
    return;
  }
  let row = i / half4;
  let base = row * 2u * half4 + (i - row * half4);
  let x = fw4_u[base];
  let gate = fw4_u[base + half4];
  fw4_out[i] = gate * sigmoid4(gate) * x;
}

// swiglu_backward4 bindings: as swiglu_backward
@group(0) @binding(0) var<storage, read> bw4_dout: array<vec4f>;
@group(0) @binding(1) var<storage, read> bw4_u: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> bw4_du: array<vec4f>;

@compute @workgroup_size(WG)
fn swiglu_backward4(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let half4 = HALF / 4u;
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= ROWS * half4) {
    return;
  }
  let row = i / half4;
  let base = row * 2u * half4 + (i - row * half4);
  let x = bw4_u[base];
  let gate = bw4_u[base + half4];
  let s = sigmoid4(gate);
  let dout = bw4_dout[i];
  bw4_du[base] = dout * gate * s;
  bw4_du[base + half4] = dout * x * s * (1.0 + gate * (1.0 - s));
}

// Tangent (forward-mode derivative) of the forward along u̇ [ROWS, 2·HALF]:
//   ẏ = silu(gate)·ẋ + silu'(gate)·ġate·x,  silu'(g) = σ(g)·(1 + g·(1 − σ(g)))
// swiglu_tangent bindings: 0 u [ROWS, 2·HALF] (read), 1 u̇ [ROWS, 2·HALF] (read), 2 ẏ [ROWS, HALF] (write)
@group(0) @binding(0) var<storage, read> tg_u: array<f32>;
@group(0) @binding(1) var<storage, read> tg_du: array<f32>;
@group(0) @binding(2) var<storage, read_write> tg_out: array<f32>;

@compute @workgroup_size(WG)
fn swiglu_tangent(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= ROWS * HALF) {
    return;
  }
  let row = i / HALF;
  let base = row * 2u * HALF + (i - row * HALF);
  let x = tg_u[base];
  let gate = tg_u[base + HALF];
  let s = sigmoid(gate);
  tg_out[i] = gate * s * tg_du[base] + s * (1.0 + gate * (1.0 - s)) * tg_du[base + HALF] * x;
}

// swiglu_tangent4 bindings: as swiglu_tangent
@group(0) @binding(0) var<storage, read> tg4_u: array<vec4f>;
@group(0) @binding(1) var<storage, read> tg4_du: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> tg4_out: array<vec4f>;

@compute @workgroup_size(WG)
fn swiglu_tangent4(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let half4 = HALF / 4u;
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= ROWS * half4) {
    return;
  }
  let row = i / half4;
  let base = row * 2u * half4 + (i - row * half4);
  let x = tg4_u[base];
  let gate = tg4_u[base + half4];
  let s = sigmoid4(gate);
  tg4_out[i] = gate * s * tg4_du[base] + s * (1.0 + gate * (1.0 - s)) * tg4_du[base + half4] * x;
}

// *_rows4 (software adapters; HALF a multiple of 4): the *4 kernels with one invocation per row looping
// over its vec4s, a 16th as many invocations at HALF 64. Measured on lavapipe (2-core Zen 4, 1,024
// rows, HALF 48 and 64, 64 invocations a workgroup): 15–20% less CPU than the *4 kernels at 256.
// Bindings as swiglu_forward4 and swiglu_backward4. The row count is not an override: it comes from the
// length of `out` (forward) and `dout` (backward), bound at exactly rows · HALF floats, so one pipeline
// serves every batch size.
@compute @workgroup_size(WG)
fn swiglu_forward_rows4(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let half4 = HALF / 4u;
  let row = gid.x + gid.y * nwg.x * WG;
  if (row >= arrayLength(&fw4_out) / half4) {
    return;
  }
  let width = half4 + nwg.z - 1u;  // half4, opaque to the compiler (no unrolling: see rmsnorm.wgsl)
  for (var c = 0u; c < width; c++) {
    let base = row * 2u * half4 + c;
    let x = fw4_u[base];
    let gate = fw4_u[base + half4];
    fw4_out[row * half4 + c] = gate * sigmoid4(gate) * x;
  }
}

@compute @workgroup_size(WG)
fn swiglu_backward_rows4(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let half4 = HALF / 4u;
  let row = gid.x + gid.y * nwg.x * WG;
  if (row >= arrayLength(&bw4_dout) / half4) {
    return;
  }
  let width = half4 + nwg.z - 1u;
  for (var c = 0u; c < width; c++) {
    let base = row * 2u * half4 + c;
    let x = bw4_u[base];
    let gate = bw4_u[base + half4];
    let s = sigmoid4(gate);
    let dout = bw4_dout[row * half4 + c];
    bw4_du[base] = dout * gate * s;
    bw4_du[base + half4] = dout * x * s * (1.0 + gate * (1.0 - s));
  }
}
