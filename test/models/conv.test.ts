// The training-path Conv2D (models/conv.ts): same values and gradients as tfjs-layers'
// stock layer, and no input gradient computed for a model's first conv.
import { test } from "uvu"
import * as assert from "uvu/assert"
import * as tf from "@tensorflow/tfjs-core"
import * as tfl from "@tensorflow/tfjs-layers"
import "@tensorflow/tfjs-backend-cpu"
import { conv2d } from "../../models/conv.ts"
import { buildModel } from "../../models/index.ts"
import { selectBackend } from "../../ml/backend.ts"

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  assert.is(a.length, b.length)
  let m = 0
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!))
  return m
}

test("matches the stock Conv2D in training: output and gradients for input, kernel and bias", async () => {
  await selectBackend("wasm")
  for (const [strides, padding, activation] of [[1, "same", "linear"], [2, "valid", "relu"]] as const) {
    const args = { filters: 5, kernelSize: 3, strides, padding, activation, useBias: true, kernelInitializer: tfl.initializers.glorotUniform({ seed: 3 }), biasInitializer: "glorotUniform" as const }
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
    assert.ok(maxAbsDiff(a.y, b.y) < 1e-5)
    assert.ok(maxAbsDiff(a.gx, b.gx) < 1e-4)
    assert.is(a.gw.length, 2)
    for (let i = 0; i < 2; i++) assert.ok(maxAbsDiff(a.gw[i]!, b.gw[i]!) < 1e-4, `weight ${i}`)
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

test.run()
