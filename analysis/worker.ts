// Worker thread for the heavy parts of the similarity measures: the float32 SIMD Gram
// kernel of analysis/kernels.ts over a range of datapoints, Float64 products and
// symmetric eigendecompositions.
import { parentPort, workerData } from "node:worker_threads"
import { productF64, shiftedGram } from "./kernels.ts"
import { symmetricEigen } from "./linalg.ts"
import { jointRows } from "./matrix.ts"
import type { WorkerRequest, WorkerResponse } from "./worker-protocol.ts"

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
