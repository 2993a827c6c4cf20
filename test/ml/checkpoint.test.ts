import { test } from "uvu"
import * as assert from "uvu/assert"
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as tf from "@tensorflow/tfjs-core"
import {
  latestCheckpoint, listCheckpoints, loadCheckpoint, pretrainedFromCheckpoint, readTensorFile, restoreModelWeights, saveCheckpoint, saveModelWeights, writeTensorFile,
} from "../../ml/checkpoint.ts"
import { transferInit } from "../../ml/inits.ts"
import { Optimizer } from "../../ml/train.ts"
import { tinyConvNet, restoreBackend, useWasm, weightArrays } from "./fixtures/tiny-models.ts"

test.before(useWasm)
test.after(restoreBackend)

const withDir = async (f: (dir: string) => Promise<void>) => {
  const dir = await mkdtemp(join(tmpdir(), "transfusion-ckpt-"))
  try { await f(dir) } finally { await rm(dir, { recursive: true, force: true }) }
}

const bits = (a: Float32Array | Int32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length))

test("tensor file round trip is bit-exact (NaN payloads, -0, subnormals, int32) and keeps metadata", async () => {
  await withDir(async (dir) => {
    const odd = new Float32Array(7)
    new Uint32Array(odd.buffer).set([0x7fc00001, 0x80000000, 0x00000001, 0x7f7fffff, 0xff800000, 0x3f800000, 0x12345678])
    const ints = Int32Array.from([-2147483648, -1, 0, 2147483647, 5])
    const path = join(dir, "a.tfck")
    await writeTensorFile(path, [
      { name: "odd", shape: [7], dtype: "float32", data: odd },
      { name: "ints", shape: [5], dtype: "int32", data: ints },
      { name: "empty", shape: [0, 3], dtype: "float32", data: new Float32Array(0) },
    ], { step: 3, note: "ü" })
    const back = await readTensorFile(path)
    assert.equal(back.meta, { step: 3, note: "ü" })
    assert.equal(bits(back.tensors[0].data), bits(odd))
    assert.equal(Array.from(back.tensors[1].data), Array.from(ints))
    assert.is(back.tensors[1].dtype, "int32")
    assert.equal(back.tensors[2].shape, [0, 3])
    assert.equal(await readdir(dir), ["a.tfck"]) // no temporary left behind
  })
})

test("damaged files give errors naming the file and the problem", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "b.tfck")
    await writeTensorFile(path, [{ name: "w", shape: [100], dtype: "float32", data: new Float32Array(100) }], {})
    const full = await readFile(path)
    await writeFile(path, full.subarray(0, full.length - 10))
    let e1: unknown
    try { await readTensorFile(path) } catch (e) { e1 = e }
    assert.match(String(e1), /b\.tfck: tensor "w" runs past the end.*truncated/)
    await writeFile(path, "hello world, not a checkpoint")
    let e2: unknown
    try { await readTensorFile(path) } catch (e) { e2 = e }
    assert.match(String(e2), /b\.tfck: not a transfusion checkpoint/)
    let e3: unknown
    try { await writeTensorFile(path, [{ name: "w", shape: [3], dtype: "float32", data: new Float32Array(2) }], {}) } catch (e) { e3 = e }
    assert.match(String(e3), /"w" has shape \[3\] but 2 values/)
  })
})

/** One manual training step on a fixed batch: the checkpoint must carry everything it depends on. */
const step = (model: ReturnType<typeof tinyConvNet>["model"], opt: Optimizer, vars: tf.Variable[], seed: number) => {
  tf.tidy(() => {
    const x = tf.randomUniform([4, 16, 16, 3], 0, 1, "float32", seed)
    const y = tf.oneHot(tf.tensor1d([0, 1, 2, 3], "int32"), 5)
    const { grads } = tf.variableGrads(() => tf.losses.meanSquaredError(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar, vars)
    opt.apply(vars.map((v) => grads[v.name]))
  })
}

test("model + Adam state save/load: resuming gives the same weights as an uninterrupted run", async () => {
  await withDir(async (dir) => {
    const make = (seed: number) => {
      const m = tinyConvNet({ seed }).model
      const vars = m.trainableWeights.map((w) => w.read() as tf.Variable)
      return { m, vars, opt: new Optimizer({ kind: "adam", learningRate: 0.01 }, vars, m.trainableWeights.map((w) => w.originalName)) }
    }
    const a = make(1)
    for (let s = 0; s < 5; s++) step(a.m, a.opt, a.vars, s)

    const b = make(1)
    for (let s = 0; s < 2; s++) step(b.m, b.opt, b.vars, s)
    const path = await saveCheckpoint(dir, { step: 2, model: b.m, optimizer: await b.opt.state(), meta: { hello: 1 } })
    const c = make(9) // a different init: all state must come from the file
    const loaded = await loadCheckpoint<{ hello: number }>(path, c.m)
    assert.is(loaded.step, 2)
    assert.equal(loaded.meta, { hello: 1 })
    assert.equal(weightArrays(c.m), weightArrays(b.m))
    c.opt.restore(loaded.optimizer!, path)
    assert.is(c.opt.iterations, 2)
    for (let s = 2; s < 5; s++) step(c.m, c.opt, c.vars, s)
    assert.equal(weightArrays(c.m).map(bits), weightArrays(a.m).map(bits))

    // restoring into an optimiser with other hyper-parameters is refused
    const d = make(1)
    const sgd = new Optimizer({ kind: "adam", learningRate: 0.02 }, d.vars, d.m.trainableWeights.map((w) => w.originalName))
    assert.throws(() => sgd.restore(loaded.optimizer!, path), /learningRate = 0\.01 but this run asks for 0\.02/)
    for (const x of [a, b, c, d]) x.opt.dispose()
    sgd.dispose()
  })
})

test("checkpoint directory: newest wins, older ones pruned, temporaries ignored", async () => {
  await withDir(async (dir) => {
    const m = tinyConvNet({ seed: 1 }).model
    assert.is(await latestCheckpoint(join(dir, "missing")), undefined)
    for (const s of [1, 2, 10]) await saveCheckpoint(dir, { step: s, model: m, meta: {}, keep: 2 })
    await writeFile(join(dir, "checkpoint-000000011.tfck.tmp-1-1"), "partial")
    assert.equal((await listCheckpoints(dir)).map((c) => c.step), [2, 10])
    assert.match((await latestCheckpoint(dir))!, /checkpoint-000000010\.tfck$/)
  })
})

test("restoring into another architecture names the weight and both shapes", async () => {
  await withDir(async (dir) => {
    const path = await saveCheckpoint(dir, { step: 1, model: tinyConvNet({ seed: 1 }).model, meta: {} })
    let e: unknown
    try { await loadCheckpoint(path, tinyConvNet({ seed: 1, width3: 8 }).model) } catch (err) { e = err }
    assert.match(String(e), /weight "block3_conv\/kernel" has shape \[3x3x16x16\] in the file but \[3x3x16x8\] in the model/)
    assert.throws(() => restoreModelWeights(tinyConvNet({ seed: 1 }).model, [], "x.tfck"), /x\.tfck: no weight "conv1_conv\/kernel"/)
  })
})

test("saveModelWeights round-trips and pretrainedFromCheckpoint feeds transferInit with the saved layers", async () => {
  await withDir(async (dir) => {
    const source = tinyConvNet({ seed: 1 })
    const path = join(dir, "final.tfck")
    await saveModelWeights(path, source.model, { note: "final" })
    const reloaded = tinyConvNet({ seed: 3 })
    const ck = await loadCheckpoint<{ note: string }>(path, reloaded.model)
    assert.equal(ck.meta, { note: "final" })
    assert.is(ck.optimizer, undefined)
    assert.equal(weightArrays(reloaded.model), weightArrays(source.model))
    const pretrained = await pretrainedFromCheckpoint(path)
    assert.equal(pretrained.get("conv1_bn")!.map((t) => t.shape), [[8], [8], [8], [8]])
    const target = tinyConvNet({ seed: 2 })
    transferInit(target, pretrained)
    for (const name of ["conv1_conv", "conv1_bn", "block3_conv"]) {
      assert.equal(
        target.model.getLayer(name).getWeights().map((t) => Array.from(t.dataSync())),
        source.model.getLayer(name).getWeights().map((t) => Array.from(t.dataSync())),
      )
    }
    for (const ts of pretrained.values()) tf.dispose(ts)
  })
})

test.run()
