// Layers with fewer datapoints than neurons (deep 1x1 maps on a small probe set) make
// every CCA variant degenerate: the covariance is singular whatever epsilon does. Such a
// layer is compared on its top principal directions instead, as SVCCA does, keeping at
// most half as many directions as datapoints. CCA is invariant to invertible linear maps
// within the kept subspace, so only the (recorded) truncation changes the answer.
import { symmetricEigen } from "./linalg.ts"
import type { Activations } from "./matrix.ts"

export interface Reduced extends Activations {
  /** Principal directions kept. */
  readonly kept: number
  /** Fraction of the centred variance they hold. */
  readonly variance: number
}

/**
 * The centred activations expressed in their top principal directions (scores), from
 * the datapoints x datapoints Gram matrix: cheap exactly when datapoints are few.
 */
export const principalScores = (x: Activations, maxDims: number, varianceKept = 0.99): Reduced => {
  const { neurons: d, datapoints: m, data } = x
  const centred = new Float64Array(d * m)
  for (let i = 0; i < d; i++) {
    let mean = 0
    for (let j = 0; j < m; j++) mean += data[i * m + j]!
    mean /= m
    for (let j = 0; j < m; j++) centred[i * m + j] = data[i * m + j]! - mean
  }
  // K = X^T X (m x m); its eigenvectors v_k with eigenvalues l_k give scores sqrt(l_k) v_k^T.
  const gram = new Float64Array(m * m)
  for (let i = 0; i < d; i++) {
    const row = centred.subarray(i * m, (i + 1) * m)
    for (let a = 0; a < m; a++) {
      const ra = row[a]!
      if (ra === 0) continue
      for (let b = 0; b <= a; b++) gram[a * m + b] += ra * row[b]!
    }
  }
  const { values, vectors } = symmetricEigen(gram, m, { vectors: true })
  let total = 0
  for (const v of values) total += Math.max(0, v)
  let kept = 0, acc = 0
  while (kept < Math.min(maxDims, m) && values[kept]! > total * 1e-12 && acc < varianceKept * total) acc += values[kept++]!
  kept = Math.max(1, kept)
  const out = new Float64Array(kept * m)
  for (let k = 0; k < kept; k++) {
    const s = Math.sqrt(Math.max(0, values[k]!))
    for (let j = 0; j < m; j++) out[k * m + j] = s * vectors[k * m + j]!
  }
  return { data: out, neurons: kept, datapoints: m, kept, variance: total > 0 ? acc / total : 0 }
}
