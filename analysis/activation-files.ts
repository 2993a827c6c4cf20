// Activation matrices from the files researchers already have, for `transfusion similarity`:
// - Parquet with one float32/float64 column per neuron and one row per datapoint (our own
//   layout, or pandas/DuckDB/polars tables); integer `image`/`y`/`x` columns are optional
//   and name the datapoints when present; pandas' `__index_level_N__` columns are ignored.
// - .npy (the documented NPY format, versions 1-3): a 2-D `<f4` or `<f8` array, C or Fortran
//   order; .npz: a zip of .npy entries, stored or deflated (np.savez / np.savez_compressed).
// Arrays are google/svcca's neurons x datapoints unless `datapointsFirst` says otherwise.
import { readFile } from "node:fs/promises"
import { inflateRawSync } from "node:zlib"
import { type Activations, firstNonFinite } from "./matrix.ts"

export interface ActivationMatrix extends Activations {
  /** (image, y, x) of each datapoint, when the file names them. */
  readonly positions?: { readonly image: Int32Array; readonly y: Int32Array; readonly x: Int32Array }
}

export interface ReadMatrixOptions {
  /** .npy/.npz arrays are datapoints x neurons (svcca's layout transposed). */
  readonly datapointsFirst?: boolean
  /** Which array of a .npz holding several. */
  readonly npzKey?: string
}

class ActivationFileError extends Error {}
const fail = (message: string): never => {
  throw new ActivationFileError(message)
}

/** neurons x datapoints in shared memory, so the similarity workers read it without a copy. */
const sharedMatrix = (float64: boolean, length: number): Float32Array | Float64Array =>
  float64 ? new Float64Array(new SharedArrayBuffer(length * 8)) : new Float32Array(new SharedArrayBuffer(length * 4))

const checkFinite = (path: string, m: Activations, name: (neuron: number) => string): void => {
  const bad = firstNonFinite(m)
  if (bad) fail(`${path}: ${name(bad.neuron)} has ${bad.value} at datapoint ${bad.datapoint}; similarity needs finite activations (drop or impute those datapoints first)`)
}

// ---- NPY ----

interface NpyArray {
  readonly float64: boolean
  readonly fortranOrder: boolean
  readonly shape: readonly number[]
  /** Little-endian element bytes, in file order. */
  readonly body: Uint8Array
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59] // \x93NUMPY

const parseNpy = (bytes: Uint8Array, where: string): NpyArray => {
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) fail(`${where} is not an NPY file (no \\x93NUMPY magic); write it with numpy.save`)
  const major = bytes[6]!
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const [headerLength, headerStart] = major === 1 ? [view.getUint16(8, true), 10] : major === 2 || major === 3 ? [view.getUint32(8, true), 12] : fail(`${where}: NPY format version ${major} is not known (1-3 are)`)
  if (headerStart + headerLength > bytes.length) fail(`${where}: truncated NPY header`)
  const header = new TextDecoder(major === 3 ? "utf-8" : "latin1").decode(bytes.subarray(headerStart, headerStart + headerLength))
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1] ?? fail(`${where}: NPY header has no 'descr' (${header.trim()})`)
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1] ?? fail(`${where}: NPY header has no 'fortran_order' (${header.trim()})`)
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1] ?? fail(`${where}: NPY header has no 'shape' (${header.trim()})`)
  const shape = shapeText.split(",").map((s) => s.trim()).filter((s) => s !== "").map(Number)
  if (descr !== "<f4" && descr !== "<f8")
    fail(`${where}: dtype '${descr}' is not supported; save a little-endian float32 or float64 array (e.g. numpy.save(path, acts.astype("<f4")))`)
  const itemSize = descr === "<f8" ? 8 : 4
  const elements = shape.reduce((a, b) => a * b, 1)
  const body = bytes.subarray(headerStart + headerLength)
  if (body.length < elements * itemSize) fail(`${where}: truncated: shape (${shape.join(", ")}) needs ${elements * itemSize} data bytes, the file has ${body.length}; write it again (numpy.save)`)
  return { float64: itemSize === 8, fortranOrder: fortran === "True", shape, body: body.subarray(0, elements * itemSize) }
}

/** A 2-D NPY array as neurons x datapoints. */
const npyMatrix = (a: NpyArray, where: string, datapointsFirst: boolean): ActivationMatrix => {
  if (a.shape.length !== 2)
    fail(`${where}: the array has shape (${a.shape.join(", ")}); similarity needs a 2-D neurons x datapoints array (reshape conv maps to (channels, positions) first)`)
  const [rows, cols] = a.shape as [number, number]
  if (rows === 0 || cols === 0) fail(`${where}: the array is empty (shape (${rows}, ${cols}))`)
  const [neurons, datapoints] = datapointsFirst ? [cols, rows] : [rows, cols]
  // Copy the body (its offset in the file need not be aligned), then index it as [row, col].
  const aligned = a.body.slice()
  const src = a.float64 ? new Float64Array(aligned.buffer) : new Float32Array(aligned.buffer)
  const data = sharedMatrix(a.float64, neurons * datapoints)
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < cols; c++) {
      const v = src[a.fortranOrder ? c * rows + r : r * cols + c]!
      data[datapointsFirst ? c * rows + r : r * cols + c] = v
    }
  const m = { data, neurons, datapoints }
  checkFinite(where, m, (n) => (datapointsFirst ? `column ${n} (neuron ${n})` : `row ${n} (neuron ${n})`))
  return m
}

// ---- NPZ (zip) ----

interface ZipEntry {
  readonly name: string
  readonly method: number
  readonly compressedSize: number
  readonly localHeaderOffset: number
}

const zipEntries = (bytes: Uint8Array, where: string): ZipEntry[] => {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  let eocd = -1
  for (let i = bytes.length - 22; i >= Math.max(0, bytes.length - 22 - 65535); i--)
    if (view.getUint32(i, true) === 0x06054b50) {
      eocd = i
      break
    }
  if (eocd < 0) fail(`${where} is not a zip (.npz) file: no end-of-central-directory record; write it with numpy.savez or numpy.savez_compressed`)
  const count = view.getUint16(eocd + 10, true)
  let p = view.getUint32(eocd + 16, true)
  const entries: ZipEntry[] = []
  for (let e = 0; e < count; e++) {
    if (p + 46 > bytes.length || view.getUint32(p, true) !== 0x02014b50) fail(`${where}: corrupt zip central directory (entry ${e})`)
    const method = view.getUint16(p + 10, true)
    let compressedSize = view.getUint32(p + 20, true)
    let uncompressedSize = view.getUint32(p + 24, true)
    const nameLength = view.getUint16(p + 28, true), extraLength = view.getUint16(p + 30, true), commentLength = view.getUint16(p + 32, true)
    let localHeaderOffset = view.getUint32(p + 42, true)
    const name = new TextDecoder().decode(bytes.subarray(p + 46, p + 46 + nameLength))
    // Zip64: the fields stored as 0xFFFFFFFF follow, in this order, in extra field 0x0001.
    for (let x = p + 46 + nameLength; x + 4 <= p + 46 + nameLength + extraLength; ) {
      const id = view.getUint16(x, true), size = view.getUint16(x + 2, true)
      if (id === 0x0001) {
        let q = x + 4
        const next = () => {
          const v = Number(view.getBigUint64(q, true))
          q += 8
          return v
        }
        if (uncompressedSize === 0xffffffff) uncompressedSize = next()
        if (compressedSize === 0xffffffff) compressedSize = next()
        if (localHeaderOffset === 0xffffffff) localHeaderOffset = next()
      }
      x += 4 + size
    }
    entries.push({ name, method, compressedSize, localHeaderOffset })
    p += 46 + nameLength + extraLength + commentLength
  }
  return entries
}

const zipEntryBytes = (bytes: Uint8Array, entry: ZipEntry, where: string): Uint8Array => {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const h = entry.localHeaderOffset
  if (h + 30 > bytes.length || view.getUint32(h, true) !== 0x04034b50) fail(`${where}: corrupt zip local header for ${entry.name}`)
  const start = h + 30 + view.getUint16(h + 26, true) + view.getUint16(h + 28, true)
  const raw = bytes.subarray(start, start + entry.compressedSize)
  if (entry.method === 0) return raw
  if (entry.method === 8) return new Uint8Array(inflateRawSync(raw))
  return fail(`${where}: entry ${entry.name} uses zip compression method ${entry.method}; only stored (0) and deflated (8) entries are read (numpy.savez / savez_compressed)`)
}

const npzArray = (bytes: Uint8Array, path: string, key: string | undefined): { array: NpyArray; where: string } => {
  const entries = zipEntries(bytes, path).filter((e) => e.name.endsWith(".npy"))
  if (entries.length === 0) fail(`${path}: the .npz holds no arrays`)
  const names = entries.map((e) => e.name.slice(0, -4))
  const chosen =
    key !== undefined
      ? (entries[names.indexOf(key)] ?? fail(`${path}: no array "${key}" in the .npz (it holds ${names.join(", ")})`))
      : entries.length === 1
        ? entries[0]!
        : fail(`${path}: the .npz holds ${entries.length} arrays (${names.join(", ")}); pick one with --npz-key NAME`)
  const where = `${path}[${chosen.name.slice(0, -4)}]`
  return { array: parseNpy(zipEntryBytes(bytes, chosen, path), where), where }
}

// ---- Parquet ----

const POSITION_COLUMNS = ["image", "y", "x"] as const
const isPandasIndex = (name: string) => /^__index_level_\d+__$/.test(name)

const parquetMatrix = async (path: string, bytes: Uint8Array): Promise<ActivationMatrix> => {
  const arrow = await import("apache-arrow")
  const pw = (await import("parquet-wasm")) as typeof import("parquet-wasm")
  let table: import("apache-arrow").Table
  try {
    table = arrow.tableFromIPC(pw.readParquet(bytes).intoIPCStream())
  } catch (err) {
    return fail(`${path} is not a readable Parquet file: ${String(err instanceof Error ? err.message : err)}; if it was cut short (a copy or a writer that stopped), write it again`)
  }
  const fields = table.schema.fields
  const neuronFields = fields.filter((f) => !(POSITION_COLUMNS as readonly string[]).includes(f.name) && !isPandasIndex(f.name))
  if (neuronFields.length === 0) fail(`${path}: no activation columns (found ${fields.map((f) => f.name).join(", ") || "none"}); write one float column per neuron`)
  for (const f of neuronFields) {
    const type = String(f.type)
    if (type !== "Float32" && type !== "Float64")
      fail(`${path}: column "${f.name}" has type ${type}; activation columns must be float32 or float64 (cast it, or drop it if it is not a neuron)`)
  }
  const datapoints = table.numRows
  if (datapoints === 0) fail(`${path}: the table has no rows`)
  const float64 = neuronFields.some((f) => String(f.type) === "Float64")
  const data = sharedMatrix(float64, neuronFields.length * datapoints)
  neuronFields.forEach((f, n) => {
    const col = table.getChild(f.name)!
    if (col.nullCount > 0) fail(`${path}: column "${f.name}" has ${col.nullCount} missing values; similarity needs every activation`)
    data.set(col.toArray() as Float32Array | Float64Array, n * datapoints)
  })
  const m = { data, neurons: neuronFields.length, datapoints }
  checkFinite(path, m, (n) => `column "${neuronFields[n]!.name}"`)
  const present = POSITION_COLUMNS.filter((k) => table.getChild(k) !== null)
  if (present.length === 0) return m
  if (present.length < 3) fail(`${path}: has column(s) ${present.join(", ")} but not all of image, y, x; keep all three or none`)
  const position = (name: string): Int32Array => {
    const col = table.getChild(name)!
    if (!/^U?[Ii]nt(8|16|32|64)$/.test(String(col.type)))
      fail(`${path}: column "${name}" has type ${String(col.type)}; image, y and x must be integers`)
    return Int32Array.from(col.toArray() as ArrayLike<number | bigint>, Number)
  }
  return { ...m, positions: { image: position("image"), y: position("y"), x: position("x") } }
}

/** Reads one activation file (.parquet, .npy, .npz) as neurons x datapoints. */
export const readActivationMatrix = async (path: string, options: ReadMatrixOptions = {}): Promise<ActivationMatrix> => {
  let buf: Buffer
  try {
    buf = await readFile(path)
  } catch (err) {
    return fail(`cannot read activation file ${path}: ${(err as Error).message}`)
  }
  if (buf.length === 0) fail(`${path} is empty (0 bytes)`)
  const bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength)
  const lower = path.toLowerCase()
  if (lower.endsWith(".npy")) return npyMatrix(parseNpy(bytes, path), path, options.datapointsFirst ?? false)
  if (lower.endsWith(".npz")) {
    const { array, where } = npzArray(bytes, path, options.npzKey)
    return npyMatrix(array, where, options.datapointsFirst ?? false)
  }
  if (lower.endsWith(".parquet") || lower.endsWith(".pq")) return parquetMatrix(path, bytes)
  return fail(`${path}: unknown activation file type; use .parquet (one float column per neuron), .npy or .npz (neurons x datapoints)`)
}
