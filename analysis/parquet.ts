// Activation tables on disk: one Parquet file per layer, one FLOAT column per neuron
// (n0000, n0001, ...), one row per datapoint, INT32 columns image/y/x naming the
// datapoint, and string key-value metadata (see analysis/LAYOUT.md).
//
// Writers:
// - uncompressed (the default): written here. A PLAIN-encoded page of a required FLOAT
//   column is the column's float32 values as little-endian bytes, and each neuron's row
//   of the neurons x rows matrix is already that column, so the file is the data itself
//   (handed to writev as views, no copies) between small Thrift-encoded page headers
//   and footer. Throughput is the file system's.
// - snappy, zstd: apache-arrow columns (views) handed to parquet-wasm (arrow-rs). Float
//   activations barely compress (snappy saves ~4%), and the copies through Arrow IPC and
//   wasm memory plus the codec make this path several times slower.
// Both write the same layout (one row group per rowGroupRows rows, no dictionaries, no
// statistics); test/analysis/parquet.test.ts reads both back with hyparquet and DuckDB.
// parquetjs-lite (row-at-a-time, ~0.1-0.2 M floats/s here) is only measured in
// bench/parquet.bench.ts. Reading is parquet-wasm's.
import { endianness } from "node:os"
import { open, readFile, writeFile } from "node:fs/promises"
import { replaceFileAtomic } from "../pipeline/atomic.ts"
import { firstNonFinite } from "./matrix.ts"

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

export interface WriteOptions {
  /** Default "uncompressed": float activations gain ~4% from snappy at several times the write time. */
  readonly compression?: ParquetCompression
  /** Rows per row group (default 2^20). */
  readonly rowGroupRows?: number
}

/**
 * Writes the table to `path` (atomically: temp file then rename). Returns bytes written.
 * Metadata values are stored as Parquet key-value metadata (pyarrow: `pq.read_metadata(p).metadata`,
 * DuckDB: `parquet_kv_metadata(p)`).
 */
export const writeActivationTable = async (
  path: string,
  table: Omit<ActivationTable, "metadata"> & { readonly metadata?: Readonly<Record<string, string | number | boolean>> },
  options: WriteOptions = {},
): Promise<{ bytes: number }> => {
  checkActivationTable({ ...table, metadata: {} }, `writeActivationTable(${path})`)
  const rowGroupRows = options.rowGroupRows ?? 1 << 20
  if (!(Number.isInteger(rowGroupRows) && rowGroupRows > 0)) throw new RangeError(`writeActivationTable(${path}): rowGroupRows must be a positive integer, got ${rowGroupRows}`)
  const kv = new Map<string, string>()
  for (const [k, v] of Object.entries(table.metadata ?? {})) kv.set(k, String(v))
  const compression = options.compression ?? "uncompressed"
  const bytes = await replaceFileAtomic(path, (tmp) =>
    compression === "uncompressed" ? writePlain(tmp, table, kv, rowGroupRows) : writeWithParquetWasm(tmp, table, kv, compression, rowGroupRows),
  )
  return { bytes }
}

type Columns = Omit<ActivationTable, "metadata">

const writeWithParquetWasm = async (tmp: string, table: Columns, kv: Map<string, string>, compression: "snappy" | "zstd", rowGroupRows: number): Promise<number> => {
  const arrow = await import("apache-arrow")
  const pw = await loadParquetWasm()
  const { neurons, rows, data } = table
  const columns: Record<string, import("apache-arrow").Vector> = {}
  for (let n = 0; n < neurons; n++) columns[neuronColumn(n, neurons)] = arrow.makeVector(data.subarray(n * rows, (n + 1) * rows))
  // apache-arrow's IPC writer emits one body for columns backed by the very same memory,
  // which parquet-wasm then cannot read ("failed to fill whole buffer"): give each its own.
  const seen: Int32Array[] = []
  for (const k of ["image", "y", "x"] as const) {
    const col = table[k]
    const own = seen.some((s) => s.buffer === col.buffer && s.byteOffset === col.byteOffset) ? col.slice() : col
    seen.push(own)
    columns[k] = arrow.makeVector(own)
  }
  const ipc = arrow.tableToIPC(new arrow.Table(columns), "stream")
  const props = new pw.WriterPropertiesBuilder()
    .setCompression(compression === "snappy" ? pw.Compression.SNAPPY : pw.Compression.ZSTD)
    // Activations are continuous: dictionaries only cost time.
    .setDictionaryEnabled(false)
    // Min/max statistics cost ~4x the encoding time and nothing here filters on them.
    .setStatisticsEnabled(pw.EnabledStatistics.None)
    .setMaxRowGroupSize(rowGroupRows)
    .setKeyValueMetadata(kv)
    .setCreatedBy("transfusion analysis/parquet.ts (parquet-wasm)")
    .build()
  const bytes = pw.writeParquet(pw.Table.fromIPCStream(ipc), props)
  await writeFile(tmp, bytes)
  return bytes.length
}

// ---- The uncompressed writer: Parquet's Thrift structures in the compact protocol (parquet.thrift).

/** Thrift compact protocol encoder, only what FileMetaData and PageHeader need. */
class Compact {
  readonly out: number[] = []
  private readonly lastField: number[] = [0]
  private varint(v: number): void {
    // v is a non-negative integer below 2^53
    while (v >= 0x80) {
      this.out.push((v % 0x80) | 0x80)
      v = Math.floor(v / 0x80)
    }
    this.out.push(v)
  }
  private zigzag(v: number): void {
    this.varint(v >= 0 ? v * 2 : -v * 2 - 1)
  }
  private header(id: number, type: number): void {
    const delta = id - this.lastField[this.lastField.length - 1]!
    if (delta > 0 && delta <= 15) this.out.push((delta << 4) | type)
    else {
      this.out.push(type)
      this.zigzag(id)
    }
    this.lastField[this.lastField.length - 1] = id
  }
  i32(id: number, v: number): this { this.header(id, 5); this.zigzag(v); return this }
  i64(id: number, v: number): this { this.header(id, 6); this.zigzag(v); return this }
  string(id: number, s: string): this { this.header(id, 8); this.bytes(s); return this }
  private bytes(s: string): void {
    const b = new TextEncoder().encode(s)
    this.varint(b.length)
    for (const x of b) this.out.push(x)
  }
  private listHeader(size: number, elem: number): void {
    if (size < 15) this.out.push((size << 4) | elem)
    else {
      this.out.push(0xf0 | elem)
      this.varint(size)
    }
  }
  i32List(id: number, values: readonly number[]): this {
    this.header(id, 9)
    this.listHeader(values.length, 5)
    for (const v of values) this.zigzag(v)
    return this
  }
  stringList(id: number, values: readonly string[]): this {
    this.header(id, 9)
    this.listHeader(values.length, 8)
    for (const v of values) this.bytes(v)
    return this
  }
  structList<T>(id: number, items: readonly T[], write: (c: this, item: T, index: number) => void): this {
    this.header(id, 9)
    this.listHeader(items.length, 12)
    for (const [index, item] of items.entries()) {
      this.lastField.push(0)
      write(this, item, index)
      this.stop()
    }
    return this
  }
  struct(id: number, write: (c: this) => void): this {
    this.header(id, 12)
    this.lastField.push(0)
    write(this)
    this.stop()
    return this
  }
  /** Ends the current struct (or the top-level one). */
  stop(): this {
    this.out.push(0)
    if (this.lastField.length > 1) this.lastField.pop()
    return this
  }
}

const TYPE_INT32 = 1, TYPE_FLOAT = 4
const ENCODING_PLAIN = 0, ENCODING_RLE = 3
const REQUIRED = 0
/** Values per data page: 1 MiB pages. */
const PAGE_VALUES = 1 << 18

interface ChunkInfo { readonly offset: number; readonly size: number; readonly values: number }

const writePlain = async (tmp: string, table: Columns, kv: Map<string, string>, rowGroupRows: number): Promise<number> => {
  const { neurons, rows } = table
  const names = [...Array.from({ length: neurons }, (_, n) => neuronColumn(n, neurons)), "image", "y", "x"]
  const types = names.map((_, i) => (i < neurons ? TYPE_FLOAT : TYPE_INT32))
  const littleEndian = endianness() === "LE"
  // Column c's values for rows [r0, r1) as little-endian bytes: views into the caller's arrays.
  const valueBytes = (c: number, r0: number, r1: number): Uint8Array => {
    const src = c < neurons ? table.data.subarray(c * rows + r0, c * rows + r1) : table[(["image", "y", "x"] as const)[c - neurons]!].subarray(r0, r1)
    if (littleEndian) return new Uint8Array(src.buffer, src.byteOffset, src.byteLength)
    const out = new Uint8Array(src.length * 4)
    const view = new DataView(out.buffer)
    for (let i = 0; i < src.length; i++) src instanceof Float32Array ? view.setFloat32(4 * i, src[i]!, true) : view.setInt32(4 * i, src[i]!, true)
    return out
  }
  const parts: Uint8Array[] = [new TextEncoder().encode("PAR1")]
  let position = 4
  const groups: { rows: number; chunks: ChunkInfo[] }[] = []
  for (let g0 = 0; g0 < rows; g0 += rowGroupRows) {
    const g1 = Math.min(rows, g0 + rowGroupRows)
    const chunks: ChunkInfo[] = []
    for (let c = 0; c < names.length; c++) {
      const offset = position
      for (let p0 = g0; p0 < g1; p0 += PAGE_VALUES) {
        const p1 = Math.min(g1, p0 + PAGE_VALUES)
        const body = valueBytes(c, p0, p1)
        const header = new Compact()
          .i32(1, 0) // DATA_PAGE
          .i32(2, body.length)
          .i32(3, body.length)
          .struct(5, (h) => h.i32(1, p1 - p0).i32(2, ENCODING_PLAIN).i32(3, ENCODING_RLE).i32(4, ENCODING_RLE))
          .stop()
        parts.push(Uint8Array.from(header.out), body)
        position += header.out.length + body.length
      }
      chunks.push({ offset, size: position - offset, values: g1 - g0 })
    }
    groups.push({ rows: g1 - g0, chunks })
  }
  const meta = new Compact()
    .i32(1, 1) // format version
    .structList(2, [-1, ...names.keys()], (f, c) => {
      if (c < 0) f.string(4, "schema").i32(5, names.length)
      else f.i32(1, types[c]!).i32(3, REQUIRED).string(4, names[c]!)
    })
    .i64(3, rows)
    .structList(4, groups, (rg, group) => {
      rg.structList(1, group.chunks, (cc, chunk, c) => {
        cc.i64(2, chunk.offset).struct(3, (m) =>
          m
            .i32(1, types[c]!)
            .i32List(2, [ENCODING_PLAIN, ENCODING_RLE])
            .stringList(3, [names[c]!])
            .i32(4, 0) // UNCOMPRESSED
            .i64(5, chunk.values)
            .i64(6, chunk.size)
            .i64(7, chunk.size)
            .i64(9, chunk.offset),
        )
      })
      const size = group.chunks.reduce((s, ch) => s + ch.size, 0)
      rg.i64(2, size).i64(3, group.rows).i64(5, group.chunks[0]!.offset).i64(6, size)
    })
    .structList(5, [...kv], (e, [k, v]) => e.string(1, k).string(2, v))
    .string(6, "transfusion version 0.1.0 (analysis/parquet.ts)")
    .stop()
  const footer = new Uint8Array(meta.out.length + 8)
  footer.set(meta.out)
  new DataView(footer.buffer).setUint32(meta.out.length, meta.out.length, true)
  footer.set(new TextEncoder().encode("PAR1"), meta.out.length + 4)
  parts.push(footer)
  return writeAll(tmp, parts)
}

/** Writes the buffers in order with writev (views, no concatenation); returns the bytes written. */
const writeAll = async (path: string, parts: readonly Uint8Array[]): Promise<number> => {
  const file = await open(path, "w")
  let total = 0
  try {
    // parts[i] from byte `offset` on is what remains; at most 1024 buffers (IOV_MAX) and ~1 GiB per call.
    let i = 0, offset = 0
    while (i < parts.length) {
      const batch = [parts[i]!.subarray(offset)]
      let bytes = batch[0]!.length
      for (let j = i + 1; j < parts.length && batch.length < 1024 && bytes < 1 << 30; j++) {
        batch.push(parts[j]!)
        bytes += parts[j]!.length
      }
      let { bytesWritten } = await file.writev(batch)
      if (bytesWritten === 0 && bytes > 0) throw new Error(`writing ${path}: no progress`)
      total += bytesWritten
      while (i < parts.length && bytesWritten >= parts[i]!.length - offset) {
        bytesWritten -= parts[i]!.length - offset
        i++
        offset = 0
      }
      offset += bytesWritten
    }
  } finally {
    await file.close()
  }
  return total
}

/** Reads a file written by writeActivationTable (or any Parquet file with that layout). */
/** How to repair a dump in the store, in the words of the CLI. */
const REDUMP = "`transfusion verify` names the damaged artifact and `transfusion run --force <its activations id>` rebuilds it"

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
    throw new Error(`${path} is not a readable Parquet file: ${String(err instanceof Error ? err.message : err)}; ${REDUMP}`)
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
  const bad = firstNonFinite({ data, neurons, datapoints: rows })
  if (bad)
    throw new Error(
      `${path}: column ${neuronNames[bad.neuron]} has ${bad.value} at row ${bad.datapoint}; similarity needs finite activations. A network whose training diverged dumps NaN: check that run's losses (lower its learning rate); a damaged file: ${REDUMP}`,
    )
  const intColumn = (name: string): Int32Array => {
    const col = table.getChild(name)!
    if (String(col.type) !== "Int32") throw new Error(`${path}: column ${name} has type ${String(col.type)}, expected INT32`)
    return Int32Array.from(col.toArray() as Int32Array)
  }
  const metadata: Record<string, string> = {}
  for (const [k, v] of table.schema.metadata) if (k !== "ARROW:schema") metadata[k] = v
  return { neurons, rows, data, image: intColumn("image"), y: intColumn("y"), x: intColumn("x"), metadata }
}
