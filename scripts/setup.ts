/**
 * `deno task setup [--notebooks] [--tests]`: makes sure what zsl needs is installed, and says what it
 * installs. A WebGPU adapter (lavapipe when there is no GPU); with `--notebooks`, Jupyter's classic
 * Notebook and the Deno kernel; with `--tests`, also the references and services the test suite uses:
 * PyTorch CPU and numpy (`/usr/bin/python3`) with OpenBLAS, Jupyter nbconvert with the Deno kernel, SLURM with munge,
 * and Chromium (headless, for the report's screenshot test). Installs with apt-get as root on
 * Debian/Ubuntu; elsewhere prints the exact commands to run. Run twice, it installs nothing the second
 * time and prints nothing.
 */
import { parseArgs, runMain } from "../src/cli/args.ts";
import { aptInstall, commandOutput, installLavapipe, isRoot, osRelease } from "../src/gpu/doctor.ts";
import { NoAdapterError, openGpu } from "../src/gpu/device.ts";
import { dirname, join } from "../src/util/path.ts";

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
    what: "Chromium (tests/report_browser_test.ts screenshots the report in headless Chromium)",
    packages: ["chromium"],
    present: () => succeeds("chromium", ["--version"]),
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

const NOTEBOOK_REQUIREMENTS: Requirement[] = [
  {
    what: "Jupyter (to open notebooks/; Debian's is the classic Notebook)",
    packages: ["jupyter-notebook"],
    // Any Jupyter that lists kernels will do (JupyterLab from pip too).
    present: () => succeeds("jupyter", ["kernelspec", "list"]),
  },
];

/** Whether `path` lies in a cache that may be deleted under the kernel (npx's, or a temporary folder). */
function isTemporary(path: string): boolean {
  const temporary = [Deno.env.get("TMPDIR") ?? "/tmp", "/tmp", "/var/tmp"];
  return /\/_npx\//.test(path) || temporary.some((dir) => path.startsWith(dir.replace(/\/?$/, "/")));
}

/** The Deno version a binary reports (`deno --version`'s first line), or null when it does not run. */
async function denoVersion(path: string): Promise<string | null> {
  return (await commandOutput(path, ["--version"]))?.match(/^deno (\S+)/)?.[1] ?? null;
}

async function realPath(path: string): Promise<string | null> {
  try {
    return await Deno.realPath(path);
  } catch {
    return null;
  }
}

/**
 * A Deno of this version at a path that outlives this process, for the kernelspec: this one, unless it
 * runs from npx's cache (`npx -y deno@…`), which npx may delete; then a `deno` on PATH of the same
 * version; else a copy kept in `~/.local/share/zsl/deno-<version>/deno` (made once).
 */
async function stableDeno(): Promise<string> {
  const current = (await realPath(Deno.execPath())) ?? Deno.execPath();
  if (!isTemporary(current)) return current;
  const onPath = await commandOutput("sh", ["-c", "command -v deno"]);
  const onPathReal = onPath ? await realPath(onPath) : null;
  if (onPathReal && !isTemporary(onPathReal) && (await denoVersion(onPathReal)) === Deno.version.deno) {
    return onPathReal;
  }
  const home = Deno.env.get("HOME");
  if (!home) throw new Error("zsl setup: HOME is not set, so there is no lasting place for the Deno kernel");
  const dataHome = Deno.env.get("XDG_DATA_HOME") ?? join(home, ".local", "share");
  const target = join(dataHome, "zsl", `deno-${Deno.version.deno}`, "deno");
  if ((await denoVersion(target)) === Deno.version.deno) return target;
  console.error(
    `zsl setup: this Deno runs from npx's cache (${current}), which npx may delete; copying it to ${target} ` +
      "for the Jupyter kernel",
  );
  await Deno.mkdir(dirname(target), { recursive: true });
  const partial = `${target}.partial-${Deno.pid}`;
  await Deno.copyFile(current, partial);
  await Deno.chmod(partial, 0o755);
  await Deno.rename(partial, target);
  return target;
}

/** The program of Jupyter's "deno" kernelspec (its argv[0]), or null when there is none. */
async function denoKernelProgram(): Promise<string | null> {
  const listing = await commandOutput("jupyter", ["kernelspec", "list", "--json"]);
  try {
    const program = listing ? JSON.parse(listing)?.kernelspecs?.deno?.spec?.argv?.[0] : undefined;
    return typeof program === "string" ? program : null;
  } catch {
    return null;
  }
}

/**
 * Installs the Deno kernelspec for the current user (on Linux in ~/.local/share/jupyter/kernels/deno;
 * no root needed) unless Jupyter lists one whose program exists at a lasting path. An existing
 * kernelspec is replaced (`--force`: without it `deno jupyter --install` stops with a backtrace).
 */
async function ensureDenoKernel(): Promise<void> {
  const existing = await denoKernelProgram();
  const existingReal = existing ? await realPath(existing) : null;
  if (existingReal && !isTemporary(existingReal) && (await Deno.stat(existingReal)).isFile) return;
  const deno = await stableDeno();
  const command = [deno, "jupyter", "--install", "--force"];
  const why = existing
    ? `the Deno Jupyter kernel runs ${existing}, which is gone or may vanish; reinstalling it`
    : "installing the Deno Jupyter kernel for this user";
  console.error(`zsl setup: ${why}: ${command.join(" ")}`);
  const result = await new Deno.Command(deno, { args: command.slice(1), stdout: "piped", stderr: "piped" })
    .output();
  const installed = await denoKernelProgram();
  if (!result.success || !installed || (await realPath(installed)) !== (await realPath(deno))) {
    console.error(new TextDecoder().decode(result.stdout) + new TextDecoder().decode(result.stderr));
    console.error(`zsl setup: \`${command.join(" ")}\` did not install a kernel that runs ${deno}`);
    Deno.exit(1);
  }
}

await runMain(async () => {
  const { values } = parseArgs(
    Deno.args,
    "deno task setup",
    "Installs what zsl needs when it is missing (as root on Debian or Ubuntu), or prints the commands to run.",
    {
      notebooks: {
        type: "boolean",
        description:
          "Also Jupyter (Debian's classic Notebook, when there is none) and the Deno kernel, to open notebooks/.",
      },
      tests: {
        type: "boolean",
        description: "Also what the test suite needs: PyTorch CPU, Jupyter nbconvert and the Deno kernel, " +
          "SLURM, Chromium.",
      },
      probe: {
        type: "boolean",
        description: "For setup itself: exit with 0 when a WebGPU adapter opens, 3 when none does.",
      },
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
  const requirements = [
    ...(values.notebooks ? NOTEBOOK_REQUIREMENTS : []),
    ...(values.tests ? TEST_REQUIREMENTS : []),
  ];
  await installRequirements(requirements, values.tests ? "the tests" : "the notebooks");
  if (!(await adapterFound())) {
    console.error("zsl setup: no WebGPU adapter; installing lavapipe (Mesa's software Vulkan driver)");
    if (!(await installLavapipe(true))) Deno.exit(1);
  }
  if (values.tests || values.notebooks) await ensureDenoKernel();
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

async function installRequirements(requirements: Requirement[], forWhat: string): Promise<void> {
  const missing: Requirement[] = [];
  for (const requirement of requirements) {
    if (!(await requirement.present())) missing.push(requirement);
  }
  if (missing.length === 0) return;
  const packages = missing.flatMap((requirement) => requirement.packages);
  const os = await osRelease();
  const canInstall = os !== null && ["debian", "ubuntu"].includes(os.id) && (await isRoot());
  if (!canInstall) {
    console.error(
      `zsl setup: ${forWhat} need ${missing.map((r) => r.what).join("; ")}.\n` +
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
