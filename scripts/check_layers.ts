/**
 * `deno task check:layers`: the folders of `src/` import in one direction. Each folder may import only
 * the folders {@linkcode LAYERS} lists for it (DEVELOPERS.md, "Layers", explains the order), no folder at
 * any depth imports in a cycle with another, and nothing under `src/` imports `mod.ts` or `scripts/`.
 * Like Deno std's `lint:circular`: a small scan of the relative import specifiers, comments left out.
 *
 * @module
 */
import { dirname, join, relative, resolve } from "../src/util/path.ts";

/**
 * Which folders of `src/` each folder may import, lowest first. A new folder must be added here (the
 * check fails on a folder it does not know), placed as low as its imports allow.
 */
export const LAYERS: Record<string, readonly string[]> = {
  util: [],
  io: ["util"],
  plot: ["util", "io"],
  gpu: ["util"],
  data: ["util", "io"],
  ops: ["util", "gpu"],
  model: ["util", "io", "gpu", "ops"],
  reference: ["util", "gpu", "ops", "model"],
  train: ["util", "io", "gpu", "data", "ops", "model"],
  results: ["util", "io", "gpu", "data", "model", "train"],
  analysis: ["util", "io", "gpu", "data", "ops", "model", "train", "results"],
  bench: ["util", "io", "gpu", "data", "ops", "model", "reference", "train", "analysis"],
  report: ["util", "io", "plot", "results"],
  sweep: ["util", "io", "gpu", "data", "model", "train", "results", "analysis", "plot", "report"],
  notebook: ["util", "io", "gpu", "plot", "results", "report", "sweep"],
  cli: ["util", "io", "train", "results"],
};

/** One relative import of a file under `src/`. */
export interface ImportEdge {
  /** The importing file, relative to the repository root. */
  from: string;
  /** The imported file, relative to the repository root. */
  to: string;
  /** 1-based line of the specifier. */
  line: number;
}

/** `text` with comments blanked (newlines kept, so line numbers stay); string literals are kept. */
export function withoutComments(text: string): string {
  let out = "";
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    const next = text[i + 1];
    if (c === "/" && next === "/") {
      while (i < text.length && text[i] !== "\n") i++;
    } else if (c === "/" && next === "*") {
      const end = text.indexOf("*/", i + 2);
      const stop = end < 0 ? text.length : end + 2;
      out += text.slice(i, stop).replace(/[^\n]/g, " ");
      i = stop;
    } else if (c === '"' || c === "'" || c === "`") {
      let j = i + 1;
      while (j < text.length && text[j] !== c) j += text[j] === "\\" ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j + 1;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)(["'])(\.{1,2}\/[^"']+)\1/gm;

/** The relative imports of every `.ts` file under `root/src` (paths relative to `root`). */
export async function importEdges(root: string): Promise<ImportEdge[]> {
  const edges: ImportEdge[] = [];
  const walk = async (directory: string) => {
    const entries = [];
    for await (const entry of Deno.readDir(directory)) entries.push(entry);
    entries.sort((a, b) => a.name.localeCompare(b.name));
    for (const entry of entries) {
      const path = join(directory, entry.name);
      if (entry.isDirectory) await walk(path);
      else if (entry.isFile && entry.name.endsWith(".ts")) {
        const code = withoutComments(await Deno.readTextFile(path));
        for (const match of code.matchAll(SPECIFIER)) {
          const line = code.slice(0, match.index).split("\n").length;
          const to = relative(root, resolve(dirname(path), match[2]));
          edges.push({ from: relative(root, path), to, line });
        }
      }
    }
  };
  await walk(join(root, "src"));
  return edges;
}

/** The folder of `src/` a repository path is in ("" when it is outside `src/`). */
function topFolder(path: string): string {
  const parts = path.split("/");
  return parts[0] === "src" && parts.length > 2 ? parts[1] : "";
}

/** The cycles among the directories (at every depth) of the edges: each as its directories in order. */
export function directoryCycles(edges: ImportEdge[]): string[][] {
  const graph = new Map<string, Set<string>>();
  for (const { from, to } of edges) {
    const a = dirname(from);
    const b = dirname(to);
    if (a === b) continue;
    if (!graph.has(a)) graph.set(a, new Set());
    if (!graph.has(b)) graph.set(b, new Set());
    graph.get(a)!.add(b);
  }
  // Tarjan's strongly connected components; a component of two or more directories is a cycle.
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (node: string) => {
    index.set(node, counter);
    low.set(node, counter++);
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node) ?? []) {
      if (!index.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node)!, low.get(next)!));
      } else if (onStack.has(next)) low.set(node, Math.min(low.get(node)!, index.get(next)!));
    }
    if (low.get(node) === index.get(node)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.push(member);
      } while (member !== node);
      if (component.length > 1) cycles.push(component.sort());
    }
  };
  for (const node of [...graph.keys()].sort()) if (!index.has(node)) visit(node);
  return cycles;
}

/** Every way `edges` break the layers: one line each, naming the file, the import and the rule. */
export function layerViolations(edges: ImportEdge[], layers = LAYERS): string[] {
  const problems: string[] = [];
  const folders = new Set(edges.flatMap(({ from, to }) => [topFolder(from), topFolder(to)]));
  for (const folder of [...folders].filter((f) => f !== "" && !(f in layers)).sort()) {
    problems.push(
      `src/${folder}/ is not in LAYERS of scripts/check_layers.ts: add it with the folders it may import`,
    );
  }
  for (const { from, to, line } of edges) {
    const source = topFolder(from);
    const target = topFolder(to);
    if (!to.startsWith("src/")) {
      problems.push(`${from}:${line} imports ${to}: nothing under src/ imports mod.ts or scripts/`);
    } else if (source !== target && source in layers && !layers[source].includes(target)) {
      problems.push(
        `${from}:${line} imports ${to}: src/${source}/ may import only ${
          layers[source].map((f) => `${f}/`).join(", ") || "nothing else"
        }`,
      );
    }
  }
  for (const cycle of directoryCycles(edges)) {
    const where = edges.filter(({ from, to }) =>
      dirname(from) !== dirname(to) && cycle.includes(dirname(from)) && cycle.includes(dirname(to))
    ).map(({ from, to, line }) => `${from}:${line} → ${to}`);
    problems.push(`import cycle between ${cycle.join(", ")}: ${where.join("; ")}`);
  }
  return problems;
}

if (import.meta.main) {
  const root = resolve(dirname(new URL(import.meta.url).pathname), "..");
  const edges = await importEdges(root);
  const problems = layerViolations(edges);
  if (problems.length > 0) {
    console.error(
      `check:layers: ${problems.length} problem(s):\n${problems.map((p) => `  ${p}`).join("\n")}`,
    );
    Deno.exit(1);
  }
  const folders = new Set(edges.map(({ from }) => topFolder(from)));
  console.log(`check:layers: ${edges.length} imports in ${folders.size} folders of src/ follow the layers`);
}
