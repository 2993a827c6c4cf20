import { test } from "uvu"
import * as assert from "uvu/assert"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { EigenvalueDecomposition, Matrix, SingularValueDecomposition } from "ml-matrix"
import { Rng } from "../../lib/random.ts"
import { cca, linearCka, pwcca, similarities, svcca } from "../../analysis/cca.ts"
import { jointCovariance } from "../../analysis/covariance.ts"
import { closeAnalysisWorkers } from "../../analysis/pool.ts"
import { acts, fixtureDir, gaussian, mul, orthogonal, orthonormalSignals } from "./helpers.ts"

const dir = fixtureDir("cca")
const readF32 = (name: string): Float32Array => {
  const buf = readFileSync(join(dir, name))
  return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength))
}
const reference = JSON.parse(readFileSync(join(dir, "reference.json"), "utf8")) as { cca_coef1: number[]; mean: number[]; n_coefs_in_mean: number; mean_all_coefs: number }
const shapes = JSON.parse(readFileSync(join(dir, "shapes.json"), "utf8")) as Record<"acts1" | "acts2", { shape: [number, number] }>
const x1 = { data: readF32("acts1.f32"), neurons: shapes.acts1.shape[0], datapoints: shapes.acts1.shape[1] }
const x2 = { data: readF32("acts2.f32"), neurons: shapes.acts2.shape[0], datapoints: shapes.acts2.shape[1] }

for (const engine of ["js", "wasm"] as const) {
  test(`cca matches google/svcca get_cca_similarity on the fixture (${engine} covariance)`, async () => {
    const r = await cca(x1, x2, { epsilon: 0, threshold: 0.98, engine })
    assert.is(r.correlations.length, reference.cca_coef1.length)
    reference.cca_coef1.forEach((want, i) => {
      assert.ok(Math.abs(r.correlations[i]! - want) < 1e-4, `coefficient ${i}: ${r.correlations[i]} vs reference ${want}`)
    })
    assert.is(r.coefsInMean, reference.n_coefs_in_mean)
    assert.ok(Math.abs(r.mean - reference.mean[0]!) < 1e-4, `mean ${r.mean} vs ${reference.mean[0]}`)
    assert.ok(Math.abs(r.meanAll - reference.mean_all_coefs) < 1e-4)
  })
}

// From test/analysis/numpy_reference.py (numpy 2.4.6, float64, SVD of the m-long data and QR of the canonical variates).
const numpy = { svcca: 0.304844379262145, svccaDirections: [61, 46], pwcca: 0.25575820766866497, cka: 0.08537404656790448, ccaMeanEps: 0.3131645847617363 }

test("SVCCA, PWCCA (both orders) and CKA on the fixture agree with an independent numpy computation", async () => {
  const all = await similarities(x1, x2, { epsilon: 1e-10 })
  assert.ok(Math.abs(all.svcca.mean - numpy.svcca) < 1e-6, `svcca ${all.svcca.mean} vs ${numpy.svcca}`)
  assert.equal([all.svcca.directionsX, all.svcca.directionsY], numpy.svccaDirections)
  assert.ok(Math.abs(all.pwcca.pwcca - numpy.pwcca) < 1e-6, `pwcca ${all.pwcca.pwcca} vs ${numpy.pwcca}`)
  assert.ok(Math.abs((await pwcca(x2, x1)).pwcca - numpy.pwcca) < 1e-6)
  assert.ok(Math.abs(all.cka - numpy.cka) < 1e-6, `cka ${all.cka} vs ${numpy.cka}`)
  assert.ok(Math.abs(all.cca.mean - numpy.ccaMeanEps) < 1e-6)
})

test("identical inputs give similarity 1 under every measure", async () => {
  const rng = new Rng("identical")
  const x = acts(gaussian(rng, 8, 400), 8)
  const all = await similarities(x, x)
  assert.ok(Math.abs(all.cca.mean - 1) < 1e-6, `cca ${all.cca.mean}`)
  assert.ok(Math.abs(all.svcca.mean - 1) < 1e-6, `svcca ${all.svcca.mean}`)
  assert.ok(Math.abs(all.pwcca.pwcca - 1) < 1e-6, `pwcca ${all.pwcca.pwcca}`)
  assert.ok(Math.abs(all.cka - 1) < 1e-12, `cka ${all.cka}`)
})

test("CCA correlations are invariant to an invertible linear transform of either side", async () => {
  const rng = new Rng("cca-invariance")
  const m = 3000, d = 6
  const shared = gaussian(rng, 3, m)
  const x = mul(gaussian(rng, d, 3), shared, d, 3, m).map((v) => v + 0.7 * rng.normal())
  const y = gaussian(rng, d, m)
  for (let i = 0; i < 3 * m; i++) y[i] = y[i]! + shared[i]!
  const a = gaussian(rng, d, d)
  for (let i = 0; i < d; i++) a[i * d + i] = a[i * d + i]! + 3 // well-conditioned
  const base = await cca(acts(x, d), acts(y, d), { epsilon: 0 })
  const moved = await cca(acts(mul(a, x, d, d, m), d), acts(y, d), { epsilon: 0 })
  assert.ok(base.correlations[0]! > 0.5, "the planted shared signal should give a strong first correlation")
  for (let i = 0; i < d; i++) assert.ok(Math.abs(base.correlations[i]! - moved.correlations[i]!) < 1e-8, `coefficient ${i}: ${base.correlations[i]} vs ${moved.correlations[i]}`)
  // CKA is not invariant to a general linear map; this guards the CCA check against a degenerate pass.
  const ckaBase = await linearCka(acts(x, d), acts(y, d))
  const ckaMoved = await linearCka(acts(mul(a, x, d, d, m), d), acts(y, d))
  assert.ok(Math.abs(ckaBase - ckaMoved) > 1e-3)
})

test("linear CKA is invariant to orthogonal transforms and isotropic scaling, not to anisotropic scaling", async () => {
  const rng = new Rng("cka-invariance")
  const m = 1000, d = 7
  const x = gaussian(rng, d, m)
  const y = mul(gaussian(rng, d, d), x, d, d, m).map((v) => v + rng.normal())
  const q = orthogonal(rng, d)
  const base = await linearCka(acts(x, d), acts(y, d))
  const rotated = await linearCka(acts(mul(q, x, d, d, m).map((v) => 4.5 * v), d), acts(y, d))
  assert.ok(Math.abs(base - rotated) < 1e-12, `${base} vs ${rotated}`)
  const stretched = x.map((v, i) => (i < m ? 10 * v : v))
  assert.ok(Math.abs(base - (await linearCka(acts(stretched, d), acts(y, d)))) > 1e-3)
})

test("independent noise gives similarity near 0", async () => {
  const rng = new Rng("independent")
  const m = 20000, d = 10
  const x = acts(gaussian(rng, d, m), d), y = acts(gaussian(rng, d, m), d)
  const all = await similarities(x, y)
  // Under independence the sample canonical correlations are O(sqrt(d / m)) ~ 0.02.
  assert.ok(all.cca.correlations[0]! < 0.06, `top correlation ${all.cca.correlations[0]}`)
  assert.ok(all.cca.mean < 0.04 && all.svcca.mean < 0.04 && all.pwcca.pwcca < 0.04, JSON.stringify([all.cca.mean, all.svcca.mean, all.pwcca.pwcca]))
  assert.ok(all.cka < 0.005, `cka ${all.cka}`)
})

test("PWCCA has the known answer (a + b rho) / (a + b) and does not depend on argument order", async () => {
  const rng = new Rng("pwcca-known")
  const m = 500, a = 3, b = 1, rho = 0.6
  const s = orthonormalSignals(rng, 4, m) // s1, s2, n1, n2
  const row = (k: number) => s.subarray(k * m, (k + 1) * m)
  const x = new Float64Array(2 * m), y = new Float64Array(3 * m)
  for (let c = 0; c < m; c++) {
    x[c] = a * row(0)[c]!
    x[m + c] = b * row(1)[c]!
    y[c] = row(0)[c]!
    y[m + c] = rho * row(1)[c]! + Math.sqrt(1 - rho * rho) * row(2)[c]!
    y[2 * m + c] = row(3)[c]!
  }
  const want = (a + b * rho) / (a + b)
  const xy = await pwcca(acts(x, 2), acts(y, 3), { epsilon: 0 })
  const yx = await pwcca(acts(y, 3), acts(x, 2), { epsilon: 0 })
  assert.ok(Math.abs(xy.correlations[0]! - 1) < 1e-9 && Math.abs(xy.correlations[1]! - rho) < 1e-9)
  assert.ok(Math.abs(xy.pwcca - want) < 1e-9, `pwcca(x, y) = ${xy.pwcca}, want ${want}`)
  assert.ok(Math.abs(yx.pwcca - want) < 1e-9, `pwcca(y, x) = ${yx.pwcca}, want ${want}`)
  assert.is(xy.weightedBy, "x")
  assert.is(yx.weightedBy, "y")
  // Plain CCA mean would be (1 + rho) / 2: the weighting must move it.
  assert.ok(Math.abs(want - (1 + rho) / 2) > 0.05)
})

test("PWCCA with a duplicated neuron gives the zero variate no weight: (2a + b rho) / (2a + b)", async () => {
  const rng = new Rng("pwcca-duplicate")
  const m = 400, a = 2, b = 1, rho = 0.5
  const s = orthonormalSignals(rng, 5, m)
  const row = (k: number) => s.subarray(k * m, (k + 1) * m)
  const x = new Float64Array(3 * m), y = new Float64Array(4 * m)
  for (let c = 0; c < m; c++) {
    x[c] = x[2 * m + c] = a * row(0)[c]! // neuron 3 repeats neuron 1: Sxx is singular
    x[m + c] = b * row(1)[c]!
    y[c] = row(0)[c]!
    y[m + c] = rho * row(1)[c]! + Math.sqrt(1 - rho * rho) * row(2)[c]!
    y[2 * m + c] = row(3)[c]!
    y[3 * m + c] = row(4)[c]!
  }
  const want = (2 * a + b * rho) / (2 * a + b)
  for (const [p, q] of [[acts(x, 3), acts(y, 4)], [acts(y, 4), acts(x, 3)]] as const) {
    const r = await pwcca(p, q, { epsilon: 0 })
    assert.ok(Math.abs(r.pwcca - want) < 1e-9, `pwcca ${r.pwcca}, want ${want}`)
    assert.ok(Math.abs(r.correlations[2]!) < 1e-9 && Math.abs(r.weights[2]!) < 1e-12)
  }
})

test("fewer datapoints than neurons: every measure is defined (correlations degenerate to 1, as they must)", async () => {
  const rng = new Rng("wide")
  const all = await similarities(acts(gaussian(rng, 64, 30), 64), acts(gaussian(rng, 32, 30), 32))
  assert.ok(Math.abs(all.cca.mean - 1) < 1e-6 && Math.abs(all.pwcca.pwcca - 1) < 1e-6, JSON.stringify([all.cca.mean, all.pwcca.pwcca]))
  assert.ok(all.svcca.mean > 0 && all.svcca.mean <= 1 + 1e-9)
  assert.ok(all.cka > 0 && all.cka < 1)
})

test("PWCCA is symmetric on the fixture (the reference breaks when the second layer is smaller)", async () => {
  const p12 = await pwcca(x1, x2)
  const p21 = await pwcca(x2, x1)
  assert.ok(Math.abs(p12.pwcca - p21.pwcca) < 1e-9)
  assert.ok(p12.pwcca > 0 && p12.pwcca < 1)
  const w = p12.weights.reduce((s, v) => s + v, 0)
  assert.ok(Math.abs(w - 1) < 1e-12)
})

test("SVCCA keeps the directions explaining 99% of variance and sees through low-variance noise neurons", async () => {
  const rng = new Rng("svcca-lowrank")
  const m = 4000, d = 20, k = 3
  const latent = gaussian(rng, k, m)
  const embed = (label: string) => {
    const r = rng.fork(label)
    const data = mul(gaussian(r, d, k), latent, d, k, m)
    for (let i = 0; i < data.length; i++) data[i] = data[i]! + 0.01 * r.normal()
    return acts(data, d)
  }
  const x = embed("x"), y = embed("y")
  const s = await svcca(x, y)
  assert.is(s.directionsX, k)
  assert.is(s.directionsY, k)
  assert.ok(s.mean > 0.999, `svcca ${s.mean}`)
  // Plain CCA also matches the 17 independent noise directions, which pulls its mean down.
  const c = await cca(x, y)
  assert.ok(c.meanAll < 0.5, `cca mean over all ${c.meanAll}`)
})

test("large layers (worker eigendecompositions and products) agree with an ml-matrix EVD + SVD computation", async () => {
  const rng = new Rng("large-cca")
  const m = 2000, dx = 200, dy = 170, k = 20
  const shared = gaussian(rng, k, m)
  const layer = (d: number, label: string) => {
    const r = rng.fork(label)
    const data = mul(gaussian(r, d, k), shared, d, k, m)
    for (let i = 0; i < data.length; i++) data[i] = data[i]! + 2 * r.normal()
    return acts(Float32Array.from(data), d)
  }
  const x = layer(dx, "x"), y = layer(dy, "y")
  const [a, b] = await Promise.all([cca(x, y, { epsilon: 0, engine: "wasm" }), pwcca(y, x, { epsilon: 0, engine: "wasm" })])
  // Independent: Float64 covariance, EVD inverse square roots and SVD from ml-matrix.
  const cov = await jointCovariance(x, y, "js")
  const toM = (v: Float64Array, r: number, c: number) => new Matrix(Array.from({ length: r }, (_, i) => Array.from(v.subarray(i * c, (i + 1) * c))))
  const invSqrt = (s: Matrix) => {
    const e = new EigenvalueDecomposition(s, { assumeSymmetric: true })
    return e.eigenvectorMatrix.mmul(Matrix.diag(e.realEigenvalues.map((w) => 1 / Math.sqrt(w)))).mmul(e.eigenvectorMatrix.transpose())
  }
  const t = invSqrt(toM(cov.sxx, dx, dx)).mmul(toM(cov.sxy, dx, dy)).mmul(invSqrt(toM(cov.syy, dy, dy)))
  const sv = new SingularValueDecomposition(t, { computeLeftSingularVectors: false, computeRightSingularVectors: false }).diagonal
  assert.is(a.correlations.length, dy)
  for (let i = 0; i < dy; i++) assert.ok(Math.abs(a.correlations[i]! - sv[i]!) < 1e-5, `coefficient ${i}: ${a.correlations[i]} vs ${sv[i]}`)
  // 20 planted directions near 0.97; with 200 and 170 neurons over 2000 datapoints pure noise reaches ~0.55.
  assert.ok(a.correlations[k - 1]! > 0.9 && a.correlations[k]! < 0.7, "the 20 planted directions should stand out")
  assert.is(b.weightedBy, "x") // y (170 neurons) is the smaller layer; it was passed first
  const pxy = await pwcca(x, y, { epsilon: 0, engine: "wasm" })
  assert.ok(Math.abs(pxy.pwcca - b.pwcca) < 1e-9)
})

test("mismatched datapoints and bad shapes give errors naming the counts", async () => {
  let message = ""
  try {
    await cca(acts(new Float64Array(20), 2), acts(new Float64Array(33), 3))
  } catch (e) {
    message = (e as Error).message
  }
  assert.match(message, /x has 10 datapoints but y has 11/)
  message = ""
  try {
    await jointCovariance({ data: new Float64Array(20), neurons: 2, datapoints: 10 }, { data: new Float64Array(20), neurons: 2, datapoints: 9 })
  } catch (e) {
    message = (e as Error).message
  }
  assert.match(message, /20 values, expected neurons x datapoints = 2 x 9/)
})

test.after(async () => {
  await closeAnalysisWorkers()
})

test.run()
