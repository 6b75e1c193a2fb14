/**
 * The assertions every test uses (and only these): `jsr:@std/assert` is not reachable from every machine
 * zsl is built on; `node:assert` gives the same checks, so switching back is this one file. Numeric
 * comparisons go through {@linkcode relativeError} and {@linkcode assertClose}, which name the worst element.
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

/** Checks that `error` is a `type` whose message contains `includes` (a string, or a pattern it matches). */
function checkError(error: unknown, type: new (...args: never[]) => Error, includes: string | RegExp): Error {
  if (!(error instanceof type)) throw new Error(`expected ${type.name}, got ${error}`);
  const matches = typeof includes === "string"
    ? error.message.includes(includes)
    : includes.test(error.message);
  if (!matches) throw new Error(`expected an error matching ${String(includes)}, got: ${error.message}`);
  return error;
}

/** Asserts that `fn` throws an instance of `type` whose message contains (or matches) `includes`. */
export function assertThrows(
  fn: () => unknown,
  type: new (...args: never[]) => Error = Error,
  includes: string | RegExp = "",
): Error {
  try {
    fn();
  } catch (error) {
    return checkError(error, type, includes);
  }
  throw new Error(`expected an error matching ${String(includes)}, but nothing was thrown`);
}

/** Asserts that the promise from `fn` rejects with an instance of `type` whose message contains (or matches) `includes`. */
export async function assertRejects(
  fn: () => Promise<unknown>,
  type: new (...args: never[]) => Error = Error,
  includes: string | RegExp = "",
): Promise<Error> {
  try {
    await fn();
  } catch (error) {
    return checkError(error, type, includes);
  }
  throw new Error(`expected a rejection matching ${String(includes)}, but the promise resolved`);
}

/** Largest absolute difference divided by the largest absolute expected value. */
export function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) {
    throw new Error(`length mismatch: ${actual.length} vs ${expected.length}`);
  }
  let maxDiff = 0;
  let maxRef = 0;
  for (let i = 0; i < expected.length; i++) {
    const diff = Math.abs(actual[i] - expected[i]);
    if (!(diff <= maxDiff)) maxDiff = Number.isNaN(diff) ? Infinity : diff;
    maxRef = Math.max(maxRef, Math.abs(expected[i]));
  }
  return maxDiff / Math.max(maxRef, 1e-30);
}

/**
 * Asserts `relativeError(actual, expected) <= tolerance`, printing the observed error beside the bound,
 * and naming the worst element when it fails.
 */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tolerance: number,
  label: string,
): void {
  const error = relativeError(actual, expected);
  console.log(
    `${label}: relative error ${error.toExponential(2)} ${error <= tolerance ? "≤" : ">"} ${tolerance}`,
  );
  if (!(error <= tolerance)) {
    let worst = 0;
    for (let i = 0; i < expected.length; i++) {
      if (!(Math.abs(actual[i] - expected[i]) <= Math.abs(actual[worst] - expected[worst]))) worst = i;
    }
    throw new Error(
      `${label}: relative error ${error.toExponential(3)} > ${tolerance} ` +
        `(worst at ${worst}: got ${actual[worst]}, expected ${expected[worst]})`,
    );
  }
}

/**
 * Asserts `observed ≤ bound` and prints both, so that a test's output shows how much margin it has (an
 * error, a distance from an identity): `label: observed 3.1e-7 ≤ bound 1e-4`.
 */
export function assertWithin(observed: number, bound: number, label: string): void {
  const ok = observed <= bound;
  console.log(`${label}: observed ${observed.toExponential(2)} ${ok ? "≤" : ">"} bound ${bound}`);
  if (!ok) throw new Error(`${label}: observed ${observed} exceeds the bound ${bound}`);
}
