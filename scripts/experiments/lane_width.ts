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
 * kernels/matmul.wgsl's `stationary_b` with the lane count as a constant (xwT, no `ACCUMULATE`); each
 * variant's result is checked against the float64 reference product before timing.
 *
 * @module
 */
import process from "node:process";
import { parseArgs } from "../../src/cli/args.ts";
import { openGpu } from "../../src/gpu/device.ts";
import { kernelSource } from "../../src/gpu/kernels.ts";
import { createBuffer, readFloats, uploadBuffer } from "../../src/gpu/buffers.ts";
import { fill } from "../../src/bench/timing.ts";
import { matmulXWt } from "../../src/reference/matmul.ts";

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

/** A `switch` that folds to `subgroupBroadcast(v, lane)` with a constant lane once `lane` is one. */
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
}
`;
}

/**
 * kernels/matmul.wgsl with its `stationary_b` rewritten for `lanes` lanes, the row handed around by
 * `handOff`: the 8-lane constants of that entry point become `SG`. Fails when the kernel no longer has
 * the text this rewrites (then update the edits here).
 */
function rewriteStationary(source: string, lanes: number, handOff: "shuffle" | "broadcast"): string {
  const begin = source.indexOf("@compute @workgroup_size(8)\nfn stationary_b(");
  const end = source.indexOf("\n}\n", begin);
  if (begin < 0 || end < 0) {
    throw new Error("lane_width: kernels/matmul.wgsl has no stationary_b entry point");
  }
  const share = handOff === "shuffle"
    ? "subgroupShuffle(xs[k4 / SG], k4 % SG)"
    : "lane_value(xs[k4 / SG], k4 % SG)";
  const edits: [string, string, number][] = [
    ["@workgroup_size(8)", "@workgroup_size(SG)", 1],
    ["wid.x * 8u * SB_GROUPS", "wid.x * SG * SB_GROUPS", 1],
    ["g0 + 8u;", "g0 + SG;", 1],
    ["g0 + 16u;", "g0 + 2u * SG;", 1],
    ["g0 + 8u * s", "g0 + SG * s", 1],
    ["SB_MAX4 / 8u", "((SB_MAX4 + SG - 1u) / SG)", 2],
    ["q * 8u", "q * SG", 2],
    ["subgroupShuffle(xs[k4 / 8u], k4 % 8u)", share, 1],
  ];
  let body = source.slice(begin, end);
  for (const [from, to, count] of edits) {
    const found = body.split(from).length - 1;
    if (found !== count) {
      throw new Error(
        `lane_width: "${from}" appears ${found} times in stationary_b, not ${count}; update the edits`,
      );
    }
    body = body.replaceAll(from, to);
  }
  const prelude = `const SG = ${lanes}u;\n${handOff === "broadcast" ? lanePicker(lanes) : ""}`;
  return source.slice(0, begin) + prelude + body + source.slice(end);
}

const cpuMs = () => {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
};

const source = await kernelSource("matmul");
const gpu = await openGpu();
try {
  const device = gpu.device;
  const lanes = gpu.adapter.subgroupMinSize ?? 8;
  if (lanes !== gpu.adapter.subgroupMaxSize) {
    throw new Error("lane_width: the adapter's subgroup size varies");
  }
  console.log(`${gpu.adapter.description}: ${lanes} lanes`);
  const x = fill(rows * reduction, 1);
  const w = fill(columns * reduction, 2);
  const buffers = [
    uploadBuffer(gpu, x, "x"),
    uploadBuffer(gpu, w, "w"),
    createBuffer(gpu, rows * columns * 4, "c"),
  ];
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
        module: device.createShaderModule({ code: rewriteStationary(source, lanes, handOff) }),
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
    const pass = encoder.beginComputePass();
    pass.setPipeline(variant.pipeline);
    pass.setBindGroup(0, variant.bindGroup);
    for (let i = 0; i < repeats; i++) pass.dispatchWorkgroups(columnBlocks, rowBlocks, 1);
    pass.end();
    device.queue.submit([encoder.finish()]);
    await gpu.sync();
  };
  const expected = matmulXWt(x, w, rows, columns, reduction);
  for (const variant of variants) {
    await run(variant, 1);
    const c = await readFloats(gpu, buffers[2]);
    const error = c.reduce((most, value, i) => Math.max(most, Math.abs(value - expected[i])), 0);
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
  for (const buffer of buffers) buffer.destroy();
} finally {
  gpu.destroy();
}
