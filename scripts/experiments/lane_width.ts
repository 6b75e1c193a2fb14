/**
 * An experiment, not a task: does llvmpipe's 16-lane mode (`LP_NATIVE_VECTOR_WIDTH=512`) make the
 * stationary matmul faster? It times one `stationary_b` product (C = X·Wᵀ, 1,024 rows by default) with
 * the shared row handed around two ways, interleaved in one process: `subgroupShuffle` (what
 * `kernels/matmul.wgsl` does) and `subgroupBroadcast` with a constant lane (a `switch` that folds once the
 * product loop is unrolled). The lane count is the adapter's subgroup size, so run it twice:
 *
 * ```sh
 * deno run --allow-read --allow-env --allow-ffi scripts/experiments/lane_width.ts --columns 128 --reduction 128 --groups 2
 * LP_NATIVE_VECTOR_WIDTH=512 deno run --allow-read --allow-env --allow-ffi scripts/experiments/lane_width.ts --columns 128 --reduction 128 --groups 1
 * ```
 *
 * DEVELOPERS.md ("What lavapipe taught us") has the table it gave (issue #17, round 7). The kernel is
 * `stationary_b` with the lane count as a constant and without `ACCUMULATE`/`B_T`; it checks its result
 * against a float64 product before timing.
 *
 * @module
 */
import process from "node:process";
import { parseArgs } from "../../src/cli/args.ts";
import { openGpu } from "../../src/gpu/device.ts";

const args = parseArgs(
  Deno.args,
  "LP_NATIVE_VECTOR_WIDTH=512 deno run --allow-read --allow-env --allow-ffi scripts/experiments/lane_width.ts",
  "Times kernels/matmul.wgsl's stationary_b with shuffles and with constant-lane broadcasts, at the adapter's lane count.",
  {
    rows: { type: "string", default: "1024", description: "Rows of X and C." },
    columns: { type: "string", default: "128", description: "Columns of C (rows of W), a multiple of 4." },
    reduction: { type: "string", default: "128", description: "Columns of X and W, a multiple of 4." },
    groups: { type: "string", default: "1", description: "Column groups of 4 a lane holds, 1–3." },
    chunk: {
      type: "string",
      description: "vec4 steps of the reduction per chunk (default: all of it, at most 32, 24 at 3 groups).",
    },
    rounds: {
      type: "string",
      default: "20",
      description: "Interleaved timings of each variant (median reported).",
    },
  },
);

const rows = Number(args.values.rows);
const columns = Number(args.values.columns);
const reduction = Number(args.values.reduction);
const groups = Number(args.values.groups);
const rounds = Number(args.values.rounds);
const chunk4 = Number(args.values.chunk ?? Math.min(reduction / 4, groups > 2 ? 24 : 32));
if (columns % 4 !== 0 || reduction % 4 !== 0 || !(groups >= 1 && groups <= 3) || chunk4 > 32) {
  console.error("lane_width: --columns and --reduction must be multiples of 4, --groups 1–3, --chunk ≤ 32");
  Deno.exit(2);
}

function lanePicker(lanes: number): string {
  const cases = Array.from(
    { length: lanes - 1 },
    (_, lane) => `    case ${lane}u: { return subgroupBroadcast(v, ${lane}u); }`,
  );
  return `fn lane_value(v: vec4f, lane: u32) -> vec4f {
  switch lane {
${cases.join("\n")}
    default: { return subgroupBroadcast(v, ${lanes - 1}u); }
  }
}`;
}

/** `stationary_b` of kernels/matmul.wgsl for `lanes` lanes, the row handed around by `handOff`. */
function kernel(lanes: number, handOff: "shuffle" | "broadcast"): string {
  const share = handOff === "shuffle"
    ? "subgroupShuffle(xs[k4 / SG], k4 % SG)"
    : "lane_value(xs[k4 / SG], k4 % SG)";
  return `enable subgroups;
override COLS: u32;
override RED: u32;
override SB_CHUNK4: u32 = 24u;
override SB_GROUPS: u32 = 1u;
const SG = ${lanes}u;
const SB_WIDE_MAX4 = 24u;
const SB_MAX4 = 32u;
@group(0) @binding(0) var<storage, read> sb_a: array<vec4f>;
@group(0) @binding(1) var<storage, read> sb_b: array<f32>;
@group(0) @binding(2) var<storage, read_write> sb_c: array<vec4f>;
${handOff === "broadcast" ? lanePicker(lanes) : ""}
fn sb_value(grp: u32, k: u32) -> vec4f {
  if ((RED / 4u) % SB_CHUNK4 != 0u && k >= RED) { return vec4f(0.0); }
  let base = 4u * grp * RED + k;
  return vec4f(sb_b[base], sb_b[base + RED], sb_b[base + 2u * RED], sb_b[base + 3u * RED]);
}
fn sb_block(grp: u32, k: u32) -> mat4x4f {
  let p = min(grp, COLS / 4u - 1u);
  return mat4x4f(sb_value(p, k), sb_value(p, k + 1u), sb_value(p, k + 2u), sb_value(p, k + 3u));
}
fn sb_store(at: u32, g: u32, value: vec4f, add: bool) {
  if (g < COLS / 4u) { if (add) { sb_c[at + g] += value; } else { sb_c[at + g] = value; } }
}
@compute @workgroup_size(SG)
fn stationary_b(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                @builtin(local_invocation_id) lid: vec3u) {
  let red4 = RED / 4u;
  let cols4 = COLS / 4u;
  let lane = lid.x;
  let g0 = wid.x * SG * SB_GROUPS + lane;
  let zero = min(nwg.z, 1u) - 1u;
  let rows = arrayLength(&sb_c) / cols4;
  let row_blocks = nwg.y * nwg.z;
  let rows_per_wg = (rows + row_blocks - 1u) / row_blocks;
  let r_begin = (wid.y + wid.z * nwg.y) * rows_per_wg;
  let r_end = min(r_begin + rows_per_wg, rows);
  var w0: array<mat4x4f, SB_MAX4>;
  var w1: array<mat4x4f, SB_MAX4>;
  var w2: array<mat4x4f, SB_WIDE_MAX4>;
  for (var c4 = 0u; c4 < red4 + zero; c4 += SB_CHUNK4) {
    for (var k4 = 0u; k4 < SB_CHUNK4 + zero; k4++) {
      let k = 4u * (c4 + k4);
      for (var s = 0u; s < SB_GROUPS + zero; s++) {
        let m = sb_block(g0 + SG * s, k);
        if (s == 0u) { w0[k4] = m; } else if (s == 1u) { w1[k4] = m; } else { w2[k4] = m; }
      }
    }
    for (var r = r_begin; r < r_end; r++) {
      var xs: array<vec4f, (SB_MAX4 + SG - 1u) / SG>;
      for (var q = 0u; q < (SB_MAX4 + SG - 1u) / SG; q++) {
        if (q * SG < SB_CHUNK4) { xs[q] = sb_a[r * red4 + min(c4 + q * SG + lane, red4 - 1u)]; }
      }
      var acc0 = vec4f(0.0);
      var acc1 = vec4f(0.0);
      var acc2 = vec4f(0.0);
      for (var k4 = 0u; k4 < SB_MAX4; k4++) {
        if (k4 < SB_CHUNK4) {
          let x = ${share};
          acc0 += w0[k4] * x;
          if (SB_GROUPS > 1u) { acc1 += w1[k4] * x; }
          if (SB_GROUPS > 2u && k4 < SB_WIDE_MAX4) { acc2 += w2[k4] * x; }
        }
        if (k4 % 4u == 3u && zero != 0u) { sb_c[0] = acc0 + acc1 + acc2; }
      }
      let at = r * cols4;
      let add = RED / 4u > SB_CHUNK4 && c4 > 0u;
      sb_store(at, g0, acc0, add);
      if (SB_GROUPS > 1u) { sb_store(at, g0 + SG, acc1, add); }
      if (SB_GROUPS > 2u) { sb_store(at, g0 + 2u * SG, acc2, add); }
    }
  }
}`;
}

const cpuMs = () => {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
};

const gpu = await openGpu();
try {
  const device = gpu.device;
  const lanes = gpu.adapter.subgroupMinSize ?? 8;
  if (lanes !== gpu.adapter.subgroupMaxSize) {
    throw new Error("lane_width: the adapter's subgroup size varies");
  }
  console.log(`${gpu.adapter.description}: ${lanes} lanes`);
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
  const x = new Float32Array(rows * reduction).map(() => Math.random() - 0.5);
  const w = new Float32Array(columns * reduction).map(() => Math.random() - 0.5);
  const buffers = [x.length, w.length, rows * columns].map((n) =>
    device.createBuffer({ size: 4 * n, usage })
  );
  device.queue.writeBuffer(buffers[0], 0, x);
  device.queue.writeBuffer(buffers[1], 0, w);
  const readback = device.createBuffer({
    size: 4 * rows * columns,
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  const columnBlocks = Math.ceil(columns / (4 * lanes * groups));
  const rowBlocks = Math.max(1, Math.round(2 / columnBlocks));
  interface Variant {
    handOff: "shuffle" | "broadcast";
    pipeline: GPUComputePipeline;
    bindGroup: GPUBindGroup;
    cpu: number[];
  }
  const variants: Variant[] = [];
  for (const handOff of ["shuffle", "broadcast"] as const) {
    const pipeline = await device.createComputePipelineAsync({
      layout: "auto",
      compute: {
        module: device.createShaderModule({ code: kernel(lanes, handOff) }),
        entryPoint: "stationary_b",
        constants: { COLS: columns, RED: reduction, SB_CHUNK4: chunk4, SB_GROUPS: groups },
      },
    });
    const bindGroup = device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: buffers.map((buffer, binding) => ({ binding, resource: { buffer } })),
    });
    variants.push({ handOff, pipeline, bindGroup, cpu: [] });
  }
  const run = async (variant: Variant, repeats: number) => {
    const encoder = device.createCommandEncoder();
    for (let i = 0; i < repeats; i++) {
      const pass = encoder.beginComputePass();
      pass.setPipeline(variant.pipeline);
      pass.setBindGroup(0, variant.bindGroup);
      pass.dispatchWorkgroups(columnBlocks, rowBlocks, 1);
      pass.end();
    }
    device.queue.submit([encoder.finish()]);
    await device.queue.onSubmittedWorkDone();
  };
  for (const variant of variants) {
    await run(variant, 1);
    const encoder = device.createCommandEncoder();
    encoder.copyBufferToBuffer(buffers[2], 0, readback, 0, readback.size);
    device.queue.submit([encoder.finish()]);
    await readback.mapAsync(GPUMapMode.READ);
    const c = new Float32Array(readback.getMappedRange().slice(0));
    readback.unmap();
    let error = 0;
    for (let i = 0; i < rows; i += 7) {
      for (let j = 0; j < columns; j++) {
        let sum = 0;
        for (let k = 0; k < reduction; k++) sum += x[i * reduction + k] * w[j * reduction + k];
        error = Math.max(error, Math.abs(sum - c[i * columns + j]));
      }
    }
    if (!(error < 1e-4)) throw new Error(`lane_width: ${variant.handOff} is wrong (max error ${error})`);
  }
  const repeats = 50;
  for (let round = 0; round < rounds; round++) {
    for (const variant of variants) {
      const start = cpuMs();
      await run(variant, repeats);
      variant.cpu.push((cpuMs() - start) / repeats);
    }
  }
  const flops = 2 * rows * columns * reduction;
  for (const variant of variants) {
    const sorted = variant.cpu.toSorted((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)];
    console.log(
      `${lanes} lanes, ${variant.handOff}: ${rows} × ${columns} × ${reduction}, ${groups} group(s), chunk ${chunk4}, ` +
        `grid ${columnBlocks}×${rowBlocks}: ${median.toFixed(3)} ms CPU (median of ${rounds}), ` +
        `${(flops / median / 1e6).toFixed(1)} GFLOP/s of CPU time`,
    );
  }
  for (const buffer of [...buffers, readback]) buffer.destroy();
} finally {
  gpu.destroy();
}
