// Worker thread for the heavy parts of the similarity measures: the float32 SIMD Gram
// kernel of analysis/kernels.ts over a range of datapoints, Float64 products and
// symmetric eigendecompositions.
import { parentPort, workerData } from "node:worker_threads"
import { jointRows } from "./covariance.ts"
import { productF64, shiftedGram } from "./kernels.ts"
import { symmetricEigen } from "./linalg.ts"

/** Both layers' activations in shared memory (no copies between threads), neurons x datapoints row-major. */
interface SharedPair {
  readonly x: Float32Array
  readonly y: Float32Array
  readonly dx: number
  readonly dy: number
  readonly datapoints: number
}

export type WorkerRequest =
  | ({
      readonly id: number
      readonly kind: "gram"
      /** Datapoint range [colStart, colEnd) this worker sums over. */
      readonly colStart: number
      readonly colEnd: number
      /** Per joint row (x's then y's), the shift subtracted before the products (see covariance.ts rowShifts). */
      readonly shift: Float64Array
    } & SharedPair)
  | { readonly id: number; readonly kind: "eigen"; readonly matrix: Float64Array; readonly n: number; readonly vectors: boolean }
  /** Float64 a (r x k) times b (k x c), or times b^T when bTransposed (b is c x k). */
  | { readonly id: number; readonly kind: "matmul"; readonly a: Float64Array; readonly b: Float64Array; readonly r: number; readonly k: number; readonly c: number; readonly bTransposed: boolean }

export type WorkerResponse =
  | { readonly id: number; readonly ok: true; readonly gram?: Float64Array; readonly ld?: number; readonly sums?: Float64Array; readonly product?: Float64Array; readonly values?: Float64Array; readonly vectors?: Float64Array }
  | { readonly id: number; readonly ok: false; readonly error: string }

// Only answer in threads started by analysis/pool.ts (never on some other worker's port).
const port = (workerData as { transfusionAnalysisWorker?: boolean } | null)?.transfusionAnalysisWorker ? parentPort : null
if (port) {
  port.on("message", (req: WorkerRequest) => {
    void (async () => {
      try {
        if (req.kind === "gram") {
          const rows = jointRows({ data: req.x, neurons: req.dx, datapoints: req.datapoints }, { data: req.y, neurons: req.dy, datapoints: req.datapoints })
          const { gram, ld, sums } = shiftedGram(rows, req.colStart, req.colEnd, req.shift)
          port.postMessage({ id: req.id, ok: true, gram, ld, sums } satisfies WorkerResponse, [gram.buffer as ArrayBuffer, sums.buffer as ArrayBuffer])
        } else if (req.kind === "matmul") {
          const product = productF64(req.a, req.b, req.r, req.k, req.c, req.bTransposed)
          port.postMessage({ id: req.id, ok: true, product } satisfies WorkerResponse, [product.buffer as ArrayBuffer])
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
