// Every kernel our models and inits use, on the webgpu backend (Dawn over Vulkan) against
// tfjs's cpu backend: conv forward and both conv gradients (kernel 1/3/5/7, stride 1/2,
// same/valid, odd sizes), max pooling and its gradient (ties through a ReLU), transposed matrix products, and the
// end-to-end gradient of every weight of CBR, ResNet-50 and Inception-v3 at small size; then
// determinism of a short training run. Where no Vulkan adapter exists the suite skips and says
// why (CI installs Mesa's lavapipe from bookworm-backports, see .ci/run).
import { test } from "uvu"
import * as assert from "uvu/assert"
import * as tf from "@tensorflow/tfjs-core"
import "@tensorflow/tfjs-backend-cpu"
import { selectBackend } from "../../ml/backend.ts"
import { probeWebgpuAdapter } from "../../ml/webgpu-probe.ts"
import { Rng } from "../../lib/random.ts"
import { randomClassSet } from "./fixtures/tiny-models.ts"
import { retinaTask, train } from "../../ml/train.ts"
import { buildModel } from "../../models/index.ts"
import { convCases, geometry, maxAbsDiff, randomArray, type Shape4 } from "./fixtures/conv-cases.ts"

const read = async (t: tf.Tensor): Promise<Float32Array> => {
  const values = (await t.data()) as Float32Array
  t.dispose()
  return values
}

/** Runs `f` on both backends (same inputs, built inside f) and returns both outputs. */
const onBoth = async <A>(f: () => Promise<A>): Promise<{ gpu: A; cpu: A }> => {
  await tf.setBackend("webgpu")
  const gpu = await f()
  await tf.setBackend("cpu")
  const cpu = await f()
  await tf.setBackend("webgpu")
  return { gpu, cpu }
}

const relativeL2 = (a: ArrayLike<number>, b: ArrayLike<number>): { diff: number; norm: number } => {
  let diff = 0, norm = 0
  for (let j = 0; j < b.length; j++) {
    diff += (a[j]! - b[j]!) ** 2
    norm += b[j]! ** 2
  }
  return { diff: Math.sqrt(diff), norm: Math.sqrt(norm) }
}

const probe = probeWebgpuAdapter()
if (!("adapter" in probe)) {
  console.log(`  webgpu.test.ts: skipping the webgpu kernel tests: ${probe.unavailable}`)
  test("without a usable Vulkan adapter, backend webgpu fails with one line saying why", async () => {
    const message = await selectBackend("webgpu").then(() => "selected", (e: Error) => e.message)
    assert.match(message, /^no usable tfjs backend for request 'webgpu' \(webgpu: /)
    assert.not.match(message, /\n/)
  })
} else {
  test("setup: webgpu backend on the probed adapter", async () => {
    const info = await selectBackend("webgpu")
    assert.is(info.name, "webgpu")
    assert.equal(info.adapter, probe.adapter)
    assert.ok(info.versions["@tensorflow/tfjs-backend-webgpu"] && info.versions.webgpu && info.versions.adapter)
  })

  test("Conv2D forward and both gradients on webgpu match the cpu backend (k 1/3/5/7, stride 1/2, same/valid, odd sizes)", async () => {
    const rng = new Rng("webgpu-conv")
    for (const c of convCases) {
      const ci = 3, co = 4
      const xs: Shape4 = [2, c.h, c.w, ci], ws: Shape4 = [c.k, c.k, ci, co]
      const ys: Shape4 = [2, geometry(c.h, c.k, c.s, c.pad).out, geometry(c.w, c.k, c.s, c.pad).out, co]
      const x = randomArray(xs.reduce((a, b) => a * b), rng), w = randomArray(ws.reduce((a, b) => a * b), rng), dy = randomArray(ys.reduce((a, b) => a * b), rng)
      const { gpu, cpu } = await onBoth(async () => {
        const xt = tf.tensor4d(x, xs), wt = tf.tensor4d(w, ws), dyt = tf.tensor4d(dy, ys)
        const y = tf.conv2d(xt, wt, c.s, c.pad)
        const dW = tf.engine().runKernel("Conv2DBackpropFilter", { x: xt, dy: dyt }, { strides: c.s, pad: c.pad, dataFormat: "NHWC", filterShape: ws }) as tf.Tensor
        const dX = tf.engine().runKernel("Conv2DBackpropInput", { dy: dyt, filter: wt }, { strides: c.s, pad: c.pad, dataFormat: "NHWC", inputShape: xs }) as tf.Tensor
        tf.dispose([xt, wt, dyt])
        return { y: await read(y), dW: await read(dW), dX: await read(dX) }
      })
      for (const key of ["y", "dW", "dX"] as const) {
        const d = maxAbsDiff(gpu[key], cpu[key])
        assert.ok(d < 1e-4, `${key} differs by ${d} for ${JSON.stringify(c)}`)
      }
    }
  })

  test("MaxPool and MaxPoolGrad on webgpu match the cpu backend; after a ReLU (ties at 0) the gradient into the ReLU does", async () => {
    // webgpu's MaxPoolGrad sends a tied window's gradient to another of the tied cells than
    // cpu's (first in window order). In our models ties come from ReLU zeros, whose ReLU
    // gradient is 0 either way, so what training sees is the gradient through ReLU + pool.
    const rng = new Rng("webgpu-maxpool")
    for (const k of [2, 3]) for (const s of [1, 2]) for (const pad of ["same", "valid"] as const) for (const size of [7, 8]) {
      const xs: Shape4 = [2, size, size + 1, 3]
      const ys: Shape4 = [2, geometry(size, k, s, pad).out, geometry(size + 1, k, s, pad).out, 3]
      const x = randomArray(xs.reduce((a, b) => a * b), rng)
      const dy = randomArray(ys.reduce((a, b) => a * b), rng)
      const { gpu, cpu } = await onBoth(async () => {
        const xt = tf.tensor4d(x, xs), dyt = tf.tensor4d(dy, ys)
        const yt = tf.maxPool(xt, k, s, pad)
        const dx = tf.engine().runKernel("MaxPoolGrad", { dy: dyt, input: xt, output: yt }, { filterSize: k, strides: s, pad }) as tf.Tensor
        const throughRelu = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(tf.relu(v) as tf.Tensor4D, k, s, pad), dyt)))(xt)
        tf.dispose([xt, dyt])
        return { y: await read(yt), dx: await read(dx), throughRelu: await read(throughRelu) }
      })
      const where = `k ${k} s ${s} ${pad} size ${size}`
      assert.ok(maxAbsDiff(gpu.y, cpu.y) < 1e-6, `forward ${where}`)
      assert.ok(maxAbsDiff(gpu.dx, cpu.dx) < 1e-5, `gradient ${where}`)
      assert.ok(maxAbsDiff(gpu.throughRelu, cpu.throughRelu) < 1e-5, `gradient through ReLU ${where}`)
    }
  })

  test("BatchMatMul with transposed operands and Transpose on webgpu match the cpu backend", async () => {
    const rng = new Rng("webgpu-matmul")
    const cases: Array<[number[], number[]]> = [[[5, 7], [7, 3]], [[2, 5, 7], [2, 7, 3]], [[2, 5, 7], [1, 7, 3]], [[1, 1], [1, 4]], [[70, 129], [129, 33]]]
    for (const [as, bs] of cases) for (const ta of [false, true]) for (const tb of [false, true]) {
      const aShape = ta ? [...as.slice(0, -2), as[as.length - 1]!, as[as.length - 2]!] : as
      const bShape = tb ? [...bs.slice(0, -2), bs[bs.length - 1]!, bs[bs.length - 2]!] : bs
      const a = randomArray(aShape.reduce((x, y) => x * y), rng), b = randomArray(bShape.reduce((x, y) => x * y), rng)
      const { gpu, cpu } = await onBoth(() => read(tf.matMul(tf.tensor(a, aShape), tf.tensor(b, bShape), ta, tb)))
      assert.ok(maxAbsDiff(gpu, cpu) < 1e-4, `${JSON.stringify([aShape, bShape, ta, tb])}`)
    }
    for (const [shape, perm] of [[[37, 70], [1, 0]], [[3, 33, 65], [0, 2, 1]], [[4, 5, 6, 7], [3, 0, 1, 2]], [[2, 1, 3, 1, 4], [4, 3, 2, 1, 0]]] as const) {
      const values = randomArray(shape.reduce((a: number, b: number) => a * b, 1), rng)
      const { gpu, cpu } = await onBoth(() => read(tf.transpose(tf.tensor(values, [...shape]), [...perm])))
      assert.equal(Array.from(gpu), Array.from(cpu), `${JSON.stringify(shape)} ${JSON.stringify(perm)}`)
    }
  })

  test("gradients of every weight agree between webgpu and cpu for CBR-Small, ResNet-50 and Inception-v3", async () => {
    // The same check and tolerances as the wasm one (test/models/models.test.ts): batch norm
    // over few values amplifies float32 roundoff through the depth, hence batch 8 and a
    // relative L2 bound per weight tensor.
    const BATCH = 8
    for (const arch of ["cbr-small", "resnet50", "inception-v3"] as const) {
      const spec = { arch, widthMultiplier: 0.0625, inputSize: arch === "inception-v3" ? 75 : 35, outputs: 5, outputActivation: "softmax" as const, seed: 1 }
      const { gpu, cpu } = await onBoth(async () => {
        const built = buildModel(spec)
        const x = tf.randomNormal([BATCH, spec.inputSize, spec.inputSize, 3], 0, 1, "float32", 11)
        const y = tf.oneHot(tf.tensor1d(Array.from({ length: BATCH }, (_, i) => i % 5), "int32"), 5)
        const vars = built.model.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val)
        const { value, grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(y, built.model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar, vars)
        const out = { loss: (await value.data())[0]!, grads: await Promise.all(vars.map(async (v) => Float32Array.from(await grads[v.name]!.data()))) }
        tf.dispose([x, y, value, ...Object.values(grads)])
        built.model.dispose()
        return out
      })
      assert.ok(Math.abs(gpu.loss - cpu.loss) < 1e-3 * Math.abs(cpu.loss), `${arch} loss ${gpu.loss} vs ${cpu.loss}`)
      assert.is(gpu.grads.length, cpu.grads.length)
      cpu.grads.forEach((g, i) => {
        const { diff, norm } = relativeL2(gpu.grads[i]!, g)
        // conv biases right before a batch norm have zero true gradient: only roundoff, hence the floor
        assert.ok(diff < 1e-2 * norm + 1e-4, `${arch} weight ${i}: |difference| ${diff} against |gradient| ${norm}`)
      })
    }
  })

  test("a short CBR-Tiny training run on webgpu is bit-identical for the same seed and close to cpu's", async () => {
    const size = 16
    const set = randomClassSet("webgpu-data", size)
    const once = async () => {
      const built = buildModel({ arch: "cbr-tiny", inputSize: size, widthMultiplier: 0.25, outputs: 5, outputActivation: "softmax", seed: 1 })
      const res = await train({ model: built.model, train: set, task: retinaTask(), optimizer: { kind: "adam", learningRate: 1e-3 }, batchSize: 8, steps: 3, seed: 5 })
      const weights = await Promise.all(built.model.getWeights().map(async (t) => Float32Array.from(await t.data())))
      built.model.dispose()
      return { weights, losses: res.losses }
    }
    await tf.setBackend("webgpu")
    const a = await once(), b = await once()
    assert.equal(a.losses, b.losses)
    assert.equal(a.weights, b.weights)
    await tf.setBackend("cpu")
    const c = await once()
    await tf.setBackend("webgpu")
    a.losses.forEach((l, i) => assert.ok(Math.abs(l - c.losses[i]!) < 1e-3 * Math.abs(c.losses[i]!), `step ${i + 1} loss ${l} on webgpu vs ${c.losses[i]} on cpu`))
  })
}

test.run()
