// The in-place wasm update of ml/optimizer.ts against the op-by-op path (same bits over
// several steps, Adam and SGD-momentum), against a hand-computed Adam step, and the choice
// of path by backend; the learning-rate schedules as pure functions.
import { test } from "uvu"
import { identityWasm } from "../../ml/kernels/wasm-identity.ts"
import { stockKernel } from "../../ml/kernels/stock.ts"
import * as assert from "uvu/assert"
import * as tf from "@tensorflow/tfjs-core"
import "@tensorflow/tfjs-backend-cpu"
import { adamScalars, adamUpdate, learningRateAt, Optimizer, type OptimizerConfig, type UpdatePath } from "../../ml/optimizer.ts"
import { restoreBackend, tinyConvNet, useWasm, weightArrays } from "./fixtures/tiny-models.ts"

test.before(useWasm)
test.after(restoreBackend)

const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length))

test("adamUpdate matches an Adam step computed by hand in float64", () => {
  // x = 1, g = 0.5, m = v = 0, t = 1, lr = 0.1, b1 0.9, b2 0.999, eps 1e-7:
  // m = 0.05, v = 0.00025, lr_t = 0.1 sqrt(0.001) / 0.1, x = 1 - m lr_t / (sqrt(v) + eps)
  const x = Float32Array.of(1, -2), m = Float32Array.of(0, 0.1), v = Float32Array.of(0, 0.01), g = Float32Array.of(0.5, -3)
  adamUpdate(x, m, v, g, adamScalars(0.1, 0.9, 0.999, 1e-7, 1))
  const lrT = (0.1 * Math.sqrt(1 - 0.999)) / (1 - 0.9)
  const expect = [
    { m: 0.05, v: 0.00025, x: 1 - (0.05 * lrT) / (Math.sqrt(0.00025) + 1e-7) },
    { m: 0.9 * 0.1 - 0.3, v: 0.999 * 0.01 + 0.001 * 9, x: -2 - ((0.9 * 0.1 - 0.3) * lrT) / (Math.sqrt(0.999 * 0.01 + 0.009) + 1e-7) },
  ]
  expect.forEach((e, i) => {
    for (const [got, want] of [[m[i], e.m], [v[i], e.v], [x[i], e.x]]) assert.ok(Math.abs(got - want) <= 1e-6 * Math.abs(want), `element ${i}: ${got} vs ${want}`)
  })
})

/** A few optimiser steps on a tiny conv net; returns the weights, the slots and whether the update ran on the heap. */
const run = async (config: OptimizerConfig, path: UpdatePath) => {
  const model = tinyConvNet({ seed: 3 }).model
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable)
  const opt = new Optimizer(config, vars, model.trainableWeights.map((w) => w.originalName), path)
  const onHeap: boolean[] = []
  for (let s = 0; s < 4; s++) {
    tf.tidy(() => {
      const x = tf.randomUniform([4, 16, 16, 3], 0, 1, "float32", s)
      const y = tf.oneHot(tf.tensor1d([0, 1, 2, 3], "int32"), 5)
      const { grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar, vars)
      opt.apply(vars.map((v) => grads[v.name]))
      onHeap.push(opt.lastUpdateOnHeap)
    })
  }
  const state = await opt.state()
  const weights = weightArrays(model).map(bits)
  opt.dispose()
  model.dispose()
  return { weights, slots: state.slots.map((s) => bits(Float32Array.from(s.data as ArrayLike<number>))), onHeap }
}

for (const config of [{ kind: "adam", learningRate: 0.01 }, { kind: "sgd-momentum", learningRate: 0.05, momentum: 0.9 }] as OptimizerConfig[]) {
  test(`${config.kind} on wasm: the heap update gives the op-by-op path's bits over 4 steps`, async () => {
    const fused = await run(config, "auto"), ops = await run(config, "ops")
    assert.equal(fused.onHeap, [true, true, true, true])
    assert.equal(ops.onHeap, [false, false, false, false])
    assert.equal(fused.weights, ops.weights)
    assert.equal(fused.slots, ops.slots)
  })
}

test("sharing Identity (ml/kernels/wasm-identity.ts): 4 training steps give the copying Identity's bits, and a clone shares its data", async () => {
  await tf.setBackend("wasm")
  const config: OptimizerConfig = { kind: "adam", learningRate: 0.01 }
  const shared = await run(config, "auto")
  const stock = stockKernel("Identity")
  tf.unregisterKernel("Identity", "wasm")
  tf.registerKernel(stock)
  let copied: Awaited<ReturnType<typeof run>>
  try {
    assert.is(tf.getKernel("Identity", "wasm"), stock)
    copied = await run(config, "auto")
  } finally {
    tf.unregisterKernel("Identity", "wasm")
    tf.registerKernel(identityWasm)
  }
  assert.equal(shared.weights, copied.weights)
  assert.equal(shared.slots, copied.slots)
  const x = tf.tensor1d([1, 2, 3])
  const y = tf.clone(x)
  const heap = tf.backend() as unknown as { refCount(dataId: object): number }
  assert.is(heap.refCount(x.dataId), 2)
  x.dispose()
  assert.equal(Array.from(await y.data()), [1, 2, 3])
  y.dispose()
})

test("the path is chosen by backend: no kernels on wasm, the op path on cpu", async () => {
  const kernelsOfOneApply = async () => {
    const v = tf.variable(tf.tensor1d([1, 2, 3]))
    const g = tf.tensor1d([0.1, -0.2, 0.3])
    const opt = new Optimizer({ kind: "adam", learningRate: 0.1 }, [v], ["v"])
    const profile = await tf.profile(() => opt.apply([g]))
    const out = { kernels: profile.kernels.length, onHeap: opt.lastUpdateOnHeap, value: Array.from(v.dataSync()) }
    opt.dispose()
    tf.dispose([v, g])
    return out
  }
  await tf.setBackend("wasm")
  const wasm = await kernelsOfOneApply()
  await tf.setBackend("cpu")
  const cpu = await kernelsOfOneApply()
  await tf.setBackend("wasm")
  assert.equal([wasm.onHeap, wasm.kernels], [true, 0])
  assert.is(cpu.onHeap, false)
  assert.ok(cpu.kernels >= 8, `cpu ran ${cpu.kernels} kernels`)
  assert.equal(wasm.value, cpu.value)
})

test("the heap update on wasm leaves a tensor that shares the variable's data untouched", () => {
  const source = tf.tensor1d([1, 2, 3])
  const v = tf.variable(source) // shares source's data until one of them changes
  const opt = new Optimizer({ kind: "sgd-momentum", learningRate: 0.5, momentum: 0.9 }, [v], ["v"])
  const g = tf.ones([3])
  opt.apply([g])
  assert.ok(opt.lastUpdateOnHeap)
  assert.equal(Array.from(source.dataSync()), [1, 2, 3])
  assert.equal(Array.from(v.dataSync()), [0.5, 1.5, 2.5])
  opt.dispose()
  tf.dispose([source, v, g])
})

test("learningRateAt: constant, step decay at its boundaries, cosine warm-up and decay to its final fraction", () => {
  const at = (schedule: Parameters<typeof learningRateAt>[0], step: number, total = 100) => learningRateAt(schedule, 0.1, step, total)
  assert.is(at({ kind: "constant" }, 0), 0.1)
  assert.is(at({ kind: "constant" }, 99), 0.1)
  // x0.1 every 30 steps: 0.1 for steps 0-29, 0.01 from 30, 0.001 from 60, 1e-4 from 90.
  const step = { kind: "step", every: 30, factor: 0.1 } as const
  assert.equal([0, 29, 30, 59, 60, 90, 99].map((s) => at(step, s)), [0.1, 0.1, 0.1 * 0.1, 0.1 * 0.1, 0.1 * 0.1 ** 2, 0.1 * 0.1 ** 3, 0.1 * 0.1 ** 3])
  // Cosine with 4 warm-up steps over 100: 0.1 x 1/5 .. 4/5, the full rate at step 4, half way
  // (base + final) / 2 at the mid-point of the decay, the final fraction at the last step.
  const cos = { kind: "cosine", warmupSteps: 4, finalFraction: 0.01 } as const
  for (const [s, want] of [[0, 0.02], [3, 0.08], [4, 0.1], [99, 0.001]] as const) assert.ok(Math.abs(at(cos, s) - want) < 1e-12, `cosine step ${s}: ${at(cos, s)} vs ${want}`)
  // 99 steps: the decay runs over steps 4..98, its mid-point is step 51.
  assert.ok(Math.abs(learningRateAt(cos, 0.1, 51, 99) - (0.1 + 0.001) / 2) < 1e-12, "mid-point of the decay, 99 steps")
  const rates = Array.from({ length: 100 }, (_, s) => at(cos, s))
  for (let s = 5; s < 100; s++) assert.ok(rates[s]! <= rates[s - 1]!, `cosine decays monotonically after warm-up (step ${s})`)
  // Without warm-up the first step takes the full rate; a one-step run ends at the final fraction.
  assert.is(at({ kind: "cosine", warmupSteps: 0, finalFraction: 0 }, 0), 0.1)
  assert.ok(Math.abs(learningRateAt({ kind: "cosine", warmupSteps: 0, finalFraction: 0.5 }, 0.1, 0, 1) - 0.05) < 1e-12)
  assert.throws(() => at({ kind: "constant" }, 100), /step 100 is not in 0\.\.99/)
})

test("apply at a scheduled rate equals an optimiser configured at that rate, on the heap and op paths", () => {
  tf.tidy(() => {
    for (const path of ["auto", "ops"] as const) for (const config of [{ kind: "adam", learningRate: 0.1 }, { kind: "sgd-momentum", learningRate: 0.1, momentum: 0.9 }] as const) {
      const a = tf.variable(tf.tensor1d([1, -2, 3])), b = tf.variable(tf.tensor1d([1, -2, 3]))
      const scheduled = new Optimizer(config, [a], ["w"], path), fixed = new Optimizer({ ...config, learningRate: 0.025 }, [b], ["w"], path)
      for (let i = 0; i < 3; i++) {
        const g = tf.tensor1d([0.5, -1, 2])
        scheduled.apply([g], 0.025)
        fixed.apply([g])
      }
      assert.equal(bits(a.dataSync() as Float32Array), bits(b.dataSync() as Float32Array), `${config.kind} ${path}`)
      assert.not.equal(Array.from(a.dataSync()), [1, -2, 3], "the weights moved")
      scheduled.dispose(); fixed.dispose(); a.dispose(); b.dispose()
    }
  })
})

test.run()
