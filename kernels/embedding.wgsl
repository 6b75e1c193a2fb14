// Token embedding (the input side of the tied wte): x[r, :] = wte[ids[r], :].
// Its backward is a scatter-add into dwte, made deterministic without float atomics: the host sorts
// the rows by token id into a CSR index (rows of distinct token u: row[start[u] .. start[u+1]),
// ascending), and one invocation per (distinct token, column) sums dx over that token's rows in row
// order and adds the sum into dwte (accumulated: the unembedding's gradient lands in the same
// tensor). The distinct-token count changes every batch, so it is read from the index at run time:
// the dispatch covers the maximum, ROWS distinct tokens, and the rest exit at once.

override ROWS: u32;
override VOCAB: u32;
override D: u32;
override WG: u32 = 256u;

// A quiet NaN from a runtime value (WGSL rejects NaN constants).
fn nan_from(runtime: u32) -> f32 {
  return bitcast<f32>(0x7fc00000u | (runtime & 0u));
}

// embedding_forward bindings: 0 wte [VOCAB, D] (read), 1 ids [ROWS] u32 (read), 2 x [ROWS, D] (write).
// An id ≥ VOCAB (a host bug: ids are validated first) is never read; its row becomes NaN.
@group(0) @binding(0) var<storage, read> fw_wte: array<f32>;
@group(0) @binding(1) var<storage, read> fw_ids: array<u32>;
@group(0) @binding(2) var<storage, read_write> fw_x: array<f32>;

@compute @workgroup_size(WG)
fn embedding_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= ROWS * D) {
    return;
  }
  let row = i / D;
  let col = i - row * D;
  let id = fw_ids[row];
  if (id < VOCAB) {
    fw_x[i] = fw_wte[id * D + col];
  } else {
    fw_x[i] = nan_from(id);
  }
}

// embedding_backward bindings: 0 dx [ROWS, D] (read), 1 index (read, u32), 2 dwte [VOCAB, D]
// (read_write, accumulated).
// index layout (u32): [0] count of distinct tokens U; [1, 1 + ROWS) token id of each distinct token;
// [1 + ROWS, 2 + 2·ROWS) start offsets (U + 1 used); [2 + 2·ROWS, 2 + 3·ROWS) rows sorted by token.
@group(0) @binding(0) var<storage, read> bw_dx: array<f32>;
@group(0) @binding(1) var<storage, read> bw_index: array<u32>;
@group(0) @binding(2) var<storage, read_write> bw_dwte: array<f32>;

@compute @workgroup_size(WG)
fn embedding_backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  let count = min(bw_index[0], ROWS);
  if (i >= count * D) {
    return;
  }
  let u = i / D;
  let col = i - u * D;
  let token = bw_index[1u + u];
  let first = bw_index[1u + ROWS + u];
  let last = min(bw_index[2u + ROWS + u], ROWS);
  var sum = 0.0;
  for (var k = first; k < last; k++) {
    sum += bw_dx[bw_index[2u + 2u * ROWS + k] * D + col];
  }
  if (token < VOCAB) {
    bw_dwte[token * D + col] += sum;
  }
}

// rows_scatter: the gather's transpose for distinct ids, written (=) rather than added: out[ids[r], :] =
// x[r, :]. The LM head of a per-token pass runs on the gathered rows that have a target and writes its
// gradient back into those rows of d(final norm); the other rows stay as they are (zero).
// Bindings: 0 x [ROWS, D] (read), 1 ids [ROWS] u32 (read, distinct, < VOCAB), 2 out [VOCAB, D]
// (read_write). An id ≥ VOCAB is skipped.
@group(0) @binding(0) var<storage, read> sc_x: array<f32>;
@group(0) @binding(1) var<storage, read> sc_ids: array<u32>;
@group(0) @binding(2) var<storage, read_write> sc_out: array<f32>;

@compute @workgroup_size(WG)
fn rows_scatter(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= ROWS * D) {
    return;
  }
  let row = i / D;
  let col = i - row * D;
  let id = sc_ids[row];
  if (id < VOCAB) {
    sc_out[id * D + col] = sc_x[i];
  }
}

// embedding_forward4, embedding_backward4: the same four columns at a time (D a multiple of 4), for
// lavapipe, where every storage access whose address differs across lanes is a loop over the lanes:
// a vec4 costs about what one float does in the scalar kernels, and the row's id is read once per row.
// The row count of the vec4 kernels is not an override: it comes from the length of x (forward) and of
// the index (backward: 3 · rows + 2 entries), bound at exactly their size, so one pipeline serves every
// batch size.
// embedding_forward4: one invocation per row, bindings as embedding_forward.
@group(0) @binding(0) var<storage, read> fw4_wte: array<vec4f>;
@group(0) @binding(1) var<storage, read> fw4_ids: array<u32>;
@group(0) @binding(2) var<storage, read_write> fw4_x: array<vec4f>;

@compute @workgroup_size(WG)
fn embedding_forward4(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let row = gid.x + gid.y * nwg.x * WG;
  let d4 = D / 4u;
  if (row >= arrayLength(&fw4_x) / d4) {
    return;
  }
  let id = fw4_ids[row];
  let width = d4 + nwg.z - 1u;  // d4, opaque to the compiler (see kernels/rmsnorm.wgsl)
  if (id < VOCAB) {
    for (var c = 0u; c < width; c++) {
      fw4_x[row * d4 + c] = fw4_wte[id * d4 + c];
    }
  } else {
    for (var c = 0u; c < width; c++) {
      fw4_x[row * d4 + c] = vec4f(nan_from(id));
    }
  }
}

// embedding_backward4: one invocation per (distinct token, 4 columns); at most min(ROWS, VOCAB)
// distinct tokens, so the dispatch covers only those. Bindings as embedding_backward.
@group(0) @binding(0) var<storage, read> bw4_dx: array<vec4f>;
@group(0) @binding(1) var<storage, read> bw4_index: array<u32>;
@group(0) @binding(2) var<storage, read_write> bw4_dwte: array<vec4f>;

@compute @workgroup_size(WG)
fn embedding_backward4(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  let d4 = D / 4u;
  let rows = (arrayLength(&bw4_index) - 2u) / 3u;
  let count = min(bw4_index[0], min(rows, VOCAB));
  if (i >= count * d4) {
    return;
  }
  let u = i / d4;
  let col = i - u * d4;
  let token = bw4_index[1u + u];
  let first = bw4_index[1u + rows + u];
  let last = min(bw4_index[2u + rows + u], rows);
  var sum = vec4f(0.0);
  for (var k = first; k < last; k++) {
    sum += bw4_dx[bw4_index[2u + 2u * rows + k] * d4 + col];
  }
  if (token < VOCAB) {
    bw4_dwte[token * d4 + col] += sum;
  }
}
