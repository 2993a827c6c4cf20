import { test } from "uvu"
import * as assert from "uvu/assert"
import { mkdtemp, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as tf from "@tensorflow/tfjs-core"
import h5wasm from "h5wasm/node"
import { loadKerasH5, readKerasH5 } from "../../models/keras-h5.ts"
import { transferInit } from "../../ml/inits.ts"
import { tinyConvNet, restoreBackend, useCpu, type TinyBuilt } from "../ml/fixtures/tiny-models.ts"

test.before(useCpu)
test.after(restoreBackend)

const withDir = async (f: (dir: string) => Promise<void>) => {
  const dir = await mkdtemp(join(tmpdir(), "transfusion-h5-"))
  try { await f(dir) } finally { await rm(dir, { recursive: true, force: true }) }
}

/**
 * Writes a model's weights the way Keras 2's save_weights does: fixed-length byte-string
 * attributes, one group per layer (layers without weights get an empty float
 * "weight_names"), datasets at <layer>/<layer>/<weight>:0.
 */
const writeKerasH5 = async (path: string, built: TinyBuilt, options: { drop?: string[]; reverseBn?: boolean; underModelWeights?: boolean; chunked?: boolean } = {}) => {
  await h5wasm.ready
  const f = new h5wasm.File(path, "w")
  const root = options.underModelWeights ? f.create_group("model_weights") : f
  const layers = built.model.layers.filter((l) => l.name !== "input" && !(options.drop ?? []).includes(l.name))
  const names = layers.map((l) => l.name)
  const width = Math.max(...names.map((n) => n.length))
  if (options.chunked) {
    root.create_attribute("layer_names0", names.slice(0, 4), null, `S${width}`)
    root.create_attribute("layer_names1", names.slice(4), null, `S${width}`)
  } else root.create_attribute("layer_names", names, null, `S${width}`)
  f.create_attribute("keras_version", "2.13.1")
  f.create_attribute("backend", "tensorflow")
  for (const layer of layers) {
    const g = root.create_group(layer.name)
    let ws = layer.weights.map((w, i) => ({ name: `${w.originalName}:0`, value: layer.getWeights()[i] }))
    if (options.reverseBn && layer.getClassName() === "BatchNormalization") ws = ws.reverse()
    if (ws.length === 0) {
      g.create_attribute("weight_names", new Float64Array(0), [0])
      continue
    }
    g.create_attribute("weight_names", ws.map((w) => w.name), null, `S${Math.max(...ws.map((w) => w.name.length))}`)
    // h5py creates the intermediate group of "conv1_conv/kernel:0"; h5wasm needs it made first.
    const sub = g.create_group(layer.name)
    for (const w of ws) sub.create_dataset({ name: w.name.split("/").pop()!, data: Float32Array.from(w.value.dataSync()), shape: w.value.shape })
  }
  f.close()
}

const layerValues = (b: TinyBuilt, name: string) => b.model.getLayer(name).getWeights().map((t) => Array.from(t.dataSync()))

test("reads a Keras-layout .h5 by layer name and transfers it into a model", async () => {
  await withDir(async (dir) => {
    const source = tinyConvNet({ seed: 1 })
    const path = join(dir, "tiny_notop.h5")
    await writeKerasH5(path, source)
    const raw = await readKerasH5(path)
    assert.is(raw.kerasVersion, "2.13.1")
    assert.equal(raw.weightNames.get("conv1_bn"), ["conv1_bn/gamma:0", "conv1_bn/beta:0", "conv1_bn/moving_mean:0", "conv1_bn/moving_variance:0"])
    assert.ok(!raw.layers.has("pool1")) // no weights
    assert.equal(raw.layers.get("block2_conv")![0].shape, [3, 3, 8, 16])
    for (const ts of raw.layers.values()) tf.dispose(ts)

    const target = tinyConvNet({ seed: 2 })
    const headBefore = layerValues(target, "head")
    const before = tf.memory().numTensors
    const pretrained = await loadKerasH5(path, target.model)
    assert.ok(!pretrained.has("head"))
    assert.is(tf.memory().numTensors - before, [...pretrained.values()].reduce((s, ts) => s + ts.length, 0)) // unused file layers disposed
    transferInit(target, pretrained)
    for (const name of ["conv1_conv", "conv1_bn", "block1_conv", "block2_bn", "block3_conv"]) assert.equal(layerValues(target, name), layerValues(source, name), name)
    assert.equal(layerValues(target, "head"), headBefore)
    for (const ts of pretrained.values()) tf.dispose(ts)
  })
})

test("weights are matched by name, whatever their order in the file; model_weights and chunked layer_names are read", async () => {
  await withDir(async (dir) => {
    const source = tinyConvNet({ seed: 1 })
    const path = join(dir, "full_model.h5")
    await writeKerasH5(path, source, { reverseBn: true, underModelWeights: true, chunked: true })
    const target = tinyConvNet({ seed: 2 })
    const pretrained = await loadKerasH5(path, target.model)
    transferInit(target, pretrained)
    assert.equal(layerValues(target, "conv1_bn"), layerValues(source, "conv1_bn"))
    assert.equal(layerValues(target, "block3_bn"), layerValues(source, "block3_bn"))
    for (const ts of pretrained.values()) tf.dispose(ts)
  })
})

test("clear errors: missing layer, shape mismatch, missing file, not HDF5, requested layer absent", async () => {
  await withDir(async (dir) => {
    const source = tinyConvNet({ seed: 1 })
    const path = join(dir, "w.h5")
    await writeKerasH5(path, source, { drop: ["block2_bn"] })
    const rejects = async (p: Promise<unknown>, re: RegExp) => {
      let err: unknown
      try { await p } catch (e) { err = e }
      assert.ok(err instanceof Error, `expected ${re} but nothing was thrown`)
      assert.match((err as Error).message, re)
    }
    const same = tinyConvNet({ seed: 2 }).model, slimmer = tinyConvNet({ seed: 2, width3: 8 }).model
    const before = tf.memory().numTensors
    await rejects(loadKerasH5(path, same), /w\.h5: the model's layer "block2_bn" is not in the file/)
    await writeKerasH5(path, source)
    await rejects(loadKerasH5(path, slimmer), /layer "block3_conv" weight "kernel" has shape \[3x3x16x16\] in the file but \[3x3x16x8\] in the model/)
    assert.is(tf.memory().numTensors, before) // nothing leaked on the error paths
    await rejects(readKerasH5(join(dir, "nope.h5")), /nope\.h5: no such file/)
    await writeFile(join(dir, "text.h5"), "not hdf5 at all")
    await rejects(readKerasH5(join(dir, "text.h5")), /text\.h5: not an HDF5 file/)
    await rejects(readKerasH5(path, { layers: ["conv9"] }), /layer\(s\) "conv9" not in the file/)
  })
})

test.run()
