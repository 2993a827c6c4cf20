// Evaluation metrics as plain functions over score/label arrays. Labels are 0/1
// floats; NaN marks an ignored label (CheXpert U-Ignore, blanks) and is dropped
// pairwise with its score, so callers can pass a raw label column.

import * as Schema from "effect/Schema"
import { JsonNumber } from "../lib/json-number.ts"
import { Rng } from "../lib/random.ts"

type Num = ArrayLike<number>

/** Scores of the positives and negatives, NaN labels dropped. Throws on labels other than 0/1/NaN. */
const split = (scores: Num, labels: Num, what: string): { pos: number[]; neg: number[] } => {
  if (scores.length !== labels.length) throw new RangeError(`${what}: ${scores.length} scores but ${labels.length} labels`)
  const pos: number[] = []
  const neg: number[] = []
  for (let i = 0; i < scores.length; i++) {
    const y = labels[i]
    if (Number.isNaN(y)) continue
    const s = scores[i]
    if (!Number.isFinite(s)) throw new RangeError(`${what}: score ${i} is ${s}; scores must be finite`)
    if (y === 1) pos.push(s)
    else if (y === 0) neg.push(s)
    else throw new RangeError(`${what}: label ${i} is ${y}; labels must be 0, 1 or NaN (ignored)`)
  }
  return { pos, neg }
}

/** 1-based midranks of `values` (ties share the mean of their ranks). */
export const midranks = (values: Num): Float64Array => {
  const n = values.length
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => values[a] - values[b])
  const ranks = new Float64Array(n)
  let i = 0
  while (i < n) {
    let j = i
    while (j + 1 < n && values[order[j + 1]] === values[order[i]]) j++
    const r = (i + j) / 2 + 1
    for (let k = i; k <= j; k++) ranks[order[k]] = r
    i = j + 1
  }
  return ranks
}

/** Mann-Whitney AUC from positive and negative scores: P(pos > neg) + 0.5 P(tie). */
const aucOf = (pos: readonly number[], neg: readonly number[]): number => {
  const m = pos.length, n = neg.length
  const ranks = midranks([...pos, ...neg])
  let sum = 0
  for (let i = 0; i < m; i++) sum += ranks[i]
  return (sum - (m * (m + 1)) / 2) / (m * n)
}

/**
 * ROC AUC with midrank ties (equals P(score_pos > score_neg) + 0.5 P(tie)).
 * NaN labels are ignored. Returns NaN when one class is absent, since AUC is undefined there.
 */
export const rocAuc = (scores: Num, labels: Num): number => {
  const { pos, neg } = split(scores, labels, "rocAuc")
  if (pos.length === 0 || neg.length === 0) return Number.NaN
  return aucOf(pos, neg)
}

/**
 * Area under the precision-recall curve as average precision, matching
 * scikit-learn's average_precision_score: sum over distinct score thresholds
 * (descending) of (R_n - R_{n-1}) * P_n, with no interpolation. NaN labels ignored;
 * NaN when there are no positives.
 */
export const averagePrecision = (scores: Num, labels: Num): number => {
  const { pos, neg } = split(scores, labels, "averagePrecision")
  if (pos.length === 0) return Number.NaN
  const items = [...pos.map((s) => ({ s, y: 1 })), ...neg.map((s) => ({ s, y: 0 }))].sort((a, b) => b.s - a.s)
  let tp = 0, fp = 0, prevRecall = 0, ap = 0
  for (let i = 0; i < items.length; i++) {
    if (items[i].y === 1) tp++
    else fp++
    // Only at the last item of a run of tied scores is a threshold reached.
    if (i + 1 < items.length && items[i + 1].s === items[i].s) continue
    const recall = tp / pos.length
    ap += (recall - prevRecall) * (tp / (tp + fp))
    prevRecall = recall
  }
  return ap
}

export interface BootstrapCi {
  /** The statistic on the full sample. */
  readonly estimate: number
  readonly lower: number
  readonly upper: number
  readonly level: number
  /** Resamples that had both classes and entered the percentiles. */
  readonly resamples: number
  /** Resamples dropped because one class was absent. */
  readonly skipped: number
}

/** Linear-interpolated quantile (numpy's default) of sorted values. */
const quantileSorted = (sorted: readonly number[], q: number): number => {
  if (sorted.length === 0) return Number.NaN
  const h = (sorted.length - 1) * q
  const lo = Math.floor(h), hi = Math.ceil(h)
  return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo])
}

/**
 * Percentile bootstrap CI of a two-class statistic (default ROC AUC), resampling
 * PATIENTS with replacement (all images of a drawn patient enter together), because
 * images of one patient (two eyes, several views) are not independent.
 */
export const bootstrapCi = (
  scores: Num,
  labels: Num,
  patients: readonly string[],
  options: { rng: Rng; resamples?: number; level?: number; statistic?: (scores: Num, labels: Num) => number },
): BootstrapCi => {
  const statistic = options.statistic ?? rocAuc
  const resamples = options.resamples ?? 1000
  const level = options.level ?? 0.95
  if (patients.length !== scores.length) throw new RangeError(`bootstrapCi: ${patients.length} patient ids for ${scores.length} scores`)
  const byPatient = new Map<string, number[]>()
  patients.forEach((p, i) => {
    const list = byPatient.get(p)
    if (list) list.push(i)
    else byPatient.set(p, [i])
  })
  const groups = [...byPatient.values()]
  const stats: number[] = []
  let skipped = 0
  for (let b = 0; b < resamples; b++) {
    const s: number[] = [], y: number[] = []
    for (let g = 0; g < groups.length; g++) {
      for (const i of groups[options.rng.int(groups.length)]) {
        s.push(scores[i])
        y.push(labels[i])
      }
    }
    const v = statistic(s, y)
    if (Number.isNaN(v)) skipped++
    else stats.push(v)
  }
  stats.sort((a, b) => a - b)
  const alpha = (1 - level) / 2
  return {
    estimate: statistic(scores, labels),
    lower: quantileSorted(stats, alpha),
    upper: quantileSorted(stats, 1 - alpha),
    level,
    resamples: stats.length,
    skipped,
  }
}

/** Standard normal CDF via the complementary error function (Numerical Recipes erfc, |error| < 1.2e-7). */
export const normalCdf = (z: number): number => {
  const x = Math.abs(z) / Math.SQRT2
  const t = 1 / (1 + 0.5 * x)
  const erfc =
    t *
    Math.exp(
      -x * x - 1.26551223 +
        t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 +
          t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    )
  return z >= 0 ? 1 - erfc / 2 : erfc / 2
}

/**
 * DeLong placement values of one score column (Sun & Xu 2014's midrank form):
 * v10[i] = fraction of negatives a positive i beats (ties 1/2), v01[j] = fraction of
 * positives that beat negative j.
 */
export const placementValues = (pos: readonly number[], neg: readonly number[]): { v10: Float64Array; v01: Float64Array } => {
  const m = pos.length, n = neg.length
  const all = midranks([...pos, ...neg])
  const rp = midranks(pos), rn = midranks(neg)
  const v10 = new Float64Array(m), v01 = new Float64Array(n)
  for (let i = 0; i < m; i++) v10[i] = (all[i] - rp[i]) / n
  for (let j = 0; j < n; j++) v01[j] = 1 - (all[m + j] - rn[j]) / m
  return { v10, v01 }
}

export interface DelongResult {
  readonly aucA: number
  readonly aucB: number
  /** aucA - aucB */
  readonly difference: number
  /** DeLong covariance matrix of (aucA, aucB): [varA, cov, varB]. */
  readonly varA: number
  readonly varB: number
  readonly covariance: number
  readonly z: number
  /** Two-sided p-value of H0: aucA = aucB. */
  readonly p: number
}

/**
 * Paired DeLong test (DeLong, DeLong & Clarke-Pearson 1988) for two correlated ROC
 * AUCs measured on the same cases with the same labels.
 */
export const delongTest = (scoresA: Num, scoresB: Num, labels: Num): DelongResult => {
  if (scoresA.length !== scoresB.length) throw new RangeError(`delongTest: ${scoresA.length} scores for A but ${scoresB.length} for B`)
  const a = split(scoresA, labels, "delongTest(A)")
  const b = split(scoresB, labels, "delongTest(B)")
  const m = a.pos.length, n = a.neg.length
  if (m < 2 || n < 2) throw new RangeError(`delongTest needs at least 2 positives and 2 negatives, got ${m} and ${n}`)
  const pa = placementValues(a.pos, a.neg), pb = placementValues(b.pos, b.neg)
  const mean = (v: Float64Array) => v.reduce((s, x) => s + x, 0) / v.length
  const aucA = mean(pa.v10), aucB = mean(pb.v10)
  const cov = (x: Float64Array, mx: number, y: Float64Array, my: number) => {
    let s = 0
    for (let i = 0; i < x.length; i++) s += (x[i] - mx) * (y[i] - my)
    return s / (x.length - 1)
  }
  const s10 = [cov(pa.v10, aucA, pa.v10, aucA), cov(pa.v10, aucA, pb.v10, aucB), cov(pb.v10, aucB, pb.v10, aucB)]
  const s01 = [cov(pa.v01, aucA, pa.v01, aucA), cov(pa.v01, aucA, pb.v01, aucB), cov(pb.v01, aucB, pb.v01, aucB)]
  const varA = s10[0] / m + s01[0] / n
  const covariance = s10[1] / m + s01[1] / n
  const varB = s10[2] / m + s01[2] / n
  const difference = aucA - aucB
  const varDiff = varA + varB - 2 * covariance
  const z = varDiff > 0 ? difference / Math.sqrt(varDiff) : difference === 0 ? 0 : Math.sign(difference) * Infinity
  const p = Number.isFinite(z) ? 2 * (1 - normalCdf(Math.abs(z))) : 0
  return { aucA, aucB, difference, varA, varB, covariance, z, p: Math.min(1, p) }
}

/**
 * Fraction of rows whose true class is among the k highest probabilities
 * (ties counted against the prediction: a class ranks above the label only if strictly
 * greater, or equal with a lower index). `probs` is row-major N x classes.
 */
export const topKAccuracy = (probs: Num, classes: number, labels: Num, k = 1): number => {
  const n = labels.length
  if (probs.length !== n * classes) throw new RangeError(`topKAccuracy: ${probs.length} probabilities for ${n} rows x ${classes} classes`)
  let hits = 0, counted = 0
  for (let r = 0; r < n; r++) {
    const y = labels[r]
    if (Number.isNaN(y)) continue
    if (!(Number.isInteger(y) && y >= 0 && y < classes)) throw new RangeError(`topKAccuracy: label ${r} is ${y}, expected a class index 0..${classes - 1}`)
    const py = probs[r * classes + y]
    let above = 0
    for (let c = 0; c < classes; c++) {
      const p = probs[r * classes + c]
      if (p > py || (p === py && c < y)) above++
    }
    counted++
    if (above < k) hits++
  }
  return counted === 0 ? Number.NaN : hits / counted
}

export const accuracy = (probs: Num, classes: number, labels: Num): number => topKAccuracy(probs, classes, labels, 1)

/** One point of a validation curve: the step it was measured after and the metric values (NaN where undefined). */
export const CurvePointSchema = Schema.Struct({
  step: Schema.Int,
  metrics: Schema.Record({ key: Schema.String, value: JsonNumber }),
})
export type CurvePoint = typeof CurvePointSchema.Type

/**
 * The first recorded step at which `metric` reaches `threshold` (>=), or undefined if it
 * never does: the paper's convergence measure (steps to 91% validation AUC on RETINA).
 */
export const stepsToThreshold = (curve: readonly CurvePoint[], threshold: number, metric = "auc"): number | undefined => {
  const sorted = [...curve].sort((a, b) => a.step - b.step)
  for (const point of sorted) {
    const v = point.metrics[metric]
    if (v !== undefined && v >= threshold) return point.step
  }
  return undefined
}
