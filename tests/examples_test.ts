/**
 * The three examples of `mod.ts` (train a model, run a sweep from code, analyse a run) run as written, in
 * order, each in a fresh Deno process in one temporary directory (the third analyses the run the first
 * trained). Only the import of `./mod.ts` is pointed at the repository's file.
 *
 * This file opens no GPU device itself: the examples do, in their own processes.
 */
import { assert, assertEquals } from "./asserts.ts";
import { DECELERATION_TABLE, DT2T_TABLE } from "../src/results/mod.ts";
import { readTable } from "../src/results/table.ts";
import { listCheckpoints } from "../src/train/checkpoint.ts";
import { join } from "../src/util/path.ts";

const MOD = new URL("../mod.ts", import.meta.url);

/** The `@example` code blocks of a module's doc comment: title and code, in order. */
function examplesOf(source: string): { title: string; code: string }[] {
  const doc = source.slice(source.indexOf("/**"), source.indexOf("*/"));
  const lines = doc.split("\n").map((line) => line.replace(/^\s*\*( |$)/, ""));
  const examples: { title: string; code: string }[] = [];
  for (let i = 0; i < lines.length; i++) {
    const title = /^@example\s*(.*)$/.exec(lines[i])?.[1];
    if (title === undefined) continue;
    const start = lines.indexOf("```ts", i) + 1;
    const end = lines.indexOf("```", start);
    examples.push({ title, code: lines.slice(start, end).join("\n") });
    i = end;
  }
  return examples;
}

/** Runs `code` as a module in `cwd` with the permissions a sweep needs; returns stdout, or throws with stderr. */
async function runExample(code: string, cwd: string, name: string): Promise<string> {
  const file = join(cwd, `${name}.ts`);
  await Deno.writeTextFile(file, code.replaceAll('"./mod.ts"', JSON.stringify(MOD.href)));
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-lock",
      "--allow-read",
      `--allow-write=${cwd}`,
      "--allow-env",
      "--allow-ffi",
      "--allow-sys=cpus,networkInterfaces,hostname",
      file,
    ],
    cwd,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  const stdout = decoder.decode(output.stdout);
  assert(
    output.success,
    `${name} failed (exit ${output.code}):\n${decoder.decode(output.stderr)}\n${stdout}`,
  );
  return stdout;
}

Deno.test({
  name: "examples: mod.ts's three examples run as written (train, sweep, analyse)",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const examples = examplesOf(await Deno.readTextFile(MOD));
    assertEquals(examples.map((example) => example.title), [
      "Train a small model",
      "Run a sweep from code and read its results",
      "Analyse a run (the one trained in the first example)",
    ]);
    const dir = await Deno.makeTempDir({ prefix: "zsl-examples-" });
    try {
      await t.step("train a small model", async () => {
        const stdout = await runExample(examples[0].code, dir, "train");
        const [first, last] = /loss ([\d.]+) → ([\d.]+)/.exec(stdout)!.slice(1).map(Number);
        assert(last < first, `the loss did not fall: ${stdout}`);
        assertEquals(await listCheckpoints(join(dir, "runs/demo")), [1, 2, 4, 8, 16]);
      });
      await t.step("run a sweep from code", async () => {
        const stdout = await runExample(examples[1].code, dir, "sweep");
        const results = join(dir, "sweeps/demo/results");
        const [fit] = await readTable(results, DECELERATION_TABLE);
        assertEquals(fit.name, "tiny");
        assertEquals((await readTable(results, DT2T_TABLE)).length, 5, "windows 1→2 … 16→32");
        assert((await Deno.stat(join(results, "report.html"))).size > 10_000, "no report");
        assert(stdout.startsWith("tiny "), stdout);
      });
      await t.step("analyse the run", async () => {
        const stdout = await runExample(examples[2].code, dir, "analyse");
        assertEquals(stdout.match(/^\d+ → \d+: D /gm)?.length, 4, stdout);
        assertEquals(stdout.match(/^step \d+: D\(∇ℓ\) 0\.\d+/gm)?.length, 5, stdout);
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
