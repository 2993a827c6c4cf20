import { test } from "uvu"
import * as assert from "uvu/assert"
import { EigenvalueDecomposition, Matrix } from "ml-matrix"
import { Rng } from "../../lib/random.ts"
import { symmetricEigen, transpose } from "../../analysis/linalg.ts"
import { gaussian, mul, orthogonal } from "./helpers.ts"

test("symmetricEigen recovers eigenpairs of Q^T diag(lambda) Q built from known ones", () => {
  const rng = new Rng("eig-known")
  const n = 12
  const q = orthogonal(rng, n) // rows are the eigenvectors
  const lambda = Array.from({ length: n }, (_, i) => 10 - i * 0.75) // distinct, one negative
  const scaled = new Float64Array(n * n)
  for (let k = 0; k < n; k++) for (let j = 0; j < n; j++) scaled[k * n + j] = q[k * n + j]! * lambda[k]!
  const a = mul(transpose(q, n, n), scaled, n, n, n)
  const { values, vectors } = symmetricEigen(a, n)
  for (let k = 0; k < n; k++) {
    assert.ok(Math.abs(values[k]! - lambda[k]!) < 1e-12, `eigenvalue ${k}: ${values[k]} vs ${lambda[k]}`)
    let dot = 0
    for (let j = 0; j < n; j++) dot += vectors[k * n + j]! * q[k * n + j]!
    assert.ok(Math.abs(Math.abs(dot) - 1) < 1e-10, `eigenvector ${k} is not +-q_${k}: |dot| = ${Math.abs(dot)}`)
  }
  const valuesOnly = symmetricEigen(a, n, { vectors: false }).values
  for (let k = 0; k < n; k++) assert.ok(Math.abs(valuesOnly[k]! - lambda[k]!) < 1e-12)
})

test("symmetricEigen agrees with ml-matrix and reconstructs a random covariance", () => {
  const rng = new Rng("eig-random")
  const n = 40
  const b = gaussian(rng, n, 60)
  const a = mul(b, transpose(b, n, 60), n, 60, n)
  const ref = new EigenvalueDecomposition(new Matrix(Array.from({ length: n }, (_, i) => Array.from(a.subarray(i * n, (i + 1) * n)))), { assumeSymmetric: true })
  const refValues = ref.realEigenvalues.sort((x, y) => y - x)
  const { values, vectors } = symmetricEigen(a, n)
  for (let k = 0; k < n; k++) assert.ok(Math.abs(values[k]! - refValues[k]!) < 1e-9 * refValues[0]!)
  let worst = 0
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) {
      let s = 0
      for (let k = 0; k < n; k++) s += vectors[k * n + i]! * values[k]! * vectors[k * n + j]!
      worst = Math.max(worst, Math.abs(s - a[i * n + j]!))
    }
  assert.ok(worst < 1e-9 * values[0]!, `reconstruction error ${worst}`)
})

test("symmetricEigen rejects a wrongly sized matrix", () => {
  assert.throws(() => symmetricEigen(new Float64Array(5), 2), /5 entries for a 2 x 2/)
})

test.run()
