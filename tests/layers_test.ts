/**
 * The import-direction check (`deno task check:layers`): the repository follows its layers, and a tree
 * that breaks them (a forbidden import, a cycle between folders, an import of mod.ts, an unknown folder)
 * is told so, line by line.
 */
import { assert, assertEquals } from "./asserts.ts";
import {
  directoryCycles,
  importEdges,
  LAYERS,
  layerViolations,
  withoutComments,
} from "../scripts/check_layers.ts";
import { join } from "../src/util/path.ts";

const ROOT = new URL("../", import.meta.url).pathname;

Deno.test("layers: src/ imports in one direction, and the layer table itself has no cycle", async () => {
  const edges = await importEdges(ROOT);
  assert(edges.length > 300, `only ${edges.length} imports found`);
  assertEquals(layerViolations(edges), []);
  // Every folder may import only folders listed before it can import it back: the table is acyclic.
  const allowed = Object.entries(LAYERS).flatMap(([from, targets]) =>
    targets.map((to) => ({ from: `src/${from}/a.ts`, to: `src/${to}/b.ts`, line: 1 }))
  );
  assertEquals(directoryCycles(allowed), []);
});

Deno.test("layers: a forbidden import, a cycle, an import of mod.ts and an unknown folder are reported", async () => {
  const root = await Deno.makeTempDir({ prefix: "zsl-layers-" });
  try {
    const write = async (path: string, text: string) => {
      await Deno.mkdir(join(root, path, ".."), { recursive: true });
      await Deno.writeTextFile(join(root, path), text);
    };
    await write("src/util/a.ts", 'import { b } from "../plot/b.ts";\nexport const a = 1;\n');
    await write("src/plot/b.ts", 'import { a } from "../util/a.ts";\nexport const b = a;\n');
    await write("src/analysis/x/c.ts", 'export { d } from "../y/d.ts";\n// import "../../../mod.ts";\n');
    await write(
      "src/analysis/y/d.ts",
      'import { c } from "../x/c.ts";\nexport const d = await import("../../../mod.ts");\n',
    );
    await write("src/newthing/e.ts", 'import "../util/a.ts";\n');
    const problems = layerViolations(await importEdges(root));
    const has = (text: string) =>
      assert(problems.some((p) => p.includes(text)), `no "${text}" in:\n${problems.join("\n")}`);
    has("src/util/a.ts:1 imports src/plot/b.ts: src/util/ may import only nothing else");
    has("import cycle between src/plot, src/util");
    has("import cycle between src/analysis/x, src/analysis/y");
    has("src/analysis/y/d.ts:2 imports mod.ts: nothing under src/ imports mod.ts or scripts/");
    has("src/newthing/ is not in LAYERS");
    // The commented-out import is not an import.
    assert(!problems.some((p) => p.startsWith("src/analysis/x/c.ts:2")), problems.join("\n"));
    assertEquals(withoutComments('a /* "x" */ b // c\n"//d"'), 'a           b \n"//d"');
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
