// The messages between analysis/pool.ts and its worker threads (analysis/worker.ts):
// types only, so the pool names them without loading the worker's code.

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
