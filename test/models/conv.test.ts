// The training-path Conv2D (models/conv.ts): same values and gradients as tfjs-layers'
// stock layer, and no input gradient computed for a model's first conv; the wasm bias-add
// kernels (ml/kernels/wasm-bias-add.ts) against tf.add on the cpu backend and finite differences.
import { test } from "uvu"
import * as assert from "uvu/assert"
import * as tf from "@tensorflow/tfjs-core"
import * as tfl from "@tensorflow/tfjs-layers"
import "@tensorflow/tfjs-backend-cpu"
import { addChannelBias, conv2d } from "../../models/conv.ts"
import { BIAS_ADD, BIAS_ADD_GRAD } from "../../ml/kernels/wasm-bias-add.ts"
import { setLayerPath } from "../../models/fused-path.ts"
import { Rng } from "../../lib/random.ts"
import { buildModel } from "../../models/index.ts"
import { selectBackend } from "../../ml/backend.ts"

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  assert.is(a.length, b.length)
  let m = 0
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!))
  return m
}

/** Largest difference relative to `b`'s largest magnitude: the gradients here are float32 sums of hundreds of terms, so an absolute bound would test their size, not their agreement. */
const relativeDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let scale = 0
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]!))
  return maxAbsDiff(a, b) / Math.max(scale, 1)
}

test("matches the stock Conv2D in training: output and gradients for input, kernel and bias", async () => {
  await selectBackend("wasm")
  for (const [strides, padding, activation] of [[1, "same", "linear"], [2, "valid", "relu"]] as const) {
    const args = { filters: 5, kernelSize: 3, strides, padding, activation, useBias: true, kernelInitializer: tfl.initializers.glorotUniform({ seed: 3 }), biasInitializer: tfl.initializers.glorotUniform({ seed: 4 }) }
    const ours = conv2d({ ...args }), stock = tfl.layers.conv2d({ ...args })
    const x = tf.randomNormal([2, 9, 8, 4], 0, 1, "float32", 9)
    ours.apply(x); stock.apply(x)
    stock.setWeights(ours.getWeights())
    const run = (layer: tfl.layers.Layer) => {
      const f = (...ins: tf.Tensor[]) => tf.sum(tf.square(layer.apply(ins[0]!, { training: true }) as tf.Tensor))
      const gx = tf.grad(f)(x).dataSync()
      const { grads } = tf.variableGrads(() => f(x) as tf.Scalar, layer.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val))
      return { y: (layer.apply(x, { training: true }) as tf.Tensor).dataSync(), gx, gw: Object.values(grads).map((g) => g.dataSync()) }
    }
    const a = run(ours), b = run(stock)
    // A few float32 roundings of the largest value (observed up to 5e-7 over 40 unseeded bias inits).
    assert.ok(relativeDiff(a.y, b.y) < 4e-6)
    assert.ok(relativeDiff(a.gx, b.gx) < 4e-6)
    assert.is(a.gw.length, 2)
    for (let i = 0; i < 2; i++) assert.ok(relativeDiff(a.gw[i]!, b.gw[i]!) < 4e-6, `weight ${i}: ${relativeDiff(a.gw[i]!, b.gw[i]!)}`)
  }
})

test("a training step computes no input gradient for the first conv", async () => {
  await selectBackend("wasm")
  const built = buildModel({ arch: "cbr-tiny", inputSize: 16, widthMultiplier: 0.125, outputs: 2, outputActivation: "softmax", seed: 1 })
  const x = tf.randomNormal([2, 16, 16, 3], 0, 1, "float32", 1), y = tf.tensor2d([[1, 0], [0, 1]])
  const opt = tf.train.sgd(0.1)
  const prof = await tf.profile(() => { opt.minimize(() => tf.losses.softmaxCrossEntropy(y, built.model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar) })
  const count = (name: string) => prof.kernels.filter((k) => k.name === name).length
  assert.is(count("Conv2DBackpropFilter"), 4)
  assert.is(count("Conv2DBackpropInput"), 3)
  built.model.dispose()
})

test("addChannelBias on wasm runs its kernels and matches tf.add on cpu; dbias equals float64 finite differences", async () => {
  const rng = new Rng("bias-add")
  for (const shape of [[2, 5, 3, 7], [9, 4], [3, 2, 2, 1]]) {
    const size = shape.reduce((a, b) => a * b), c = shape[shape.length - 1]!
    const x = Float32Array.from({ length: size }, () => rng.uniform(-3, 3)), dy = Float32Array.from({ length: size }, () => rng.uniform(-1, 1))
    const bias = Float32Array.from({ length: c }, () => rng.uniform(-1, 1))
    const run = async (backend: string) => {
      await tf.setBackend(backend)
      let values: Float32Array[] = []
      const profile = await tf.profile(() => {
        values = tf.tidy(() => {
          const xt = tf.tensor(x, shape), bt = tf.tensor1d(bias), dyt = tf.tensor(dy, shape)
          const y = addChannelBias(xt, bt)
          const [gx, gb] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(addChannelBias(a, b), dyt)))([xt, bt])
          return [y, gx!, gb!].map((t) => t.dataSync().slice() as Float32Array)
        })
      })
      return { values, kernels: profile.kernels.map((k) => k.name) }
    }
    const onWasm = await run("wasm"), onCpu = await run("cpu")
    assert.ok(onWasm.kernels.includes(BIAS_ADD) && onWasm.kernels.includes(BIAS_ADD_GRAD), onWasm.kernels.join(","))
    assert.not.ok(onCpu.kernels.includes(BIAS_ADD))
    assert.equal(Array.from(onWasm.values[0]!), Array.from(onCpu.values[0]!), "y: the same float32 sums as Add")
    assert.equal(Array.from(onWasm.values[1]!), Array.from(dy), "dx is dy")
    assert.ok(maxAbsDiff(onWasm.values[2]!, onCpu.values[2]!) < 1e-5 * size, `dbias for ${JSON.stringify(shape)}`)
    // L(b) = sum((x + b) dy) in float64; central differences
    const loss = (b: Float64Array) => { let t = 0; for (let i = 0; i < size; i++) t += (x[i]! + b[i % c]!) * dy[i]!; return t }
    const b64 = Float64Array.from(bias), h = 1e-3
    for (let k = 0; k < c; k++) {
      const saved = b64[k]!
      b64[k] = saved + h; const up = loss(b64)
      b64[k] = saved - h; const down = loss(b64)
      b64[k] = saved
      const fd = (up - down) / (2 * h)
      assert.ok(Math.abs(fd - onWasm.values[2]![k]!) < 1e-5 * (1 + Math.abs(fd)), `dbias[${k}] ${onWasm.values[2]![k]} vs ${fd}`)
    }
  }
  await tf.setBackend("wasm")
  const previous = setLayerPath("ops")
  try {
    const kernels = (await tf.profile(() => { tf.tidy(() => addChannelBias(tf.ones([2, 3]), tf.ones([3]))) })).kernels.map((k) => k.name)
    assert.equal(kernels, ["Add"], "the ops path is tf.add")
  } finally {
    setLayerPath(previous)
  }
  assert.throws(() => tf.tidy(() => addChannelBias(tf.ones([2, 3]), tf.ones([4]))), /bias has shape \[4\] but x has 3 channels/)
})

test.run()
