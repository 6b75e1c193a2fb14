import { assert, assertEquals } from "./asserts.ts";
import { helpText } from "../src/cli/args.ts";

Deno.test("help: descriptions wrap under themselves, defaults follow the sentence", () => {
  const text = helpText("deno task demo", "Does a demo.", {
    steps: { type: "string", value: "N", description: "How many steps to take.", default: "200" },
    name: { type: "string", description: "a name", default: "x" },
    resume: { type: "boolean", description: "Continue from the last checkpoint.", default: false },
    long: { type: "string", value: "FILE", description: "word ".repeat(40).trim() + "." },
  });
  const lines = text.split("\n");
  assertEquals(lines.slice(0, 5), ["deno task demo", "", "Does a demo.", "", "Options:"]);
  assertEquals(lines[5], "  --steps N    How many steps to take. Default: 200.");
  assertEquals(lines[6], "  --name X     a name (default: x)");
  assertEquals(lines[7], "  --resume     Continue from the last checkpoint.");
  const long = lines.slice(8, -1);
  assert(long.length >= 3, `a 200-character description on ${long.length} line(s)`);
  for (const line of long) assert(line.length <= 100, `${line.length} characters: ${line}`);
  for (const line of long.slice(1)) {
    assert(line.startsWith(" ".repeat(15) + "word"), `not indented: "${line}"`);
  }
  assertEquals(long.join(" ").replace(/\s+/g, " ").trim(), `--long FILE ${"word ".repeat(40).trim()}.`);
  assertEquals(lines.at(-1), "  --help       Shows this help.");
});

// Every command but the sweep, whose --help also times the default sweep on the adapter.
const SCRIPTS = ["train", "eval", "decel", "zsl", "gradients", "landscape", "doctor"];

Deno.test("help: every command's options read as sentences within 100 columns", async () => {
  for (const script of SCRIPTS) {
    const { code, stdout } = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-read",
        "--allow-env",
        "--allow-ffi",
        new URL(`../scripts/${script}.ts`, import.meta.url).pathname,
        "--help",
      ],
      stdout: "piped",
      stderr: "null",
    }).output();
    const text = new TextDecoder().decode(stdout);
    assertEquals(code, 0, `${script} --help exited with ${code}`);
    assert(!text.includes("METHOD.md"), `${script} --help cites METHOD.md, which a clone does not have`);
    const lines = text.trimEnd().split("\n");
    for (const line of lines) assert(line.length <= 100, `${script}: ${line.length} columns: ${line}`);
    // One entry per option: its first line starts with "  --", more lines are indented further.
    const options = lines.slice(lines.indexOf("Options:") + 1);
    const entries: string[] = [];
    for (const line of options) {
      if (line.startsWith("  --")) entries.push(line.trim());
      else entries[entries.length - 1] += " " + line.trim();
    }
    assert(entries.length >= 2, `${script}: no options found in\n${text}`);
    for (const entry of entries) {
      assert(/\.$/.test(entry), `${script}: an option that is not a sentence: ${entry}`);
      assert(!/\(default: /.test(entry), `${script}: "(default: …)" instead of a sentence: ${entry}`);
    }
  }
});
