/**
 * Command-line parsing. zsl uses `node:util`'s `parseArgs` because `jsr:@std/cli` is not reachable
 * from every machine it is built on; switching back is this one file.
 *
 * @module
 */
import { parseArgs as nodeParseArgs } from "node:util";

/** One option of a command. */
export interface OptionSpec {
  /** `string` options take a value; `boolean` options are flags. */
  type: "string" | "boolean";
  /** One-line description for `--help`. */
  description: string;
  /** Default shown in `--help` and applied when the option is absent. */
  default?: string | boolean;
  /** May be given several times (values collected in an array). */
  multiple?: boolean;
  /** Single-letter alias. */
  short?: string;
}

/** Parsed options and positional arguments. */
export interface ParsedArgs {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

/** The `--help` text for a command. */
export function helpText(command: string, summary: string, options: Record<string, OptionSpec>): string {
  const lines = [`${command}\n\n${summary}\n\nOptions:`];
  const width = Math.max(...Object.keys(options).map((name) => name.length)) + 4;
  for (const [name, spec] of Object.entries(options)) {
    const flag = `--${name}${spec.type === "string" ? " X" : ""}`.padEnd(width + 4);
    const fallback = spec.default !== undefined ? ` (default: ${spec.default})` : "";
    lines.push(`  ${flag} ${spec.description}${fallback}`);
  }
  lines.push(`  ${"--help".padEnd(width + 4)} show this help`);
  return lines.join("\n");
}

/**
 * Parses `args` against `options`. Unknown options throw an error that names them and points to
 * `--help`; `--help` prints the help and exits.
 */
export function parseArgs(
  args: string[],
  command: string,
  summary: string,
  options: Record<string, OptionSpec>,
  allowPositionals = false,
): ParsedArgs {
  const config: Record<string, { type: "string" | "boolean"; multiple?: boolean; short?: string }> = {
    help: { type: "boolean" },
  };
  for (const [name, spec] of Object.entries(options)) {
    config[name] = {
      type: spec.type,
      ...(spec.multiple ? { multiple: true } : {}),
      ...(spec.short ? { short: spec.short } : {}),
    };
  }
  let parsed;
  try {
    parsed = nodeParseArgs({ args, options: config, allowPositionals, strict: true });
  } catch (error) {
    throw new UsageError(`${(error as Error).message}\nRun with --help to see the options of ${command}.`);
  }
  if (parsed.values.help) {
    console.log(helpText(command, summary, options));
    Deno.exit(0);
  }
  const values: ParsedArgs["values"] = {};
  for (const [name, spec] of Object.entries(options)) {
    values[name] = (parsed.values as Record<string, string | boolean | string[] | undefined>)[name] ??
      spec.default;
  }
  return { values, positionals: parsed.positionals };
}

/** An error in how a command was called; scripts print its message without a stack trace. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** Reads a numeric option, with an error naming the option when it is not a number. */
export function numberOption(values: ParsedArgs["values"], name: string): number | undefined {
  const raw = values[name];
  if (raw === undefined || raw === false) return undefined;
  const value = Number(raw);
  if (typeof raw !== "string" || raw.trim() === "" || !Number.isFinite(value)) {
    throw new UsageError(`--${name} must be a number, got "${raw}"`);
  }
  return value;
}

/** The range a numeric option must lie in (see {@linkcode rangeOption}). */
export interface OptionRange {
  /** Smallest value allowed (default: none). */
  min?: number;
  /** The value must be above `min`, not equal to it. */
  exclusiveMin?: boolean;
  /** The value must be a whole number. */
  integer?: boolean;
}

/**
 * Reads a numeric option and checks its range, with an error naming the option, the range and the
 * value given: `rangeOption(values, "max-sequences", { min: 1, integer: true })`.
 */
export function rangeOption(
  values: ParsedArgs["values"],
  name: string,
  range: OptionRange,
): number | undefined {
  const value = numberOption(values, name);
  if (value === undefined) return undefined;
  const { min, exclusiveMin, integer } = range;
  const belowMin = min !== undefined && (exclusiveMin ? !(value > min) : !(value >= min));
  if ((integer && !Number.isInteger(value)) || belowMin) {
    const bound = min === undefined ? "" : ` ${exclusiveMin ? ">" : "≥"} ${min}`;
    throw new UsageError(`--${name} must be ${integer ? "an integer" : "a number"}${bound}, got ${value}`);
  }
  return value;
}

/**
 * Runs a script's main function: usage and input errors print their message alone and exit 2;
 * other errors print with their stack and exit 1.
 */
export async function runMain(main: () => Promise<void>): Promise<void> {
  try {
    await main();
  } catch (error) {
    if (error instanceof UsageError || (error instanceof Error && error.message.startsWith("zsl:"))) {
      console.error(error.message);
      Deno.exit(2);
    }
    console.error(error);
    Deno.exit(1);
  }
}
