// Worker thread for the heavy parts of the similarity measures: float32 Gram blocks
// through tfjs's wasm backend (XNNPACK matMul, ~20 GFLOP/s per core here against
// ~1 for plain JS loops) and Float64 symmetric eigendecompositions. Each worker has
// its own tfjs engine, so setting "wasm" here never changes the caller's backend.
import { parentPort, workerData } from "node:worker_threads"
import { GRAM_SLICE } from "./covariance.ts"
import { matmul, symmetricEigen } from "./linalg.ts"

/** Both layers' activations in shared memory (no copies between threads), neurons x datapoints row-major. */
interface SharedPair {
  readonly x: Float32Array
  readonly y: Float32Array
  readonly dx: number
  readonly dy: number
  readonly datapoints: number
}

export type WorkerRequest =
  /** Means of joint rows [rowStart, rowEnd) (rows dx.. are y's). */
  | ({ readonly id: number; readonly kind: "means"; readonly rowStart: number; readonly rowEnd: number } & SharedPair)
  | ({
      readonly id: number
      readonly kind: "gram"
      /** Datapoint range [colStart, colEnd) this worker sums over. */
      readonly colStart: number
      readonly colEnd: number
      /** Per joint row means, subtracted before the products. */
      readonly means: Float64Array
      /** Joint row ranges [start, end) of the blocks; only pairs i <= j are multiplied. */
      readonly blocks: readonly (readonly [number, number])[]
    } & SharedPair)
  | { readonly id: number; readonly kind: "eigen"; readonly matrix: Float64Array; readonly n: number; readonly vectors: boolean }
  /** Float64 a (r x k) times b (k x c). */
  | { readonly id: number; readonly kind: "matmul"; readonly a: Float64Array; readonly b: Float64Array; readonly r: number; readonly k: number; readonly c: number }

export type WorkerResponse =
  | { readonly id: number; readonly ok: true; readonly gram?: Float64Array; readonly product?: Float64Array; readonly means?: Float64Array; readonly values?: Float64Array; readonly vectors?: Float64Array }
  | { readonly id: number; readonly ok: false; readonly error: string }

/** Row r of the joint matrix [x; y]. */
const jointRow = (p: SharedPair, r: number): Float32Array => {
  const m = p.datapoints
  return r < p.dx ? p.x.subarray(r * m, (r + 1) * m) : p.y.subarray((r - p.dx) * m, (r - p.dx + 1) * m)
}

const means = (req: Extract<WorkerRequest, { kind: "means" }>): Float64Array => {
  const out = new Float64Array(req.rowEnd - req.rowStart)
  for (let r = req.rowStart; r < req.rowEnd; r++) {
    const row = jointRow(req, r)
    let s = 0
    for (let c = 0; c < row.length; c++) s += row[c]!
    out[r - req.rowStart] = s / row.length
  }
  return out
}

type Tf = typeof import("@tensorflow/tfjs-core")
let tfReady: Promise<Tf> | undefined
const loadTf = (): Promise<Tf> =>
  (tfReady ??= (async () => {
    const tf = await import("@tensorflow/tfjs-core")
    await import("@tensorflow/tfjs-backend-wasm")
    if (!(await tf.setBackend("wasm"))) throw new Error("tfjs wasm backend failed to initialise in the analysis worker")
    return tf
  })())

/** Transpose of a rows x cols float32 block, in 32 x 32 tiles so reads and writes both stay in cache. */
const transposeTiled = (a: Float32Array, rows: number, cols: number): Float32Array => {
  const t = new Float32Array(rows * cols)
  const tile = 32
  for (let r0 = 0; r0 < rows; r0 += tile) {
    const r1 = Math.min(rows, r0 + tile)
    for (let c0 = 0; c0 < cols; c0 += tile) {
      const c1 = Math.min(cols, c0 + tile)
      for (let r = r0; r < r1; r++) {
        const src = r * cols
        for (let c = c0; c < c1; c++) t[c * rows + r] = a[src + c]!
      }
    }
  }
  return t
}

/** Upper block triangle of the Gram matrix of the centred joint rows over this worker's datapoints, as a full symmetric Float64Array. */
const gram = async (req: Extract<WorkerRequest, { kind: "gram" }>): Promise<Float64Array> => {
  const tf = await loadTf()
  const { colStart, colEnd, means, blocks } = req
  const rows = req.dx + req.dy
  const out = new Float64Array(rows * rows)
  // XNNPACK packs the whole inner dimension per tile, so long inner dimensions fall out of
  // cache: multiply slice by slice and sum the partial products in Float64.
  for (let c0 = colStart; c0 < colEnd; c0 += GRAM_SLICE) {
    const w = Math.min(GRAM_SLICE, colEnd - c0)
    const centred = blocks.map(([s, e]) => {
      const a = new Float32Array((e - s) * w)
      for (let r = s; r < e; r++) {
        const row = jointRow(req, r), mu = means[r]!
        const dst = (r - s) * w
        for (let c = 0; c < w; c++) a[dst + c] = row[c0 + c]! - mu
      }
      return a
    })
    // The non-transposed matMul is the fast path (transposeA/B run ~7x slower), so the
    // right operands are transposed here in JS.
    const left = centred.map((a, b) => tf.tensor2d(a, [blocks[b]![1] - blocks[b]![0], w]))
    const right = centred.map((a, b) => tf.tensor2d(transposeTiled(a, blocks[b]![1] - blocks[b]![0], w), [w, blocks[b]![1] - blocks[b]![0]]))
    try {
      for (let i = 0; i < blocks.length; i++) {
        const [si, ei] = blocks[i]!
        for (let j = i; j < blocks.length; j++) {
          const [sj, ej] = blocks[j]!
          const prod = tf.matMul(left[i]!, right[j]!)
          const values = prod.dataSync() as Float32Array
          prod.dispose()
          const bw = ej - sj
          for (let a = si; a < ei; a++) {
            const base = (a - si) * bw - sj
            for (let b = sj; b < ej; b++) out[a * rows + b] = out[a * rows + b]! + values[base + b]!
          }
        }
      }
    } finally {
      right.forEach((t) => t.dispose())
      left.forEach((t) => t.dispose())
    }
  }
  for (let a = 0; a < rows; a++) for (let b = 0; b < a; b++) out[a * rows + b] = out[b * rows + a]!
  return out
}

// Only answer in threads started by analysis/pool.ts (never on some other worker's port).
const port = (workerData as { transfusionAnalysisWorker?: boolean } | null)?.transfusionAnalysisWorker ? parentPort : null
if (port) {
  port.on("message", (req: WorkerRequest) => {
    void (async () => {
      try {
        if (req.kind === "gram") {
          const g = await gram(req)
          port.postMessage({ id: req.id, ok: true, gram: g } satisfies WorkerResponse, [g.buffer as ArrayBuffer])
        } else if (req.kind === "matmul") {
          const product = matmul(req.a, req.b, req.r, req.k, req.c)
          port.postMessage({ id: req.id, ok: true, product } satisfies WorkerResponse, [product.buffer as ArrayBuffer])
        } else if (req.kind === "means") {
          const mu = means(req)
          port.postMessage({ id: req.id, ok: true, means: mu } satisfies WorkerResponse, [mu.buffer as ArrayBuffer])
        } else {
          const { values, vectors } = symmetricEigen(req.matrix, req.n, { vectors: req.vectors })
          port.postMessage({ id: req.id, ok: true, values, vectors } satisfies WorkerResponse, [values.buffer as ArrayBuffer, vectors.buffer as ArrayBuffer])
        }
      } catch (err) {
        port.postMessage({ id: req.id, ok: false, error: err instanceof Error ? err.stack ?? err.message : String(err) } satisfies WorkerResponse)
      }
    })()
  })
}
