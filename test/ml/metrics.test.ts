import { test } from "uvu"
import * as assert from "uvu/assert"
import { Rng } from "../../lib/random.ts"
import {
  accuracy, averagePrecision, bootstrapCi, delongTest, midranks, normalCdf, placementValues, rocAuc, stepsToThreshold, topKAccuracy,
} from "../../ml/metrics.ts"

const close = (a: number, b: number, tol = 1e-12, msg = "") => assert.ok(Math.abs(a - b) <= tol, `${msg} ${a} vs ${b}`)

/** Independent reference: the AUC definition over all positive-negative pairs. */
const bruteAuc = (scores: number[], labels: number[]): number => {
  let s = 0, pairs = 0
  for (let i = 0; i < scores.length; i++) for (let j = 0; j < scores.length; j++) {
    if (labels[i] !== 1 || labels[j] !== 0) continue
    pairs++
    s += scores[i] > scores[j] ? 1 : scores[i] === scores[j] ? 0.5 : 0
  }
  return s / pairs
}

test("midranks share the mean rank among ties", () => {
  assert.equal([...midranks([3, 1, 3, 2, 3])], [4, 1, 4, 2, 4])
})

test("rocAuc: scikit-learn docstring example and hand-derived ties", () => {
  close(rocAuc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]), 0.75)
  // pos {0.5, 0.5}, neg {0.5, 0.2}: pairs (0.5,0.5) tie x2 -> 1, (0.5,0.2) win x2 -> 2; (1+2)/4
  close(rocAuc([0.5, 0.5, 0.5, 0.2], [1, 1, 0, 0]), 0.75)
  close(rocAuc([1, 2, 3], [1, 1, 0]), 0) // perfectly wrong
  assert.ok(Number.isNaN(rocAuc([1, 2], [1, 1])))
  // NaN labels are dropped with their scores
  close(rocAuc([0.1, 0.4, 99, 0.35, 0.8], [0, 0, NaN, 1, 1]), 0.75)
  assert.throws(() => rocAuc([1, 2], [0, 2]), /label 1 is 2/)
})

test("rocAuc equals the pairwise definition on random data with heavy ties", () => {
  const r = new Rng("auc-ties")
  for (let t = 0; t < 20; t++) {
    const n = 5 + r.int(60)
    const labels = Array.from({ length: n }, () => (r.bernoulli(0.4) ? 1 : 0))
    labels[0] = 1; labels[1] = 0
    const scores = Array.from({ length: n }, (_, i) => r.int(6) + labels[i]) // few distinct values
    close(rocAuc(scores, labels), bruteAuc(scores, labels), 1e-12)
  }
})

test("averagePrecision: scikit-learn docstring example, ties, hand cases", () => {
  close(averagePrecision([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]), 0.8333333333333333, 1e-12)
  // all scores tied: one threshold, recall 1, precision = prevalence
  close(averagePrecision([0.5, 0.5, 0.5, 0.5], [1, 0, 0, 0]), 0.25)
  // ranking pos, neg, pos: (1/2)*1 + (1/2)*(2/3)
  close(averagePrecision([0.9, 0.8, 0.7], [1, 0, 1]), 0.5 + 1 / 3)
  close(averagePrecision([3, 2, 1], [1, 1, 0]), 1)
  assert.ok(Number.isNaN(averagePrecision([1, 2], [0, 0])))
})

test("topKAccuracy and accuracy", () => {
  const probs = [0.7, 0.2, 0.1, /**/ 0.1, 0.3, 0.6, /**/ 0.3, 0.3, 0.4]
  close(accuracy(probs, 3, [0, 1, 2]), 2 / 3)
  close(topKAccuracy(probs, 3, [0, 1, 2], 2), 1)
  // row 1: only 0.7 above -> hit; row 2: two above -> miss; row 3: class 2 above, class 0 ties with a lower index -> miss
  close(topKAccuracy(probs, 3, [1, 0, 1], 2), 1 / 3)
  assert.throws(() => accuracy(probs, 3, [0, 1, 3]), /label 2 is 3/)
})

test("DeLong placement values and variance equal a brute-force computation", () => {
  const r = new Rng("delong")
  const n = 80
  const labels = Array.from({ length: n }, (_, i) => (i % 3 === 0 ? 1 : 0))
  const a = labels.map((y) => Math.round((r.normal() + 1.2 * y) * 4) / 4) // rounded: ties
  const b = labels.map((y, i) => Math.round((0.6 * a[i] + r.normal() + 0.5 * y) * 4) / 4)
  const pos = (s: number[]) => s.filter((_, i) => labels[i] === 1)
  const neg = (s: number[]) => s.filter((_, i) => labels[i] === 0)
  const psi = (x: number, y: number) => (x > y ? 1 : x === y ? 0.5 : 0)
  const brute = (s: number[]) => ({
    v10: pos(s).map((x) => neg(s).reduce((t, y) => t + psi(x, y), 0) / neg(s).length),
    v01: neg(s).map((y) => pos(s).reduce((t, x) => t + psi(x, y), 0) / pos(s).length),
  })
  const ba = brute(a), bb = brute(b)
  const fast = placementValues(pos(a), neg(a))
  ba.v10.forEach((v, i) => close(fast.v10[i], v, 1e-12, "v10"))
  ba.v01.forEach((v, i) => close(fast.v01[i], v, 1e-12, "v01"))
  const mean = (v: number[]) => v.reduce((s, x) => s + x, 0) / v.length
  const cov = (x: number[], y: number[]) => {
    const mx = mean(x), my = mean(y)
    return x.reduce((s, xi, i) => s + (xi - mx) * (y[i] - my), 0) / (x.length - 1)
  }
  const m = ba.v10.length, k = ba.v01.length
  const varA = cov(ba.v10, ba.v10) / m + cov(ba.v01, ba.v01) / k
  const varB = cov(bb.v10, bb.v10) / m + cov(bb.v01, bb.v01) / k
  const covAB = cov(ba.v10, bb.v10) / m + cov(ba.v01, bb.v01) / k
  const res = delongTest(a, b, labels)
  close(res.aucA, bruteAuc(a, labels), 1e-12)
  close(res.aucB, bruteAuc(b, labels), 1e-12)
  close(res.varA, varA, 1e-14)
  close(res.varB, varB, 1e-14)
  close(res.covariance, covAB, 1e-14)
  const z = (res.aucA - res.aucB) / Math.sqrt(varA + varB - 2 * covAB)
  close(res.z, z, 1e-9)
  close(res.p, 2 * (1 - normalCdf(Math.abs(z))), 1e-9)
  // identical predictors: zero difference, p = 1
  const same = delongTest(a, a, labels)
  assert.is(same.z, 0)
  assert.is(same.p, 1)
})

test("normalCdf matches tabulated values", () => {
  close(normalCdf(0), 0.5, 1e-7)
  close(normalCdf(1.959963984540054), 0.975, 1e-7)
  close(normalCdf(-1), 0.15865525393145707, 1e-7)
})

test("bootstrapCi resamples patients, is seeded, and agrees with the DeLong standard error", () => {
  const r = new Rng("boot-data")
  const n = 400
  const labels = Array.from({ length: n }, () => (r.bernoulli(0.3) ? 1 : 0))
  const scores = labels.map((y) => r.normal() + y)
  const patients = labels.map((_, i) => `p${i}`)
  const ci1 = bootstrapCi(scores, labels, patients, { rng: new Rng(5), resamples: 500 })
  const ci2 = bootstrapCi(scores, labels, patients, { rng: new Rng(5), resamples: 500 })
  assert.equal(ci1, ci2)
  close(ci1.estimate, rocAuc(scores, labels))
  assert.ok(ci1.lower < ci1.estimate && ci1.estimate < ci1.upper)
  const se = Math.sqrt(delongTest(scores, scores, labels).varA)
  const halfWidth = (ci1.upper - ci1.lower) / 2
  assert.ok(Math.abs(halfWidth / (1.959964 * se) - 1) < 0.25, `bootstrap half-width ${halfWidth} vs DeLong ${1.96 * se}`)
  // One patient owning every image: every resample is the whole set, so the CI collapses.
  const one = bootstrapCi(scores, labels, labels.map(() => "same"), { rng: new Rng(5), resamples: 50 })
  close(one.lower, one.estimate)
  close(one.upper, one.estimate)
})

test("stepsToThreshold finds the first step reaching the threshold", () => {
  const curve = [
    { step: 300, metrics: { auc: 0.93 } },
    { step: 100, metrics: { auc: 0.85 } },
    { step: 200, metrics: { auc: 0.91 } },
  ]
  assert.is(stepsToThreshold(curve, 0.91), 200)
  assert.is(stepsToThreshold(curve, 0.95), undefined)
  assert.is(stepsToThreshold(curve, 0.5, "accuracy"), undefined)
})

test.run()
