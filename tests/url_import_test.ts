/**
 * `mod.ts` imported from a URL: the repository served over HTTP on 127.0.0.1, and a fresh Deno process
 * with an empty remote-module cache that imports `http://127.0.0.1:PORT/mod.ts`, trains a tiny model and
 * evaluates it. The kernels then come over HTTP too (`fetch` relative to `import.meta.url`). Every sub-path
 * export of `deno.json` (`./gpu`, `./results`, …) is imported the same way.
 */
import { assert, assertEquals } from "./asserts.ts";
import { join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
// Loaded here only so that Deno caches every npm package mod.ts needs before the child starts (the child
// shares that cache and so needs no registry even when this file runs alone on a clean machine).
import "../mod.ts";

const REPO_ROOT = fileURLToPath(new URL("../", import.meta.url));

const CONTENT_TYPES: Record<string, string> = {
  ".ts": "application/typescript; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".wgsl": "text/plain; charset=utf-8",
};

/** Serves the files under REPO_ROOT (GET only), recording every path asked for. */
function serveRepository(requested: string[]): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (request) => {
    const path = decodeURIComponent(new URL(request.url).pathname);
    requested.push(path);
    const file = normalize(join(REPO_ROOT, path));
    if (request.method !== "GET" || !file.startsWith(REPO_ROOT) || path.includes("..")) {
      return new Response("forbidden", { status: 403 });
    }
    try {
      const body = await Deno.readFile(file);
      const extension = /\.[a-z]+$/.exec(file)?.[0] ?? "";
      return new Response(body, {
        headers: { "content-type": CONTENT_TYPES[extension] ?? "application/octet-stream" },
      });
    } catch {
      return new Response("not found", { status: 404 });
    }
  });
}

/** The npm cache of this Deno (already holding every package mod.ts imports once the tests load). */
async function npmCache(): Promise<string> {
  const { stdout } = await new Deno.Command(Deno.execPath(), { args: ["info", "--json"], stderr: "inherit" })
    .output();
  const info = JSON.parse(new TextDecoder().decode(stdout)) as { npmCache?: string };
  assert(typeof info.npmCache === "string", "deno info --json gave no npmCache");
  return info.npmCache;
}

/** The modules of the sub-path exports of deno.json (`./gpu` → `src/gpu/mod.ts`, …). */
const SUBPATHS = Object.entries(
  JSON.parse(Deno.readTextFileSync(new URL("../deno.json", import.meta.url))).exports as Record<
    string,
    string
  >,
).filter(([name]) => name !== ".").map(([, path]) => path.replace(/^\.\//, ""));

const STEPS = 12;
const EVAL_SEQUENCES = 4;

/** The child's script: everything it uses comes from the served mod.ts. */
function childScript(base: string): string {
  return `
import { checkpointPath, evaluateTokenLosses, loadCheckpoint, openGpu, resolveRun, train } from "${base}/mod.ts";
import { kernelUrl } from "${base}/src/gpu/mod.ts";
import { parameterLayout } from "${base}/src/model/mod.ts";

const out = Deno.args[0];
// Each sub-path export: how many names it exports.
const subpaths = Object.fromEntries(
  await Promise.all(${
    JSON.stringify(SUBPATHS)
  }.map(async (path) => [path, Object.keys(await import(\`${base}/\${path}\`)).length])),
);
const gpu = await openGpu();
try {
  const { options, config, plan } = await resolveRun({
    out, preset: "tiny", steps: ${STEPS}, batch: 4, warmup: 2, evalSequences: ${EVAL_SEQUENCES}, evalEvery: 6,
  });
  const result = await train(gpu, options);
  const checkpoint = await loadCheckpoint(checkpointPath(out, ${STEPS}), parameterLayout(config));
  const evaluated = await evaluateTokenLosses(gpu, config, checkpoint.parameters, plan.evalSet().tokens);
  let sum = 0;
  for (const loss of evaluated.loss) sum += loss;
  console.log(JSON.stringify({
    kernel: kernelUrl("matmul").href,
    seqLen: config.seq_len,
    trainLosses: result.losses,
    evalLossCount: evaluated.loss.length,
    evalLossMean: sum / evaluated.loss.length,
    subpaths,
  }));
} finally {
  gpu.destroy();
}
`;
}

Deno.test({
  name: "url import: a fresh Deno imports mod.ts over HTTP, trains a tiny model and evaluates it",
  // Dawn's callbacks are not leaks (as GPU_TEST); the server is shut down below.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const requested: string[] = [];
    const server = serveRepository(requested);
    const work = await Deno.makeTempDir({ prefix: "zsl-url-import-" });
    try {
      const base = `http://127.0.0.1:${server.addr.port}`;
      // A fresh DENO_DIR: the remote modules must come from the server; the npm packages are linked in
      // from this Deno's cache so that the test needs no registry.
      const denoDir = join(work, "deno_dir");
      await Deno.mkdir(denoDir);
      await Deno.symlink(await npmCache(), join(denoDir, "npm"));
      const script = join(work, "main.ts");
      await Deno.writeTextFile(script, childScript(base));
      const runDir = join(work, "run");
      const child = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--no-config",
          "--no-lock",
          `--allow-import=127.0.0.1:${server.addr.port}`,
          `--allow-net=127.0.0.1:${server.addr.port}`,
          "--allow-read",
          `--allow-write=${work}`,
          "--allow-env",
          "--allow-ffi",
          script,
          runDir,
        ],
        cwd: work,
        env: { DENO_DIR: denoDir, DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stdout = new TextDecoder().decode(child.stdout);
      const stderr = new TextDecoder().decode(child.stderr);
      assert(child.success, `the child failed (exit ${child.code}):\n${stderr}\n${stdout}`);
      const line = stdout.trim().split("\n").at(-1) ?? "";
      const result = JSON.parse(line) as {
        kernel: string;
        seqLen: number;
        trainLosses: number[];
        evalLossCount: number;
        evalLossMean: number;
        subpaths: Record<string, number>;
      };

      // Modules and kernels came from the server, and the module cache was the fresh one.
      assert(result.kernel.startsWith(`${base}/kernels/`), `kernels resolved to ${result.kernel}`);
      assert(requested.includes("/mod.ts"), "mod.ts was not fetched from the server");
      assert(
        requested.some((path) => /^\/kernels\/\w+\.wgsl$/.test(path)),
        "no kernel was fetched over HTTP",
      );
      assert(
        [...Deno.readDirSync(join(denoDir, "remote"))].length > 0,
        "the fresh DENO_DIR has no remote modules: the child did not download mod.ts",
      );

      // Every sub-path export loaded over HTTP and exports something.
      assertEquals(Object.keys(result.subpaths).sort(), [...SUBPATHS].sort());
      for (const [path, count] of Object.entries(result.subpaths)) {
        assert(
          count > 0 && requested.includes(`/${path}`),
          `${path}: ${count} exports, fetched ${requested.includes(`/${path}`)}`,
        );
      }

      // It trained and evaluated.
      assertEquals(result.trainLosses.length, STEPS);
      assert(result.trainLosses.every(Number.isFinite), `non-finite loss: ${result.trainLosses}`);
      const first = result.trainLosses[0];
      const last = result.trainLosses.at(-1)!;
      assert(last < first - 0.1, `the loss did not decrease: ${result.trainLosses.join(", ")}`);
      assertEquals(result.evalLossCount, EVAL_SEQUENCES * (result.seqLen - 1));
      assert(
        Number.isFinite(result.evalLossMean) && result.evalLossMean < first,
        `eval loss ${result.evalLossMean} after training vs ${first} at the start`,
      );
    } finally {
      await server.shutdown();
      await Deno.remove(work, { recursive: true });
    }
  },
});
