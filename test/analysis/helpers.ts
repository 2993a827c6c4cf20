// Shared builders for the analysis tests: seeded Gaussian matrices and exact orthonormal signals.
import { existsSync } from "node:fs"
import { resolve } from "node:path"
import { Rng } from "../../lib/random.ts"
import type { Activations } from "../../analysis/matrix.ts"

/** The shared fixtures live beside the repository root (../shared/fixtures), as on CI. */
export const fixtureDir = (name: string): string => {
  const candidates = [resolve(import.meta.dirname, "../../../shared/fixtures", name), resolve("/work/shared/fixtures", name)]
  const found = candidates.find((p) => existsSync(p))
  if (!found) throw new Error(`fixture ${name} not found; looked in ${candidates.join(", ")}`)
  return found
}

export const gaussian = (rng: Rng, rows: number, cols: number): Float64Array => {
  const out = new Float64Array(rows * cols)
  for (let i = 0; i < out.length; i++) out[i] = rng.normal()
  return out
}

export const acts = (data: Float64Array | Float32Array, neurons: number): Activations => ({ data, neurons, datapoints: data.length / neurons })

/** out = A (r x k) times B (k x c). */
export const mul = (a: Float64Array, b: Float64Array, r: number, k: number, c: number): Float64Array => {
  const out = new Float64Array(r * c)
  for (let i = 0; i < r; i++) for (let p = 0; p < k; p++) for (let j = 0; j < c; j++) out[i * c + j] += a[i * k + p]! * b[p * c + j]!
  return out
}

/** n rows, each a zero-mean length-m signal, mutually orthogonal with unit norm (Gram-Schmidt). */
export const orthonormalSignals = (rng: Rng, n: number, m: number): Float64Array => {
  const s = gaussian(rng, n, m)
  for (let i = 0; i < n; i++) {
    const row = s.subarray(i * m, (i + 1) * m)
    let mean = 0
    for (const v of row) mean += v
    mean /= m
    for (let c = 0; c < m; c++) row[c] = row[c]! - mean
    for (let p = 0; p < i; p++) {
      const prev = s.subarray(p * m, (p + 1) * m)
      let dot = 0
      for (let c = 0; c < m; c++) dot += row[c]! * prev[c]!
      for (let c = 0; c < m; c++) row[c] = row[c]! - dot * prev[c]!
    }
    let norm = 0
    for (const v of row) norm += v * v
    norm = Math.sqrt(norm)
    for (let c = 0; c < m; c++) row[c] = row[c]! / norm
  }
  return s
}

/** A random orthogonal n x n matrix (product of Householder reflections of Gaussian vectors). */
export const orthogonal = (rng: Rng, n: number): Float64Array => {
  let q: Float64Array = new Float64Array(n * n)
  for (let i = 0; i < n; i++) q[i * n + i] = 1
  for (let r = 0; r < n; r++) {
    const v = gaussian(rng, 1, n)
    let vv = 0
    for (const e of v) vv += e * e
    const h = new Float64Array(n * n)
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) h[i * n + j] = (i === j ? 1 : 0) - (2 * v[i]! * v[j]!) / vv
    q = mul(h, q, n, n, n)
  }
  return q
}
