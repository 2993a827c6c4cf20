// Small-sample statistics for the report: the paper has three seeds per cell, so every
// function here works (and says what it means) for n = 2..10. Pure functions; the only
// randomness (bootstrap, Monte-Carlo permutations) comes from a caller-supplied Rng.

import { Rng } from "../lib/random.ts"

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

export interface BootstrapOptions {
  /** Resamples (default 10,000). */
  readonly resamples?: number
  /** Coverage (default 0.95). */
  readonly level?: number
}

const resampleMean = (xs: readonly number[], rng: Rng): number => {
  let s = 0
  for (let i = 0; i < xs.length; i++) s += xs[rng.int(xs.length)]!
  return s / xs.length
}

const percentileInterval = (stats: number[], level: number): Interval => {
  stats.sort((a, b) => a - b)
  const alpha = (1 - level) / 2
  return { lo: quantile(stats, alpha), hi: quantile(stats, 1 - alpha) }
}

/**
 * Percentile bootstrap confidence interval of the mean. With three seeds there are only
 * ten distinct resample means, so the interval is coarse (and narrower than a t interval):
 * it describes the seeds we have, not a guarantee. Empty input gives NaN bounds.
 */
export const bootstrapMeanCI = (xs: readonly number[], rng: Rng, options: BootstrapOptions = {}): Interval => {
  if (xs.length === 0) return { lo: NaN, hi: NaN }
  const resamples = options.resamples ?? 10_000
  const stats = new Array<number>(resamples)
  for (let r = 0; r < resamples; r++) stats[r] = resampleMean(xs, rng)
  return percentileInterval(stats, options.level ?? 0.95)
}

/** Percentile bootstrap CI of mean(a) - mean(b), resampling each group independently. */
export const bootstrapDiffCI = (a: readonly number[], b: readonly number[], rng: Rng, options: BootstrapOptions = {}): Interval => {
  if (a.length === 0 || b.length === 0) return { lo: NaN, hi: NaN }
  const resamples = options.resamples ?? 10_000
  const stats = new Array<number>(resamples)
  for (let r = 0; r < resamples; r++) stats[r] = resampleMean(a, rng) - resampleMean(b, rng)
  return percentileInterval(stats, options.level ?? 0.95)
}

/** Percentile bootstrap CI of mean(a) / mean(b), resampling each group independently. */
export const bootstrapRatioCI = (a: readonly number[], b: readonly number[], rng: Rng, options: BootstrapOptions = {}): Interval => {
  if (a.length === 0 || b.length === 0) return { lo: NaN, hi: NaN }
  const resamples = options.resamples ?? 10_000
  const stats = new Array<number>(resamples)
  for (let r = 0; r < resamples; r++) stats[r] = resampleMean(a, rng) / resampleMean(b, rng)
  return percentileInterval(stats, options.level ?? 0.95)
}

/**
 * Percentile bootstrap CI of any statistic of several groups' means (e.g. a speedup
 * fraction of three groups' mean steps): each resample redraws every group independently.
 * Resamples where the statistic is not finite are dropped; if none is finite, NaN bounds.
 */
export const bootstrapStatisticCI = (
  groups: ReadonlyArray<readonly number[]>,
  statistic: (means: number[]) => number,
  rng: Rng,
  options: BootstrapOptions = {},
): Interval => {
  if (groups.length === 0 || groups.some((g) => g.length === 0)) return { lo: NaN, hi: NaN }
  const resamples = options.resamples ?? 10_000
  const stats: number[] = []
  for (let r = 0; r < resamples; r++) {
    const s = statistic(groups.map((g) => resampleMean(g, rng)))
    if (Number.isFinite(s)) stats.push(s)
  }
  if (stats.length === 0) return { lo: NaN, hi: NaN }
  return percentileInterval(stats, options.level ?? 0.95)
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

// ---- Permutation tests ----

const binomial = (n: number, k: number): number => {
  let r = 1
  for (let i = 1; i <= k; i++) r = (r * (n - k + i)) / i
  return Math.round(r)
}

/** Calls visit(mask) for every k-subset of 0..n-1 as a boolean array. */
const forEachSubset = (n: number, k: number, visit: (chosen: boolean[]) => void): void => {
  const chosen = new Array<boolean>(n).fill(false)
  const rec = (start: number, left: number): void => {
    if (left === 0) return visit(chosen)
    for (let i = start; i <= n - left; i++) {
      chosen[i] = true
      rec(i + 1, left - 1)
      chosen[i] = false
    }
  }
  rec(0, k)
}

export interface PermutationResult {
  readonly meanDiff: number
  /** Two-sided p: share of relabelings with |diff| >= observed |diff|. */
  readonly p: number
  /** One-sided p for mean(a) > mean(b). */
  readonly pGreater: number
  /** True when every relabeling was enumerated (no Monte-Carlo error). */
  readonly exact: boolean
  /** The smallest p this design can produce (1 / number of relabelings when exact). */
  readonly minimumP: number
}

/**
 * Two-group permutation test of the difference in means. Exact (all C(n, |a|) relabelings)
 * when that count is at most `maxExact`, else `monteCarlo` random relabelings from `rng`
 * (p then includes the observed labelling, (hits + 1) / (draws + 1)). With 3 vs 3 seeds
 * there are only 20 relabelings, so the two-sided p can never go below 0.1.
 */
export const permutationTest = (
  a: readonly number[],
  b: readonly number[],
  options: { rng?: Rng; maxExact?: number; monteCarlo?: number } = {},
): PermutationResult => {
  const all = [...a, ...b]
  const n = all.length
  const k = a.length
  const observed = mean(a) - mean(b)
  if (k === 0 || b.length === 0) return { meanDiff: observed, p: NaN, pGreater: NaN, exact: true, minimumP: NaN }
  const total = all.reduce((s, x) => s + x, 0)
  const diffOf = (sumA: number): number => sumA / k - (total - sumA) / (n - k)
  // Relative tolerance so ties in floating point count as "as extreme".
  const eps = 1e-12 * Math.max(1, Math.abs(observed))
  const count = binomial(n, k)
  let hitsTwo = 0
  let hitsGreater = 0
  let draws = 0
  const score = (d: number): void => {
    draws++
    if (Math.abs(d) >= Math.abs(observed) - eps) hitsTwo++
    if (d >= observed - eps) hitsGreater++
  }
  if (count <= (options.maxExact ?? 200_000)) {
    forEachSubset(n, k, (chosen) => {
      let s = 0
      for (let i = 0; i < n; i++) if (chosen[i]) s += all[i]!
      score(diffOf(s))
    })
    return { meanDiff: observed, p: hitsTwo / draws, pGreater: hitsGreater / draws, exact: true, minimumP: 1 / count }
  }
  const rng = options.rng ?? new Rng("permutation-test")
  const m = options.monteCarlo ?? 20_000
  for (let r = 0; r < m; r++) {
    const idx = rng.sample(n, k)
    let s = 0
    for (const i of idx) s += all[i]!
    score(diffOf(s))
  }
  return { meanDiff: observed, p: (hitsTwo + 1) / (draws + 1), pGreater: (hitsGreater + 1) / (draws + 1), exact: false, minimumP: 1 / (m + 1) }
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
