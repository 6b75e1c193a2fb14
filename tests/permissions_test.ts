/**
 * deno.json's tasks run with the permissions they need and no more (issue #15): `--allow-ffi` only for
 * the native addons in Deno's npm cache (Dawn's, resvg's), `--allow-env` only for the variables read,
 * `--allow-run` only for the programs run. This test pins every task's flags, so that a task cannot
 * widen again without this file changing with it. The tests that start `deno task train`, `eval`,
 * `zsl`, `gradients`, `landscape` and `sweep` children use these very flags (`taskPermissions` in helpers.ts), so
 * they also show that the flags suffice.
 */
import { assert, assertEquals } from "./asserts.ts";
import { LIBC_PATHS } from "../src/gpu/dawn_warnings.ts";

const config = JSON.parse(Deno.readTextFileSync(new URL("../deno.json", import.meta.url)));
const tasks = config.tasks as Record<string, string>;

/** Where Deno's npm cache can be: DENO_DIR, then the platform's cache directory. */
const CACHE_ROOTS = [
  "$DENO_DIR",
  "$XDG_CACHE_HOME/deno",
  "$HOME/.cache/deno",
  "$HOME/Library/Caches/deno",
  "$LOCALAPPDATA/deno",
];

function pinnedVersion(file: string, pattern: RegExp): string {
  const match = Deno.readTextFileSync(new URL(file, import.meta.url)).match(pattern);
  assert(match, `no ${pattern} in ${file}`);
  return match[1];
}

const WEBGPU = pinnedVersion("../src/gpu/device.ts", /"npm:webgpu@([\d.]+)"/);
/** Dawn's addon, and glibc, through which the GPU code keeps Dawn's known warnings quiet (LIBC_PATHS). */
const dawn = [
  ...CACHE_ROOTS.map((root) => `${root}/npm/registry.npmjs.org/webgpu/${WEBGPU}`),
  ...LIBC_PATHS,
];
const resvg = CACHE_ROOTS.map((root) => `${root}/npm/registry.npmjs.org/@resvg`);

/** The environment variables the GPU code reads (every task that opens the GPU may read them). */
const GPU_ENV = ["ZSL_BACKEND", "XDG_RUNTIME_DIR", "TMPDIR", "ZSL_DAWN_WARNINGS", "ZSL_PIN_WORKERS"];
const PLOT_SYS = ["cpus", "networkInterfaces", "hostname"];

/** Every task's permission flags, by kind; absent: not granted. */
const EXPECTED: Record<string, Record<string, string[] | true>> = {
  train: { read: true, write: true, env: GPU_ENV, ffi: dawn },
  eval: { read: true, write: true, env: GPU_ENV, ffi: dawn },
  decel: { read: true, write: true, ffi: resvg, sys: PLOT_SYS },
  zsl: { read: true, write: true, env: GPU_ENV, ffi: [...dawn, ...resvg], sys: PLOT_SYS },
  gradients: { read: true, write: true, env: GPU_ENV, ffi: [...dawn, ...resvg], sys: PLOT_SYS },
  landscape: { read: true, write: true, env: GPU_ENV, ffi: [...dawn, ...resvg], sys: PLOT_SYS },
  sweep: {
    read: true,
    write: true,
    env: GPU_ENV,
    ffi: [...dawn, ...resvg],
    run: ["sbatch", "squeue", "sacct"],
    sys: PLOT_SYS,
  },
  doctor: { read: true, write: true, env: [...GPU_ENV, "PATH"], ffi: dawn, run: ["apt-get", "id"] },
  bench: { read: true, write: true, env: GPU_ENV, ffi: dawn, run: ["/usr/bin/python3"] },
  // The installer: it runs apt-get, jupyter, its own Deno (whose path is known only at run time) and a
  // child process that probes the adapter, so its --allow-run stays unscoped.
  setup: {
    read: true,
    write: true,
    env: [...GPU_ENV, "HOME", "XDG_DATA_HOME", "PATH"],
    ffi: dawn,
    run: true,
  },
  "check:layers": { read: true },
};

/** Tasks that run several Deno commands (formatting, lint, type checks, the test runner). */
const COMPOSITE = new Set(["check", "test", "test:fast"]);

/** The permission flags of one `deno run` command line, by kind (`true` for an unscoped flag). */
function permissions(command: string): Record<string, string[] | true> {
  const granted: Record<string, string[] | true> = {};
  for (const word of command.split(/\s+/)) {
    if (word === "-A" || word === "--allow-all") granted.all = true;
    const match = word.match(/^--allow-([a-z]+)(?:=(.*))?$/);
    if (match) granted[match[1]] = match[2] === undefined ? true : match[2].split(",");
  }
  return granted;
}

Deno.test("permissions: every task's flags are the pinned least ones", () => {
  assertEquals(
    Object.keys(tasks).filter((name) => !COMPOSITE.has(name)).sort(),
    Object.keys(EXPECTED).sort(),
  );
  for (const [name, expected] of Object.entries(EXPECTED)) {
    const command = tasks[name];
    assertEquals(
      command.split(/\s+/).filter((word) => word.startsWith("deno")).length,
      1,
      `${name}: one deno command`,
    );
    assertEquals(permissions(command), expected, `deno task ${name}`);
  }
});

Deno.test("permissions: no task but the test suite has unscoped ffi, env or run, or -A", () => {
  for (const [name, command] of Object.entries(tasks)) {
    const granted = permissions(command);
    assert(!granted.all, `${name} runs with -A`);
    if (COMPOSITE.has(name) || name === "setup") continue;
    for (const kind of ["ffi", "env", "run", "net", "sys"]) {
      assert(granted[kind] !== true, `deno task ${name} has unscoped --allow-${kind}`);
    }
  }
  // The test suites spawn Deno, Python, bash and SLURM: they keep their broad flags, pinned here.
  for (const suite of ["test", "test:fast"]) {
    const testFlags = tasks[suite].split(/\s+/).filter((word) => word.startsWith("--allow-"));
    assertEquals([...new Set(testFlags)].sort(), [
      "--allow-env",
      "--allow-ffi",
      "--allow-net=127.0.0.1",
      "--allow-read",
      "--allow-run",
      "--allow-sys=cpus,networkInterfaces,hostname",
      "--allow-write",
    ], `deno task ${suite}`);
  }
});

Deno.test("permissions: the GPU code reads only the variables the GPU tasks may read", async () => {
  const read = new Set<string>();
  for await (const entry of Deno.readDir(new URL("../src/gpu/", import.meta.url))) {
    const source = await Deno.readTextFile(new URL(`../src/gpu/${entry.name}`, import.meta.url));
    for (const match of source.matchAll(/Deno\.env\.get\("([A-Z_]+)"\)/g)) read.add(match[1]);
  }
  // doctor.ts reads PATH, which only deno task doctor grants.
  read.delete("PATH");
  assertEquals([...read].sort(), [...GPU_ENV].sort());
});
