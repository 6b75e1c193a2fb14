/**
 * `deno task doctor [--install] [--quiet]`: which WebGPU adapter zsl uses, its limits and features,
 * and a kernel self-test. With `--install`, installs lavapipe when no adapter exists (root on
 * Debian/Ubuntu).
 */
import { parseArgs, runMain } from "../src/cli/args.ts";
import { openGpuOrInstall } from "../src/gpu/doctor.ts";
import { kernelSelfTest } from "../src/reference/selftest.ts";

const LIMITS = [
  "maxStorageBufferBindingSize",
  "maxBufferSize",
  "maxComputeWorkgroupStorageSize",
  "maxComputeInvocationsPerWorkgroup",
  "maxComputeWorkgroupsPerDimension",
  "maxStorageBuffersPerShaderStage",
] as const;

await runMain(async () => {
  const { values } = parseArgs(
    Deno.args,
    "deno task doctor",
    "Finds the WebGPU adapter zsl will use, prints what it is, and runs a kernel self-test.",
    {
      install: {
        type: "boolean",
        description: "When no adapter exists, install lavapipe (as root on Debian or Ubuntu).",
      },
      quiet: { type: "boolean", description: "Print one line: the adapter and the self-test's result." },
    },
  );
  const gpu = await openGpuOrInstall({ install: values.install as boolean, quiet: values.quiet as boolean });
  try {
    const a = gpu.adapter;
    // Lavapipe's architecture is "software": said once, not twice.
    const kind = [a.vendor, a.backend, a.isSoftware ? "software" : a.architecture].filter(Boolean).join(", ");
    const name = `${a.description || a.device} (${kind})`;
    if (!values.quiet) {
      console.log(`adapter:   ${a.description || a.device}`);
      console.log(`device:    ${a.device} (${kind})`);
      console.log(`software:  ${a.isSoftware ? "yes, it runs on the CPU: slow but complete" : "no"}`);
      if (a.subgroupMinSize) {
        const sizes = a.subgroupMinSize === a.subgroupMaxSize
          ? `${a.subgroupMinSize}`
          : `${a.subgroupMinSize}–${a.subgroupMaxSize}`;
        console.log(`subgroups: ${sizes} invocations`);
      }
      console.log("limits:");
      for (const limit of LIMITS) console.log(`  ${limit.padEnd(36)} ${gpu.limits[limit]}`);
      console.log(`features:  ${gpu.features.join(", ") || "none"}`);
    }
    const result = await kernelSelfTest(gpu);
    const summary = `loss rel. error ${result.lossError.toExponential(1)}, token losses ` +
      `${result.tokenLossError.toExponential(1)}, gradients ${result.gradientError.toExponential(1)} ` +
      `(worst ${result.worstGradient}), ${result.seconds.toFixed(1)} s`;
    if (values.quiet) {
      console.log(`zsl doctor: ${name}; self-test ${result.ok ? "passed" : "FAILED"}: ${summary}`);
    } else console.log(`self-test: ${result.ok ? "passed" : "FAILED"}: ${summary}`);
    if (!result.ok) {
      throw new Error(
        "zsl: the kernel self-test failed on this adapter; please report it with the output above",
      );
    }
    if (!values.quiet) {
      console.log(
        "\nNext, train and analyse the default sweep (three small models) into sweeps/default/\n" +
          "(deno task sweep --help first says how long that takes on this adapter):\n  deno task sweep",
      );
    }
  } finally {
    gpu.destroy();
  }
});
