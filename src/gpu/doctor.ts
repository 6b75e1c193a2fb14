/**
 * `deno task doctor`: finds the WebGPU adapter, reports it, runs a kernel self-test, and on a
 * Debian/Ubuntu machine without any adapter can install Mesa's software Vulkan driver (lavapipe).
 *
 * @module
 */
import { NO_ADAPTER_HELP, NoAdapterError, openGpu } from "./device.ts";
import type { GpuDevice } from "./device.ts";

/** Runs a command, streaming its output; returns whether it succeeded. */
async function run(command: string, args: string[], quiet = false): Promise<boolean> {
  try {
    const child = new Deno.Command(command, {
      args,
      stdout: quiet ? "null" : "inherit",
      stderr: quiet ? "piped" : "inherit",
      env: { DEBIAN_FRONTEND: "noninteractive" },
    }).spawn();
    const result = await child.output();
    if (!result.success && quiet) console.error(new TextDecoder().decode(result.stderr));
    return result.success;
  } catch {
    return false;
  }
}

/** The trimmed stdout of `command args`, or null when it cannot start or fails. */
export async function commandOutput(command: string, args: string[]): Promise<string | null> {
  try {
    const result = await new Deno.Command(command, { args, stdout: "piped", stderr: "null" }).output();
    return result.success ? new TextDecoder().decode(result.stdout).trim() : null;
  } catch {
    return null;
  }
}

/** `ID` and `VERSION_CODENAME` of /etc/os-release, when readable. */
export async function osRelease(): Promise<{ id: string; codename: string } | null> {
  try {
    const text = await Deno.readTextFile("/etc/os-release");
    const field = (name: string) => text.match(new RegExp(`^${name}="?([^"\\n]*)"?$`, "m"))?.[1] ?? "";
    return { id: field("ID"), codename: field("VERSION_CODENAME") };
  } catch {
    return null;
  }
}

/** Whether `program` is an executable file in a directory of `PATH` (no shell: `sh` is not allowed to run). */
async function onPath(program: string): Promise<boolean> {
  for (const directory of (Deno.env.get("PATH") ?? "").split(":").filter(Boolean)) {
    try {
      const info = await Deno.stat(`${directory}/${program}`);
      if (info.isFile && ((info.mode ?? 0o111) & 0o111) !== 0) return true;
    } catch {
      // Not there.
    }
  }
  return false;
}

/** Whether any apt source list (sources.list, sources.list.d/*) mentions `text`. */
async function aptSourcesMention(text: string): Promise<boolean> {
  const files = ["/etc/apt/sources.list"];
  try {
    for await (const entry of Deno.readDir("/etc/apt/sources.list.d")) {
      if (entry.isFile) files.push(`/etc/apt/sources.list.d/${entry.name}`);
    }
  } catch {
    // No such directory.
  }
  for (const file of files) {
    const content = await Deno.readTextFile(file).catch(() => "");
    if (content.includes(text)) return true;
  }
  return false;
}

/** Whether this process runs as root (through `id -u`, so no extra permission is needed). */
export async function isRoot(): Promise<boolean> {
  return (await commandOutput("id", ["-u"])) === "0";
}

/** Installs `packages` with apt-get (root only), from `release` when given. */
export async function aptInstall(packages: string[], options: { release?: string; quiet?: boolean } = {}) {
  const args = ["install", "-y", "-q", "--no-install-recommends"];
  if (options.release) args.push("-t", options.release);
  return await run("apt-get", [...args, ...packages], options.quiet);
}

/**
 * Installs lavapipe ≥ 24 on Debian bookworm (from bookworm-backports) or Ubuntu/Debian releases that
 * carry it, as root. Returns false with the reason printed when it cannot.
 */
export async function installLavapipe(quiet = false): Promise<boolean> {
  const os = await osRelease();
  if (!os || !["debian", "ubuntu"].includes(os.id) || !(await onPath("apt-get"))) {
    console.error("zsl: automatic installation needs Debian or Ubuntu with apt-get.\n" + NO_ADAPTER_HELP);
    return false;
  }
  if (!(await isRoot())) {
    console.error("zsl: installing lavapipe needs root; run as root or with sudo:\n" + NO_ADAPTER_HELP);
    return false;
  }
  let release: string | undefined;
  if (os.id === "debian" && os.codename === "bookworm") {
    release = "bookworm-backports";
    const list = "/etc/apt/sources.list.d/zsl-bookworm-backports.list";
    if (!(await aptSourcesMention("bookworm-backports"))) {
      console.error(`zsl: adding bookworm-backports to apt sources (${list}) for Mesa ≥ 24`);
      await Deno.writeTextFile(list, "deb http://deb.debian.org/debian bookworm-backports main\n");
    }
  }
  console.error(
    `zsl: installing Mesa's lavapipe (mesa-vulkan-drivers, libvulkan1${release ? " from " + release : ""})…`,
  );
  if (!(await run("apt-get", ["update", "-q"], quiet))) return false;
  return await aptInstall(["mesa-vulkan-drivers", "libvulkan1"], { release, quiet });
}

/**
 * Opens the GPU; when no adapter exists and `install` is set, installs lavapipe (root, Debian/Ubuntu)
 * and tries again. Throws {@linkcode NoAdapterError} with the exact fix otherwise.
 */
export async function openGpuOrInstall(
  options: { install?: boolean; quiet?: boolean } = {},
): Promise<GpuDevice> {
  try {
    return await openGpu();
  } catch (error) {
    if (!(error instanceof NoAdapterError) || !options.install) throw error;
    console.error("zsl: no WebGPU adapter found.");
    if (!(await installLavapipe(options.quiet))) throw error;
    return await openGpu();
  }
}
