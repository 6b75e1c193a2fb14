/**
 * Numbers and durations as text, one way everywhere: the Markdown tables, `report.html`, the notebooks'
 * tables, the terminal summaries and the figures' axis labels all format through here.
 *
 * The rules:
 * - a plain number has {@linkcode SIGNIFICANT_DIGITS} significant digits, in decimal notation from 10⁻⁴ up
 *   to 10⁵ and as `m×10ⁿ` outside that range (`0.07305`, `0.0002267`, `2.267×10⁻⁵`, `1.235×10⁵`); an
 *   integer is written as it is (`600`, `2048`);
 * - a value with an error is `value ± error`, the error to 2 significant digits and the value to the same
 *   decimal place (`0.07305 ± 0.00042`, `18.42 ± 0.16`); when that place lies below 10⁻⁴ both share one
 *   power of ten (`(4.20 ± 0.11)×10⁻⁵`);
 * - an axis tick is the shortest of those (`0.5`, `20`, `2×10⁻⁵`, `10⁴`), never `2e-5`;
 * - what is not a number (NaN, a missing value) is `—`.
 *
 * @module
 */

/** Significant digits of every plain number of a table or a summary. */
export const SIGNIFICANT_DIGITS = 4;

/** Below this magnitude (and at and above {@linkcode LARGE}) numbers are written as `m×10ⁿ`. */
const SMALL = 1e-4;
const LARGE = 1e5;

const SUPERSCRIPT_DIGITS = "⁰¹²³⁴⁵⁶⁷⁸⁹";

/** An integer exponent in superscript digits (`-5` → `⁻⁵`). */
export function superscript(exponent: number): string {
  const digits = String(Math.abs(Math.trunc(exponent))).split("").map((d) => SUPERSCRIPT_DIGITS[Number(d)]);
  return (exponent < 0 ? "⁻" : "") + digits.join("");
}

/** The power of ten of `value` after rounding it to `digits` significant digits (0 for 0). */
function decade(value: number, digits: number): number {
  if (value === 0) return 0;
  return Math.floor(Math.log10(Math.abs(Number(value.toPrecision(digits)))));
}

/** `value` in decimal notation with `digits` significant digits (trailing zeros kept). */
function decimal(value: number, digits: number): string {
  const rounded = Number(value.toPrecision(digits));
  return rounded.toFixed(Math.max(0, digits - 1 - decade(rounded, digits)));
}

/** `m×10ⁿ` with `digits` significant digits in m; `trim` drops trailing zeros (and `1×` before `10ⁿ`). */
export function formatScientific(value: number, digits = SIGNIFICANT_DIGITS, trim = false): string {
  if (!Number.isFinite(value)) return formatNonFinite(value);
  if (value === 0) return "0";
  const exponent = decade(value, digits);
  let mantissa = (value / 10 ** exponent).toFixed(digits - 1);
  if (trim) mantissa = String(Number(mantissa));
  if (trim && (mantissa === "1" || mantissa === "-1")) {
    return `${mantissa === "-1" ? "−" : ""}10${superscript(exponent)}`;
  }
  return `${mantissa}×10${superscript(exponent)}`;
}

function formatNonFinite(value: number): string {
  return Number.isNaN(value) ? "—" : value > 0 ? "∞" : "−∞";
}

/**
 * A plain number: integers as they are, others to `digits` significant digits (trailing zeros kept),
 * decimal from 10⁻⁴ up to 10⁵, `m×10ⁿ` outside; "—" for NaN, "∞" for infinities.
 */
export function formatNumber(value: number, digits = SIGNIFICANT_DIGITS): string {
  if (Number.isInteger(value) && Math.abs(value) < LARGE) return String(value);
  return formatSignificant(value, digits);
}

/** A measured value: {@linkcode formatNumber} without the integer shortcut (`1.000`, not `1`). */
function formatSignificant(value: number, digits = SIGNIFICANT_DIGITS): string {
  if (!Number.isFinite(value)) return formatNonFinite(value);
  const magnitude = Math.abs(Number(value.toPrecision(digits)));
  if (magnitude !== 0 && (magnitude < SMALL || magnitude >= LARGE)) return formatScientific(value, digits);
  return decimal(value, digits);
}

/**
 * A table cell of any value: numbers by {@linkcode formatNumber} with trailing zeros dropped (`0.5`, not
 * `0.5000`: cells also hold settings such as a learning rate), booleans as yes/no, null, undefined and NaN
 * as "—", anything else as its string.
 */
export function formatCell(value: unknown, digits = SIGNIFICANT_DIGITS): string {
  if (value === null || value === undefined) return "—";
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "boolean") return value ? "yes" : "no";
  if (typeof value !== "number") return String(value);
  if (!Number.isFinite(value)) return formatNonFinite(value);
  if (Number.isInteger(value) && Math.abs(value) < 1e15) return String(value);
  const text = formatNumber(value, digits);
  return text.includes("×")
    ? text.replace(/^(-?\d+(?:\.\d*?)?)0*×/, (_, m: string) => `${m.replace(/\.$/, "")}×`)
    : text.includes(".")
    ? text.replace(/\.?0+$/, "")
    : text;
}

/**
 * `value ± error`: the error to 2 significant digits, the value rounded to the same decimal place (never
 * above the units: `5877 ± 130`). When that place is below 10⁻⁵, or the value is 10⁵ or more, both are
 * written over one power of ten: `(4.20 ± 0.11)×10⁻⁵`. An infinite error gives `value ± ∞` (the value to 4
 * significant digits), a NaN error the value alone.
 */
export function formatWithError(value: number, error: number): string {
  if (!Number.isFinite(value)) return formatNonFinite(value);
  if (Number.isNaN(error)) return formatSignificant(value);
  if (!Number.isFinite(error)) return `${formatSignificant(value)} ± ∞`;
  error = Math.abs(error);
  if (error === 0) return `${formatSignificant(value)} ± 0`;
  const errorDecade = decade(error, 2);
  const place = errorDecade - 1; // the error's second significant digit
  const valueDecade = decade(value, SIGNIFICANT_DIGITS);
  if (place >= -5 && valueDecade < 5) {
    const decimals = Math.min(Math.max(-place, 0), 20);
    return `${value.toFixed(decimals)} ± ${error.toFixed(decimals)}`;
  }
  // One power of ten for both: the larger of the two decides it.
  const exponent = Math.max(valueDecade, errorDecade);
  const scale = 10 ** exponent;
  const decimals = Math.min(Math.max(exponent - place, 0), 20);
  return `(${(value / scale).toFixed(decimals)} ± ${(error / scale).toFixed(decimals)})×10${
    superscript(exponent)
  }`;
}

/**
 * A step range for text: `t_d (lo–hi)`, every step rounded (`m×10ⁿ` from 10⁵ on, `∞` for an unbounded
 * end: an unidentified fit's range can reach 10⁴²).
 */
export function formatStepRange(center: number, range: readonly [number, number]): string {
  const step = (value: number) =>
    !Number.isFinite(value)
      ? formatNonFinite(value)
      : Math.abs(value) < LARGE
      ? String(Math.round(value))
      : formatScientific(value, 2);
  return `${step(center)} (${step(range[0])}–${step(range[1])})`;
}

/**
 * An axis tick: the shortest text of the number, decimal from 10⁻³ up to 10⁵ (`0.002`, `0.5`, `20`,
 * `50000`), `m×10ⁿ` outside (`2×10⁻⁵`, `10⁶`).
 */
export function formatTick(value: number): string {
  if (!Number.isFinite(value)) return formatNonFinite(value);
  const rounded = Number(value.toPrecision(6));
  const magnitude = Math.abs(rounded);
  if (magnitude === 0 || (magnitude >= 1e-3 && magnitude < LARGE)) return String(rounded);
  return formatScientific(rounded, 6, true);
}

/** Formats seconds as `1h02m`, `3m05s` or `12s` (`?` when not finite). */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  const s = Math.max(0, Math.round(seconds));
  if (s >= 3600) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${s}s`;
}
