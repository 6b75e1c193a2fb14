/**
 * Path helpers. zsl uses `node:path` because `jsr:@std/path` is not reachable from every machine
 * it is built on; switching back is this one file.
 *
 * @module
 */
import { dirname, resolve } from "node:path";
export { basename, dirname, extname, join, relative, resolve } from "node:path";

/** The deepest directory that contains every input (its parent, for a run directory). */
export function commonParent(paths: string[]): string | null {
  const parents = paths.map((path) => dirname(resolve(path)).split("/").filter((part) => part.length > 0));
  const common: string[] = [];
  for (let i = 0; i < parents[0].length; i++) {
    const part = parents[0][i];
    if (parents.every((parent) => parent[i] === part)) common.push(part);
    else break;
  }
  return common.length === 0 ? null : "/" + common.join("/");
}
