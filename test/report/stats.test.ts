import { test } from "uvu"
import * as assert from "uvu/assert"
import { Rng } from "../../lib/random.ts"
import {
  bootstrapDiffCI, bootstrapMeanCI, linearFit, logGamma, mean, permutationTest, quantile, ranks, regularizedIncompleteBeta,
  sampleStd, spearman, spearmanPermutationP, studentTCdf, welchTTest,
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

test("bootstrap CI of the mean: inside the data range, seeded, and a constant sample gives a point", () => {
  const xs = [0.95, 0.96, 0.97]
  const ci = bootstrapMeanCI(xs, new Rng("b"))
  assert.ok(ci.lo >= 0.95 - 1e-12 && ci.hi <= 0.97 + 1e-12 && ci.lo < mean(xs) && ci.hi > mean(xs), JSON.stringify(ci))
  // The 2.5% quantile of 10,000 resample means of 3 values: P(all three = 0.95) = 1/27 > 2.5%.
  close(ci.lo, 0.95, 1e-12, "lower bound hits the minimum")
  assert.equal(bootstrapMeanCI(xs, new Rng("b")), ci)
  assert.equal(bootstrapMeanCI([2, 2, 2], new Rng("c")), { lo: 2, hi: 2 })
  // Large normal sample: bootstrap CI close to mean ± 1.96 sd/sqrt(n).
  const r = new Rng("normal")
  const big = Array.from({ length: 400 }, () => r.normal(10, 2))
  const bci = bootstrapMeanCI(big, new Rng("b2"), { resamples: 4000 })
  const half = (1.96 * sampleStd(big)) / Math.sqrt(big.length)
  close(bci.lo, mean(big) - half, 0.03, "normal lower")
  close(bci.hi, mean(big) - -half, 0.03, "normal upper")
  const d = bootstrapDiffCI([5, 5.1, 4.9], [1, 1.1, 0.9], new Rng("d"))
  assert.ok(d.lo > 3.7 && d.hi < 4.3 && d.lo < 4 && d.hi > 4, JSON.stringify(d))
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

test("exact permutation test against scipy permutation_test", () => {
  const a = permutationTest([1, 2, 3], [4, 5, 6])
  assert.is(a.exact, true)
  close(a.p, 0.1, 1e-12, "3 vs 3 extreme split")
  close(a.minimumP, 1 / 20, 1e-12, "min p")
  const b = permutationTest([1, 2, 4], [3, 5, 6, 7])
  close(b.p, 0.11428571428571428, 1e-12, "two-sided")
  close(b.pGreater, 0.9714285714285714, 1e-12, "greater")
  // Monte-Carlo path when enumeration is disallowed: close to the exact value.
  const mc = permutationTest([1, 2, 4], [3, 5, 6, 7], { maxExact: 1, rng: new Rng("mc"), monteCarlo: 20000 })
  assert.is(mc.exact, false)
  close(mc.p, 0.11428571428571428, 0.01, "monte carlo")
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
