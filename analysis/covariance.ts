// The one expensive step shared by CCA, SVCCA, PWCCA and CKA: the joint covariance
// of two activation matrices. Everything downstream works on d x d matrices, so the
// m-long data is touched once here (never an SVD of an m-long matrix).
import { type RowSource, type ShiftedGram, shiftedGram } from "./kernels.ts"
import { poolSize, runOnWorker } from "./pool.ts"

/** A layer's activations: `neurons` rows by `datapoints` columns, row-major. */
export interface Activations {
  readonly data: Float32Array | Float64Array
  readonly neurons: number
  readonly datapoints: number
}

/** Covariance blocks with numpy's 1/(m-1) normalisation, all Float64 row-major. */
export interface JointCovariance {
  readonly dx: number
  readonly dy: number
  readonly datapoints: number
  /** dx x dx */
  readonly sxx: Float64Array
  /** dy x dy */
  readonly syy: Float64Array
  /** dx x dy */
  readonly sxy: Float64Array
}

export type CovarianceEngine = "auto" | "js" | "wasm"

export const checkActivations = (a: Activations, name: string): void => {
  if (!(Number.isInteger(a.neurons) && a.neurons > 0 && Number.isInteger(a.datapoints) && a.datapoints > 0))
    throw new RangeError(`${name}: neurons (${a.neurons}) and datapoints (${a.datapoints}) must be positive integers`)
  if (a.data.length !== a.neurons * a.datapoints)
    throw new RangeError(`${name}: ${a.data.length} values, expected neurons x datapoints = ${a.neurons} x ${a.datapoints} = ${a.neurons * a.datapoints}`)
}

const rowMeans = (a: Activations): Float64Array => {
  const { data, neurons, datapoints: m } = a
  const means = new Float64Array(neurons)
  for (let r = 0; r < neurons; r++) {
    let s = 0
    for (let c = r * m, end = c + m; c < end; c++) s += data[c]!
    means[r] = s / m
  }
  return means
}

const toBlocks = (full: Float64Array, d: number, dx: number, m: number): JointCovariance => {
  const dy = d - dx
  const sxx = new Float64Array(dx * dx), syy = new Float64Array(dy * dy), sxy = new Float64Array(dx * dy)
  const norm = 1 / (m - 1)
  for (let i = 0; i < dx; i++) {
    for (let j = 0; j < dx; j++) sxx[i * dx + j] = full[i * d + j]! * norm
    for (let j = 0; j < dy; j++) sxy[i * dy + j] = full[i * d + dx + j]! * norm
  }
  for (let i = 0; i < dy; i++) for (let j = 0; j < dy; j++) syy[i * dy + j] = full[(dx + i) * d + dx + j]! * norm
  return { dx, dy, datapoints: m, sxx, syy, sxy }
}

/** Float64 JS path: exact enough for any size, fast for small problems (no worker start-up). */
const jointGramJs = (x: Activations, y: Activations): Float64Array => {
  const m = x.datapoints
  const d = x.neurons + y.neurons
  const mx = rowMeans(x), my = rowMeans(y)
  const out = new Float64Array(d * d)
  // Column tiles keep the tile of every row in cache while all pairs are formed.
  const tile = Math.max(64, Math.min(m, Math.floor(131072 / d)))
  const z = new Float64Array(d * tile)
  for (let c0 = 0; c0 < m; c0 += tile) {
    const w = Math.min(tile, m - c0)
    for (let r = 0; r < d; r++) {
      const src = r < x.neurons ? x : y
      const rr = r < x.neurons ? r : r - x.neurons
      const mu = r < x.neurons ? mx[r]! : my[rr]!
      const base = rr * m + c0
      for (let c = 0; c < w; c++) z[r * tile + c] = src.data[base + c]! - mu
    }
    for (let i = 0; i < d; i++) {
      const zi = i * tile
      for (let j = i; j < d; j++) {
        const zj = j * tile
        let s = 0
        for (let c = 0; c < w; c++) s += z[zi + c]! * z[zj + c]!
        out[i * d + j] = out[i * d + j]! + s
      }
    }
  }
  for (let i = 0; i < d; i++) for (let j = 0; j < i; j++) out[i * d + j] = out[j * d + i]!
  return out
}

/** The activations as float32 in a SharedArrayBuffer (as is when they already are), so worker threads read them without copies. */
export const toSharedFloat32 = (data: Float32Array | Float64Array): Float32Array => {
  if (data instanceof Float32Array && data.buffer instanceof SharedArrayBuffer) return data
  const out = new Float32Array(new SharedArrayBuffer(data.length * 4))
  out.set(data)
  return out
}

/** The joint rows [x; y] without copying either. */
export const jointRows = (x: Activations, y: Activations): RowSource => {
  const m = x.datapoints
  return {
    rows: x.neurons + y.neurons,
    length: m,
    row: (r) => (r < x.neurons ? x.data.subarray(r * m, (r + 1) * m) : y.data.subarray((r - x.neurons) * m, (r - x.neurons + 1) * m)),
  }
}

/**
 * Per row, the mean of up to 1024 evenly spaced values: close enough to the row mean
 * that the float32 products of (value - shift) lose nothing to cancellation, while the
 * exact mean is corrected for afterwards (gram - sums sums^T / m).
 */
export const rowShifts = (rows: RowSource): Float64Array => {
  const m = rows.length
  const step = Math.max(1, Math.floor(m / 1024))
  const out = new Float64Array(rows.rows)
  for (let r = 0; r < rows.rows; r++) {
    const row = rows.row(r)
    let s = 0, n = 0
    for (let c = 0; c < m; c += step, n++) s += row[c]!
    out[r] = Math.fround(s / n)
  }
  return out
}

/** Joint Gram of the centred rows from per-part shifted Grams and sums: sum of grams - S S^T / m, S the summed sums. */
const centredFromParts = (parts: readonly ShiftedGram[], d: number, m: number): Float64Array => {
  const out = parts[0]!.gram
  const sums = Float64Array.from(parts[0]!.sums)
  for (let p = 1; p < parts.length; p++) {
    const { gram, sums: s } = parts[p]!
    for (let i = 0; i < out.length; i++) out[i] = out[i]! + gram[i]!
    for (let i = 0; i < d; i++) sums[i] = sums[i]! + s[i]!
  }
  for (let i = 0; i < d; i++) {
    const si = sums[i]! / m
    for (let j = 0; j < d; j++) out[i * d + j] = out[i * d + j]! - si * sums[j]!
  }
  return out
}

/** Above this many multiply-adds (~40 ms on one core here) the Gram is split over the worker threads. */
const WORKER_WORK = 5e8

/**
 * Float32 wasm path (analysis/kernels.ts): on this thread for small problems, else each
 * worker sums a contiguous range of datapoints; the parts are added in Float64.
 */
const jointGramWasm = async (x: Activations, y: Activations, work: number): Promise<Float64Array> => {
  const m = x.datapoints
  const d = x.neurons + y.neurons
  const workers = poolSize()
  if (work < WORKER_WORK || workers < 2) {
    const rows = jointRows(x, y)
    return centredFromParts([shiftedGram(rows, 0, m, rowShifts(rows))], d, m)
  }
  const pair = { x: toSharedFloat32(x.data), y: toSharedFloat32(y.data), dx: x.neurons, dy: y.neurons, datapoints: m }
  const shift = rowShifts(jointRows({ data: pair.x, neurons: pair.dx, datapoints: m }, { data: pair.y, neurons: pair.dy, datapoints: m }))
  const parts = await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      const colStart = Math.floor((m * w) / workers), colEnd = Math.floor((m * (w + 1)) / workers)
      const res = await runOnWorker(w, { kind: "gram", ...pair, colStart, colEnd, shift })
      return { gram: res.gram!, sums: res.sums! }
    }),
  )
  return centredFromParts(parts, d, m)
}

let warnedFallback = false

/**
 * Joint covariance of x and y over their shared datapoints. `engine`: "js" (Float64
 * loops), "wasm" (float32 SIMD kernels of analysis/kernels.ts with Float64 chunk sums,
 * in worker threads for big problems; agrees with Float64 to ~1e-6 relative), "auto"
 * (js below 1e6 multiply-adds, else wasm).
 */
export const jointCovariance = async (x: Activations, y: Activations, engine: CovarianceEngine = "auto"): Promise<JointCovariance> => {
  checkActivations(x, "x")
  checkActivations(y, "y")
  if (x.datapoints !== y.datapoints)
    throw new RangeError(`x has ${x.datapoints} datapoints but y has ${y.datapoints}: both must be the same probe datapoints in the same order`)
  if (x.datapoints < 2) throw new RangeError(`covariance needs at least 2 datapoints, got ${x.datapoints}`)
  const d = x.neurons + y.neurons
  const work = (d * d * x.datapoints) / 2
  const useWasm = engine === "wasm" || (engine === "auto" && work > 1e6)
  let full: Float64Array
  if (!useWasm) full = jointGramJs(x, y)
  else if (engine === "wasm") full = await jointGramWasm(x, y, work)
  else {
    try {
      full = await jointGramWasm(x, y, work)
    } catch (err) {
      // Worker threads or WebAssembly unavailable: same numbers, slower.
      if (!warnedFallback) process.emitWarning(`analysis: wasm covariance failed (${err instanceof Error ? err.message.split("\n")[0] : String(err)}); using the Float64 JS path`)
      warnedFallback = true
      full = jointGramJs(x, y)
    }
  }
  return toBlocks(full, d, x.neurons, x.datapoints)
}
