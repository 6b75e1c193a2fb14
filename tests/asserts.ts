/**
 * The assertions the tests use. `jsr:@std/assert` is not reachable from every machine zsl is built
 * on; `node:assert` gives the same checks, so switching back is this one file.
 *
 * @module
 */
import nodeAssert from "node:assert/strict";

/** Asserts that `condition` holds. */
export function assert(condition: unknown, message = "assertion failed"): asserts condition {
  if (!condition) throw new Error(message);
}

/** Asserts deep equality (typed arrays compared element by element). */
export function assertEquals<T>(actual: T, expected: T, message?: string): void {
  nodeAssert.deepStrictEqual(actual, expected, message);
}

/** Asserts that `fn` throws an instance of `type` whose message contains `includes`. */
export function assertThrows(
  fn: () => unknown,
  type: new (...args: never[]) => Error = Error,
  includes = "",
): Error {
  try {
    fn();
  } catch (error) {
    if (!(error instanceof type)) throw new Error(`expected ${type.name}, got ${error}`);
    if (!error.message.includes(includes)) {
      throw new Error(`expected an error containing "${includes}", got: ${error.message}`);
    }
    return error;
  }
  throw new Error(`expected an error containing "${includes}", but nothing was thrown`);
}

/** Asserts that the promise from `fn` rejects with an instance of `type` whose message contains `includes`. */
export async function assertRejects(
  fn: () => Promise<unknown>,
  type: new (...args: never[]) => Error = Error,
  includes = "",
): Promise<Error> {
  try {
    await fn();
  } catch (error) {
    if (!(error instanceof type)) throw new Error(`expected ${type.name}, got ${error}`);
    if (!error.message.includes(includes)) {
      throw new Error(`expected an error containing "${includes}", got: ${error.message}`);
    }
    return error;
  }
  throw new Error(`expected a rejection containing "${includes}", but the promise resolved`);
}
