/**
 * Table artefacts: an Arrow file whose columns are declared once, in order, each with its type and the
 * field of a typed row it holds. Writing turns rows into columns, reading turns columns back into rows,
 * so that every table of a run or a sweep has one row type, one schema, one writer and one reader.
 *
 * @module
 */
import type { Column, Columns, TableData } from "../io/arrow.ts";
import { decodeArrow, encodeArrow } from "../io/arrow.ts";
import { writeFileAtomic } from "../io/atomic.ts";
import { exists } from "../util/files.ts";
import { join } from "../util/path.ts";

/** How a column is stored: Arrow utf8, bool, int32, uint32, float32 or float64. */
export type ColumnType = "string" | "boolean" | "int32" | "uint32" | "float32" | "float64";

/** A table artefact: its file name and its columns in file order, each `[column] = [row field, type]`. */
export interface TableSchema<Row> {
  /** The file name in its directory (`deceleration.arrow`, …). */
  readonly file: string;
  /** Column name → the row field it holds and its type, in the file's column order. */
  readonly columns: Readonly<Record<string, readonly [keyof Row & string, ColumnType]>>;
}

/**
 * Declares a table artefact.
 *
 * @example
 * ```ts
 * import { tableSchema } from "./table.ts";
 * interface Row { name: string; lossAtBreak: number }
 * const TABLE = tableSchema<Row>("example.arrow", { name: ["name", "string"], L_d: ["lossAtBreak", "float64"] });
 * ```
 */
export function tableSchema<Row>(
  file: string,
  columns: Record<string, readonly [keyof Row & string, ColumnType]>,
): TableSchema<Row> {
  return { file, columns };
}

function columnOf(type: ColumnType, values: unknown[]): Column {
  switch (type) {
    case "string":
      return values.map(String);
    case "boolean":
      return values.map(Boolean);
    case "int32":
      return Int32Array.from(values as number[]);
    case "uint32":
      return Uint32Array.from(values as number[]);
    case "float32":
      return Float32Array.from(values as number[]);
    case "float64":
      return Float64Array.from(values as number[]);
  }
}

/** The Arrow columns of `rows` in the schema's order and types. */
export function rowsToColumns<Row>(schema: TableSchema<Row>, rows: readonly Row[]): Columns {
  const columns: Columns = {};
  for (const [name, [field, type]] of Object.entries(schema.columns)) {
    columns[name] = columnOf(type, rows.map((row) => row[field]));
  }
  return columns;
}

/** The Arrow IPC bytes of `rows`. */
export function encodeTable<Row>(schema: TableSchema<Row>, rows: readonly Row[]): Uint8Array {
  return encodeArrow(rowsToColumns(schema, rows));
}

function valueOf(type: ColumnType, value: unknown): unknown {
  if (type === "string") return value === null || value === undefined ? "" : String(value);
  if (type === "boolean") return value === true;
  return typeof value === "bigint" ? Number(value) : value === null || value === undefined ? NaN : value;
}

/** The rows of a table read back; a missing column is an error naming the file and the column. */
export function rowsFromTable<Row>(schema: TableSchema<Row>, table: TableData, source: string): Row[] {
  const entries = Object.entries(schema.columns);
  for (const [name] of entries) {
    if (!table.columns[name]) {
      throw new Error(
        `zsl: ${source} has no column "${name}" (columns: ${table.names.join(", ")}): ` +
          `it was written by another version of zsl; rerun the analysis that writes it`,
      );
    }
  }
  return Array.from({ length: table.numRows }, (_, i) => {
    const row: Record<string, unknown> = {};
    for (const [name, [field, type]] of entries) row[field] = valueOf(type, table.columns[name][i]);
    return row as Row;
  });
}

/** Writes `rows` to `dir/<schema.file>` atomically; returns the path. */
export async function writeTable<Row>(
  dir: string,
  schema: TableSchema<Row>,
  rows: readonly Row[],
): Promise<string> {
  const path = join(dir, schema.file);
  await writeFileAtomic(path, encodeTable(schema, rows));
  return path;
}

/** Reads `dir/<schema.file>` back into rows. */
export async function readTable<Row>(dir: string, schema: TableSchema<Row>): Promise<Row[]> {
  const path = join(dir, schema.file);
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (error) {
    throw new Error(`zsl: cannot read ${path}: ${(error as Error).message}`);
  }
  return rowsFromTable(schema, decodeArrow(bytes, path), path);
}

/** Reads `dir/<schema.file>` when it exists (null when it does not). */
export async function readTableIfPresent<Row>(dir: string, schema: TableSchema<Row>): Promise<Row[] | null> {
  return (await exists(join(dir, schema.file))) ? await readTable(dir, schema) : null;
}
