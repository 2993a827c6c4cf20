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

/**
 * Centred rows [s, e) of the joint matrix over datapoints [c0, c0 + w), both row-major
 * (h x w) and transposed (w x h), in one pass over 32 x 32 tiles so reads and writes stay in cache.
 */
const centredBlock = (req: SharedPair, means: Float64Array, s: number, e: number, c0: number, w: number): [Float32Array, Float32Array] => {
  const h = e - s
  const a = new Float32Array(h * w), t = new Float32Array(w * h)
  const tile = 32
  for (let r0 = s; r0 < e; r0 += tile) {
    const r1 = Math.min(e, r0 + tile)
    for (let q0 = 0; q0 < w; q0 += tile) {
      const q1 = Math.min(w, q0 + tile)
      for (let r = r0; r < r1; r++) {
        const row = jointRow(req, r), mu = means[r]!, dst = (r - s) * w, col = r - s
        for (let q = q0; q < q1; q++) {
          const v = row[c0 + q]! - mu
          a[dst + q] = v
          t[q * h + col] = v
        }
      }
    }
  }
  return [a, t]
}

/** Upper block triangle of the Gram matrix of the centred joint rows over this worker's datapoints, as a full symmetric Float64Array. */
const gram = async (req: Extract<WorkerRequest, { kind: "gram" }>): Promise<Float64Array> => {
  const tf = await loadTf()
  const { colStart, colEnd, means, blocks } = req
  const rows = req.dx + req.dy
  const pairs: [number, number][] = []
  for (let i = 0; i < blocks.length; i++) for (let j = i; j < blocks.length; j++) pairs.push([i, j])
  // Per block pair, the float32 sum over slices so far (stays in wasm memory until the end).
  let sums: (import("@tensorflow/tfjs-core").Tensor2D | undefined)[] = pairs.map(() => undefined)
  try {
    // XNNPACK packs the whole inner dimension per tile, so long inner dimensions fall out of
    // cache: multiply slice by slice.
    for (let c0 = colStart; c0 < colEnd; c0 += GRAM_SLICE) {
      const w = Math.min(GRAM_SLICE, colEnd - c0)
      // The non-transposed matMul is the fast path (transposeA/B run ~7x slower), so the
      // right operands are transposed here in JS.
      const operands = blocks.map(([s, e]) => {
        const [a, t] = centredBlock(req, means, s, e, c0, w)
        return [tf.tensor2d(a, [e - s, w]), tf.tensor2d(t, [w, e - s])] as const
      })
      try {
        sums = pairs.map(([i, j], p) => {
          const prod = tf.matMul(operands[i]![0], operands[j]![1]) as import("@tensorflow/tfjs-core").Tensor2D
          const before = sums[p]
          if (!before) return prod
          const next = tf.add(before, prod) as import("@tensorflow/tfjs-core").Tensor2D
          before.dispose()
          prod.dispose()
          return next
        })
      } finally {
        operands.forEach(([a, t]) => (a.dispose(), t.dispose()))
      }
    }
    const out = new Float64Array(rows * rows)
    pairs.forEach(([i, j], p) => {
      const [si, ei] = blocks[i]!, [sj, ej] = blocks[j]!
      const values = sums[p]!.dataSync() as Float32Array
      const bw = ej - sj
      for (let a = si; a < ei; a++) {
        const base = (a - si) * bw - sj
        for (let b = sj; b < ej; b++) out[a * rows + b] = out[b * rows + a] = values[base + b]!
      }
    })
    return out
  } finally {
    sums.forEach((t) => t?.dispose())
  }
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
