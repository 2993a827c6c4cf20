// Dense Float64 linear algebra on flat row-major arrays, for the d x d matrices of
// the similarity measures (d = neurons, at most a few thousand).
//
// Why not only ml-matrix: its symmetric eigendecomposition (the same JAMA tred2/tql2
// as below) takes ~1.5 s at n = 512 and its SVD ~4 s on this machine, which alone
// exceeds the SVCCA time budget (1.5x numpy, ~2.2 s for 512 x 50,000). This is a
// line-for-line port of that JAMA/EISPACK algorithm onto one flat Float64Array,
// with eigenvectors stored as rows so every hot loop is a contiguous scan. It is
// tested against ml-matrix and against matrices built from known eigenpairs.

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
 * the accumulation and QL skips the rotations, which is ~10x cheaper.
 */
export const symmetricEigen = (a: ArrayLike<number>, n: number, options: { vectors?: boolean } = {}): SymmetricEigen => {
  const wantVectors = options.vectors ?? true
  if (a.length !== n * n) throw new RangeError(`symmetricEigen: ${a.length} entries for a ${n} x ${n} matrix`)
  if (n === 0) return { values: new Float64Array(0), vectors: new Float64Array(0) }
  const V = new Float64Array(n * n)
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) V[j * n + i] = a[i * n + j]!
  const d = new Float64Array(n)
  const e = new Float64Array(n)
  tred2(n, e, d, V, wantVectors)
  tql2(n, e, d, V, wantVectors)
  // tql2 sorts ascending; callers want the largest first.
  const values = new Float64Array(n)
  for (let i = 0; i < n; i++) values[i] = d[n - 1 - i]!
  if (!wantVectors) return { values, vectors: new Float64Array(0) }
  // Row j of V is the eigenvector of d[j]; reverse the row order.
  const vectors = new Float64Array(n * n)
  for (let i = 0; i < n; i++) vectors.set(V.subarray((n - 1 - i) * n, (n - i) * n), i * n)
  return { values, vectors }
}

// Both routines are ml-matrix's (transposed-storage) JAMA code with M.get(r, c)
// written as V[r * n + c]; row j of V ends as the eigenvector of d[j].
function tred2(n: number, e: Float64Array, d: Float64Array, V: Float64Array, wantVectors: boolean): void {
  let f: number, g: number, h: number, hh: number, scale: number
  for (let j = 0; j < n; j++) d[j] = V[j * n + n - 1]!
  for (let i = n - 1; i > 0; i--) {
    scale = 0
    h = 0
    for (let k = 0; k < i; k++) scale += Math.abs(d[k]!)
    if (scale === 0) {
      e[i] = d[i - 1]!
      for (let j = 0; j < i; j++) {
        d[j] = V[j * n + i - 1]!
        V[j * n + i] = 0
        V[i * n + j] = 0
      }
    } else {
      for (let k = 0; k < i; k++) {
        d[k] = d[k]! / scale
        h += d[k]! * d[k]!
      }
      f = d[i - 1]!
      g = Math.sqrt(h)
      if (f > 0) g = -g
      e[i] = scale * g
      h = h - f * g
      d[i - 1] = f - g
      for (let j = 0; j < i; j++) e[j] = 0
      for (let j = 0; j < i; j++) {
        f = d[j]!
        V[i * n + j] = f
        const row = j * n
        g = e[j]! + V[row + j]! * f
        for (let k = j + 1; k <= i - 1; k++) {
          const vjk = V[row + k]!
          g += vjk * d[k]!
          e[k] = e[k]! + vjk * f
        }
        e[j] = g
      }
      f = 0
      for (let j = 0; j < i; j++) {
        e[j] = e[j]! / h
        f += e[j]! * d[j]!
      }
      hh = f / (h + h)
      for (let j = 0; j < i; j++) e[j] = e[j]! - hh * d[j]!
      for (let j = 0; j < i; j++) {
        f = d[j]!
        g = e[j]!
        const row = j * n
        for (let k = j; k <= i - 1; k++) V[row + k] = V[row + k]! - (f * e[k]! + g * d[k]!)
        d[j] = V[row + i - 1]!
        V[row + i] = 0
      }
    }
    d[i] = h
  }
  if (!wantVectors) {
    // The tridiagonal's diagonal is left on V's diagonal; the accumulation below would only move it.
    for (let j = 0; j < n; j++) d[j] = V[j * n + j]!
    e[0] = 0
    return
  }
  for (let i = 0; i < n - 1; i++) {
    V[i * n + n - 1] = V[i * n + i]!
    V[i * n + i] = 1
    h = d[i + 1]!
    const next = (i + 1) * n
    if (h !== 0) {
      for (let k = 0; k <= i; k++) d[k] = V[next + k]! / h
      for (let j = 0; j <= i; j++) {
        const row = j * n
        g = 0
        for (let k = 0; k <= i; k++) g += V[next + k]! * V[row + k]!
        for (let k = 0; k <= i; k++) V[row + k] = V[row + k]! - g * d[k]!
      }
    }
    for (let k = 0; k <= i; k++) V[next + k] = 0
  }
  for (let j = 0; j < n; j++) {
    d[j] = V[j * n + n - 1]!
    V[j * n + n - 1] = 0
  }
  V[(n - 1) * n + n - 1] = 1
  e[0] = 0
}

function tql2(n: number, e: Float64Array, d: Float64Array, V: Float64Array, wantVectors: boolean): void {
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
          if (wantVectors) {
            const ri = i * n, rn = (i + 1) * n
            for (let k = 0; k < n; k++) {
              const hk = V[rn + k]!
              const vk = V[ri + k]!
              V[rn + k] = s * vk + c * hk
              V[ri + k] = c * vk - s * hk
            }
          }
        }
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
    let k = i
    let p = d[i]!
    for (let j = i + 1; j < n; j++) if (d[j]! < p) { k = j; p = d[j]! }
    if (k !== i) {
      d[k] = d[i]!
      d[i] = p
      if (wantVectors) {
        const ri = i * n, rk = k * n
        for (let j = 0; j < n; j++) { const t = V[ri + j]!; V[ri + j] = V[rk + j]!; V[rk + j] = t }
      }
    }
  }
}

/** C = A B for row-major A (r x k) and B (k x c). Four rows of A per pass share each load of a row of B. */
export const matmul = (a: ArrayLike<number>, b: ArrayLike<number>, r: number, k: number, c: number): Mat => {
  const out = new Float64Array(r * c)
  let i = 0
  for (; i + 4 <= r; i += 4) {
    const o0 = i * c, o1 = o0 + c, o2 = o1 + c, o3 = o2 + c
    for (let p = 0; p < k; p++) {
      const a0 = a[i * k + p]!, a1 = a[(i + 1) * k + p]!, a2 = a[(i + 2) * k + p]!, a3 = a[(i + 3) * k + p]!
      const bp = p * c
      for (let j = 0; j < c; j++) {
        const bj = b[bp + j]!
        out[o0 + j] = out[o0 + j]! + a0 * bj
        out[o1 + j] = out[o1 + j]! + a1 * bj
        out[o2 + j] = out[o2 + j]! + a2 * bj
        out[o3 + j] = out[o3 + j]! + a3 * bj
      }
    }
  }
  for (; i < r; i++) {
    const oi = i * c
    for (let p = 0; p < k; p++) {
      const aip = a[i * k + p]!
      const bp = p * c
      for (let j = 0; j < c; j++) out[oi + j] = out[oi + j]! + aip * b[bp + j]!
    }
  }
  return out
}

/** Transpose of a row-major r x c matrix. */
export const transpose = (a: ArrayLike<number>, r: number, c: number): Mat => {
  const out = new Float64Array(r * c)
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = a[i * c + j]!
  return out
}
