/**
 * `deno run … scripts/setup.ts [--tests]`: makes sure what zsl needs is installed, and says what it
 * installs. A WebGPU adapter (lavapipe when there is no GPU); with `--tests`, also the references
 * and services the test suite uses: PyTorch CPU and numpy (`/usr/bin/python3`), Jupyter with the Deno
 * kernel, and SLURM with munge. Installs with apt-get as root on Debian/Ubuntu; elsewhere prints the
 * exact commands to run.
 */
import { parseArgs, runMain } from "../src/cli/args.ts";
import { aptInstall, installLavapipe, isRoot, osRelease } from "../src/gpu/doctor.ts";
import { NoAdapterError, openGpu } from "../src/gpu/device.ts";

interface Requirement {
  what: string;
  packages: string[];
  present: () => Promise<boolean>;
}

async function succeeds(command: string, args: string[]): Promise<boolean> {
  try {
    return (await new Deno.Command(command, { args, stdout: "null", stderr: "null" }).output()).success;
  } catch {
    return false;
  }
}

const TEST_REQUIREMENTS: Requirement[] = [
  {
    what: "PyTorch CPU and numpy under /usr/bin/python3 (the reference implementation)",
    packages: ["python3-torch", "python3-numpy"],
    present: () => succeeds("/usr/bin/python3", ["-c", "import torch, numpy"]),
  },
  {
    // Debian's python3-torch links the system libblas, which is the reference BLAS (~10× slower than an
    // optimised one) until an optimised BLAS is installed and picked by update-alternatives: the bench's
    // PyTorch anchor would be unfairly slow without it.
    what: "OpenBLAS for PyTorch's matrix products (libopenblas0-pthread; without it Debian's python3-torch " +
      "uses the reference BLAS, about 10× slower)",
    packages: ["libopenblas0-pthread"],
    present: async () =>
      !(await isDebianLike()) || await succeeds("dpkg-query", ["-W", "libopenblas0-pthread"]),
  },
  {
    what: "Jupyter nbconvert and nbclient (tests/notebooks_test.ts executes notebooks/ headless)",
    packages: ["jupyter-nbconvert", "jupyter-client", "python3-nbclient"],
    present: () => succeeds("jupyter", ["nbconvert", "--version"]),
  },
  {
    what: "SLURM and munge (tests/slurm_test.ts runs a one-node cluster on localhost)",
    packages: ["slurm-wlm", "munge"],
    // The daemons live in /usr/sbin, which a non-root PATH may lack.
    present: () =>
      succeeds("sh", [
        "-c",
        "for b in munged slurmctld slurmd sbatch squeue sinfo scancel; do " +
        'command -v "$b" >/dev/null || [ -x "/usr/sbin/$b" ] || exit 1; done',
      ]),
  },
];

/** Whether this is Debian or Ubuntu (where python3-torch's BLAS comes from update-alternatives). */
async function isDebianLike(): Promise<boolean> {
  const os = await osRelease();
  return os !== null && ["debian", "ubuntu"].includes(os.id);
}

/**
 * Whether Jupyter lists a kernel named "deno" whose program exists (a kernelspec left by a Deno that
 * is gone, e.g. an old npx cache, counts as missing).
 */
async function denoKernelInstalled(): Promise<boolean> {
  try {
    const list = new Deno.Command("jupyter", { args: ["kernelspec", "list", "--json"], stderr: "null" });
    const listing = await list.output();
    if (!listing.success) return false;
    const program = JSON.parse(new TextDecoder().decode(listing.stdout))?.kernelspecs?.deno?.spec?.argv?.[0];
    return typeof program === "string" && (await Deno.stat(program)).isFile;
  } catch {
    return false;
  }
}

/**
 * Installs the Deno kernelspec for the current user (`deno jupyter --install`: no root needed; on Linux
 * it lands in ~/.local/share/jupyter/kernels/deno) unless Jupyter already lists a working one.
 */
async function ensureDenoKernel(): Promise<void> {
  if (await denoKernelInstalled()) return;
  const command = [Deno.execPath(), "jupyter", "--install", "--force"];
  console.error(`zsl setup: installing the Deno Jupyter kernel for this user: ${command.join(" ")}`);
  if (!(await succeeds(command[0], command.slice(1)))) {
    console.error(`zsl setup: \`${command.join(" ")}\` failed; run it by hand to see why`);
    Deno.exit(1);
  }
}

await runMain(async () => {
  const { values } = parseArgs(
    Deno.args,
    "scripts/setup.ts",
    "Installs what zsl needs when it is missing (root on Debian/Ubuntu), or prints the commands to run.",
    {
      tests: { type: "boolean", description: "also what the test suite needs" },
      probe: { type: "boolean", description: "internal: exit 0 when a WebGPU adapter opens, 3 when none" },
    },
  );
  if (values.probe) {
    try {
      (await openGpu()).destroy();
    } catch (error) {
      if (error instanceof NoAdapterError) Deno.exit(3);
      throw error;
    }
    Deno.exit(0);
  }
  // The test requirements first, the adapter last: a process started right after a Dawn device was
  // destroyed can crash this one (seen on lavapipe), so the adapter is probed in a child process.
  if (values.tests) await installTestRequirements();
  if (!(await adapterFound())) {
    console.error("zsl setup: no WebGPU adapter; installing lavapipe (Mesa's software Vulkan driver)");
    if (!(await installLavapipe(true))) Deno.exit(1);
  }
  if (values.tests) await ensureDenoKernel();
});

/** Whether a WebGPU adapter opens, asked of a child process (exit 0: yes, 3: none). */
async function adapterFound(): Promise<boolean> {
  const probe = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      "--allow-ffi",
      import.meta.filename!,
      "--probe",
    ],
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (probe.code === 0) return true;
  if (probe.code === 3) return false;
  throw new Error(
    `zsl setup: the adapter probe failed (exit ${probe.code}); run deno task doctor to see why`,
  );
}

async function installTestRequirements(): Promise<void> {
  const missing: Requirement[] = [];
  for (const requirement of TEST_REQUIREMENTS) {
    if (!(await requirement.present())) missing.push(requirement);
  }
  if (missing.length === 0) return;
  const packages = missing.flatMap((requirement) => requirement.packages);
  const os = await osRelease();
  const canInstall = os !== null && ["debian", "ubuntu"].includes(os.id) && (await isRoot());
  if (!canInstall) {
    console.error(
      `zsl setup: the tests need ${missing.map((r) => r.what).join("; ")}.\n` +
        `  On Debian/Ubuntu, as root: apt-get install -y ${packages.join(" ")}`,
    );
    Deno.exit(1);
  }
  console.error(
    `zsl setup: installing ${missing.map((r) => r.what).join("; ")}: apt-get install ${packages.join(" ")}`,
  );
  if (!(await aptInstall(packages, { quiet: true }))) {
    console.error("zsl setup: apt-get failed; retrying after apt-get update");
    await new Deno.Command("apt-get", { args: ["update", "-q"], stdout: "null" }).output();
    if (!(await aptInstall(packages, { quiet: true }))) Deno.exit(1);
  }
}
