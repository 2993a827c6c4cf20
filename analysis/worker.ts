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
  for (let r = 0; r < rows; r++) {
    const mu = means[r]!
    const row = chunk.subarray(r * cols, (r + 1) * cols)
    for (let c = 0; c < cols; c++) row[c] = row[c]! - mu
  }
  const out = new Float64Array(rows * rows)
  const z = tf.tensor2d(chunk, [rows, cols])
  // matMul without transpose flags is the fast XNNPACK path (transposeB is ~7x slower), so transpose once.
  const zt = tf.transpose(z)
  try {
    const columnBlocks = blocks.map(([s, e]) => tf.slice(zt, [0, s], [cols, e - s]))
    try {
      for (let i = 0; i < blocks.length; i++) {
        const [si, ei] = blocks[i]!
        const left = tf.slice(z, [si, 0], [ei - si, cols])
        for (let j = i; j < blocks.length; j++) {
          const [sj, ej] = blocks[j]!
          const prod = tf.matMul(left, columnBlocks[j]!)
          const values = prod.dataSync() as Float32Array
          prod.dispose()
          const w = ej - sj
          for (let a = si; a < ei; a++) {
            for (let b = sj; b < ej; b++) {
              const v = values[(a - si) * w + (b - sj)]!
              out[a * rows + b] = v
              out[b * rows + a] = v
            }
          }
        }
        left.dispose()
      }
    } finally {
      columnBlocks.forEach((t) => t.dispose())
    }
  } finally {
    z.dispose()
    zt.dispose()
  }
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
