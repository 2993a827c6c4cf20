import { test } from "uvu"
import * as assert from "uvu/assert"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as tf from "@tensorflow/tfjs-core"
import "@tensorflow/tfjs-backend-cpu"
import * as tfl from "@tensorflow/tfjs-layers"
import { parquetReadObjects } from "hyparquet"
import { Rng } from "../../lib/random.ts"
import { memoryImageSet } from "../../data/imageset.ts"
import { computeActivations, dumpActivations } from "../../analysis/activations.ts"
import { neuronColumn, readActivationTable } from "../../analysis/parquet.ts"

const dir = mkdtempSync(join(tmpdir(), "transfusion-activations-"))
let previousBackend = ""

const H = 8, W = 8, N = 6
const buildModel = () => {
  const input = tfl.input({ shape: [H, W, 3] })
  const conv1 = tfl.layers.conv2d({ filters: 4, kernelSize: 3, padding: "same", name: "conv1", kernelInitializer: tfl.initializers.glorotNormal({ seed: 1 }) }).apply(input) as tfl.SymbolicTensor
  const relu = tfl.layers.reLU({ name: "relu1" }).apply(conv1) as tfl.SymbolicTensor
  const pool = tfl.layers.maxPooling2d({ poolSize: 2, name: "pool1" }).apply(relu) as tfl.SymbolicTensor
  const conv2 = tfl.layers.conv2d({ filters: 6, kernelSize: 3, padding: "same", name: "conv2", kernelInitializer: tfl.initializers.glorotNormal({ seed: 2 }) }).apply(pool) as tfl.SymbolicTensor
  const gap = tfl.layers.globalAveragePooling2d({ name: "gap" }).apply(conv2) as tfl.SymbolicTensor
  const logits = tfl.layers.dense({ units: 3, name: "logits", kernelInitializer: tfl.initializers.glorotNormal({ seed: 3 }) }).apply(gap) as tfl.SymbolicTensor
  return tfl.model({ inputs: input, outputs: logits, name: "tiny" })
}

const probe = () => {
  const rng = new Rng("probe")
  const pixels = new Uint8Array(N * H * W * 3).map(() => rng.int(256))
  return { pixels, set: memoryImageSet({ height: H, width: W, labels: { kind: "class", classes: 3 }, pixels, labelValues: new Float32Array(N), patients: Array.from({ length: N }, (_, i) => `p${i}`) }) }
}

/** Reference activations of one layer straight from a single-output sub-model on all images at once. */
const reference = (model: tfl.LayersModel, layer: string, pixels: Uint8Array): { values: Float32Array; shape: number[] } => {
  const sub = tfl.model({ inputs: model.inputs, outputs: model.getLayer(layer).output as tfl.SymbolicTensor })
  const x = tf.tidy(() => tf.tensor4d(Float32Array.from(pixels, (v) => v / 255), [N, H, W, 3]))
  const out = sub.predict(x) as tf.Tensor
  const values = out.dataSync() as Float32Array
  const shape = out.shape
  out.dispose()
  x.dispose()
  return { values, shape }
}

test.before(async () => {
  previousBackend = tf.getBackend()
  await tf.setBackend("cpu")
})

test("subsampled conv activations match the layer's output at the recorded (image, y, x), 10 datapoints per neuron", async () => {
  const model = buildModel()
  const { pixels, set } = probe()
  const [conv1, conv2] = await computeActivations({ model, layers: ["conv1", "conv2"], probe: set, reduction: { kind: "subsample", seed: 5 }, batchSize: 4 })
  for (const [got, name] of [[conv1!, "conv1"], [conv2!, "conv2"]] as const) {
    const ref = reference(model, name, pixels)
    const [, h, w, c] = ref.shape as [number, number, number, number]
    const t = got.table
    assert.is(t.neurons, c)
    assert.is(t.rows, Math.min(N * h * w, 10 * c))
    const seen = new Set<string>()
    for (let r = 0; r < t.rows; r++) {
      const key = `${t.image[r]},${t.y[r]},${t.x[r]}`
      assert.not.ok(seen.has(key), `position ${key} sampled twice`)
      seen.add(key)
      for (let ch = 0; ch < c; ch++) {
        const want = ref.values[((t.image[r]! * h + t.y[r]!) * w + t.x[r]!) * c + ch]!
        assert.ok(Math.abs(t.data[ch * t.rows + r]! - want) < 1e-6, `${name} row ${r} channel ${ch}`)
      }
    }
    assert.is(t.metadata.reduction, "subsample")
  }
  // Positions depend on the seed and the activation shape only: a different model samples the same rows.
  const other = await computeActivations({ model: buildModel(), layers: ["conv1"], probe: set, reduction: { kind: "subsample", seed: 5 } })
  assert.equal(Array.from(other[0]!.table.y), Array.from(conv1!.table.y))
  const reseeded = await computeActivations({ model, layers: ["conv1"], probe: set, reduction: { kind: "subsample", seed: 6 } })
  assert.not.equal(Array.from(reseeded[0]!.table.y), Array.from(conv1!.table.y))
})

test("average pooling gives one row per image with the spatial mean; dense layers have one datapoint per image", async () => {
  const model = buildModel()
  const { pixels, set } = probe()
  const [conv2, logits] = await computeActivations({ model, layers: ["conv2", "logits"], probe: set, reduction: { kind: "avgpool" }, batchSize: 5 })
  const ref = reference(model, "conv2", pixels)
  const [, h, w, c] = ref.shape as [number, number, number, number]
  assert.is(conv2!.table.rows, N)
  for (let i = 0; i < N; i++) {
    assert.is(conv2!.table.image[i], i)
    assert.is(conv2!.table.y[i], -1)
    for (let ch = 0; ch < c; ch++) {
      let s = 0
      for (let q = 0; q < h * w; q++) s += ref.values[(i * h * w + q) * c + ch]!
      assert.ok(Math.abs(conv2!.table.data[ch * N + i]! - s / (h * w)) < 1e-5)
    }
  }
  const lref = reference(model, "logits", pixels)
  assert.is(logits!.table.neurons, 3)
  for (let i = 0; i < N; i++) for (let ch = 0; ch < 3; ch++) assert.ok(Math.abs(logits!.table.data[ch * N + i]! - lref.values[i * 3 + ch]!) < 1e-6)
})

test("dumpActivations writes one Parquet file per layer that an independent reader sees identically", async () => {
  const model = buildModel()
  const { set } = probe()
  const dumped = await dumpActivations({
    model, layers: ["conv1", "pool1"], probe: set, reduction: { kind: "all" }, outDir: dir,
    metadata: { model: "tiny", init: "random", seed: 1, step: 0, probe: "memory" },
  })
  assert.equal(dumped.map((d) => d.layer), ["conv1", "pool1"])
  const mem = await computeActivations({ model, layers: ["conv1"], probe: set, reduction: { kind: "all" } })
  const back = await readActivationTable(dumped[0]!.path)
  assert.is(back.rows, N * H * W)
  assert.equal(Array.from(back.data), Array.from(mem[0]!.table.data))
  assert.is(back.metadata.model, "tiny")
  assert.is(back.metadata.step, "0")
  assert.is(back.metadata.reduction, "all")
  assert.is(back.metadata.layer, "conv1")
  const buf = readFileSync(dumped[1]!.path)
  const rows = (await parquetReadObjects({ file: buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) })) as Record<string, number>[]
  const pool = await readActivationTable(dumped[1]!.path)
  assert.is(rows.length, pool.rows)
  for (let r = 0; r < rows.length; r++) {
    for (let ch = 0; ch < pool.neurons; ch++) assert.is(rows[r]![neuronColumn(ch, pool.neurons)], pool.data[ch * pool.rows + r])
    assert.is(rows[r]!.x, pool.x[r])
  }
})

test("an unknown layer name lists the model's layers", async () => {
  const { set } = probe()
  await computeActivations({ model: buildModel(), layers: ["conv9"], probe: set, reduction: { kind: "all" } }).then(
    () => assert.unreachable(),
    (e: Error) => assert.match(e.message, /no layer "conv9"; its layers are: .*conv1, relu1, pool1, conv2/),
  )
})

test.after(async () => {
  rmSync(dir, { recursive: true, force: true })
  if (previousBackend) await tf.setBackend(previousBackend)
})

test.run()
