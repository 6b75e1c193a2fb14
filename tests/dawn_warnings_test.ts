import { assertEquals } from "./asserts.ts";
import { KNOWN_DAWN_WARNINGS, withoutKnownDawnWarnings } from "../src/gpu/dawn_warnings.ts";

const UNIFORM =
  "Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 1000000 to 16 " +
  "to fit dynamic offset allocation limit.";
const STORAGE =
  "Warning: maxDynamicStorageBuffersPerPipelineLayout artificially reduced from 1000000 to 16 " +
  "to fit dynamic offset allocation limit.";

Deno.test("Dawn warnings: only the two known lines are dropped, whole lines only", () => {
  assertEquals(KNOWN_DAWN_WARNINGS.length, 2);
  const other =
    "Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 8 to 4 for another reason.";
  const text = `${UNIFORM}\nWARNING: loader says something\n${STORAGE}\r\n${other}\nprefix ${UNIFORM}\nlast`;
  assertEquals(
    withoutKnownDawnWarnings(text),
    `WARNING: loader says something\n${other}\nprefix ${UNIFORM}\nlast`,
  );
  assertEquals(withoutKnownDawnWarnings(`${UNIFORM}\n${STORAGE}\n`), "");
  assertEquals(withoutKnownDawnWarnings(""), "");
});

const MODULE = new URL("../src/gpu/dawn_warnings.ts", import.meta.url).href;
const DEVICE = new URL("../src/gpu/device.ts", import.meta.url).href;

/** Runs `source` as a script with FFI and env access; returns its stderr (and fails on a non-zero exit). */
async function runChild(source: string, env: Record<string, string> = {}): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "zsl-dawn-warnings-" });
  try {
    const script = `${dir}/child.ts`;
    await Deno.writeTextFile(script, source);
    const { code, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-ffi", "--allow-env", "--allow-read", "--allow-write", script],
      env,
      stdout: "null",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(stderr);
    assertEquals(code, 0, `the child failed:\n${text}`);
    return text;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("Dawn warnings: native writes to fd 2 are filtered, everything else comes through in order", async () => {
  // The child writes through libc's write(2, …), as Dawn does, and through Deno's console.
  const stderr = await runChild(`
    import { filterKnownDawnWarnings } from "${MODULE}";
    const libc = Deno.dlopen("libc.so.6", { write: { parameters: ["i32", "buffer", "usize"], result: "isize" } });
    const native = (line: string) => {
      const bytes = new TextEncoder().encode(line + "\\n");
      libc.symbols.write(2, bytes, BigInt(bytes.length));
    };
    console.error("before");
    const value = await filterKnownDawnWarnings(async () => {
      native(${JSON.stringify(UNIFORM)});
      native("Warning: another Dawn warning.");
      await new Promise((resolve) => setTimeout(resolve, 10));
      console.error("zsl's own line");
      native(${JSON.stringify(STORAGE)});
      return 42;
    });
    native("after " + value);
    await filterKnownDawnWarnings(() => Promise.reject(new Error("x"))).catch(() => native("rejected"));
    native(${JSON.stringify(UNIFORM)});
  `);
  assertEquals(
    stderr,
    `before\nWarning: another Dawn warning.\nzsl's own line\nafter 42\nrejected\n${UNIFORM}\n`,
  );
});

Deno.test("Dawn warnings: opening the GPU prints no known warning, and every other line it printed", async () => {
  // VK_LOADER_DEBUG=warn makes the Vulkan loader print its own warnings (natively, during the same
  // adapter request): they must survive the filter. ZSL_DAWN_WARNINGS=all turns the filter off.
  const source = `
    import { openGpu } from "${DEVICE}";
    (await openGpu()).destroy();
  `;
  const unfiltered = await runChild(source, { VK_LOADER_DEBUG: "warn", ZSL_DAWN_WARNINGS: "all" });
  const filtered = await runChild(source, { VK_LOADER_DEBUG: "warn" });
  const known = (text: string) =>
    text.split("\n").filter((line) => KNOWN_DAWN_WARNINGS.some((pattern) => pattern.test(line))).length;
  assertEquals(known(filtered), 0, `a known warning came through:\n${filtered}`);
  assertEquals(filtered, withoutKnownDawnWarnings(unfiltered), "other lines were lost or reordered");
  console.log(
    `  unfiltered: ${known(unfiltered)} known warning(s), ${
      unfiltered.split("\n").length - 1 - known(unfiltered)
    } other line(s); filtered: ${filtered.split("\n").length - 1} line(s)`,
  );
});
