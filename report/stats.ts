// Small-sample statistics for the report: the paper has three seeds per cell, so every
// function here works (and says what it means) for n = 2..10. Intervals are Student/Welch
// t-intervals over seeds: a percentile bootstrap of 2-3 seeds covers the true mean only
// 67-80% of the time at its nominal 95%, a t-interval covers it at 95% when seeds are
// normal (test/report/stats.test.ts simulates both). Pure functions; the only randomness
// (Monte-Carlo permutations of large designs) comes from a caller-supplied Rng.

import { Rng } from "../lib/random.ts"
import { normalCdf } from "../ml/metrics.ts"

export const mean = (xs: readonly number[]): number => {
  if (xs.length === 0) return NaN
  let s = 0
  for (const x of xs) s += x
  return s / xs.length
}

/** Sample standard deviation (n - 1 denominator); NaN for fewer than two values. */
export const sampleStd = (xs: readonly number[]): number => {
  if (xs.length < 2) return NaN
  const m = mean(xs)
  let s = 0
  for (const x of xs) s += (x - m) * (x - m)
  return Math.sqrt(s / (xs.length - 1))
}

/** Quantile with linear interpolation between order statistics (numpy's default, "type 7"). */
export const quantile = (sorted: readonly number[], q: number): number => {
  if (sorted.length === 0) return NaN
  const h = (sorted.length - 1) * q
  const lo = Math.floor(h)
  const hi = Math.min(lo + 1, sorted.length - 1)
  return sorted[lo]! + (h - lo) * (sorted[hi]! - sorted[lo]!)
}

export interface Interval {
  readonly lo: number
  readonly hi: number
}

// ---- Student t distribution (for Welch's test) ----

const LANCZOS = [
  676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905,
  -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
]

/** log Gamma(x) for x > 0 (Lanczos, g = 7, about 15 significant digits). */
export const logGamma = (x: number): number => {
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - logGamma(1 - x)
  const z = x - 1
  let a = 0.99999999999980993
  const t = z + 7.5
  for (let i = 0; i < LANCZOS.length; i++) a += LANCZOS[i]! / (z + i + 1)
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a)
}

// Continued fraction for the incomplete beta function (modified Lentz), as in Numerical Recipes.
const betaContinuedFraction = (a: number, b: number, x: number): number => {
  const tiny = 1e-300
  let c = 1
  let d = 1 - ((a + b) * x) / (a + 1)
  if (Math.abs(d) < tiny) d = tiny
  d = 1 / d
  let h = d
  for (let m = 1; m <= 300; m++) {
    const m2 = 2 * m
    let aa = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2))
    d = 1 + aa * d
    if (Math.abs(d) < tiny) d = tiny
    c = 1 + aa / c
    if (Math.abs(c) < tiny) c = tiny
    d = 1 / d
    h *= d * c
    aa = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1))
    d = 1 + aa * d
    if (Math.abs(d) < tiny) d = tiny
    c = 1 + aa / c
    if (Math.abs(c) < tiny) c = tiny
    d = 1 / d
    const del = d * c
    h *= del
    if (Math.abs(del - 1) < 1e-15) break
  }
  return h
}

/** Regularised incomplete beta I_x(a, b). */
export const regularizedIncompleteBeta = (x: number, a: number, b: number): number => {
  if (x <= 0) return 0
  if (x >= 1) return 1
  const front = Math.exp(logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x))
  return x < (a + 1) / (a + b + 2) ? (front * betaContinuedFraction(a, b, x)) / a : 1 - (front * betaContinuedFraction(b, a, 1 - x)) / b
}

/** P(T <= t) for Student's t with `df` (possibly fractional) degrees of freedom. */
export const studentTCdf = (t: number, df: number): number => {
  if (!Number.isFinite(t)) return t > 0 ? 1 : 0
  if (df === Infinity) return normalCdf(t)
  const tail = 0.5 * regularizedIncompleteBeta(df / (df + t * t), df / 2, 0.5)
  return t > 0 ? 1 - tail : tail
}

export interface WelchResult {
  /** (mean(a) - mean(b)) / standard error. */
  readonly t: number
  /** Welch-Satterthwaite degrees of freedom. */
  readonly df: number
  /** Two-sided p-value. */
  readonly p: number
  /** One-sided p-value for the alternative mean(a) > mean(b). */
  readonly pGreater: number
  readonly meanDiff: number
}

/**
 * Welch's unequal-variance t-test. Needs at least two values per group; if both groups
 * have zero variance the test is undefined and t, df, p are NaN (the caller reports that).
 */
export const welchTTest = (a: readonly number[], b: readonly number[]): WelchResult => {
  const meanDiff = mean(a) - mean(b)
  if (a.length < 2 || b.length < 2) return { t: NaN, df: NaN, p: NaN, pGreater: NaN, meanDiff }
  const va = sampleStd(a) ** 2 / a.length
  const vb = sampleStd(b) ** 2 / b.length
  const se2 = va + vb
  if (se2 === 0) return { t: NaN, df: NaN, p: NaN, pGreater: NaN, meanDiff }
  const t = meanDiff / Math.sqrt(se2)
  const df = (se2 * se2) / ((va * va) / (a.length - 1) + (vb * vb) / (b.length - 1))
  const cdf = studentTCdf(t, df)
  return { t, df, p: Math.min(1, 2 * Math.min(cdf, 1 - cdf)), pGreater: 1 - cdf, meanDiff }
}

/** The q-quantile of Student's t with `df` degrees of freedom (bisection on the CDF; df may be fractional or Infinity). */
export const studentTQuantile = (q: number, df: number): number => {
  if (!(q > 0 && q < 1) || !(df > 0)) return NaN
  if (q === 0.5) return 0
  if (q < 0.5) return -studentTQuantile(1 - q, df)
  let lo = 0, hi = 1
  while (studentTCdf(hi, df) < q) hi *= 2
  for (let i = 0; i < 200 && hi - lo > 1e-12 * hi; i++) {
    const mid = (lo + hi) / 2
    if (studentTCdf(mid, df) < q) lo = mid
    else hi = mid
  }
  return (lo + hi) / 2
}

/** A t-interval and what it came from. */
export interface TInterval extends Interval {
  /** The point estimate (a mean, or a contrast of group means). */
  readonly estimate: number
  /** Its standard error. */
  readonly se: number
  /** Degrees of freedom (Welch-Satterthwaite for several groups). */
  readonly df: number
  readonly level: number
}

/**
 * Welch t-interval of a linear contrast sum_i c_i * mean(group_i) (e.g. [1, -1] for a difference,
 * [0.5, -1, 0.5] for "a share of a speed-up reaches one half"), each group's variance estimated
 * on its own, Satterthwaite degrees of freedom. Needs two values in every group with a non-zero
 * coefficient (NaN bounds otherwise); groups that are all equal give a point interval.
 */
export const contrastCI = (groups: ReadonlyArray<readonly number[]>, coefficients: readonly number[], level = 0.95): TInterval => {
  if (groups.length !== coefficients.length) throw new RangeError(`contrastCI: ${groups.length} groups but ${coefficients.length} coefficients`)
  let estimate = 0, se2 = 0, dfDenominator = 0, ok = true
  groups.forEach((g, i) => {
    const c = coefficients[i]!
    if (c === 0) return
    if (g.length < 2) ok = false
    const v = (c * c * sampleStd(g) ** 2) / g.length
    estimate += c * mean(g)
    se2 += v
    dfDenominator += (v * v) / (g.length - 1)
  })
  if (!ok) return { lo: NaN, hi: NaN, estimate, se: NaN, df: NaN, level }
  if (se2 === 0) return { lo: estimate, hi: estimate, estimate, se: 0, df: Infinity, level }
  const se = Math.sqrt(se2)
  const df = (se2 * se2) / dfDenominator
  const half = studentTQuantile(1 - (1 - level) / 2, df) * se
  return { lo: estimate - half, hi: estimate + half, estimate, se, df, level }
}

/** Student t-interval of one group's mean (n - 1 degrees of freedom). */
export const meanCI = (xs: readonly number[], level = 0.95): TInterval => contrastCI([xs], [1], level)

/** Welch t-interval of mean(a) - mean(b). */
export const diffCI = (a: readonly number[], b: readonly number[], level = 0.95): TInterval => contrastCI([a, b], [1, -1], level)

/** One-sided p-value of a t-interval's estimate for the alternative "the true value exceeds `bound`". */
export const pAbove = (ci: TInterval, bound: number): number =>
  ci.se === 0 ? (ci.estimate > bound ? 0 : 1) : Number.isFinite(ci.se) ? 1 - studentTCdf((ci.estimate - bound) / ci.se, ci.df) : NaN

export interface TostResult {
  readonly estimate: number
  readonly margin: number
  /** p of H0 "true value <= -margin" against "> -margin". */
  readonly pLower: number
  /** p of H0 "true value >= margin" against "< margin". */
  readonly pUpper: number
  /** max(pLower, pUpper): equivalence is shown at level alpha when p < alpha. */
  readonly p: number
  /** The (1 - 2 alpha) t-interval: equivalence at alpha = 0.05 <=> this 90% interval lies inside (-margin, margin). */
  readonly interval: TInterval
}

/**
 * Two one-sided tests (Schuirmann's TOST) of |true value| < margin on a t-interval's estimate,
 * standard error and degrees of freedom (a contrast of seed means, or a regression slope).
 * A wide interval cannot show equivalence: with three seeds per group, noisy seeds give
 * "inconclusive", never "equivalent by default" as a non-significant difference test would.
 */
export const tostOf = (ci: TInterval, margin: number, alpha = 0.05): TostResult => {
  const pLower = pAbove(ci, -margin)
  const pUpper = 1 - pAbove(ci, margin)
  const half = ci.se === 0 ? 0 : studentTQuantile(1 - alpha, ci.df) * ci.se
  const interval: TInterval = { ...ci, lo: ci.estimate - half, hi: ci.estimate + half, level: 1 - 2 * alpha }
  return { estimate: ci.estimate, margin, pLower, pUpper, p: Math.max(pLower, pUpper), interval }
}

/** TOST of a Welch contrast of group means (see `contrastCI`). */
export const tost = (groups: ReadonlyArray<readonly number[]>, coefficients: readonly number[], margin: number, alpha = 0.05): TostResult =>
  tostOf(contrastCI(groups, coefficients), margin, alpha)

/**
 * Holm's step-down adjustment: adjusted p-values in the input order, so that "adjusted p < alpha"
 * controls the family-wise error rate at alpha over all the tests (NaN p-values are left out of the family).
 */
export const holmAdjust = (ps: readonly number[]): number[] => {
  const order = ps.map((p, i) => [p, i] as const).filter(([p]) => Number.isFinite(p)).sort((x, y) => x[0] - y[0])
  const out = ps.map(() => NaN)
  let running = 0
  order.forEach(([p, i], rank) => {
    running = Math.max(running, Math.min(1, (order.length - rank) * p))
    out[i] = running
  })
  return out
}

// ---- Regression and rank correlation ----

export interface LinearFit {
  readonly slope: number
  readonly intercept: number
  /** Coefficient of determination of the least-squares line (= Pearson r squared). */
  readonly r2: number
  readonly n: number
}

/** Ordinary least squares y = slope * x + intercept. NaN fields when x has no spread. */
export const linearFit = (x: readonly number[], y: readonly number[]): LinearFit => {
  if (x.length !== y.length) throw new RangeError(`linearFit: ${x.length} x values but ${y.length} y values`)
  const n = x.length
  const mx = mean(x)
  const my = mean(y)
  let sxx = 0, sxy = 0, syy = 0
  for (let i = 0; i < n; i++) {
    const dx = x[i]! - mx, dy = y[i]! - my
    sxx += dx * dx
    sxy += dx * dy
    syy += dy * dy
  }
  if (n < 2 || sxx === 0) return { slope: NaN, intercept: NaN, r2: NaN, n }
  const slope = sxy / sxx
  const intercept = my - slope * mx
  // A constant y is fitted perfectly by the horizontal line.
  const r2 = syy === 0 ? 1 : (sxy * sxy) / (sxx * syy)
  return { slope, intercept, r2, n }
}

/**
 * Least-squares slope with its t-interval (n - 2 degrees of freedom, residual variance):
 * the magnitude of a dependence, which a rank correlation's p-value does not measure.
 */
export const slopeCI = (x: readonly number[], y: readonly number[], level = 0.95): TInterval => {
  const fit = linearFit(x, y)
  const n = x.length
  if (n < 3 || !Number.isFinite(fit.slope)) return { lo: NaN, hi: NaN, estimate: fit.slope, se: NaN, df: n - 2, level }
  const mx = mean(x)
  let sxx = 0, sse = 0
  for (let i = 0; i < n; i++) {
    sxx += (x[i]! - mx) ** 2
    sse += (y[i]! - (fit.intercept + fit.slope * x[i]!)) ** 2
  }
  const se = Math.sqrt(sse / (n - 2) / sxx)
  const half = se === 0 ? 0 : studentTQuantile(1 - (1 - level) / 2, n - 2) * se
  return { lo: fit.slope - half, hi: fit.slope + half, estimate: fit.slope, se, df: n - 2, level }
}

export interface CorrelationInterval extends Interval {
  readonly r: number
  readonly n: number
}

/** Pearson r with Fisher's z interval (needs n >= 4; with 3 points any r is compatible with any other, so NaN bounds). */
export const correlationCI = (x: readonly number[], y: readonly number[], level = 0.95): CorrelationInterval => {
  const r = pearson(x, y)
  const n = x.length
  if (n < 4 || !Number.isFinite(r)) return { r, n, lo: NaN, hi: NaN }
  if (Math.abs(r) === 1) return { r, n, lo: r, hi: r }
  const z = Math.atanh(r)
  const half = studentTQuantile(1 - (1 - level) / 2, Infinity) / Math.sqrt(n - 3)
  return { r, n, lo: Math.tanh(z - half), hi: Math.tanh(z + half) }
}

/** Ranks 1..n, ties get the average of the ranks they span. */
export const ranks = (xs: readonly number[]): number[] => {
  const order = xs.map((x, i) => [x, i] as const).sort((p, q) => p[0] - q[0])
  const out = new Array<number>(xs.length)
  let i = 0
  while (i < order.length) {
    let j = i
    while (j + 1 < order.length && order[j + 1]![0] === order[i]![0]) j++
    const r = (i + j) / 2 + 1
    for (let k = i; k <= j; k++) out[order[k]![1]] = r
    i = j + 1
  }
  return out
}

const pearson = (x: readonly number[], y: readonly number[]): number => {
  const mx = mean(x), my = mean(y)
  let sxx = 0, sxy = 0, syy = 0
  for (let i = 0; i < x.length; i++) {
    const dx = x[i]! - mx, dy = y[i]! - my
    sxx += dx * dx
    sxy += dx * dy
    syy += dy * dy
  }
  return sxx === 0 || syy === 0 ? NaN : sxy / Math.sqrt(sxx * syy)
}

/** Spearman's rho: Pearson correlation of the (tie-averaged) ranks. NaN if either side is constant. */
export const spearman = (x: readonly number[], y: readonly number[]): number => {
  if (x.length !== y.length) throw new RangeError(`spearman: ${x.length} x values but ${y.length} y values`)
  return pearson(ranks(x), ranks(y))
}

/**
 * Two-sided permutation p-value of Spearman's rho: exact over all n! orderings of y
 * for n <= 8, Monte-Carlo (20,000 shuffles from `rng`) above that.
 */
export const spearmanPermutationP = (x: readonly number[], y: readonly number[], rng?: Rng): number => {
  const rx = ranks(x), ry = ranks(y)
  const observed = Math.abs(pearson(rx, ry))
  if (!Number.isFinite(observed)) return NaN
  const eps = 1e-12
  if (x.length <= 8) {
    let hits = 0, total = 0
    const perm = [...ry]
    const rec = (k: number): void => {
      if (k === perm.length) {
        total++
        if (Math.abs(pearson(rx, perm)) >= observed - eps) hits++
        return
      }
      for (let i = k; i < perm.length; i++) {
        ;[perm[k], perm[i]] = [perm[i]!, perm[k]!]
        rec(k + 1)
        ;[perm[k], perm[i]] = [perm[i]!, perm[k]!]
      }
    }
    rec(0)
    return hits / total
  }
  const r = rng ?? new Rng("spearman-permutation")
  const m = 20_000
  let hits = 0
  for (let i = 0; i < m; i++) if (Math.abs(pearson(rx, r.shuffle([...ry]))) >= observed - eps) hits++
  return (hits + 1) / (m + 1)
}
