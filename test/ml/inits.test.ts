import { test } from "uvu"
import * as assert from "uvu/assert"
import * as tf from "@tensorflow/tfjs-core"
import { Rng } from "../../lib/random.ts"
import { gaborFilterBank, gaborKernel } from "../../ml/gabor.ts"
import { applyInit, gaborInit, layerWeightsOf, meanVarInit, randomInit, slimInit, transferInit, transfusionInit } from "../../ml/inits.ts"
import { buildModel, type ArchName } from "../../models/index.ts"
import { tinyConvNet, restoreBackend, useCpu, type TinyBuilt } from "./fixtures/tiny-models.ts"

test.before(useCpu)
test.after(restoreBackend)

const layerData = (b: TinyBuilt, name: string): Float32Array[] => b.model.getLayer(name).getWeights().map((t) => Float32Array.from(t.dataSync()))
const sameLayer = (a: TinyBuilt, b: TinyBuilt, name: string) => assert.equal(layerData(a, name), layerData(b, name), `layer ${name} differs`)
const snapshot = (b: TinyBuilt): Map<string, Float32Array[]> =>
  new Map(b.model.layers.filter((l) => l.weights.length > 0).map((l) => [l.name, layerData(b, l.name)]))
const BODY = ["conv1_conv", "conv1_bn", "block1_conv", "block1_bn", "block2_conv", "block2_bn", "block3_conv", "block3_bn"]

test("randomInit leaves the freshly built (seeded) model unchanged and differs across seeds", () => {
  const a = tinyConvNet({ seed: 1 }), b = tinyConvNet({ seed: 1 }), c = tinyConvNet({ seed: 2 })
  const before = snapshot(a)
  const report = randomInit(a)
  assert.equal(snapshot(a), before)
  assert.equal(report.random, [...BODY.slice(0, 8), "head"].sort((x, y) => a.model.layers.findIndex((l) => l.name === x) - a.model.layers.findIndex((l) => l.name === y)))
  sameLayer(a, b, "conv1_conv")
  assert.not.equal(layerData(a, "conv1_conv"), layerData(c, "conv1_conv"))
})

test("transferInit copies every body layer and keeps the head random", () => {
  const source = tinyConvNet({ seed: 1 }), target = tinyConvNet({ seed: 2 })
  const headBefore = layerData(target, "head")
  const pretrained = layerWeightsOf(source.model)
  const report = transferInit(target, pretrained)
  for (const name of BODY) sameLayer(source, target, name)
  assert.equal(layerData(target, "head"), headBefore)
  assert.not.equal(layerData(source, "head"), headBefore)
  assert.equal(report.random, ["head"])
  for (const ts of pretrained.values()) tf.dispose(ts)
})

test("transfusionInit copies exactly the block prefix; by index or name; full prefix equals transfer", () => {
  const source = tinyConvNet({ seed: 1 })
  const pretrained = layerWeightsOf(source.model)
  const target = tinyConvNet({ seed: 2 })
  const before = snapshot(target)
  const report = transfusionInit(target, pretrained, "block1")
  for (const name of ["conv1_conv", "conv1_bn", "block1_conv", "block1_bn"]) sameLayer(source, target, name)
  for (const name of ["block2_conv", "block2_bn", "block3_conv", "block3_bn", "head"]) assert.equal(layerData(target, name), before.get(name))
  assert.equal(report.pretrained, ["conv1_conv", "conv1_bn", "block1_conv", "block1_bn"])

  const byIndex = tinyConvNet({ seed: 2 })
  transfusionInit(byIndex, pretrained, 1)
  assert.equal(snapshot(byIndex), snapshot(target))

  const full = tinyConvNet({ seed: 2 }), transferred = tinyConvNet({ seed: 2 })
  transfusionInit(full, pretrained, 3)
  transferInit(transferred, pretrained)
  assert.equal(snapshot(full), snapshot(transferred))

  assert.throws(() => transfusionInit(tinyConvNet({ seed: 2 }), pretrained, "block9"), /no block "block9".*conv1, block1, block2, block3/)
  assert.throws(() => transfusionInit(tinyConvNet({ seed: 2 }), pretrained, 4), /index 0\.\.3/)
  for (const ts of pretrained.values()) tf.dispose(ts)
})

test("shape mismatch and missing layers throw naming the layer and both shapes, leaving the model untouched", () => {
  const wide = tinyConvNet({ seed: 1 })
  const slim = tinyConvNet({ seed: 2, width3: 8, arch: "resnet50-slim" })
  const pretrained = layerWeightsOf(wide.model)
  const before = snapshot(slim)
  assert.throws(() => transferInit(slim, pretrained), /layer "block3_conv" of resnet50-slim has weight shapes \[3x3x16x8\] but the pretrained weights have \[3x3x16x16\]/)
  assert.equal(snapshot(slim), before)
  const partial = new Map(pretrained)
  partial.delete("block1_bn")
  assert.throws(() => transferInit(tinyConvNet({ seed: 3 }), partial), /no layer "block1_bn"/)
  for (const ts of pretrained.values()) tf.dispose(ts)
})

test("slimInit: pretrained up to block2 on resnet50-slim only, block3 and head random", () => {
  const wide = tinyConvNet({ seed: 1, arch: "resnet50" })
  const slim = tinyConvNet({ seed: 2, width3: 8, arch: "resnet50-slim" })
  const pretrained = layerWeightsOf(wide.model)
  const before = snapshot(slim)
  const report = slimInit(slim, pretrained)
  for (const name of BODY.slice(0, 6)) sameLayer(wide, slim, name)
  for (const name of ["block3_conv", "block3_bn", "head"]) assert.equal(layerData(slim, name), before.get(name))
  assert.is(report.scheme, "slim")
  assert.throws(() => slimInit(tinyConvNet({ seed: 2, arch: "cbr-small" }), pretrained), /only to arch "resnet50-slim".*not "cbr-small"/)
  for (const ts of pretrained.values()) tf.dispose(ts)
})

test("meanVarInit draws each tensor from its pretrained mean and variance and resets batch norm", async () => {
  const target = tinyConvNet({ seed: 2, width: 16 })
  // Pretrained weights with distinct, known moments per tensor.
  const r = new Rng("pretrained")
  const moments = new Map<string, [number, number]>()
  const pretrained = new Map<string, tf.Tensor[]>()
  for (const layer of target.model.layers) {
    if (layer.weights.length === 0) continue
    pretrained.set(layer.name, layer.weights.map((w, i) => {
      const mean = r.uniform(-0.5, 0.5), std = r.uniform(0.01, 0.2)
      moments.set(`${layer.name}/${i}`, [mean, std])
      const n = w.shape.reduce((a: number, b) => a * (b as number), 1)
      return tf.tensor(Float32Array.from({ length: n }, () => r.normal(mean, std)), w.shape as number[])
    }))
  }
  const headBefore = layerData(target, "head")
  const report = await meanVarInit(target, pretrained, { rng: new Rng(9) })
  assert.equal(report.meanVar, ["conv1_conv", "block1_conv", "block2_conv", "block3_conv"])
  assert.equal(report.batchNormReset, ["conv1_bn", "block1_bn", "block2_bn", "block3_bn"])
  for (const name of report.meanVar) {
    const [data] = layerData(target, name)
    const src = pretrained.get(name)![0].dataSync()
    const m = (a: ArrayLike<number>) => Array.from(a).reduce((s, x) => s + x, 0) / a.length
    const sd = (a: ArrayLike<number>) => {
      const mean = m(a)
      return Math.sqrt(Array.from(a).reduce((s, x) => s + (x - mean) ** 2, 0) / a.length)
    }
    // Target moments are the pretrained tensor's sample moments; tolerance ~4 standard errors.
    assert.ok(Math.abs(m(data) - m(src)) < 4 * sd(src) / Math.sqrt(data.length) + 1e-6, `${name} mean ${m(data)} vs ${m(src)}`)
    assert.ok(Math.abs(sd(data) / sd(src) - 1) < 4 / Math.sqrt(data.length) + 0.01, `${name} std ${sd(data)} vs ${sd(src)}`)
    assert.not.equal(Array.from(data.slice(0, 5)), Array.from(src.slice(0, 5)))
  }
  for (const name of report.batchNormReset) {
    const [gamma, beta, mean, variance] = layerData(target, name)
    assert.ok(gamma.every((v) => v === 1) && beta.every((v) => v === 0) && mean.every((v) => v === 0) && variance.every((v) => v === 1), name)
  }
  assert.equal(layerData(target, "head"), headBefore)
  // seeded: same seed same draws, other seed other draws
  const again = tinyConvNet({ seed: 2, width: 16 }), other = tinyConvNet({ seed: 2, width: 16 })
  await meanVarInit(again, pretrained, { rng: new Rng(9) })
  await meanVarInit(other, pretrained, { rng: new Rng(10) })
  assert.equal(snapshot(again), snapshot(target))
  assert.not.equal(layerData(other, "block1_conv"), layerData(target, "block1_conv"))
  // batchNorm: "pretrained" keeps the batch-norm weights
  const keep = tinyConvNet({ seed: 2, width: 16 })
  await meanVarInit(keep, pretrained, { rng: new Rng(9), batchNorm: "pretrained" })
  assert.equal(layerData(keep, "block1_bn"), pretrained.get("block1_bn")!.map((t) => Float32Array.from(t.dataSync())))
  for (const ts of pretrained.values()) tf.dispose(ts)
})

test("gaborKernel follows the parameterisation at hand-computed points", () => {
  const k = gaborKernel(7, { theta: 0, lambda: 4, sigma: 2, gamma: 1, psi: 0 })
  const at = (x: number, y: number) => k[(y + 3) * 7 + (x + 3)]
  assert.ok(Math.abs(at(0, 0) - 1) < 1e-12)
  assert.ok(Math.abs(at(2, 0) - Math.exp(-4 / 8) * Math.cos(Math.PI)) < 1e-12) // half a wavelength along x
  assert.ok(Math.abs(at(0, 2) - Math.exp(-4 / 8)) < 1e-12) // along y only the envelope
  const rotated = gaborKernel(7, { theta: Math.PI / 2, lambda: 4, sigma: 2, gamma: 1, psi: 0 })
  assert.ok(Math.abs(rotated[(2 + 3) * 7 + 3] - at(2, 0)) < 1e-12) // theta = 90 degrees swaps the axes
})

test("gaborInit fills conv1 with zero-mean Gabor filters at the random initialiser's std, rest unchanged", async () => {
  const target = tinyConvNet({ seed: 4, kernel: 7, width: 16 })
  const before = snapshot(target)
  const [orig] = before.get("conv1_conv")!
  const std = (a: Float32Array) => {
    const m = a.reduce((s, x) => s + x, 0) / a.length
    return Math.sqrt(a.reduce((s, x) => s + (x - m) ** 2, 0) / a.length)
  }
  const report = await gaborInit(target, { rng: new Rng(3) })
  const [kernel] = layerData(target, "conv1_conv")
  const [kh, kw, cin, filters] = [7, 7, 3, 16]
  assert.ok(Math.abs(std(kernel) / std(orig) - 1) < 1e-5, `std ${std(kernel)} vs ${std(orig)}`)
  const params = report.gabor[0].params
  assert.is(params.length, filters)
  for (let f = 0; f < filters; f++) {
    const filter = (c: number) => Array.from({ length: kh * kw }, (_, p) => kernel[(p * cin + c) * filters + f])
    const f0 = filter(0)
    assert.ok(Math.abs(f0.reduce((s, v) => s + v, 0)) < 1e-5, `filter ${f} not zero-mean`)
    assert.equal(filter(1), f0)
    assert.equal(filter(2), f0)
    // proportional to the centred analytic kernel for its parameters
    const g = Array.from(gaborKernel(7, params[f]))
    const gm = g.reduce((s, v) => s + v, 0) / g.length
    const gc = g.map((v) => v - gm)
    const dot = gc.reduce((s, v, i) => s + v * f0[i], 0)
    const cos = dot / Math.sqrt(gc.reduce((s, v) => s + v * v, 0) * f0.reduce((s, v) => s + v * v, 0))
    assert.ok(cos > 0.99999, `filter ${f}: cosine ${cos}`)
    const p = params[f]
    assert.ok(p.theta >= 0 && p.theta < Math.PI && p.lambda >= 2 && p.lambda <= 7 && p.sigma >= 0.3 * p.lambda && p.sigma <= 0.6 * p.lambda)
    assert.ok(p.gamma >= 0.5 && p.gamma <= 1 && p.psi >= 0 && p.psi < 2 * Math.PI)
  }
  for (const [name, values] of before) if (name !== "conv1_conv") assert.equal(layerData(target, name), values, name)
  // seeded
  const again = tinyConvNet({ seed: 4, kernel: 7, width: 16 })
  await gaborInit(again, { rng: new Rng(3) })
  assert.equal(layerData(again, "conv1_conv"), layerData(target, "conv1_conv"))
  const bank = gaborFilterBank(new Rng(1), { size: 5, inChannels: 1, filters: 4, targetStd: 0.5 })
  assert.ok(Math.abs(std(bank.kernel) - 0.5) < 1e-6)
})

test("applyInit dispatches by scheme and asks for missing pretrained weights", async () => {
  const source = tinyConvNet({ seed: 1 })
  const pretrained = layerWeightsOf(source.model)
  const a = tinyConvNet({ seed: 2 }), b = tinyConvNet({ seed: 2 })
  await applyInit(a, { kind: "transfusion", upTo: "block2" }, { pretrained, seed: 1 })
  transfusionInit(b, pretrained, "block2")
  assert.equal(snapshot(a), snapshot(b))
  const missing = await applyInit(tinyConvNet({ seed: 2 }), { kind: "transfer" }, { seed: 1 }).then(() => "no error", (e: Error) => e.message)
  assert.match(missing, /needs pretrained weights/)
  assert.is((await applyInit(tinyConvNet({ seed: 2 }), { kind: "gabor" }, { seed: 1 })).gabor[0].layer, "conv1_conv")
  for (const ts of pretrained.values()) tf.dispose(ts)
})

test("schemes on the project's architectures (narrow, small inputs): slim from ResNet-50, Gabor and Mean Var everywhere", async () => {
  const spec = (arch: ArchName, seed: number) => ({ arch, inputSize: arch === "inception-v3" ? 75 : 32, widthMultiplier: 0.125, outputs: 5, outputActivation: "softmax" as const, seed })
  const resnet = buildModel(spec("resnet50", 1))
  const pretrained = layerWeightsOf(resnet.model)
  const slim = buildModel(spec("resnet50-slim", 2))
  const report = slimInit(slim, pretrained)
  const upToBlock2 = slim.blocks.slice(0, slim.blocks.findIndex((b) => b.name === "block2") + 1).flatMap((b) => b.layers)
  assert.equal(report.pretrained, upToBlock2.filter((n) => slim.model.getLayer(n).weights.length > 0))
  assert.ok(report.random.includes("conv4_block1_1_conv") && report.random.includes("head"))
  const value = (m: typeof slim, n: string) => Array.from(m.model.getLayer(n).getWeights()[0].dataSync())
  assert.equal(value(slim, "conv3_block4_3_conv"), value(resnet, "conv3_block4_3_conv"))
  assert.throws(() => transferInit(slim, pretrained), /layer "conv4_block1_1_conv" of resnet50-slim has weight shapes \[1x1x64x16, 16\] but the pretrained weights have \[1x1x64x32, 32\]/)
  for (const arch of ["cbr-tiny", "cbr-larget", "inception-v3"] as const) {
    const built = buildModel(spec(arch, 3))
    const g = await gaborInit(built, { rng: new Rng(1) })
    assert.is(g.gabor[0].layer, built.blocks[0].layers[0], arch)
    const source = buildModel(spec(arch, 4))
    const weights = layerWeightsOf(source.model)
    const mv = await meanVarInit(buildModel(spec(arch, 5)), weights, { rng: new Rng(2) })
    assert.ok(mv.meanVar.length > 0 && mv.batchNormReset.length > 0, arch)
    assert.throws(() => slimInit(built, weights), /only to arch "resnet50-slim"/)
    for (const ts of weights.values()) tf.dispose(ts)
  }
  for (const ts of pretrained.values()) tf.dispose(ts)
})

test.run()
