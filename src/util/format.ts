/**
 * Numbers and durations as text, the same way in every table, report, notebook and progress line.
 *
 * @module
 */

/** Formats seconds as `1h02m`, `3m05s` or `12s` (`?` when not finite). */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  const s = Math.max(0, Math.round(seconds));
  if (s >= 3600) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${s}s`;
}

/**
 * A measurement for a Markdown table: `digits` decimals, or 3 significant digits in exponent notation
 * below 1e-3 and from 1e4; "—" when not finite.
 */
export function formatNumber(value: number, digits = 4): string {
  if (!Number.isFinite(value)) return "—";
  const magnitude = Math.abs(value);
  return magnitude !== 0 && (magnitude < 1e-3 || magnitude >= 1e4)
    ? value.toExponential(2)
    : value.toFixed(digits);
}

/**
 * A table cell: integers as they are, other numbers to `digits` significant digits (exponent notation
 * below 1e-3 and from 1e6), booleans as yes/no, NaN, null and undefined as "—".
 */
export function formatCell(value: unknown, digits = 4): string {
  if (value === null || value === undefined) return "—";
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "boolean") return value ? "yes" : "no";
  if (typeof value !== "number") return String(value);
  if (!Number.isFinite(value)) return Number.isNaN(value) ? "—" : String(value);
  if (Number.isInteger(value) && Math.abs(value) < 1e15) return String(value);
  const magnitude = Math.abs(value);
  if (magnitude !== 0 && (magnitude < 1e-3 || magnitude >= 1e6)) return value.toExponential(digits - 1);
  return String(Number(value.toPrecision(digits)));
}

/** `value ± error`, the value rounded to the error's second significant digit. */
export function formatWithError(value: number, error: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (!Number.isFinite(error)) return `${value.toPrecision(4)} ± ∞`;
  if (error === 0) return `${value} ± 0`;
  const decimals = Math.min(Math.max(1 - Math.floor(Math.log10(Math.abs(error))), 0), 10);
  return `${value.toFixed(decimals)} ± ${error.toFixed(decimals)}`;
}

/** A step range for text: `t_d (lo–hi)` with every step rounded. */
export function formatStepRange(center: number, range: readonly [number, number]): string {
  return `${Math.round(center)} (${Math.round(range[0])}–${Math.round(range[1])})`;
}
