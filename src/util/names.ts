/**
 * Names of models in tables and legends.
 *
 * @module
 */

/** Names made unique by suffixing repeats with ` #2`, ` #3`, …. */
export function uniqueNames(names: string[]): string[] {
  const seen = new Map<string, number>();
  return names.map((name) => {
    const count = (seen.get(name) ?? 0) + 1;
    seen.set(name, count);
    return count === 1 ? name : `${name} #${count}`;
  });
}
