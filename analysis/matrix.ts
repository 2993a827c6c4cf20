// A layer's activations as a matrix, and the joint row view of two layers: what the
// covariance (analysis/covariance.ts), its worker threads (analysis/worker.ts) and the
// activation file readers share. Its own module so that the worker imports no module that
// starts workers.
import type { RowSource } from "./kernels.ts"

/** A layer's activations: `neurons` rows by `datapoints` columns, row-major. */
export interface Activations {
  readonly data: Float32Array | Float64Array
  readonly neurons: number
  readonly datapoints: number
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
 * The first non-finite activation (NaN, ±Infinity), neuron-major, or undefined. Every
 * measure is a NaN once one value is, so the readers refuse such a matrix naming the place.
 */
export const firstNonFinite = (m: Activations): { neuron: number; datapoint: number; value: number } | undefined => {
  const { data, neurons, datapoints } = m
  for (let n = 0; n < neurons; n++)
    for (let r = 0; r < datapoints; r++) {
      const value = data[n * datapoints + r]!
      if (!Number.isFinite(value)) return { neuron: n, datapoint: r, value }
    }
  return undefined
}
