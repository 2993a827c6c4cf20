// The one expensive step shared by CCA, SVCCA, PWCCA and CKA: the joint covariance
// of two activation matrices. Everything downstream works on d x d matrices, so the
// m-long data is touched once here (never an SVD of an m-long matrix).
import { mirrorUpper, type RowSource, type ShiftedGram, shiftedGram } from "./kernels.ts"
import { type Activations, jointRows } from "./matrix.ts"
import { PARALLEL_PARTS, runOnWorker } from "./pool.ts"

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

/** Float64 JS path: exact enough for any size, fast for tiny problems. The full centred Gram (d x d). */
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

/** Mean of row[0], row[step], ... (its own function so V8 optimises it after a few rows). */
const stridedMean = (row: Float32Array | Float64Array, step: number): number => {
  let s = 0, n = 0
  for (let c = 0; c < row.length; c += step, n++) s += row[c]!
  return s / n
}

/**
 * Per row, the mean of up to 1024 evenly spaced values: close enough to the row mean
 * that the float32 products of (value - shift) lose nothing to cancellation, while the
 * exact mean is corrected for afterwards (gram - sums sums^T / m).
 */
export const rowShifts = (rows: RowSource): Float64Array => {
  const step = Math.max(1, Math.floor(rows.length / 1024))
  const out = new Float64Array(rows.rows)
  for (let r = 0; r < rows.rows; r++) out[r] = Math.fround(stridedMean(rows.row(r), step))
  return out
}

// The loops below are O(d^2) and run once per comparison: each is its own small function,
// so V8 optimises it after a few calls instead of running the first comparisons' loops
// unoptimised (a function whose later loops have not run yet keeps deoptimising).

const addInto = (dst: Float64Array, src: Float64Array): void => {
  for (let i = 0; i < dst.length; i++) dst[i] = dst[i]! + src[i]!
}

/** row[j] = (row[j] - ci * sums[j]) * norm: one row of the centred, normalised Gram. */
const centreRow = (row: Float64Array, sums: Float64Array, ci: number, norm: number): void => {
  for (let j = 0; j < row.length; j++) row[j] = (row[j]! - ci * sums[j]!) * norm
}

/**
 * The covariance blocks from the parts of the joint Gram of the shifted rows: sum of
 * the parts' upper triangles, minus S S^T / m (S the summed row sums) for the exact
 * means, over m - 1.
 */
const covarianceFromParts = (parts: readonly ShiftedGram[], dx: number, dy: number, m: number): JointCovariance => {
  const d = dx + dy
  const { gram, ld } = parts[0]!
  const sums = Float64Array.from(parts[0]!.sums)
  for (const part of parts.slice(1)) {
    addInto(gram, part.gram)
    addInto(sums, part.sums)
  }
  const norm = 1 / (m - 1)
  for (let i = 0; i < d; i++) centreRow(gram.subarray(i * ld + i, i * ld + d), sums.subarray(i, d), sums[i]! / m, norm)
  const sxx = new Float64Array(dx * dx), syy = new Float64Array(dy * dy), sxy = new Float64Array(dx * dy)
  for (let i = 0; i < dx; i++) {
    sxx.set(gram.subarray(i * ld + i, i * ld + dx), i * dx + i)
    sxy.set(gram.subarray(i * ld + dx, i * ld + d), i * dy)
  }
  for (let i = 0; i < dy; i++) syy.set(gram.subarray((dx + i) * ld + dx + i, (dx + i) * ld + d), i * dy + i)
  mirrorUpper(sxx, dx)
  mirrorUpper(syy, dy)
  return { dx, dy, datapoints: m, sxx, syy, sxy }
}

/** Above this many multiply-adds (~40 ms on one core here) the Gram is split over the worker threads. */
const WORKER_WORK = 5e8

/**
 * Float32 wasm path (analysis/kernels.ts): on this thread for small problems, else
 * PARALLEL_PARTS contiguous ranges of datapoints, each summed on a worker; the parts are
 * added in Float64. The split depends on the problem only, never on the machine.
 */
const jointGramWasm = async (x: Activations, y: Activations, work: number): Promise<ShiftedGram[]> => {
  const m = x.datapoints
  const parts = PARALLEL_PARTS
  if (work < WORKER_WORK) {
    const rows = jointRows(x, y)
    return [shiftedGram(rows, 0, m, rowShifts(rows))]
  }
  const pair = { x: toSharedFloat32(x.data), y: toSharedFloat32(y.data), dx: x.neurons, dy: y.neurons, datapoints: m }
  const shift = rowShifts(jointRows({ data: pair.x, neurons: pair.dx, datapoints: m }, { data: pair.y, neurons: pair.dy, datapoints: m }))
  return Promise.all(
    Array.from({ length: parts }, async (_, w) => {
      const colStart = Math.floor((m * w) / parts), colEnd = Math.floor((m * (w + 1)) / parts)
      const res = await runOnWorker(w, { kind: "gram", ...pair, colStart, colEnd, shift })
      return { gram: res.gram!, ld: res.ld!, sums: res.sums! }
    }),
  )
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
  const exact = (): ShiftedGram[] => [{ gram: jointGramJs(x, y), ld: d, sums: new Float64Array(d) }]
  let parts: ShiftedGram[]
  if (!useWasm) parts = exact()
  else if (engine === "wasm") parts = await jointGramWasm(x, y, work)
  else {
    try {
      parts = await jointGramWasm(x, y, work)
    } catch (err) {
      // Worker threads or WebAssembly unavailable: same numbers, slower.
      if (!warnedFallback) process.emitWarning(`analysis: wasm covariance failed (${err instanceof Error ? err.message.split("\n")[0] : String(err)}); using the Float64 JS path`)
      warnedFallback = true
      parts = exact()
    }
  }
  return covarianceFromParts(parts, x.neurons, y.neurons, x.datapoints)
}
