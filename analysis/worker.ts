// Worker thread for the heavy parts of the similarity measures: float32 Gram blocks
// through tfjs's wasm backend (XNNPACK matMul, ~20 GFLOP/s per core here against
// ~1 for plain JS loops) and Float64 symmetric eigendecompositions. Each worker has
// its own tfjs engine, so setting "wasm" here never changes the caller's backend.
import { parentPort } from "node:worker_threads"
import { symmetricEigen } from "./linalg.ts"

export type WorkerRequest =
  | {
      readonly id: number
      readonly kind: "gram"
      /** rows x cols float32, row-major (a column range of the joint activation matrix). */
      readonly chunk: Float32Array
      readonly rows: number
      readonly cols: number
      /** Per-row means subtracted before the products. */
      readonly means: Float64Array
      /** Row ranges [start, end) of the blocks; only pairs i <= j are multiplied. */
      readonly blocks: readonly (readonly [number, number])[]
    }
  | { readonly id: number; readonly kind: "eigen"; readonly matrix: Float64Array; readonly n: number; readonly vectors: boolean }

export type WorkerResponse =
  | { readonly id: number; readonly ok: true; readonly gram?: Float64Array; readonly values?: Float64Array; readonly vectors?: Float64Array }
  | { readonly id: number; readonly ok: false; readonly error: string }

type Tf = typeof import("@tensorflow/tfjs-core")
let tfReady: Promise<Tf> | undefined
const loadTf = (): Promise<Tf> =>
  (tfReady ??= (async () => {
    const tf = await import("@tensorflow/tfjs-core")
    await import("@tensorflow/tfjs-backend-wasm")
    if (!(await tf.setBackend("wasm"))) throw new Error("tfjs wasm backend failed to initialise in the analysis worker")
    return tf
  })())

/** Upper block triangle of the Gram matrix of the centred chunk, returned as a full symmetric rows x rows Float64Array. */
const gram = async (req: Extract<WorkerRequest, { kind: "gram" }>): Promise<Float64Array> => {
  const tf = await loadTf()
  const { chunk, rows, cols, means, blocks } = req
  const out = new Float64Array(rows * rows)
  // XNNPACK packs the whole inner dimension per tile, so long inner dimensions fall out of
  // cache: multiply over slices of the datapoints and sum the partial products in Float64.
  const slice = 4096
  for (let c0 = 0; c0 < cols; c0 += slice) {
    const w = Math.min(slice, cols - c0)
    // Per block: the centred rows (left operand) and their transpose (right operand), built
    // in JS because the non-transposed matMul is the fast path and tf.transpose/strided slices are slow.
    const left = blocks.map(([s, e]) => {
      const a = new Float32Array((e - s) * w)
      for (let r = s; r < e; r++) {
        const mu = means[r]!
        const src = r * cols + c0, dst = (r - s) * w
        for (let c = 0; c < w; c++) a[dst + c] = chunk[src + c]! - mu
      }
      return a
    })
    const right = blocks.map(([s, e], b) => {
      const h = e - s
      const a = left[b]!
      const t = new Float32Array(w * h)
      for (let r = 0; r < h; r++) for (let c = 0; c < w; c++) t[c * h + r] = a[r * w + c]!
      return tf.tensor2d(t, [w, h])
    })
    const leftT = left.map((a, b) => tf.tensor2d(a, [blocks[b]![1] - blocks[b]![0], w]))
    try {
      for (let i = 0; i < blocks.length; i++) {
        const [si, ei] = blocks[i]!
        for (let j = i; j < blocks.length; j++) {
          const [sj, ej] = blocks[j]!
          const prod = tf.matMul(leftT[i]!, right[j]!)
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
      leftT.forEach((t) => t.dispose())
    }
  }
  for (let a = 0; a < rows; a++) for (let b = 0; b < a; b++) out[a * rows + b] = out[b * rows + a]!
  return out
}

const port = parentPort
if (port) {
  port.on("message", (req: WorkerRequest) => {
    void (async () => {
      try {
        if (req.kind === "gram") {
          const g = await gram(req)
          port.postMessage({ id: req.id, ok: true, gram: g } satisfies WorkerResponse, [g.buffer as ArrayBuffer])
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
