import { test } from "uvu"
import * as assert from "uvu/assert"
import { Rng } from "../../lib/random.ts"
import { principalScores } from "../../analysis/reduce.ts"

test("principal scores of a rank-3 layer keep its Gram matrix and 3 directions", () => {
  const rng = new Rng(5)
  const d = 40, m = 12, r = 3
  const basis = Array.from({ length: r * m }, () => rng.normal())
  const mix = Array.from({ length: d * r }, () => rng.normal())
  const data = new Float64Array(d * m)
  for (let i = 0; i < d; i++) for (let j = 0; j < m; j++) for (let k = 0; k < r; k++) data[i * m + j] += mix[i * r + k]! * basis[k * m + j]!
  const red = principalScores({ data, neurons: d, datapoints: m }, 6, 0.999999)
  assert.is(red.kept, 3)
  // The centred Gram (datapoints x datapoints) is the same from the scores.
  const centred = new Float64Array(d * m)
  for (let i = 0; i < d; i++) {
    let mean = 0
    for (let j = 0; j < m; j++) mean += data[i * m + j]! / m
    for (let j = 0; j < m; j++) centred[i * m + j] = data[i * m + j]! - mean
  }
  for (let a = 0; a < m; a++) for (let b = 0; b < m; b++) {
    let g1 = 0, g2 = 0
    for (let i = 0; i < d; i++) g1 += centred[i * m + a]! * centred[i * m + b]!
    for (let k = 0; k < red.kept; k++) g2 += red.data[k * m + a]! * red.data[k * m + b]!
    assert.ok(Math.abs(g1 - g2) < 1e-8 * Math.max(1, Math.abs(g1)), `gram[${a},${b}] ${g1} vs ${g2}`)
  }
  assert.ok(red.variance > 0.999999)
})

test("maxDims caps the kept directions", () => {
  const rng = new Rng(6)
  const d = 30, m = 10
  const data = Float64Array.from({ length: d * m }, () => rng.normal())
  assert.is(principalScores({ data, neurons: d, datapoints: m }, 4).kept, 4)
})

test.run()
