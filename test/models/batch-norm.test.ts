// The training-path batch norm (models/batch-norm.ts) against tfjs-layers' stock
// layer, and its input gradient against finite differences computed in float64.
import { test } from "uvu"
import * as assert from "uvu/assert"
import * as tf from "@tensorflow/tfjs-core"
import * as tfl from "@tensorflow/tfjs-layers"
import "@tensorflow/tfjs-backend-cpu"
import { batchNormalization, batchNormTraining } from "../../models/batch-norm.ts"
import { Rng } from "../../lib/random.ts"

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  assert.is(a.length, b.length)
  let m = 0
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!))
  return m
}

const randomArray = (n: number, rng: Rng, lo = -1, hi = 1) => Float32Array.from({ length: n }, () => rng.uniform(lo, hi))

/** Output, moving statistics after one training call, and gradients of <y, dy> w.r.t. x and the trainable weights. */
const trainingPass = (layer: tfl.layers.Layer, x: tf.Tensor, dy: tf.Tensor) => {
  const y = layer.apply(x, { training: true }) as tf.Tensor
  const stats = layer.getWeights().map((w) => w.dataSync().slice())
  const f = (xi: tf.Tensor) => tf.sum(tf.mul(layer.apply(xi, { training: true }) as tf.Tensor, dy))
  const gx = tf.grad(f)(x)
  const { grads } = tf.variableGrads(() => f(x) as tf.Scalar, layer.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val))
  return { y: y.dataSync().slice(), stats, gx: gx.dataSync().slice(), gw: Object.values(grads).map((g) => g.dataSync().slice()) }
}

let initialBackend = ""

test("matches tfjs-layers' BatchNormalization in training: output, moving statistics, gradients", async () => {
  initialBackend = tf.getBackend() ?? ""
  await tf.setBackend("cpu")
  const rng = new Rng("bn")
  const shape: [number, number, number, number] = [3, 5, 4, 6]
  const x = tf.tensor4d(randomArray(3 * 5 * 4 * 6, rng, -2, 3), shape)
  const dy = tf.tensor4d(randomArray(3 * 5 * 4 * 6, rng), shape)
  const gamma = tf.tensor1d(randomArray(6, rng, 0.5, 1.5)), beta = tf.tensor1d(randomArray(6, rng))
  const args = { axis: -1, momentum: 0.9, epsilon: 1e-3 }
  const ours = batchNormalization({ ...args, name: "ours" })
  const stock = tfl.layers.batchNormalization({ ...args, name: "stock" })
  ours.apply(x); stock.apply(x) // build
  for (const l of [ours, stock]) l.setWeights([gamma, beta, tf.zeros([6]), tf.ones([6])])
  const a = trainingPass(ours, x, dy), b = trainingPass(stock, x, dy)
  assert.ok(maxAbsDiff(a.y, b.y) < 1e-5, "output")
  for (let i = 0; i < 4; i++) assert.ok(maxAbsDiff(a.stats[i]!, b.stats[i]!) < 1e-5, `weight ${i} after the update`)
  assert.ok(maxAbsDiff(a.gx, b.gx) < 1e-4, "dx")
  assert.is(a.gw.length, 2)
  for (let i = 0; i < 2; i++) assert.ok(maxAbsDiff(a.gw[i]!, b.gw[i]!) < 1e-4, `d weight ${i}`)
  // inference path is the stock one
  assert.ok(maxAbsDiff((ours.apply(x) as tf.Tensor).dataSync(), (stock.apply(x) as tf.Tensor).dataSync()) < 1e-6)
})

test("dx, dgamma and dbeta equal float64 finite differences", async () => {
  await tf.setBackend("cpu")
  const rng = new Rng("bn-fd")
  const n = 4 * 3, c = 2, eps = 1e-3
  const x = Float64Array.from(randomArray(n * c, rng, -2, 2))
  const g = Float64Array.from(randomArray(c, rng, 0.5, 1.5)), bta = Float64Array.from(randomArray(c, rng))
  const dy = Float64Array.from(randomArray(n * c, rng))
  const loss = (xv: Float64Array, gv: Float64Array, bv: Float64Array) => {
    let total = 0
    for (let ch = 0; ch < c; ch++) {
      let mean = 0, v = 0
      for (let i = 0; i < n; i++) mean += xv[i * c + ch]! / n
      for (let i = 0; i < n; i++) v += (xv[i * c + ch]! - mean) ** 2 / n
      for (let i = 0; i < n; i++) total += dy[i * c + ch]! * (gv[ch]! * (xv[i * c + ch]! - mean) / Math.sqrt(v + eps) + bv[ch]!)
    }
    return total
  }
  const [gx, gg, gb] = tf.tidy(() => {
    const f = (xt: tf.Tensor, gt: tf.Tensor, bt: tf.Tensor) => {
      const r = batchNormTraining(xt, gt, bt, eps)
      r.mean.dispose(); r.variance.dispose()
      return tf.sum(tf.mul(r.y, tf.tensor(Float32Array.from(dy), [4, 3, c])))
    }
    return tf.grads((a: tf.Tensor, b: tf.Tensor, d: tf.Tensor) => f(a, b, d))([tf.tensor(Float32Array.from(x), [4, 3, c]), tf.tensor1d(Float32Array.from(g)), tf.tensor1d(Float32Array.from(bta))]).map((t) => t.dataSync().slice())
  })
  const h = 1e-5
  const fd = (arr: Float64Array, i: number) => {
    const s = arr[i]!
    arr[i] = s + h; const up = loss(x, g, bta)
    arr[i] = s - h; const down = loss(x, g, bta)
    arr[i] = s
    return (up - down) / (2 * h)
  }
  for (let i = 0; i < x.length; i++) assert.ok(Math.abs(fd(x, i) - gx![i]!) < 2e-3, `dx[${i}] ${gx![i]} vs ${fd(x, i)}`)
  for (let i = 0; i < c; i++) {
    assert.ok(Math.abs(fd(g, i) - gg![i]!) < 1e-3, `dgamma[${i}]`)
    assert.ok(Math.abs(fd(bta, i) - gb![i]!) < 1e-3, `dbeta[${i}]`)
  }
})

test("scale=false (Keras InceptionV3) trains, where the stock layer throws", async () => {
  await tf.setBackend("cpu")
  const x = tf.randomNormal([2, 3, 3, 4], 0, 1, "float32", 5)
  const stock = tfl.layers.batchNormalization({ scale: false, name: "stock_noscale" })
  stock.apply(x)
  assert.throws(() => stock.apply(x, { training: true }))
  const ours = batchNormalization({ scale: false, name: "ours_noscale" })
  const y = ours.apply(x, { training: true }) as tf.Tensor
  assert.is(ours.getWeights().length, 3) // beta, moving mean, moving variance: no gamma, as in Keras
  const perChannelMean = tf.mean(y, [0, 1, 2]).dataSync()
  for (const m of perChannelMean) assert.ok(Math.abs(m) < 1e-5)
  const before = tf.memory().numTensors
  tf.tidy(() => { ours.apply(x, { training: true }) })
  assert.is(tf.memory().numTensors, before, "no tensors leak from a training call")
  if (initialBackend) await tf.setBackend(initialBackend)
})

test.run()
