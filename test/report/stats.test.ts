import { test } from "uvu"
import * as assert from "uvu/assert"
import { Rng } from "../../lib/random.ts"
import {
  contrastCI, correlationCI, diffCI, holmAdjust, linearFit, logGamma, mean, meanCI, quantile, ranks, regularizedIncompleteBeta,
  sampleStd, slopeCI, spearman, spearmanPermutationP, studentTCdf, studentTQuantile, tost, welchTTest,
} from "../../report/stats.ts"

// Reference values below were computed independently with scipy 1.17 / Python's math module.
const close = (actual: number, expected: number, tol: number, what: string): void =>
  assert.ok(Math.abs(actual - expected) <= tol, `${what}: got ${actual}, expected ${expected} ± ${tol}`)

test("mean and sample std against hand-computed values", () => {
  assert.is(mean([1, 2, 3, 4]), 2.5)
  // deviations -1.5 -0.5 0.5 1.5 -> squares sum 5, / 3
  close(sampleStd([1, 2, 3, 4]), Math.sqrt(5 / 3), 1e-15, "std")
  assert.ok(Number.isNaN(sampleStd([7])))
  assert.ok(Number.isNaN(mean([])))
  close(quantile([1, 2, 3, 4, 5], 0.1), 1.4, 1e-12, "type-7 quantile")
})

test("log gamma, incomplete beta and t CDF against scipy", () => {
  close(logGamma(0.3), 1.0957979948180752, 1e-12, "lgamma(0.3)")
  close(logGamma(10.5), 13.940625219403763, 1e-11, "lgamma(10.5)")
  close(logGamma(100), 359.1342053695754, 1e-9, "lgamma(100)")
  close(regularizedIncompleteBeta(0.3, 2.5, 1.5), 0.08894372317066562, 1e-12, "I_0.3(2.5,1.5)")
  close(studentTCdf(2.776445, 4), 0.9749999973089543, 1e-10, "t cdf df=4")
  close(studentTCdf(-1.5, 2.5), 0.12391822654314809, 1e-10, "t cdf df=2.5")
  close(studentTCdf(0.7, 7.3), 0.7471914299068708, 1e-10, "t cdf df=7.3")
  close(studentTCdf(12.706204736, 1), 0.975, 1e-9, "t cdf df=1")
})

test("Welch t-test against scipy ttest_ind(equal_var=False)", () => {
  const r = welchTTest([1, 2, 3, 4], [2, 4, 6, 8, 10])
  close(r.t, -2.2514363231593695, 1e-12, "t")
  close(r.df, 5.520787746170677, 1e-10, "df")
  close(r.p, 0.06913359319239237, 1e-9, "p")
  close(welchTTest([2, 4, 6, 8, 10], [1, 2, 3, 4]).pGreater, 0.034566796596196186, 1e-9, "one-sided p")
  const s = welchTTest([0.964, 0.9645, 0.9638], [0.967, 0.9668, 0.9675])
  close(s.t, -10.190493307300375, 1e-8, "seed t")
  close(s.p, 0.0005223862847845924, 1e-9, "seed p")
  assert.ok(Number.isNaN(welchTTest([1, 1], [2, 2]).p), "zero variance gives NaN, not a fake p")
})

test("t quantiles against published tables", () => {
  close(studentTQuantile(0.975, 2), 4.302652729911275, 1e-9, "t(0.975, 2)")
  close(studentTQuantile(0.975, 4), 2.7764451051977987, 1e-9, "t(0.975, 4)")
  close(studentTQuantile(0.95, 1), 6.313751514675043, 1e-8, "t(0.95, 1)")
  close(studentTQuantile(0.025, 10), -2.2281388519649385, 1e-9, "t(0.025, 10)")
  close(studentTQuantile(0.975, Infinity), 1.959963984540054, 1e-6, "normal")
  assert.ok(Number.isNaN(studentTQuantile(1, 3)))
})

test("t-intervals of a mean, a Welch difference and a contrast against hand-computed values", () => {
  const xs = [0.95, 0.96, 0.97]
  const ci = meanCI(xs)
  close(ci.hi - ci.estimate, (4.302652729911275 * 0.01) / Math.sqrt(3), 1e-12, "half width, n = 3")
  assert.is(ci.df, 2)
  assert.equal(meanCI([2, 2, 2]), { lo: 2, hi: 2, estimate: 2, se: 0, df: Infinity, level: 0.95 })
  assert.ok(Number.isNaN(meanCI([1]).lo), "one seed: no interval")
  // Welch: the same t and df as the Welch test (scipy values in the test below).
  const d = diffCI([1, 2, 3, 4], [2, 4, 6, 8, 10])
  close(d.estimate / d.se, -2.2514363231593695, 1e-12, "t")
  close(d.df, 5.520787746170677, 1e-10, "df")
  // A contrast [0.5, -1, 0.5] of three groups with equal variance s^2/n = 1/3: se^2 = (0.25 + 1 + 0.25) / 3.
  const c = contrastCI([[9, 10, 11], [4, 5, 6], [1, 2, 3]], [0.5, -1, 0.5])
  close(c.estimate, 1, 1e-12, "estimate")
  close(c.se, Math.sqrt(0.5), 1e-12, "se")
  close(c.df, 0.25 / (((0.0625 / 9) * 2 + 1 / 9) / 2), 1e-9, "Satterthwaite df")
})

// The procedure the report's verdicts rest on, simulated: normal seeds, n = 3, 4,000 seeded replicates.
// Its coverage must be 95% (binomial sd 0.34%); the percentile bootstrap it replaced gave about 80% here.
test("coverage of the seed-level t-interval on normal data with n = 3 lies within 93-97%", () => {
  const r = new Rng("coverage")
  const trials = 4000
  let meanHits = 0, diffHits = 0
  for (let i = 0; i < trials; i++) {
    const a = [r.normal(0.9, 0.02), r.normal(0.9, 0.02), r.normal(0.9, 0.02)]
    const b = [r.normal(0.85, 0.05), r.normal(0.85, 0.05), r.normal(0.85, 0.05)]
    const m = meanCI(a)
    if (m.lo <= 0.9 && 0.9 <= m.hi) meanHits++
    const d = diffCI(a, b)
    if (d.lo <= 0.05 && 0.05 <= d.hi) diffHits++
  }
  const cover = meanHits / trials
  assert.ok(cover >= 0.93 && cover <= 0.97, `t-interval of the mean covered ${cover}`)
  // Welch with 3 vs 3 and unequal variances is slightly conservative, never below nominal by much.
  const dcover = diffHits / trials
  assert.ok(dcover >= 0.93 && dcover <= 0.985, `Welch interval covered ${dcover}`)
})

test("TOST: equivalence shown only when the 90% interval is inside the margin, and its size is at most alpha", () => {
  const tight = tost([[0.967, 0.9668, 0.9675], [0.964, 0.9645, 0.9638]], [1, -1], 0.01)
  assert.ok(tight.p < 0.05 && tight.interval.lo > -0.01 && tight.interval.hi < 0.01, JSON.stringify(tight))
  close(tight.interval.level, 0.9, 1e-12, "90% interval")
  const noisy = tost([[0.99, 0.95, 0.97], [0.96, 0.97, 0.94]], [1, -1], 0.01)
  assert.ok(noisy.p >= 0.05, `three noisy seeds cannot show equivalence: p = ${noisy.p}`)
  // Size: true difference exactly at the margin, the test must claim equivalence at most 5% of the time.
  const r = new Rng("tost-size")
  let rejections = 0
  const trials = 3000
  for (let i = 0; i < trials; i++) {
    const a = [0, 1, 2].map(() => r.normal(0.01, 0.004)), b = [0, 1, 2].map(() => r.normal(0, 0.004))
    if (tost([a, b], [1, -1], 0.01).p < 0.05) rejections++
  }
  assert.ok(rejections / trials <= 0.06, `TOST size ${rejections / trials}`)
})

test("Holm adjustment against a hand-worked example", () => {
  // sorted 0.01, 0.02, 0.04, 0.5 -> 4*0.01, max(0.04, 3*0.02), max(0.06, 2*0.04), max(0.08, 0.5)
  const adj = holmAdjust([0.04, 0.5, 0.01, 0.02])
  const want = [0.08, 0.5, 0.04, 0.06]
  adj.forEach((p, i) => close(p, want[i]!, 1e-12, `p${i}`))
  assert.ok(Number.isNaN(holmAdjust([0.01, NaN])[1]!))
  close(holmAdjust([0.01, NaN])[0]!, 0.01, 1e-12, "NaN is left out of the family")
})

test("slope interval and correlation interval against hand-computed values", () => {
  // y = 2x + e with residuals 0.1, -0.1, -0.1, 0.1 around the fitted line: slope 2, SSE 0.04 - fitted below.
  const x = [1, 2, 3, 4], y = [2.1, 3.9, 5.9, 8.1]
  const s = slopeCI(x, y)
  const fit = linearFit(x, y)
  let sse = 0
  x.forEach((xi, i) => (sse += (y[i]! - fit.intercept - fit.slope * xi) ** 2))
  close(s.estimate, fit.slope, 1e-12, "slope")
  close(s.se, Math.sqrt(sse / 2 / 5), 1e-12, "se (sxx = 5)")
  close(s.hi - s.estimate, 4.302652729911275 * s.se, 1e-9, "t(0.975, 2)")
  assert.ok(Number.isNaN(slopeCI([1, 2], [1, 2]).lo), "two points: no interval")
  const c = correlationCI([1, 2, 3, 4, 5, 6], [1.2, 1.9, 3.4, 3.8, 5.1, 6.3])
  close(c.lo, Math.tanh(Math.atanh(c.r) - 1.959963984540054 / Math.sqrt(3)), 1e-6, "Fisher z lower")
  assert.ok(Number.isNaN(correlationCI([1, 2, 3], [1, 3, 2]).lo), "three pairs: no interval")
})

test("linear fit and R^2 against scipy linregress", () => {
  const f = linearFit([1, 2, 3, 4, 5], [2.1, 3.9, 6.2, 7.8, 10.1])
  close(f.slope, 1.99, 1e-12, "slope")
  close(f.intercept, 0.05, 1e-12, "intercept")
  close(f.r2, 0.997305328900977, 1e-12, "r2")
  assert.ok(Number.isNaN(linearFit([1, 1, 1], [1, 2, 3]).r2))
  assert.throws(() => linearFit([1, 2], [1]), /2 x values but 1 y values/)
})

test("Spearman with ties against scipy spearmanr; exact permutation p", () => {
  assert.equal(ranks([10, 20, 20, 5]), [2, 3.5, 3.5, 1])
  close(spearman([1, 2, 2, 3, 5], [5, 6, 7, 7, 9]), 0.9210526315789475, 1e-12, "rho with ties")
  // Paper Table 1: ImageNet top-5 vs transfer RETINA AUC.
  const top5 = [92.0, 93.9, 77.5, 75.1, 67.6, 73.5]
  const auc = [96.7, 96.7, 96.2, 95.8, 95.8, 95.8]
  close(spearman(top5, auc), 0.9258200997725515, 1e-12, "paper rho")
  // Perfect monotone on 5 points: only the identity and the reversal reach |rho| = 1 -> 2/120.
  close(spearmanPermutationP([1, 2, 3, 4, 5], [2, 4, 5, 8, 9]), 2 / 120, 1e-12, "exact p")
  const p = spearmanPermutationP(top5, auc)
  assert.ok(p > 0 && p < 0.05, String(p))
})

test.run()
