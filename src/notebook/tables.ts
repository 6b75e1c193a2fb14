/**
 * Arrow tables as rows, for notebook code that filters and maps result tables by model.
 *
 * @module
 */
import type { TableData } from "../io/arrow.ts";

/** A row of a table: each column's value at that row (numbers, strings, booleans, bigints). */
export type TableRow = Record<string, unknown>;

/** The rows of a table read with `readArrow`, in order (64-bit integers become numbers). */
export function tableRows(table: TableData): TableRow[] {
  const rows: TableRow[] = [];
  for (let i = 0; i < table.numRows; i++) {
    const row: TableRow = {};
    for (const name of table.names) {
      const value = table.columns[name][i];
      row[name] = typeof value === "bigint" ? Number(value) : value;
    }
    rows.push(row);
  }
  return rows;
}

/**
 * The distinct values of a column, in order of first appearance (the models of a result table).
 * Throws, listing the columns, when the table has no such column.
 */
export function distinctValues(table: TableData, name: string): string[] {
  const column = table.columns[name];
  if (!column) throw new Error(`zsl: the table has no column "${name}" (columns: ${table.names.join(", ")})`);
  return [...new Set(Array.from(column, String))];
}
