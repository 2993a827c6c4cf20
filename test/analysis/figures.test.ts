import { test } from "uvu"
import * as assert from "uvu/assert"
import { figure2Data, figure3Data, figure4Data, linearFit, summarise } from "../../analysis/figures.ts"

const close = (a: number, b: number, eps = 1e-12) => assert.ok(Math.abs(a - b) < eps, `${a} vs ${b}`)

test("linearFit recovers a hand-computed fit and R^2", () => {
  // x = 0..3, y = 1, 3, 2, 5: Sxy = 5.5, Sxx = 5, Syy = 8.75 -> slope 1.1, intercept 1.1, R^2 = 5.5^2 / (5 * 8.75).
  const fit = linearFit([0, 1, 2, 3], [1, 3, 2, 5])
  close(fit.slope, 1.1)
  close(fit.intercept, 1.1)
  close(fit.r2, 30.25 / 43.75)
  close(linearFit([1, 2, 4], [3, 5, 9]).r2, 1)
  close(linearFit([1, 2, 3, 4], [2, 1, 1, 2]).r2, 0) // symmetric: no linear trend
  assert.throws(() => linearFit([1, 1], [2, 3]), /all x values are equal/)
})

test("Figure 4 fits similarity after training against similarity at init", () => {
  const { fit, points } = figure4Data([
    { pair: "a", atInit: 0.2, afterTraining: 0.5 },
    { pair: "b", atInit: 0.4, afterTraining: 0.6 },
    { pair: "c", atInit: 0.6, afterTraining: 0.7 },
  ])
  assert.is(points.length, 3)
  close(fit.slope, 0.5)
  close(fit.intercept, 0.4)
  close(fit.r2, 1)
})

test("Figure 2 averages the top two layers before the output, per model and comparison", () => {
  const layers = { small: ["conv1", "conv2", "conv3", "conv4"] }
  const rows = figure2Data(
    [
      { model: "small", comparison: "pretrained-vs-random", scores: { conv1: 0.9, conv2: 0.8, conv3: 0.4, conv4: 0.2 } },
      { model: "small", comparison: "pretrained-vs-random", scores: { conv1: 0.9, conv2: 0.8, conv3: 0.6, conv4: 0.4 } },
      { model: "small", comparison: "random-vs-random", scores: { conv1: 0.9, conv2: 0.8, conv3: 0.5, conv4: 0.5 } },
    ],
    layers,
  )
  assert.is(rows.length, 2)
  const pr = rows.find((r) => r.comparison === "pretrained-vs-random")!
  assert.equal(pr.layers, ["conv3", "conv4"])
  close(pr.mean, 0.4)
  close(pr.std, Math.sqrt(0.02))
  assert.is(pr.n, 2)
  close(rows.find((r) => r.comparison === "random-vs-random")!.mean, 0.5)
  assert.throws(() => figure2Data([{ model: "small", comparison: "x", scores: { conv3: 1 } }], layers), /no finite score for layer "conv4"/)
})

test("Figure 3 gives per-layer means over repetitions in input-to-output order", () => {
  const rows = figure3Data(
    [
      { model: "tiny", init: "random", scores: { conv1: 0.9, conv2: 0.5 } },
      { model: "tiny", init: "random", scores: { conv1: 0.7, conv2: 0.3 } },
      { model: "tiny", init: "transfer", scores: { conv1: 0.95, conv2: 0.9 } },
    ],
    { tiny: ["conv1", "conv2"] },
  )
  assert.equal(rows.map((r) => `${r.init}/${r.layer}/${r.depth}`), ["random/conv1/0", "random/conv2/1", "transfer/conv1/0", "transfer/conv2/1"])
  close(rows[0]!.mean, 0.8)
  close(rows[1]!.mean, 0.4)
  assert.is(rows[2]!.n, 1)
  assert.is(summarise([]).n, 0)
})

test.run()
