/**
 * Path helpers. zsl uses `node:path` because `jsr:@std/path` is not reachable from every machine
 * it is built on; switching back is this one file.
 *
 * @module
 */
export { basename, dirname, extname, join, relative, resolve } from "node:path";
