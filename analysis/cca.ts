// CCA, SVCCA, PWCCA and linear CKA between two layers' activations (neurons x
// datapoints over the same probe datapoints). All four work from the joint
// covariance (analysis/covariance.ts), so a comparison touches the data once.
//
// CCA follows google/svcca cca_core.get_cca_similarity step for step (see the
// comments) and agrees with its output on /work/shared/fixtures/cca to ~1e-15 with the
// Float64 covariance and ~1e-8 with the float32 (wasm) one; SVCCA, PWCCA and CKA agree
// with an independent numpy computation (test/analysis/numpy_reference.py) to ~1e-15.
import { type CovarianceEngine, type JointCovariance, jointCovariance } from "./covariance.ts"
import type { Activations } from "./matrix.ts"
import { productF64 } from "./kernels.ts"
import { symmetricEigen, transpose } from "./linalg.ts"
import { PARALLEL_PARTS, poolSize, runOnWorker } from "./pool.ts"

export interface CcaOptions {
  /** Neurons whose scaled variance is below epsilon are dropped, and epsilon*I is added (reference default 0; its tutorials use 1e-10). */
  readonly epsilon?: number
  /** The summary "mean" averages the leading correlations whose running sum first reaches this fraction of the total. */
  readonly threshold?: number
}

export interface CcaResult {
  /** All canonical correlations, descending; min(kept x, kept y) of them. */
  readonly correlations: Float64Array
  /** The reference's summary: mean of correlations[0..coefsInMean). */
  readonly mean: number
  readonly coefsInMean: number
  /** Mean of all correlations. */
  readonly meanAll: number
  /** Neurons (or SVD directions, for SVCCA) kept after the epsilon filter. */
  readonly keptX: number
  readonly keptY: number
}

export interface SvccaResult extends CcaResult {
  /** Singular directions kept on each side (explaining `varianceKept` of the variance). */
  readonly directionsX: number
  readonly directionsY: number
}

export interface PwccaResult {
  /** Sum of weights[i] * correlations[i]. */
  readonly pwcca: number
  readonly weights: Float64Array
  readonly correlations: Float64Array
  /** Which side's canonical variates weight the correlations (the one with fewer kept neurons; x on a tie). */
  readonly weightedBy: "x" | "y"
}

export const DEFAULT_EPSILON = 1e-10
export const DEFAULT_THRESHOLD = 0.98
export const DEFAULT_VARIANCE_KEPT = 0.99

const isDiagonal = (a: Float64Array, n: number): boolean => {
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (i !== j && a[i * n + j] !== 0) return false
  return true
}

/**
 * A^(-1/2) for symmetric positive semi-definite A, as the reference computes it:
 * pinv (eigenvalues below 1e-15 x the largest treated as zero) then the matrix square root.
 */
const inverseSqrt = async (a: Float64Array, n: number, slot: 0 | 1): Promise<Float64Array> => {
  const out = new Float64Array(n * n)
  if (isDiagonal(a, n)) {
    let max = 0
    for (let i = 0; i < n; i++) max = Math.max(max, Math.abs(a[i * n + i]!))
    for (let i = 0; i < n; i++) {
      const w = a[i * n + i]!
      out[i * n + i] = w > 1e-15 * max ? 1 / Math.sqrt(w) : 0
    }
    return out
  }
  const { values, vectors } = await eigenOn(slot, a, n, true)
  const max = Math.max(Math.abs(values[0]!), Math.abs(values[n - 1]!))
  const scale = new Float64Array(n)
  for (let k = 0; k < n; k++) scale[k] = values[k]! > 1e-15 * max ? 1 / Math.sqrt(values[k]!) : 0
  // out = V^T diag(scale) V = W^T W with W = diag(sqrt(scale)) V (V's rows the eigenvectors): a Gram of W^T's rows.
  const wt = new Float64Array(n * n)
  for (let k = 0; k < n; k++) {
    const root = Math.sqrt(scale[k]!)
    for (let j = 0; j < n; j++) wt[j * n + k] = vectors[k * n + j]! * root
  }
  return productF64(wt, undefined, n, n, n)
}

/**
 * Symmetric eigendecomposition on this thread (slot 0) or, for big matrices when the
 * machine has a second core, on a worker (slot 1): Promise.all([eigenOn(0, ...),
 * eigenOn(1, ...)]) then runs two at once. The numbers are the same on either thread.
 * Slot 0 yields once first, so the worker's request is already posted when it starts.
 */
const eigenOn = async (slot: 0 | 1, a: Float64Array, n: number, vectors: boolean): Promise<{ values: Float64Array; vectors: Float64Array }> => {
  if (slot === 0 || n < 160 || poolSize() < 2) {
    await Promise.resolve()
    return symmetricEigen(a, n, { vectors })
  }
  const copy = Float64Array.from(a)
  const res = await runOnWorker(slot, { kind: "eigen", matrix: copy, n, vectors }, [copy.buffer])
  return { values: res.values!, vectors: res.vectors! }
}

/**
 * A B (or A B^T when `bTransposed`: b is c x k), split into PARALLEL_PARTS row ranges of
 * A on the worker threads only when very big: up to ~1e9 multiply-adds (~0.2 s here) the
 * messages and the wait for a busy core cost more than they save. The split depends on
 * the sizes only, so the result is the same whatever the machine's core count.
 */
const product = async (a: Float64Array, b: Float64Array, r: number, k: number, c: number, bTransposed = false): Promise<Float64Array> => {
  const parts = PARALLEL_PARTS
  if (r * k * c < 1e9 || r < 8 * parts) return productF64(a, b, r, k, c, bTransposed)
  const out = new Float64Array(r * c)
  await Promise.all(
    Array.from({ length: parts }, async (_, w) => {
      const r0 = Math.floor((r * w) / parts), r1 = Math.floor((r * (w + 1)) / parts)
      const part = a.slice(r0 * k, r1 * k)
      const res = await runOnWorker(w, { kind: "matmul", a: part, b, r: r1 - r0, k, c, bTransposed }, [part.buffer])
      out.set(res.product!, r0 * c)
    }),
  )
  return out
}

/** A A^T for row-major A (r x k): only the upper triangle is computed. */
const gramOf = (a: Float64Array, r: number, k: number): Float64Array => productF64(a, undefined, r, k, r)

/** D A E for diagonal D (r x r) and E (c x c) given as full matrices: a scaling, not two products. */
const scaleByDiagonals = (d: Float64Array, a: Float64Array, e: Float64Array, r: number, c: number): Float64Array => {
  const out = new Float64Array(r * c)
  for (let i = 0; i < r; i++) {
    const di = d[i * r + i]!
    for (let j = 0; j < c; j++) out[i * c + j] = di * a[i * c + j]! * e[j * c + j]!
  }
  return out
}

/**
 * L^-1 (A C) for the Cholesky factor L of the variates' Gram matrix G = L L^T: row i holds
 * the neurons' projections on the i-th vector of the QR basis of the variates. A variate
 * in the span of the earlier ones (QR's R_ii = 0: fewer datapoints than neurons, or
 * neurons dropped by the pseudo-inverse) gets no basis vector, so its row is zero; the
 * reference's numpy QR would give it an arbitrary orthogonal direction instead.
 */
const projectionsOnVariateBasis = (g: Float64Array, ac: Float64Array, k: number): Float64Array => {
  let maxDiag = 0
  for (let i = 0; i < k; i++) maxDiag = Math.max(maxDiag, g[i * k + i]!)
  const l = new Float64Array(k * k)
  const skip = new Uint8Array(k)
  for (let i = 0; i < k; i++) {
    for (let j = 0; j <= i; j++) {
      let s = g[i * k + j]!
      for (let p = 0; p < j; p++) s -= l[i * k + p]! * l[j * k + p]!
      if (j < i) l[i * k + j] = skip[j] ? 0 : s / l[j * k + j]!
      else if (s <= 1e-9 * g[i * k + i]! || g[i * k + i]! <= 1e-14 * maxDiag) skip[i] = 1
      else l[i * k + i] = Math.sqrt(s)
    }
  }
  const proj = new Float64Array(k * k)
  for (let i = 0; i < k; i++) {
    if (skip[i]) continue
    for (let j = 0; j < k; j++) {
      let s = ac[i * k + j]!
      for (let p = 0; p < i; p++) s -= l[i * k + p]! * proj[p * k + j]!
      proj[i * k + j] = s / l[i * k + i]!
    }
  }
  return proj
}

const thresholdCount = (s: Float64Array, threshold: number): number => {
  // sum_threshold in cca_core: the first i with sum(s[:i]) / sum(s) >= threshold (all of them if never).
  let total = 0
  for (const v of s) total += v
  let run = 0
  for (let i = 0; i < s.length; i++) {
    if (run / total >= threshold) return i
    run += s[i]!
  }
  return s.length
}

const selectRow = (out: Float64Array, from: Float64Array, keepCols: readonly number[]): void => {
  for (let j = 0; j < keepCols.length; j++) out[j] = from[keepCols[j]!]!
}

/** The rows x keepCols submatrix of a (row-major, `cols` wide); a copy of a when everything is kept. */
const select = (a: Float64Array, cols: number, rows: readonly number[], keepCols: readonly number[]): Float64Array => {
  if (rows.length * cols === a.length && keepCols.length === cols && rows.every((r, i) => r === i) && keepCols.every((c, j) => c === j)) return a.slice()
  const out = new Float64Array(rows.length * keepCols.length)
  for (let i = 0; i < rows.length; i++) selectRow(out.subarray(i * keepCols.length, (i + 1) * keepCols.length), a.subarray(rows[i]! * cols, (rows[i]! + 1) * cols), keepCols)
  return out
}

interface CcaInternals extends CcaResult {
  /** Kept neuron indices. */
  readonly idxX: number[]
  readonly idxY: number[]
  /** Kept-neuron covariances after the reference's scaling (sxx, syy) and the whitening matrices. */
  readonly invSqrtXX: Float64Array
  readonly invSqrtYY: Float64Array
  /** T = Sxx^-1/2 Sxy Syy^-1/2 (keptX x keptY). */
  readonly t: Float64Array
}

const ccaCore = async (cov: JointCovariance, options: CcaOptions): Promise<CcaInternals> => {
  const epsilon = options.epsilon ?? DEFAULT_EPSILON
  const threshold = options.threshold ?? DEFAULT_THRESHOLD
  if (!(epsilon >= 0)) throw new RangeError(`CCA epsilon must be >= 0, got ${epsilon}`)
  if (!(threshold > 0 && threshold <= 1)) throw new RangeError(`CCA threshold must be in (0, 1], got ${threshold}`)
  const { dx, dy, sxx, syy, sxy } = cov
  // Scale Sxx and Syy by their largest absolute entries, Sxy by the square root of both.
  let xmax = 0, ymax = 0
  for (const v of sxx) xmax = Math.max(xmax, Math.abs(v))
  for (const v of syy) ymax = Math.max(ymax, Math.abs(v))
  if (xmax === 0) throw new RangeError(`CCA: every neuron of the first layer is constant over the datapoints (dead layer?); correlations are undefined`)
  if (ymax === 0) throw new RangeError(`CCA: every neuron of the second layer is constant over the datapoints (dead layer?); correlations are undefined`)
  const xyScale = Math.sqrt(xmax * ymax)
  // Drop neurons whose scaled variance is below epsilon.
  const idxX: number[] = [], idxY: number[] = []
  for (let i = 0; i < dx; i++) if (Math.abs(sxx[i * dx + i]! / xmax) >= epsilon) idxX.push(i)
  for (let i = 0; i < dy; i++) if (Math.abs(syy[i * dy + i]! / ymax) >= epsilon) idxY.push(i)
  if (idxX.length === 0 || idxY.length === 0) throw new RangeError(`CCA: no neurons left after dropping variances below epsilon=${epsilon} (x kept ${idxX.length}, y kept ${idxY.length})`)
  const kx = idxX.length, ky = idxY.length
  const xx = select(sxx, dx, idxX, idxX), yy = select(syy, dy, idxY, idxY), xy = select(sxy, dy, idxX, idxY)
  for (let i = 0; i < xx.length; i++) xx[i] = xx[i]! / xmax
  for (let i = 0; i < yy.length; i++) yy[i] = yy[i]! / ymax
  for (let i = 0; i < xy.length; i++) xy[i] = xy[i]! / xyScale
  for (let i = 0; i < kx; i++) xx[i * kx + i] = xx[i * kx + i]! + epsilon
  for (let i = 0; i < ky; i++) yy[i * ky + i] = yy[i * ky + i]! + epsilon
  const [invSqrtXX, invSqrtYY] = await Promise.all([inverseSqrt(xx, kx, 0), inverseSqrt(yy, ky, 1)])
  const t =
    isDiagonal(invSqrtXX, kx) && isDiagonal(invSqrtYY, ky)
      ? scaleByDiagonals(invSqrtXX, xy, invSqrtYY, kx, ky)
      : await product(await product(invSqrtXX, xy, kx, kx, ky), invSqrtYY, kx, ky, ky)
  // Singular values of T from the eigenvalues of the smaller of T T^T and T^T T.
  const small = Math.min(kx, ky)
  const gram = kx <= ky ? gramOf(t, kx, ky) : gramOf(transpose(t, kx, ky), ky, kx)
  const { values } = await eigenOn(0, gram, small, false)
  const correlations = new Float64Array(small)
  for (let i = 0; i < small; i++) correlations[i] = Math.sqrt(Math.max(0, values[i]!))
  const coefsInMean = thresholdCount(correlations, threshold)
  let sumIn = 0, sumAll = 0
  for (let i = 0; i < small; i++) { sumAll += correlations[i]!; if (i < coefsInMean) sumIn += correlations[i]! }
  return {
    correlations, mean: sumIn / coefsInMean, coefsInMean, meanAll: sumAll / small,
    keptX: kx, keptY: ky, idxX, idxY, invSqrtXX, invSqrtYY, t,
  }
}

const publicPart = (r: CcaInternals): CcaResult => ({
  correlations: r.correlations, mean: r.mean, coefsInMean: r.coefsInMean, meanAll: r.meanAll, keptX: r.keptX, keptY: r.keptY,
})

/** CCA from a joint covariance (use this to compute several measures from one covariance). */
export const ccaFromCovariance = async (cov: JointCovariance, options: CcaOptions = {}): Promise<CcaResult> => publicPart(await ccaCore(cov, options))

/** Number of leading eigenvalues (descending) whose sum first reaches `fraction` of the total. */
const directionsFor = (values: Float64Array, fraction: number): number => {
  let total = 0
  for (const v of values) total += Math.max(0, v)
  let run = 0
  for (let k = 0; k < values.length; k++) {
    run += Math.max(0, values[k]!)
    if (run >= fraction * total) return k + 1
  }
  return values.length
}

/**
 * SVCCA from a joint covariance: project each side on its top singular directions
 * (eigenvectors of its covariance, which are the left singular vectors of the centred
 * activations) explaining `varianceKept` of the variance, then CCA on the projections
 * (the tutorials' s[:k] * V[:k]; its covariance is diag(eigenvalues)).
 */
export const svccaFromCovariance = async (cov: JointCovariance, options: CcaOptions & { varianceKept?: number } = {}): Promise<SvccaResult> => {
  const fraction = options.varianceKept ?? DEFAULT_VARIANCE_KEPT
  if (!(fraction > 0 && fraction <= 1)) throw new RangeError(`SVCCA varianceKept must be in (0, 1], got ${fraction}`)
  const { dx, dy } = cov
  const [ex, ey] = await Promise.all([eigenOn(0, cov.sxx, dx, true), eigenOn(1, cov.syy, dy, true)])
  const kx = directionsFor(ex.values, fraction), ky = directionsFor(ey.values, fraction)
  const sxx = new Float64Array(kx * kx), syy = new Float64Array(ky * ky)
  for (let i = 0; i < kx; i++) sxx[i * kx + i] = Math.max(0, ex.values[i]!)
  for (let i = 0; i < ky; i++) syy[i * ky + i] = Math.max(0, ey.values[i]!)
  // Ux^T Sxy Uy over the kept directions (eigenvectors are rows).
  const ux = ex.vectors.subarray(0, kx * dx), uy = ey.vectors.subarray(0, ky * dy)
  const sxy = await product(await product(ux.slice(), cov.sxy, kx, dx, dy), uy.slice(), kx, dy, ky, true)
  const r = await ccaCore({ dx: kx, dy: ky, datapoints: cov.datapoints, sxx, syy, sxy }, options)
  return { ...publicPart(r), directionsX: kx, directionsY: ky }
}

/**
 * PWCCA (Morcos et al. 2018) from a joint covariance. Each canonical correlation is
 * weighted by how much of the smaller layer's (centred) neurons its canonical variate
 * accounts for: with H the canonical variates and Q an orthonormal basis of them
 * (QR, as the reference), weight_i = sum_j |<q_i, x_j>|, normalised to sum 1. The
 * reference forgets the whitening Sxx^-1/2 in the directions and breaks when the
 * second layer is the smaller; here both orders give the same answer.
 */
export const pwccaFromCovariance = async (cov: JointCovariance, options: CcaOptions = {}): Promise<PwccaResult> =>
  pwccaFromCore(cov, await ccaCore(cov, options))

const pwccaFromCore = async (cov: JointCovariance, r: CcaInternals): Promise<PwccaResult> => {
  const useX = r.keptX <= r.keptY
  const k = useX ? r.keptX : r.keptY
  const other = useX ? r.keptY : r.keptX
  // Left singular vectors of T (or of T^T): eigenvectors of the k x k Gram, descending.
  const tt = useX ? r.t : transpose(r.t, r.keptX, r.keptY)
  const gram = gramOf(tt, k, other)
  const { vectors: u } = await eigenOn(0, gram, k, true)
  // Canonical directions in (scaled) neuron space are the rows of U W, W the whitening matrix.
  const whiten = useX ? r.invSqrtXX : r.invSqrtYY
  const dirs = await product(u, whiten, k, k, k)
  // Covariance of the kept neurons on this side (unscaled: the common scale cancels in the weights).
  const idx = useX ? r.idxX : r.idxY
  const full = useX ? cov.sxx : cov.syy
  const d = useX ? cov.dx : cov.dy
  const c = select(full, d, idx, idx)
  // G = H H^T / (m-1) = A C A^T with A = dirs; Q = H^T R^-1 with G = R^T R, so Q^T X^T / (m-1) = L^-1 A C, L = R^T.
  const ac = await product(dirs, c, k, k, k)
  const g = await product(ac, dirs, k, k, k, true)
  for (let i = 0; i < k; i++) for (let j = 0; j < i; j++) g[i * k + j] = g[j * k + i] = (g[i * k + j]! + g[j * k + i]!) / 2
  const proj = projectionsOnVariateBasis(g, ac, k)
  const weights = new Float64Array(k)
  let total = 0
  for (let i = 0; i < k; i++) {
    let s = 0
    for (let j = 0; j < k; j++) s += Math.abs(proj[i * k + j]!)
    weights[i] = s
    total += s
  }
  if (!(total > 0)) throw new RangeError(`PWCCA: the canonical variates of the ${useX ? "first" : "second"} layer are all zero (constant activations?)`)
  let pwcca = 0
  for (let i = 0; i < k; i++) {
    weights[i] = weights[i]! / total
    pwcca += weights[i]! * r.correlations[i]!
  }
  return { pwcca, weights, correlations: r.correlations, weightedBy: useX ? "x" : "y" }
}

/**
 * Linear CKA (Kornblith et al. 2019) from a joint covariance:
 * ||Yc Xc^T||_F^2 / (||Xc Xc^T||_F ||Yc Yc^T||_F); the 1/(m-1) factors cancel.
 */
export const linearCkaFromCovariance = (cov: JointCovariance): number => {
  let xy = 0, xx = 0, yy = 0
  for (const v of cov.sxy) xy += v * v
  for (const v of cov.sxx) xx += v * v
  for (const v of cov.syy) yy += v * v
  if (xx === 0 || yy === 0) throw new RangeError(`CKA: a layer's activations are constant over the datapoints (dead layer?)`)
  return xy / Math.sqrt(xx * yy)
}

export interface SimilarityOptions extends CcaOptions {
  readonly varianceKept?: number
  readonly engine?: CovarianceEngine
}

/** CCA between two layers (reference: google/svcca get_cca_similarity). */
export const cca = async (x: Activations, y: Activations, options: SimilarityOptions = {}): Promise<CcaResult> =>
  ccaFromCovariance(await jointCovariance(x, y, options.engine), options)

/** SVCCA (Raghu et al. 2017): 99%-variance SVD reduction of each side, then CCA. */
export const svcca = async (x: Activations, y: Activations, options: SimilarityOptions = {}): Promise<SvccaResult> =>
  svccaFromCovariance(await jointCovariance(x, y, options.engine), options)

/** PWCCA (Morcos et al. 2018), symmetric in argument order. */
export const pwcca = async (x: Activations, y: Activations, options: SimilarityOptions = {}): Promise<PwccaResult> =>
  pwccaFromCovariance(await jointCovariance(x, y, options.engine), options)

/** Linear CKA (Kornblith et al. 2019). */
export const linearCka = async (x: Activations, y: Activations, options: { engine?: CovarianceEngine } = {}): Promise<number> =>
  linearCkaFromCovariance(await jointCovariance(x, y, options.engine))

export interface AllSimilarities {
  readonly cca: CcaResult
  readonly svcca: SvccaResult
  readonly pwcca: PwccaResult
  readonly cka: number
}

/** All four measures from one covariance pass. */
export const similarities = async (x: Activations, y: Activations, options: SimilarityOptions = {}): Promise<AllSimilarities> => {
  const cov = await jointCovariance(x, y, options.engine)
  const core = await ccaCore(cov, options) // shared by CCA and PWCCA
  const s = await svccaFromCovariance(cov, options)
  const p = await pwccaFromCore(cov, core)
  return { cca: publicPart(core), svcca: s, pwcca: p, cka: linearCkaFromCovariance(cov) }
}
