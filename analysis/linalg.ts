// Dense Float64 linear algebra on flat row-major arrays, for the d x d matrices of
// the similarity measures (d = neurons, at most a few thousand).
//
// Why not only ml-matrix: its symmetric eigendecomposition (the same JAMA tred2/tql2
// as below) takes ~1.5 s at n = 512 and its SVD ~4 s on this machine, which alone
// exceeds the SVCCA time budget (1.5x numpy, ~2.2 s for 512 x 50,000). This is a
// line-for-line port of that JAMA/EISPACK algorithm onto one flat Float64Array,
// with eigenvectors stored as rows so every hot loop is a contiguous scan, and those
// loops run as WebAssembly SIMD kernels (analysis/kernels.ts). It is tested against
// ml-matrix and against matrices built from known eigenpairs.

import { type Kernels, workspace } from "./kernels.ts"

/** Row-major n x n (or rows x cols) Float64 matrix. */
export type Mat = Float64Array

export interface SymmetricEigen {
  /** Eigenvalues, descending. */
  readonly values: Float64Array
  /** n x n, row i is the unit eigenvector of values[i] (so A = V^T diag(values) V). Empty when vectors were not requested. */
  readonly vectors: Float64Array
}

const hypot = (a: number, b: number): number => {
  const aa = Math.abs(a), ab = Math.abs(b)
  if (aa > ab) { const r = b / a; return aa * Math.sqrt(1 + r * r) }
  if (b !== 0) { const r = a / b; return ab * Math.sqrt(1 + r * r) }
  return 0
}

/**
 * Eigendecomposition of a symmetric n x n matrix (only symmetry is assumed, not
 * checked; the lower triangle is what is read). Householder tridiagonalisation
 * (tred2) then implicit QL (tql2). Without vectors the tridiagonal reduction skips
 * the accumulation and QL skips the rotations, which is ~5x cheaper. The matrix lives
 * in the kernels' WebAssembly memory, whose SIMD loops (analysis/kernels.ts) do the
 * O(n^3) work; the O(n^2) control flow stays here.
 */
export const symmetricEigen = (a: Float64Array, n: number, options: { vectors?: boolean } = {}): SymmetricEigen => {
  const wantVectors = options.vectors ?? true
  if (a.length !== n * n) throw new RangeError(`symmetricEigen: ${a.length} entries for a ${n} x ${n} matrix`)
  if (n === 0) return { values: new Float64Array(0), vectors: new Float64Array(0) }
  // Rows padded to a multiple of 8 columns (the rotation kernel's width); padding stays 0.
  const ld = Math.ceil(n / 8) * 8
  const vAt = 0, dAt = vAt + n * ld * 8, eAt = dAt + n * 8, csAt = eAt + n * 8
  const { k, f64 } = workspace(csAt + n * 16)
  const at: Offsets = { v: vAt, d: dAt, e: eAt, cs: csAt }
  const V = f64.subarray(vAt / 8, vAt / 8 + n * ld)
  const d = f64.subarray(dAt / 8, dAt / 8 + n)
  const e = f64.subarray(eAt / 8, eAt / 8 + n)
  const cs = f64.subarray(csAt / 8, csAt / 8 + 2 * n)
  V.fill(0)
  d.fill(0)
  e.fill(0)
  // JAMA works on the transpose (and reads what is the lower triangle of a).
  for (let i = 0; i < n; i++) toColumn(V, a, i, n, ld)
  tred2(n, ld, e, d, V, k, at)
  if (wantVectors) accumulate(n, ld, e, d, V, k, at)
  else tridiagonal(n, ld, e, d, V)
  tql2(n, ld, e, d, V, cs, wantVectors, k, at)
  // tql2 sorts ascending; callers want the largest first.
  const values = new Float64Array(n)
  for (let i = 0; i < n; i++) values[i] = d[n - 1 - i]!
  if (!wantVectors) return { values, vectors: new Float64Array(0) }
  // Row j of V is the eigenvector of d[j]; reverse the row order.
  const vectors = new Float64Array(n * n)
  for (let i = 0; i < n; i++) vectors.set(V.subarray((n - 1 - i) * ld, (n - 1 - i) * ld + n), i * n)
  return { values, vectors }
}

/** V[j][i] = a[i][j] for all j (a loop of its own, so V8 optimises it after a few rows). */
const toColumn = (V: Float64Array, a: Float64Array, i: number, n: number, ld: number): void => {
  for (let j = 0; j < n; j++) V[j * ld + i] = a[i * n + j]!
}

/** Byte offsets of V, d, e and the rotation list in the kernels' memory. */
interface Offsets { readonly v: number; readonly d: number; readonly e: number; readonly cs: number }

// Both routines are ml-matrix's (transposed-storage) JAMA code with M.get(r, c)
// written as V[r * ld + c]; row j of V ends as the eigenvector of d[j]. The loops
// marked "kernel" are the JAMA loops moved into analysis/kernels.ts unchanged. tred2's
// end is split by whether vectors are wanted (accumulate / tridiagonal): one function
// serving both kept being deoptimised by V8 whenever the other kind of call came.
function tred2(n: number, ld: number, e: Float64Array, d: Float64Array, V: Float64Array, k: Kernels, at: Offsets): void {
  let f: number, g: number, h: number, hh: number, scale: number
  for (let j = 0; j < n; j++) d[j] = V[j * ld + n - 1]!
  for (let i = n - 1; i > 0; i--) {
    scale = 0
    h = 0
    for (let q = 0; q < i; q++) scale += Math.abs(d[q]!)
    if (scale === 0) {
      e[i] = d[i - 1]!
      for (let j = 0; j < i; j++) {
        d[j] = V[j * ld + i - 1]!
        V[j * ld + i] = 0
        V[i * ld + j] = 0
      }
    } else {
      for (let q = 0; q < i; q++) {
        d[q] = d[q]! / scale
        h += d[q]! * d[q]!
      }
      f = d[i - 1]!
      g = Math.sqrt(h)
      if (f > 0) g = -g
      e[i] = scale * g
      h = h - f * g
      d[i - 1] = f - g
      for (let j = 0; j < i; j++) e[j] = 0
      for (let j = 0; j < i; j++) V[i * ld + j] = d[j]!
      // kernel: for j < i: g = e[j] + V[j][j] d[j] + sum_{j<q<i} V[j][q] d[q]; e[q] += V[j][q] d[j]; e[j] = g
      k.tred2Symv(at.v, ld, i, at.d, at.e)
      f = 0
      for (let j = 0; j < i; j++) {
        e[j] = e[j]! / h
        f += e[j]! * d[j]!
      }
      hh = f / (h + h)
      for (let j = 0; j < i; j++) e[j] = e[j]! - hh * d[j]!
      // kernel: for j < i: V[j][q] -= d[j] e[q] + e[j] d[q] (j <= q < i); d[j] = V[j][i-1]; V[j][i] = 0
      k.tred2Rank2(at.v, ld, i, at.d, at.e)
    }
    d[i] = h
  }
}

/** tred2 without the accumulation: the tridiagonal's diagonal is left on V's diagonal. */
function tridiagonal(n: number, ld: number, e: Float64Array, d: Float64Array, V: Float64Array): void {
  for (let j = 0; j < n; j++) d[j] = V[j * ld + j]!
  e[0] = 0
}

/** tred2's accumulation of the Householder transformations into V. */
function accumulate(n: number, ld: number, e: Float64Array, d: Float64Array, V: Float64Array, k: Kernels, at: Offsets): void {
  let h: number
  for (let i = 0; i < n - 1; i++) {
    V[i * ld + n - 1] = V[i * ld + i]!
    V[i * ld + i] = 1
    h = d[i + 1]!
    const next = (i + 1) * ld
    if (h !== 0) {
      for (let q = 0; q <= i; q++) d[q] = V[next + q]! / h
      // kernel: for j <= i: g = sum_{q<=i} V[i+1][q] V[j][q]; V[j][q] -= g d[q]
      k.hhAccumulate(at.v, ld, i, at.d)
    }
    for (let q = 0; q <= i; q++) V[next + q] = 0
  }
  for (let j = 0; j < n; j++) {
    d[j] = V[j * ld + n - 1]!
    V[j * ld + n - 1] = 0
  }
  V[(n - 1) * ld + n - 1] = 1
  e[0] = 0
}

function tql2(n: number, ld: number, e: Float64Array, d: Float64Array, V: Float64Array, cs: Float64Array, wantVectors: boolean, k: Kernels, at: Offsets): void {
  for (let i = 1; i < n; i++) e[i - 1] = e[i]!
  e[n - 1] = 0
  let f = 0
  let tst1 = 0
  const eps = Number.EPSILON
  for (let l = 0; l < n; l++) {
    tst1 = Math.max(tst1, Math.abs(d[l]!) + Math.abs(e[l]!))
    let m = l
    while (m < n) {
      if (Math.abs(e[m]!) <= eps * tst1) break
      m++
    }
    if (m > l) {
      let iter = 0
      do {
        iter++
        if (iter > 300) throw new Error(`symmetricEigen: QL iteration did not converge (n=${n}); is the matrix finite?`)
        let g = d[l]!
        let p = (d[l + 1]! - g) / (2 * e[l]!)
        let r = hypot(p, 1)
        if (p < 0) r = -r
        d[l] = e[l]! / (p + r)
        d[l + 1] = e[l]! * (p + r)
        const dl1 = d[l + 1]!
        let h = g - d[l]!
        for (let i = l + 2; i < n; i++) d[i] = d[i]! - h
        f += h
        p = d[m]!
        let c = 1, c2 = 1, c3 = 1
        const el1 = e[l + 1]!
        let s = 0, s2 = 0
        for (let i = m - 1; i >= l; i--) {
          c3 = c2
          c2 = c
          s2 = s
          g = c * e[i]!
          h = c * p
          r = hypot(p, e[i]!)
          e[i + 1] = s * r
          s = e[i]! / r
          c = p / r
          p = c * d[i]! - s * g
          d[i + 1] = h + s * (c * g + s * d[i]!)
          // The rotation of rows i and i+1 of V, recorded and applied below.
          cs[2 * (i - l)] = c
          cs[2 * (i - l) + 1] = s
        }
        // kernel: for i from m-1 down to l: (V_i, V_i+1) = (c V_i - s V_i+1, s V_i + c V_i+1)
        if (wantVectors) k.rotations(at.v, ld, l, m, at.cs)
        p = (-s * s2 * c3 * el1 * e[l]!) / dl1
        e[l] = s * p
        d[l] = c * p
      } while (Math.abs(e[l]!) > eps * tst1)
    }
    d[l] = d[l]! + f
    e[l] = 0
  }
  // Selection sort ascending, swapping eigenvector rows along.
  for (let i = 0; i < n - 1; i++) {
    let q = i
    let p = d[i]!
    for (let j = i + 1; j < n; j++) if (d[j]! < p) { q = j; p = d[j]! }
    if (q !== i) {
      d[q] = d[i]!
      d[i] = p
      if (wantVectors) {
        const ri = i * ld, rq = q * ld
        for (let j = 0; j < n; j++) { const t = V[ri + j]!; V[ri + j] = V[rq + j]!; V[rq + j] = t }
      }
    }
  }
}

/** Transpose of a row-major r x c matrix. */
export const transpose = (a: ArrayLike<number>, r: number, c: number): Mat => {
  const out = new Float64Array(r * c)
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = a[i * c + j]!
  return out
}
