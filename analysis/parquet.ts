// Activation tables on disk: one Parquet file per layer, one FLOAT column per neuron
// (n0000, n0001, ...), one row per datapoint, INT32 columns image/y/x naming the
// datapoint, and string key-value metadata (see analysis/LAYOUT.md).
//
// Writer: apache-arrow columns handed to parquet-wasm (arrow-rs). Each neuron's row of
// the neurons x rows matrix is already a contiguous column, so the columns are views,
// not copies. parquetjs-lite (row-at-a-time, ~0.2 M floats/s here) is far below the
// 20 M floats/s target and is only measured in bench/parquet.bench.ts.
import { readFile, rename, rm, writeFile } from "node:fs/promises"

export interface ActivationTable {
  readonly neurons: number
  readonly rows: number
  /** neurons x rows, row-major: data[n * rows + r] is neuron n at datapoint r. */
  readonly data: Float32Array
  /** Probe image index of each datapoint. */
  readonly image: Int32Array
  /** Spatial position of each datapoint; -1 when the layer was averaged over space. */
  readonly y: Int32Array
  readonly x: Int32Array
  readonly metadata: Readonly<Record<string, string>>
}

export type ParquetCompression = "uncompressed" | "snappy" | "zstd"

/** Column name of neuron i: n0000 ... n9999, wider only past 10,000 neurons. */
export const neuronColumn = (i: number, neurons: number): string => `n${String(i).padStart(Math.max(4, String(neurons - 1).length), "0")}`

const RESERVED = new Set(["image", "y", "x"])

export const checkActivationTable = (t: ActivationTable, where: string): void => {
  const { neurons, rows } = t
  if (!(Number.isInteger(neurons) && neurons > 0 && Number.isInteger(rows) && rows >= 0))
    throw new RangeError(`${where}: neurons (${neurons}) must be a positive integer and rows (${rows}) a non-negative integer`)
  if (t.data.length !== neurons * rows) throw new RangeError(`${where}: data has ${t.data.length} values, expected neurons x rows = ${neurons} x ${rows}`)
  for (const k of ["image", "y", "x"] as const)
    if (t[k].length !== rows) throw new RangeError(`${where}: column ${k} has ${t[k].length} values, expected one per row (${rows})`)
}

type ParquetWasm = typeof import("parquet-wasm")
const loadParquetWasm = async (): Promise<ParquetWasm> => {
  // The "node" build instantiates its wasm synchronously on import.
  const mod = (await import("parquet-wasm")) as ParquetWasm & { default?: ParquetWasm }
  return mod
}

/**
 * Writes the table to `path` (atomically: temp file then rename). Returns bytes written.
 * Metadata values are stored as Parquet key-value metadata (pyarrow: `pq.read_metadata(p).metadata`,
 * DuckDB: `parquet_kv_metadata(p)`).
 */
export const writeActivationTable = async (
  path: string,
  table: Omit<ActivationTable, "metadata"> & { readonly metadata?: Readonly<Record<string, string | number | boolean>> },
  options: { compression?: ParquetCompression; rowGroupRows?: number } = {},
): Promise<{ bytes: number }> => {
  checkActivationTable({ ...table, metadata: {} }, `writeActivationTable(${path})`)
  const arrow = await import("apache-arrow")
  const pw = await loadParquetWasm()
  const { neurons, rows, data } = table
  const columns: Record<string, import("apache-arrow").Vector> = {}
  for (let n = 0; n < neurons; n++) columns[neuronColumn(n, neurons)] = arrow.makeVector(data.subarray(n * rows, (n + 1) * rows))
  columns.image = arrow.makeVector(table.image)
  columns.y = arrow.makeVector(table.y)
  columns.x = arrow.makeVector(table.x)
  const ipc = arrow.tableToIPC(new arrow.Table(columns), "stream")
  const kv = new Map<string, string>()
  for (const [k, v] of Object.entries(table.metadata ?? {})) kv.set(k, String(v))
  const compression = { uncompressed: pw.Compression.UNCOMPRESSED, snappy: pw.Compression.SNAPPY, zstd: pw.Compression.ZSTD }[options.compression ?? "snappy"]
  const props = new pw.WriterPropertiesBuilder()
    .setCompression(compression)
    // Activations are continuous: dictionaries only cost time.
    .setDictionaryEnabled(false)
    // Min/max statistics cost ~4x the encoding time and nothing here filters on them.
    .setStatisticsEnabled(pw.EnabledStatistics.None)
    .setMaxRowGroupSize(options.rowGroupRows ?? 1 << 20)
    .setKeyValueMetadata(kv)
    .setCreatedBy("transfusion analysis/parquet.ts (parquet-wasm)")
    .build()
  const wasmTable = pw.Table.fromIPCStream(ipc)
  const bytes = pw.writeParquet(wasmTable, props)
  const tmp = `${path}.tmp-${process.pid}-${Date.now()}`
  try {
    await writeFile(tmp, bytes)
    await rename(tmp, path)
  } catch (err) {
    await rm(tmp, { force: true })
    throw err
  }
  return { bytes: bytes.length }
}

/** Reads a file written by writeActivationTable (or any Parquet file with that layout). */
export const readActivationTable = async (path: string): Promise<ActivationTable> => {
  const arrow = await import("apache-arrow")
  const pw = await loadParquetWasm()
  let buf: Buffer
  try {
    buf = await readFile(path)
  } catch (err) {
    throw new Error(`cannot read activation table ${path}: ${(err as Error).message}`)
  }
  let table: import("apache-arrow").Table
  try {
    table = arrow.tableFromIPC(pw.readParquet(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength)).intoIPCStream())
  } catch (err) {
    throw new Error(`${path} is not a readable Parquet file: ${String(err instanceof Error ? err.message : err)}`)
  }
  const names = table.schema.fields.map((f) => f.name)
  const neuronNames = names.filter((n) => !RESERVED.has(n))
  for (const k of ["image", "y", "x"]) if (!names.includes(k)) throw new Error(`${path}: missing INT32 column "${k}" (found columns ${names.slice(0, 8).join(", ")}${names.length > 8 ? ", ..." : ""}); was it written by writeActivationTable?`)
  neuronNames.forEach((name, i) => {
    if (name !== neuronColumn(i, neuronNames.length)) throw new Error(`${path}: neuron column ${i} is named "${name}", expected "${neuronColumn(i, neuronNames.length)}" (columns must be n0000, n0001, ... in order)`)
  })
  const rows = table.numRows
  const neurons = neuronNames.length
  if (neurons === 0) throw new Error(`${path}: no neuron columns (n0000, ...)`)
  // Shared memory lets the similarity workers read the matrix without copying it.
  const data = new Float32Array(new SharedArrayBuffer(neurons * rows * 4))
  neuronNames.forEach((name, i) => {
    const col = table.getChild(name)!
    if (String(col.type) !== "Float32") throw new Error(`${path}: column ${name} has type ${String(col.type)}, expected FLOAT (float32)`)
    data.set(col.toArray() as Float32Array, i * rows)
  })
  const intColumn = (name: string): Int32Array => {
    const col = table.getChild(name)!
    if (String(col.type) !== "Int32") throw new Error(`${path}: column ${name} has type ${String(col.type)}, expected INT32`)
    return Int32Array.from(col.toArray() as Int32Array)
  }
  const metadata: Record<string, string> = {}
  for (const [k, v] of table.schema.metadata) if (k !== "ARROW:schema") metadata[k] = v
  return { neurons, rows, data, image: intColumn("image"), y: intColumn("y"), x: intColumn("x"), metadata }
}
