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
  /** What the option does, for `--help`: a sentence (or a few), ending with a full stop. */
  description: string;
  /** Default shown in `--help` and applied when the option is absent. */
  default?: string | boolean;
  /** The value's name in `--help`, e.g. `DIR` or `N` (default `X`). */
  value?: string;
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

/** Width `--help` wraps its option descriptions at. */
const HELP_WIDTH = 100;

/** Words of `text` in lines of at most `width` characters (a longer word gets a line of its own). */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}

/**
 * The `--help` text for a command: the summary, then one entry per option, its description wrapped
 * under itself and its default said after it.
 */
export function helpText(command: string, summary: string, options: Record<string, OptionSpec>): string {
  const lines = [`${command}\n\n${summary}\n\nOptions:`];
  const flags = Object.entries(options).map(([name, spec]) =>
    `--${name}${spec.type === "string" ? ` ${spec.value ?? "X"}` : ""}`
  );
  const width = Math.max(...flags.map((flag) => flag.length), "--help".length) + 2;
  const indent = " ".repeat(width + 2);
  for (const [index, spec] of Object.values(options).entries()) {
    let text = spec.description.trim();
    if (spec.default !== undefined && spec.default !== false) {
      text += /[.:!?]$/.test(text) ? ` Default: ${spec.default}.` : ` (default: ${spec.default})`;
    }
    const body = wrap(text, HELP_WIDTH - indent.length);
    lines.push(`  ${flags[index].padEnd(width)}${body[0] ?? ""}`);
    for (const more of body.slice(1)) lines.push(`${indent}${more}`);
  }
  lines.push(`  ${"--help".padEnd(width)}Shows this help.`);
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

/** A comma-separated list of positive integer steps (`--checkpoints 1,2,4`), or undefined when not given. */
export function stepsOption(values: ParsedArgs["values"], name: string): number[] | undefined {
  const raw = values[name];
  if (typeof raw !== "string") return undefined;
  return raw.split(",").map((text) => {
    const step = Number(text.trim());
    if (text.trim() === "" || !Number.isInteger(step) || step < 1) {
      throw new UsageError(`--${name}: "${text}" is not a positive integer step`);
    }
    return step;
  });
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
