// The training-path batch norm (models/batch-norm.ts) against tfjs-layers' stock
// layer, and its gradients against finite differences computed in float64; the fused wasm
// kernels (ml/kernels/wasm-batch-norm.ts) against the op path on the cpu backend and the
// same finite differences.
import { test } from "uvu"
import * as assert from "uvu/assert"
import * as tf from "@tensorflow/tfjs-core"
import * as tfl from "@tensorflow/tfjs-layers"
import "@tensorflow/tfjs-backend-cpu"
import { batchNormalization, batchNormFused, batchNormTraining } from "../../models/batch-norm.ts"
import { setLayerPath } from "../../models/fused-path.ts"
import { BATCH_NORM_TRAINING, BATCH_NORM_TRAINING_GRAD, movingAverageOnHeap } from "../../ml/kernels/wasm-batch-norm.ts"
import { selectBackend } from "../../ml/backend.ts"
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

/** dx, dgamma and dbeta of <batchNormTraining(x), dy> on the current backend against float64 central differences. */
const checkFiniteDifferences = (seed: string, offset: number) => {
  const rng = new Rng(seed)
  const n = 4 * 3, c = 2, eps = 1e-3
  // `offset` moves the mean far from zero against the spread (the fused path's shifted sums)
  const x = Float64Array.from(randomArray(n * c, rng, offset - 2, offset + 2))
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
}

test("dx, dgamma and dbeta equal float64 finite differences", async () => {
  await tf.setBackend("cpu")
  checkFiniteDifferences("bn-fd", 0)
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

/** y, mean, variance, dx, dgamma and dbeta of batchNormTraining on the current backend, and the kernels it ran. */
const statisticsAndGradients = async (x: Float32Array, shape: number[], gamma: Float32Array, beta: Float32Array, dy: Float32Array) => {
  let kernels: string[] = []
  const values = tf.tidy(() => {
    const xt = tf.tensor(x, shape), dyt = tf.tensor(dy, shape)
    let stats: Float32Array[] = []
    const f = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
      const r = batchNormTraining(a, g, b, 1e-3)
      stats = [r.y.dataSync().slice() as Float32Array, r.mean.dataSync().slice() as Float32Array, r.variance.dataSync().slice() as Float32Array]
      r.mean.dispose(); r.variance.dispose()
      return tf.sum(tf.mul(r.y, dyt))
    }
    const grads = tf.grads(f)([xt, tf.tensor1d(gamma), tf.tensor1d(beta)]).map((t) => t.dataSync().slice() as Float32Array)
    return [...stats, ...grads]
  })
  const profile = await tf.profile(() => tf.tidy(() => {
    tf.grads((a: tf.Tensor) => {
      const r = batchNormTraining(a, tf.tensor1d(gamma), tf.tensor1d(beta), 1e-3)
      r.mean.dispose(); r.variance.dispose()
      return tf.sum(r.y)
    })([tf.tensor(x, shape)])
  }))
  kernels = profile.kernels.map((k) => k.name)
  return { values, kernels }
}

test("on wasm the fused kernels run and match the op path on the cpu backend (ranks 2 and 4, one channel, large means)", async () => {
  await selectBackend("wasm")
  const rng = new Rng("bn-fused-vs-cpu")
  const names = ["y", "mean", "variance", "dx", "dgamma", "dbeta"]
  for (const shape of [[3, 5, 4, 6], [7, 3], [2, 3, 3, 1], [16, 4, 4, 9]]) for (const offset of [0, 40]) {
    const size = shape.reduce((a, b) => a * b), c = shape[shape.length - 1]!
    const x = randomArray(size, rng, offset - 2, offset + 3), dy = randomArray(size, rng)
    const gamma = randomArray(c, rng, 0.5, 1.5), beta = randomArray(c, rng)
    await tf.setBackend("wasm")
    assert.ok(batchNormFused(), "the wasm backend takes the fused path")
    const onWasm = await statisticsAndGradients(x, shape, gamma, beta, dy)
    assert.ok(onWasm.kernels.includes(BATCH_NORM_TRAINING) && onWasm.kernels.includes(BATCH_NORM_TRAINING_GRAD), `fused kernels ran: ${onWasm.kernels.join(",")}`)
    assert.not.ok(onWasm.kernels.includes("Sub"), "no op-path kernels on wasm")
    await tf.setBackend("cpu")
    assert.not.ok(batchNormFused(), "the cpu backend keeps the op path")
    const onCpu = await statisticsAndGradients(x, shape, gamma, beta, dy)
    names.forEach((name, i) => {
      const scale = Math.max(1, ...Array.from(onCpu.values[i]!, Math.abs))
      // the op path rounds every op (and its sums) to float32: agreement is to its rounding
      const tolerance = (i < 3 ? 1e-5 : 1e-4) * scale * (1 + offset / 4)
      const diff = maxAbsDiff(onWasm.values[i]!, onCpu.values[i]!)
      assert.ok(diff < tolerance, `${name} differs by ${diff} (tolerance ${tolerance}) for shape ${JSON.stringify(shape)}, offset ${offset}`)
    })
  }
})

test("on wasm the batch norm layer (fused) matches tfjs-layers' stock layer on cpu; scale=false matches the op path", async () => {
  const rng = new Rng("bn-layer-wasm")
  const shape: [number, number, number, number] = [3, 5, 4, 6]
  const xv = randomArray(3 * 5 * 4 * 6, rng, -2, 3), dyv = randomArray(3 * 5 * 4 * 6, rng)
  const gamma = randomArray(6, rng, 0.5, 1.5), beta = randomArray(6, rng)
  const args = { axis: -1, momentum: 0.9, epsilon: 1e-3 }
  const pass = async (backend: string, make: () => tfl.layers.Layer, weights: (tf.Tensor | Float32Array)[]) => {
    await tf.setBackend(backend)
    const x = tf.tensor4d(xv, shape), dy = tf.tensor4d(dyv, shape)
    const layer = make()
    layer.apply(x) // build
    layer.setWeights(weights.map((w) => (w instanceof Float32Array ? tf.tensor1d(w) : w)))
    return trainingPass(layer, x, dy)
  }
  const withScale = () => [gamma, beta, tf.zeros([6]), tf.ones([6])]
  const a = await pass("wasm", () => batchNormalization({ ...args, name: "ours_wasm" }), withScale())
  const b = await pass("cpu", () => tfl.layers.batchNormalization({ ...args, name: "stock_cpu" }), withScale())
  assert.ok(maxAbsDiff(a.y, b.y) < 1e-5, "output")
  for (let i = 0; i < 4; i++) assert.ok(maxAbsDiff(a.stats[i]!, b.stats[i]!) < 1e-5, `weight ${i} after the update`)
  assert.ok(maxAbsDiff(a.gx, b.gx) < 1e-4, "dx")
  for (let i = 0; i < 2; i++) assert.ok(maxAbsDiff(a.gw[i]!, b.gw[i]!) < 1e-4, `d weight ${i}`)
  const noScale = () => [beta, tf.zeros([6]), tf.ones([6])]
  const c = await pass("wasm", () => batchNormalization({ ...args, scale: false, name: "ours_noscale_wasm" }), noScale())
  const d = await pass("cpu", () => batchNormalization({ ...args, scale: false, name: "ours_noscale_cpu" }), noScale())
  assert.ok(maxAbsDiff(c.y, d.y) < 1e-5, "output without scale")
  for (let i = 0; i < 3; i++) assert.ok(maxAbsDiff(c.stats[i]!, d.stats[i]!) < 1e-5, `weight ${i} without scale`)
  assert.ok(maxAbsDiff(c.gx, d.gx) < 1e-4, "dx without scale")
  assert.is(c.gw.length, 1)
  assert.ok(maxAbsDiff(c.gw[0]!, d.gw[0]!) < 1e-4, "dbeta without scale")
})

test("on wasm the fused dx, dgamma and dbeta equal float64 finite differences, also with a mean far from zero", async () => {
  await tf.setBackend("wasm")
  assert.ok(batchNormFused())
  checkFiniteDifferences("bn-fd-wasm", 0)
  checkFiniteDifferences("bn-fd-wasm-offset", 100)
})

test("on wasm the moving-average update on the heap gives the op path's bits and runs no kernels", async () => {
  await tf.setBackend("wasm")
  const rng = new Rng("bn-moving")
  for (const momentum of [0.99, 0.9, 0.1]) {
    const current = tf.tensor1d(randomArray(37, rng, -3, 3)), value = tf.tensor1d(randomArray(37, rng, -30, 30))
    const decay = 1 - momentum
    const viaOps = tf.tidy(() => tf.sub(current, tf.mul(tf.sub(current, value), decay)))
    let onHeap: tf.Tensor | undefined
    const profile = await tf.profile(() => { onHeap = movingAverageOnHeap(current, value, decay) })
    assert.is(profile.kernels.length, 0)
    assert.equal(Array.from(onHeap!.dataSync()), Array.from(viaOps.dataSync()), `momentum ${momentum}`)
    tf.dispose([current, value, viaOps, onHeap!])
  }
  assert.throws(() => tf.tidy(() => movingAverageOnHeap(tf.zeros([3]), tf.zeros([4]), 0.1)), /same size/)
})

test("on wasm setLayerPath(\"ops\") takes the op path, and the fused path leaks no tensors or wasm buffers", async () => {
  await tf.setBackend("wasm")
  const x = tf.randomNormal([2, 3, 3, 4], 0, 1, "float32", 5)
  const layer = batchNormalization({ name: "bn_leak" })
  layer.apply(x)
  const step = () => tf.tidy(() => {
    tf.grads((a: tf.Tensor) => tf.sum(layer.apply(a, { training: true }) as tf.Tensor))([x])
  })
  const previous = setLayerPath("ops")
  try {
    const kernels = (await tf.profile(step)).kernels.map((k) => k.name)
    assert.not.ok(kernels.includes(BATCH_NORM_TRAINING), "ops path")
    assert.ok(kernels.includes("Sub"))
  } finally {
    setLayerPath(previous)
  }
  step()
  const backend = tf.backend() as unknown as { numDataIds(): number }
  const tensors = tf.memory().numTensors, ids = backend.numDataIds()
  for (let i = 0; i < 3; i++) step()
  assert.is(tf.memory().numTensors, tensors)
  assert.is(backend.numDataIds(), ids)
  x.dispose()
  layer.dispose()
  if (initialBackend) await tf.setBackend(initialBackend)
})

test.run()
