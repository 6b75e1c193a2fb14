import { assert, assertEquals } from "./asserts.ts";

const ROOT = new URL("../", import.meta.url);
const METHOD = new URL("docs/method.md", ROOT);
const SKIPPED = new Set([".git", "runs", "sweeps", "node_modules", ".device", "fixtures"]);
const TEXT = /\.(ts|md|ipynb|py|json|wgsl|sh)$/;

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens. */
export function headingAnchor(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, "").replace(/ /g, "-");
}

/** The anchors of every heading of a Markdown text (outside code blocks). */
function anchors(markdown: string): Set<string> {
  const found = new Set<string>();
  let fenced = false;
  for (const line of markdown.split("\n")) {
    if (/^\s*```/.test(line)) fenced = !fenced;
    const heading = !fenced && line.match(/^#{1,6} (.+)$/);
    if (heading) found.add(headingAnchor(heading[1]));
  }
  return found;
}

/** Every text file of the repository (relative paths), build outputs and fixtures left out. */
function* textFiles(dir: URL, prefix = ""): Generator<string> {
  for (const entry of Deno.readDirSync(dir)) {
    if (SKIPPED.has(entry.name)) continue;
    if (entry.isDirectory) yield* textFiles(new URL(`${entry.name}/`, dir), `${prefix}${entry.name}/`);
    else if (entry.isFile && TEXT.test(entry.name)) yield `${prefix}${entry.name}`;
  }
}

Deno.test("method page: heading anchors as GitHub makes them", () => {
  assertEquals(headingAnchor("When a break is identified"), "when-a-break-is-identified");
  assertEquals(headingAnchor("The nanoGPT variant"), "the-nanogpt-variant");
  assertEquals(headingAnchor("Reading D against its null"), "reading-d-against-its-null");
});

Deno.test("method page: every docs/method.md#anchor cited in the repository exists, and nothing cites METHOD.md", () => {
  const known = anchors(Deno.readTextFileSync(METHOD));
  assert(known.size >= 20, `only ${known.size} headings in docs/method.md`);
  const broken: string[] = [];
  const stale: string[] = [];
  let citations = 0;
  for (const file of textFiles(ROOT)) {
    if (file === "tests/method_links_test.ts") continue;
    const text = Deno.readTextFileSync(new URL(file, ROOT));
    const cited = file === "docs/method.md"
      ? [...text.matchAll(/\]\(#([\w-]+)\)/g)]
      : [...text.matchAll(/method\.md#([\w-]+)/g)];
    for (const [, anchor] of cited) {
      citations++;
      if (!known.has(anchor)) broken.push(`${file}: #${anchor}`);
    }
    if (
      file !== "tests/method_links_test.ts" && file !== "tests/cli_help_test.ts" && /METHOD\.md/.test(text)
    ) {
      stale.push(file);
    }
  }
  assertEquals(broken, [], `citations of headings that docs/method.md does not have`);
  assertEquals(stale, [], "files that cite METHOD.md, which is not in the repository");
  assert(
    citations >= 40,
    `only ${citations} citations of docs/method.md found: is the scan reading the files?`,
  );
});
