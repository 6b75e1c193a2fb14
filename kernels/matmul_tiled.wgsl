// Matrix products of a Linear layer, workgroup-memory tiled for GPUs (the same products as matmul.wgsl):
//
//   xwT   C[N,M] = X[N,K] · W[M,K]ᵀ     A = X,  B = W
//   dyW   C[N,K] = dY[N,M] · W[M,K]      A = dY, B = W
//   dyTx  C[M,K] = dY[N,M]ᵀ · X[N,K]     A = dY, B = X   (reduction over the N token rows)
//
// One kernel serves the three layouts: C[r,c] = Σ_t a(r,t) · b(c,t) where A is stored either
// reduction-contiguous (a(r,t) = A[r·RED + t], A_T = false) or row-contiguous (a(r,t) = A[t·ROWS + r],
// A_T = true), and B likewise (B_T: b(c,t) = B[t·COLS + c]):
//   xwT  A_T = false, B_T = false;  dyW  A_T = false, B_T = true;  dyTx  A_T = true, B_T = true.
//
// A workgroup of 16 × 16 invocations computes a 64 × 64 block of C, each invocation a 4 × 4 register
// block, stepping through the reduction 16 at a time: both operand tiles are staged in workgroup memory
// reduction-major (as_[t][r], bs_[t][c]) so that the inner loop reads one vec4 of each per step. The
// global loads are laid out so that neighbouring invocations read neighbouring addresses along whichever
// dimension is contiguous in memory.
//
// Split-K (SPLITS > 1): for long reductions with few output blocks (dyTx with 100k token rows and a
// 64 × 64 weight), workgroup z % SPLITS takes one contiguous slice of the reduction and writes its partial
// block to a scratch buffer P[SPLITS][ROWS][COLS]; tiled_reduce then adds the slices in a fixed order,
// so results stay deterministic (no atomics).
//
// Grid: x = column blocks, y = row blocks, z = split + SPLITS · (row block / nwg.y) for row counts beyond
// 65535 blocks.

override ROWS: u32;
override COLS: u32;
override RED: u32;
override A_T: bool = false;
override B_T: bool = false;
override ACCUMULATE: bool = false;
override SPLITS: u32 = 1u;

const BM = 64u;   // rows of C per workgroup
const BN = 64u;   // columns of C per workgroup
const BK = 16u;   // reduction step staged in workgroup memory

// tiled bindings: 0 A (read), 1 B (read), 2 C (read_write; the scratch P when SPLITS > 1)
@group(0) @binding(0) var<storage, read> t_a: array<f32>;
@group(0) @binding(1) var<storage, read> t_b: array<f32>;
@group(0) @binding(2) var<storage, read_write> t_c: array<f32>;

var<workgroup> as_: array<vec4f, BK * BM / 4u>;
var<workgroup> bs_: array<vec4f, BK * BN / 4u>;

// Out-of-range elements read as 0 (the index is clamped and the value selected away, which keeps the
// kernel branch-free).
fn load_a(r: u32, t: u32, t_end: u32) -> f32 {
  let ok = r < ROWS && t < t_end;
  let rc = min(r, ROWS - 1u);
  let tc = min(t, RED - 1u);
  let at = select(rc * RED + tc, tc * ROWS + rc, A_T);
  return select(0.0, t_a[at], ok);
}

fn load_b(c: u32, t: u32, t_end: u32) -> f32 {
  let ok = c < COLS && t < t_end;
  let cc = min(c, COLS - 1u);
  let tc = min(t, RED - 1u);
  let at = select(cc * RED + tc, tc * COLS + cc, B_T);
  return select(0.0, t_b[at], ok);
}

@compute @workgroup_size(16, 16)
fn tiled(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
         @builtin(local_invocation_id) lid: vec3u) {
  let tid = lid.y * 16u + lid.x;
  let split = wid.z % SPLITS;
  let row0 = (wid.y + (wid.z / SPLITS) * nwg.y) * BM;
  let col0 = wid.x * BN;
  // The reduction slice of this split, in whole BK steps.
  let chunk = ((RED + SPLITS * BK - 1u) / (SPLITS * BK)) * BK;
  let t_begin = min(split * chunk, RED);
  let t_end = min(t_begin + chunk, RED);

  var acc: array<vec4f, 4>;   // acc[i] = C[row0 + 4·ly + i, col0 + 4·lx … +3]
  for (var t0 = t_begin; t0 < t_end; t0 += BK) {
    // Stage A (64 rows × 16 reduction steps) and B (64 columns × 16 steps): each invocation loads 4 rows
    // (columns) at one reduction step and stores them as one vec4. Neighbouring invocations take
    // neighbouring steps when the reduction is contiguous in memory, neighbouring rows otherwise.
    {
      let t = select(tid % 16u, tid / 16u, A_T);
      let r = select(tid / 16u, tid % 16u, A_T) * 4u;
      as_[t * (BM / 4u) + r / 4u] = vec4f(load_a(row0 + r, t0 + t, t_end), load_a(row0 + r + 1u, t0 + t, t_end),
                                          load_a(row0 + r + 2u, t0 + t, t_end), load_a(row0 + r + 3u, t0 + t, t_end));
    }
    {
      let t = select(tid % 16u, tid / 16u, B_T);
      let c = select(tid / 16u, tid % 16u, B_T) * 4u;
      bs_[t * (BN / 4u) + c / 4u] = vec4f(load_b(col0 + c, t0 + t, t_end), load_b(col0 + c + 1u, t0 + t, t_end),
                                          load_b(col0 + c + 2u, t0 + t, t_end), load_b(col0 + c + 3u, t0 + t, t_end));
    }
    workgroupBarrier();
    for (var t = 0u; t < BK; t++) {
      let a = as_[t * (BM / 4u) + lid.y];
      let b = bs_[t * (BN / 4u) + lid.x];
      acc[0] = fma(vec4f(a.x), b, acc[0]);
      acc[1] = fma(vec4f(a.y), b, acc[1]);
      acc[2] = fma(vec4f(a.z), b, acc[2]);
      acc[3] = fma(vec4f(a.w), b, acc[3]);
    }
    workgroupBarrier();
  }

  // A loop with a runtime trip count stays a loop on every compiler: one store in the code, not 16.
  let plane = split * ROWS * COLS;   // 0 unless split
  let row_base = row0 + 4u * lid.y;
  let col_base = col0 + 4u * lid.x;
  let rows = min(4u, ROWS - min(row_base, ROWS));
  var out = array<f32, 16>(acc[0].x, acc[0].y, acc[0].z, acc[0].w, acc[1].x, acc[1].y, acc[1].z, acc[1].w,
                           acc[2].x, acc[2].y, acc[2].z, acc[2].w, acc[3].x, acc[3].y, acc[3].z, acc[3].w);
  for (var e = 0u; e < rows * 4u; e++) {
    let col = col_base + e % 4u;
    if (col < COLS) {
      let at = plane + (row_base + e / 4u) * COLS + col;
      let v = out[e];
      if (ACCUMULATE && SPLITS == 1u) { t_c[at] += v; } else { t_c[at] = v; }
    }
  }
}

// tiled_reduce bindings: 0 P (read, SPLITS planes of ROWS × COLS), 1 C (read_write) —
// C = Σ_s P[s] (+ C with ACCUMULATE), summed in split order.
@group(0) @binding(0) var<storage, read> r_p: array<f32>;
@group(0) @binding(1) var<storage, read_write> r_c: array<f32>;

override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn tiled_reduce(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  let count = ROWS * COLS;
  if (i < count) {
    var sum = r_p[i];
    for (var s = 1u; s < SPLITS; s++) { sum += r_p[s * count + i]; }
    if (ACCUMULATE) { r_c[i] += sum; } else { r_c[i] = sum; }
  }
}
