/**
 * Arrow IPC tables: every table zsl writes or reads goes through here (`npm:apache-arrow`).
 *
 * @module
 */
import * as arrow from "npm:apache-arrow@21.1.0";
import { writeFileAtomic } from "./atomic.ts";

/** A column: numbers (typed or plain arrays), strings, or booleans. */
export type Column =
  | Float64Array
  | Float32Array
  | Int32Array
  | Uint32Array
  | Uint16Array
  | Uint8Array
  | BigInt64Array
  | number[]
  | string[]
  | boolean[];

/** Named columns of equal length. */
export type Columns = Record<string, Column>;

/** A table read back: its row count and its columns as plain JavaScript arrays or typed arrays. */
export interface TableData {
  /** Number of rows (every column has this length). */
  numRows: number;
  /** Each column by name, as `apache-arrow`'s `toArray()` returns it (typed array for numbers). */
  columns: Record<string, ArrayLike<unknown>>;
  /** Column names in schema order. */
  names: string[];
}

/** Builds an Arrow table; plain number arrays become float64, typed arrays keep their type. */
export function toArrowTable(columns: Columns): arrow.Table {
  const lengths = new Set(Object.values(columns).map((column) => column.length));
  if (lengths.size > 1) {
    const detail = Object.entries(columns).map(([name, column]) => `${name}=${column.length}`).join(", ");
    throw new Error(`zsl: table columns differ in length (${detail})`);
  }
  const vectors: Record<string, arrow.Vector> = {};
  for (const [name, column] of Object.entries(columns)) {
    if (Array.isArray(column) && column.length > 0 && typeof column[0] === "string") {
      vectors[name] = arrow.vectorFromArray(column as string[], new arrow.Utf8());
    } else if (Array.isArray(column) && column.length > 0 && typeof column[0] === "boolean") {
      vectors[name] = arrow.vectorFromArray(column as boolean[], new arrow.Bool());
    } else if (Array.isArray(column)) {
      vectors[name] = arrow.makeVector(Float64Array.from(column as number[]));
    } else {
      vectors[name] = arrow.makeVector(column as Float64Array);
    }
  }
  return new arrow.Table(vectors);
}

/** Serialises columns as an Arrow IPC file. */
export function encodeArrow(columns: Columns): Uint8Array {
  return arrow.tableToIPC(toArrowTable(columns), "file");
}

/** Writes columns to `path` as an Arrow IPC file, atomically. */
export async function writeArrow(path: string, columns: Columns): Promise<void> {
  await writeFileAtomic(path, encodeArrow(columns));
}

/** Decodes Arrow IPC bytes (file or stream format). */
export function decodeArrow(bytes: Uint8Array, source = "table"): TableData {
  let table: arrow.Table;
  try {
    table = arrow.tableFromIPC(bytes);
  } catch (error) {
    throw new Error(`zsl: ${source} is not a readable Arrow IPC file: ${(error as Error).message}`);
  }
  const columns: TableData["columns"] = {};
  const names = table.schema.fields.map((field) => field.name);
  for (const name of names) {
    const child = table.getChild(name)!;
    const values = child.toArray();
    columns[name] = values as ArrayLike<unknown>;
  }
  return { numRows: table.numRows, columns, names };
}

/** Reads an Arrow IPC file. */
export async function readArrow(path: string): Promise<TableData> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (error) {
    throw new Error(`zsl: cannot read ${path}: ${(error as Error).message}`);
  }
  return decodeArrow(bytes, path);
}

/** A numeric column as float64, with an error naming the column when it is missing. */
export function numericColumn(table: TableData, name: string, source = "table"): Float64Array {
  const column = table.columns[name];
  if (!column) {
    throw new Error(`zsl: ${source} has no column "${name}" (columns: ${table.names.join(", ")})`);
  }
  const out = new Float64Array(column.length);
  for (let i = 0; i < column.length; i++) {
    const value = column[i];
    out[i] = typeof value === "bigint" ? Number(value) : value === null ? NaN : Number(value);
  }
  return out;
}
