/**
 * Aligned plain-text tables for benchmark output.
 *
 * @module
 */

/** A cell value: numbers are formatted by the column, `null`/`undefined` print as `-`. */
export type Cell = string | number | null | undefined;

/** One column of a {@linkcode formatTable} table. */
export interface Column<Row> {
  /** Header text. */
  title: string;
  /** The cell of a row. */
  value: (row: Row) => Cell;
  /** Digits after the decimal point for numbers (default 2). */
  digits?: number;
  /** Alignment (default: right for numbers, left otherwise, decided per column from its first value). */
  align?: "left" | "right";
}

function formatCell(cell: Cell, digits: number): string {
  if (cell === null || cell === undefined || (typeof cell === "number" && !Number.isFinite(cell))) return "-";
  if (typeof cell === "number") return cell.toFixed(digits);
  return cell;
}

/**
 * Formats `rows` as an aligned table with a header and a rule.
 *
 * @example
 * ```ts
 * const text = formatTable([{ name: "xwT", gflops: 31.25 }], [
 *   { title: "product", value: (r) => r.name },
 *   { title: "GFLOP/s", value: (r) => r.gflops, digits: 1 },
 * ]);
 * // product  GFLOP/s
 * // -------  -------
 * // xwT         31.3
 * ```
 */
export function formatTable<Row>(rows: readonly Row[], columns: readonly Column<Row>[]): string {
  const cells = rows.map((row) => columns.map((column) => column.value(row)));
  const text = cells.map((line) => line.map((cell, i) => formatCell(cell, columns[i].digits ?? 2)));
  const widths = columns.map((column, i) =>
    Math.max(column.title.length, ...text.map((line) => line[i].length))
  );
  const right = columns.map((column, i) => {
    if (column.align) return column.align === "right";
    const first = cells.find((line) => line[i] !== null && line[i] !== undefined)?.[i];
    return typeof first === "number";
  });
  const pad = (value: string, i: number) => right[i] ? value.padStart(widths[i]) : value.padEnd(widths[i]);
  const lines = [
    columns.map((column, i) => pad(column.title, i)).join("  "),
    widths.map((width) => "-".repeat(width)).join("  "),
    ...text.map((line) => line.map((value, i) => pad(value, i)).join("  ")),
  ];
  return lines.map((line) => line.trimEnd()).join("\n");
}
