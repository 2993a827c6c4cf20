// The wasm convolution kernels (ml/kernels/) against two independent references: tfjs's
// own cpu backend, and central finite differences of a float64 convolution written here
// from the definition. Both convolution sets run: the FMA tile kernels (the default where
// relaxed SIMD runs) and the XNNPACK forms (the fallback).
import { test } from "uvu"
import * as assert from "uvu/assert"
import * as tf from "@tensorflow/tfjs-core"
import "@tensorflow/tfjs-backend-cpu"
import { selectBackend } from "../../ml/backend.ts"
import { registerWasmKernels, type ConvKernels } from "../../ml/kernels/register.ts"
import { fmaSupport } from "../../ml/kernels/fma-support.ts"
import { Rng } from "../../lib/random.ts"
import { convCases as cases, geometry, maxAbsDiff, randomArray, type Case, type Pad, type Shape4 } from "./fixtures/conv-cases.ts"

/** Float64 NHWC convolution straight from the definition. */
const conv2dReference = (x: Float64Array, xs: Shape4, w: Float64Array, ws: Shape4, s: number, pad: Pad): { y: Float64Array; ys: Shape4 } => {
  const [n, h, wd, ci] = xs, [kh, kw, , co] = ws
  const gh = geometry(h, kh, s, pad), gw = geometry(wd, kw, s, pad)
  const ys: Shape4 = [n, gh.out, gw.out, co]
  const y = new Float64Array(n * gh.out * gw.out * co)
  for (let b = 0; b < n; b++) for (let i = 0; i < gh.out; i++) for (let j = 0; j < gw.out; j++) for (let o = 0; o < co; o++) {
    let acc = 0
    for (let a = 0; a < kh; a++) {
      const r = i * s + a - gh.before
      if (r < 0 || r >= h) continue
      for (let c = 0; c < kw; c++) {
        const q = j * s + c - gw.before
        if (q < 0 || q >= wd) continue
        for (let k = 0; k < ci; k++) acc += x[((b * h + r) * wd + q) * ci + k]! * w[((a * kw + c) * ci + k) * co + o]!
      }
    }
    y[((b * gh.out + i) * gw.out + j) * co + o] = acc
  }
  return { y, ys }
}

const dot = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let s = 0
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!
  return s
}

const runConvKernels = (c: Case, x: Float32Array, xs: Shape4, w: Float32Array, ws: Shape4, dy: Float32Array, ys: Shape4): { y: Float32Array; dW: Float32Array; dX: Float32Array } =>
  tf.tidy(() => {
    const xt = tf.tensor4d(x, xs), wt = tf.tensor4d(w, ws), dyt = tf.tensor4d(dy, ys)
    const y = tf.engine().runKernel("Conv2D", { x: xt, filter: wt }, { strides: c.s, pad: c.pad, dataFormat: "NHWC", dilations: 1 }) as tf.Tensor
    const dW = tf.engine().runKernel("Conv2DBackpropFilter", { x: xt, dy: dyt }, { strides: c.s, pad: c.pad, dataFormat: "NHWC", filterShape: ws }) as tf.Tensor
    const dX = tf.engine().runKernel("Conv2DBackpropInput", { dy: dyt, filter: wt }, { strides: c.s, pad: c.pad, dataFormat: "NHWC", inputShape: xs }) as tf.Tensor
    return { y: y.dataSync() as Float32Array, dW: dW.dataSync() as Float32Array, dX: dX.dataSync() as Float32Array }
  })

test("setup: wasm backend with the transfusion kernels, FMA convolutions on this Node", async () => {
  const info = await selectBackend("wasm")
  assert.is(info.name, "wasm")
  assert.ok(info.versions["transfusion-kernels"]?.includes("Conv2DBackpropFilter"))
  // Node 20 has relaxed SIMD behind a flag the kernels turn on; without it the FMA set would go untested.
  assert.ok("mode" in fmaSupport(), `relaxed SIMD unavailable: ${JSON.stringify(fmaSupport())}`)
  assert.is(info.versions["wasm-fma"], (fmaSupport() as { mode: string }).mode)
})

// Channel pairs: multiples of 8, of 4 only, and neither (the kernels pad to 4 and tile by 8 and 4).
const CHANNELS: ReadonlyArray<readonly [number, number]> = [[3, 4], [5, 6], [8, 16], [13, 9], [2, 12]]

for (const conv of ["fma", "xnnpack"] as const satisfies readonly ConvKernels[]) {
  test(`${conv}: Conv2D, Conv2DBackpropFilter and Conv2DBackpropInput on wasm match the cpu backend (k 1/3/5/7, stride 1/2, same/valid, odd sizes, channels not multiples of 4)`, async () => {
    registerWasmKernels(conv)
    const rng = new Rng(`kernels-vs-cpu/${conv}`)
    for (const [ci, co] of CHANNELS) for (const c of cases) {
      const xs: Shape4 = [2, c.h, c.w, ci], ws: Shape4 = [c.k, c.k, ci, co]
      const ys: Shape4 = [2, geometry(c.h, c.k, c.s, c.pad).out, geometry(c.w, c.k, c.s, c.pad).out, co]
      const x = randomArray(xs.reduce((a, b) => a * b), rng), w = randomArray(ws.reduce((a, b) => a * b), rng), dy = randomArray(ys.reduce((a, b) => a * b), rng)
      await tf.setBackend("wasm")
      const onWasm = runConvKernels(c, x, xs, w, ws, dy, ys)
      await tf.setBackend("cpu")
      const onCpu = runConvKernels(c, x, xs, w, ws, dy, ys)
      await tf.setBackend("wasm")
      const where = `${conv}, channels ${ci} -> ${co}, ${JSON.stringify(c)}`
      for (const key of ["y", "dW", "dX"] as const) {
        const d = maxAbsDiff(onWasm[key], onCpu[key])
        assert.ok(d < 1e-4, `${key} differs by ${d} for ${where}`)
      }
    }
    registerWasmKernels()
  })

  test(`${conv}: wasm conv gradients equal central finite differences of a float64 reference conv`, async () => {
    await tf.setBackend("wasm")
    registerWasmKernels(conv)
    const rng = new Rng(`kernels-vs-fd/${conv}`)
    const h = 1e-3
    for (const c of cases) {
      const ci = 2, co = 3
      const xs: Shape4 = [2, c.h, c.w, ci], ws: Shape4 = [c.k, c.k, ci, co]
      const x32 = randomArray(xs.reduce((a, b) => a * b), rng), w32 = randomArray(ws.reduce((a, b) => a * b), rng)
      const x = Float64Array.from(x32), w = Float64Array.from(w32)
      const { y, ys } = conv2dReference(x, xs, w, ws, c.s, c.pad)
      const dy = randomArray(y.length, rng)
      // L(x, w) = <conv(x, w), dy>; its gradients are exactly what the kernels compute.
      const loss = (xv: Float64Array, wv: Float64Array) => dot(conv2dReference(xv, xs, wv, ws, c.s, c.pad).y, dy)
      const got = runConvKernels(c, x32, xs, w32, ws, dy, ys)
      const yMax = maxAbsDiff(got.y, y)
      assert.ok(yMax < 1e-4 * (1 + Math.max(...Array.from(y, Math.abs))), `${conv}: forward differs from the float64 reference by ${yMax} for ${JSON.stringify(c)}`)
      for (const [name, param, grad] of [["filter", w, got.dW], ["input", x, got.dX]] as const) {
        for (let t = 0; t < 6; t++) {
          const i = rng.int(param.length)
          const saved = param[i]!
          param[i] = saved + h
          const up = name === "filter" ? loss(x, param) : loss(param, w)
          param[i] = saved - h
          const down = name === "filter" ? loss(x, param) : loss(param, w)
          param[i] = saved
          const fd = (up - down) / (2 * h)
          assert.ok(Math.abs(fd - grad[i]!) < 1e-4 * (1 + Math.abs(fd)), `${conv}: d${name}[${i}] = ${grad[i]} but finite difference gives ${fd} for ${JSON.stringify(c)}`)
        }
      }
    }
    registerWasmKernels()
  })
}

test("FMA Conv2D equals the cpu backend bit for bit (both add each product to a float32 sum, in the same order)", async () => {
  const rng = new Rng("fma-bits")
  const xs: Shape4 = [2, 9, 8, 13], ws: Shape4 = [3, 3, 13, 9]
  const x = randomArray(xs.reduce((a, b) => a * b), rng), w = randomArray(ws.reduce((a, b) => a * b), rng)
  const conv = async (backend: string) => {
    await tf.setBackend(backend)
    return tf.tidy(() => tf.conv2d(tf.tensor4d(x, xs), tf.tensor4d(w, ws), 1, "same").dataSync().slice())
  }
  registerWasmKernels("fma")
  const fma = await conv("wasm"), cpu = await conv("cpu")
  registerWasmKernels("xnnpack")
  const xnnpack = await conv("wasm")
  registerWasmKernels()
  assert.equal(Array.from(fma), Array.from(cpu))
  // XNNPACK multiplies and adds separately in another order, so the bit test can fail.
  assert.not.equal(Array.from(xnnpack), Array.from(cpu))
})

test("a conv net's gradients on wasm (custom kernels) match the cpu backend end to end", async () => {
  const rng = new Rng("net-grad")
  const x = randomArray(2 * 11 * 11 * 3, rng)
  const w1 = randomArray(5 * 5 * 3 * 4, rng), w2 = randomArray(3 * 3 * 4 * 6, rng)
  const grads = async (backend: string) => {
    await tf.setBackend(backend)
    return tf.tidy(() => {
      const xt = tf.tensor4d(x, [2, 11, 11, 3])
      const f = (...ws: tf.Tensor[]) => {
        const [a, b] = ws as [tf.Tensor4D, tf.Tensor4D]
        let hidden = tf.relu(tf.conv2d(xt, a, 2, "same"))
        hidden = tf.maxPool(hidden, 3, 2, "same")
        return tf.sum(tf.square(tf.conv2d(hidden, b, 1, "valid")))
      }
      return tf.grads(f)([tf.tensor4d(w1, [5, 5, 3, 4]), tf.tensor4d(w2, [3, 3, 4, 6])]).map((g) => g.dataSync() as Float32Array)
    })
  }
  const onWasm = await grads("wasm"), onCpu = await grads("cpu")
  await tf.setBackend("wasm")
  for (let i = 0; i < 2; i++) {
    const scale = Math.max(...Array.from(onCpu[i]!, Math.abs))
    assert.ok(maxAbsDiff(onWasm[i]!, onCpu[i]!) < 1e-4 * scale, `gradient ${i} differs`)
  }
})

/** Float64 max pool with TF padding (padded cells never win). */
const maxPoolReference = (x: Float64Array, xs: Shape4, k: number, s: number, pad: Pad): Float64Array => {
  const [n, h, w, c] = xs
  const gh = geometry(h, k, s, pad), gw = geometry(w, k, s, pad)
  const y = new Float64Array(n * gh.out * gw.out * c)
  for (let b = 0; b < n; b++) for (let i = 0; i < gh.out; i++) for (let j = 0; j < gw.out; j++) for (let d = 0; d < c; d++) {
    let m = -Infinity
    for (let a = 0; a < k; a++) for (let e = 0; e < k; e++) {
      const r = i * s + a - gh.before, q = j * s + e - gw.before
      if (r >= 0 && r < h && q >= 0 && q < w) m = Math.max(m, x[((b * h + r) * w + q) * c + d]!)
    }
    y[((b * gh.out + i) * gw.out + j) * c + d] = m
  }
  return y
}

test("MaxPoolGrad on wasm matches the cpu backend (ties included) and finite differences, channels in groups of 4 (SIMD) or not (JS)", async () => {
  const rng = new Rng("maxpool-grad")
  for (const channels of [3, 8]) for (const k of [2, 3]) for (const s of [1, 2]) for (const pad of ["same", "valid"] as const) for (const size of [7, 8]) {
    const xs: Shape4 = [2, size, size + 1, channels]
    const gh = geometry(size, k, s, pad), gw = geometry(size + 1, k, s, pad)
    const ys: Shape4 = [2, gh.out, gw.out, channels]
    const x32 = randomArray(xs.reduce((a, b) => a * b), rng)
    const dy = randomArray(ys.reduce((a, b) => a * b), rng)
    // after ReLU half the inputs tie at 0: the first maximum in window order must win on both backends
    const relu32 = x32.map((v) => Math.max(v, 0))
    const grad = async (backend: string, x: Float32Array) => {
      await tf.setBackend(backend)
      return tf.tidy(() => {
        const xt = tf.tensor4d(x, xs)
        const yt = tf.maxPool(xt, k, s, pad)
        return (tf.engine().runKernel("MaxPoolGrad", { dy: tf.tensor4d(dy, ys), input: xt, output: yt }, { filterSize: k, strides: s, pad }) as tf.Tensor).dataSync().slice() as Float32Array
      })
    }
    for (const x of [x32, relu32]) {
      const onWasm = await grad("wasm", x), onCpu = await grad("cpu", x)
      assert.ok(maxAbsDiff(onWasm, onCpu) < 1e-5, `k ${k} s ${s} ${pad} size ${size}`)
    }
    await tf.setBackend("wasm")
    const onWasm = await grad("wasm", x32)
    const x = Float64Array.from(x32)
    const loss = () => dot(maxPoolReference(x, xs, k, s, pad), dy)
    for (let t = 0; t < 8; t++) {
      const i = rng.int(x.length), saved = x[i]!, h = 1e-6
      x[i] = saved + h; const up = loss()
      x[i] = saved - h; const down = loss()
      x[i] = saved
      assert.ok(Math.abs((up - down) / (2 * h) - onWasm[i]!) < 1e-4, `dx[${i}] for k ${k} s ${s} ${pad}`)
    }
  }
})

test("BatchMatMul on wasm with transposed operands matches the cpu backend (ranks 2 and 3, broadcast batch)", async () => {
  const rng = new Rng("matmul")
  const cases: Array<[number[], number[]]> = [[[5, 7], [7, 3]], [[2, 5, 7], [2, 7, 3]], [[2, 5, 7], [1, 7, 3]], [[1, 1], [1, 4]]]
  for (const [as, bs] of cases) for (const ta of [false, true]) for (const tb of [false, true]) {
    const aShape = ta ? [...as.slice(0, -2), as[as.length - 1]!, as[as.length - 2]!] : as
    const bShape = tb ? [...bs.slice(0, -2), bs[bs.length - 1]!, bs[bs.length - 2]!] : bs
    const a = randomArray(aShape.reduce((x, y) => x * y), rng), b = randomArray(bShape.reduce((x, y) => x * y), rng)
    const product = async (backend: string) => {
      await tf.setBackend(backend)
      return tf.tidy(() => tf.matMul(tf.tensor(a, aShape), tf.tensor(b, bShape), ta, tb).dataSync().slice())
    }
    const onWasm = await product("wasm"), onCpu = await product("cpu")
    assert.ok(maxAbsDiff(onWasm, onCpu) < 1e-5, `${JSON.stringify([aShape, bShape, ta, tb])}`)
  }
  await tf.setBackend("wasm")
})

test("Transpose on wasm matches the cpu backend for matrix-like and general permutations, float32 and int32", async () => {
  const rng = new Rng("transpose")
  const cases: Array<[number[], number[]]> = [
    [[37, 70], [1, 0]], [[3, 33, 65], [0, 2, 1]], [[4, 5, 6, 7], [3, 0, 1, 2]], [[4, 5, 6, 7], [1, 2, 3, 0]],
    [[4, 5, 6, 7], [3, 1, 2, 0]], [[2, 1, 3, 1, 4], [4, 3, 2, 1, 0]], [[1, 9], [1, 0]], [[2, 3, 4, 5, 6], [4, 2, 0, 3, 1]],
  ]
  for (const [shape, perm] of cases) for (const dtype of ["float32", "int32"] as const) {
    const n = shape.reduce((a, b) => a * b)
    const values = dtype === "float32" ? randomArray(n, rng) : Int32Array.from({ length: n }, () => rng.int(1000) - 500)
    const run = async (backend: string) => {
      await tf.setBackend(backend)
      return tf.tidy(() => tf.transpose(tf.tensor(values, shape, dtype), perm).dataSync().slice())
    }
    assert.equal(Array.from(await run("wasm")), Array.from(await run("cpu")), `${JSON.stringify(shape)} ${JSON.stringify(perm)} ${dtype}`)
  }
  await tf.setBackend("wasm")
})

test("the kernels release every intermediate wasm buffer", async () => {
  await tf.setBackend("wasm")
  const x = tf.randomNormal([2, 9, 9, 3], 0, 1, "float32", 1) as tf.Tensor4D
  const dy = tf.randomNormal([2, 5, 5, 4], 0, 1, "float32", 2) as tf.Tensor4D
  const w = tf.randomNormal([3, 3, 3, 4], 0, 1, "float32", 3) as tf.Tensor4D
  const before = tf.memory().numBytes
  const backend = tf.backend() as unknown as { numDataIds(): number }
  const ids = backend.numDataIds()
  for (let i = 0; i < 3; i++) {
    tf.tidy(() => {
      tf.engine().runKernel("Conv2DBackpropFilter", { x, dy }, { strides: 2, pad: "same", dataFormat: "NHWC", filterShape: [3, 3, 3, 4] })
      tf.engine().runKernel("Conv2DBackpropInput", { dy, filter: w }, { strides: 2, pad: "same", dataFormat: "NHWC", inputShape: [2, 9, 9, 3] })
      // the 1x1 (matrix product) paths
      tf.engine().runKernel("Conv2DBackpropFilter", { x, dy }, { strides: 2, pad: "valid", dataFormat: "NHWC", filterShape: [1, 1, 3, 4] })
      tf.engine().runKernel("Conv2DBackpropInput", { dy, filter: tf.slice(w, [0, 0, 0, 0], [1, 1, 3, 4]) }, { strides: 2, pad: "valid", dataFormat: "NHWC", inputShape: [2, 9, 9, 3] })
      tf.matMul(tf.reshape(x, [2, 81, 3]), tf.reshape(x, [2, 81, 3]), true, false)
    })
  }
  assert.is(backend.numDataIds(), ids)
  assert.is(tf.memory().numBytes, before)
  tf.dispose([x, dy, w])
})

test.run()
