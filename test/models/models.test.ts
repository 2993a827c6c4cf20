// The paper's architectures: exact parameter counts (Table 1 convention and Keras's
// true counts), FLOPs, layer names, block structure and seeded initialisation.
import { test } from "uvu"
import * as assert from "uvu/assert"
import * as tf from "@tensorflow/tfjs-core"
import "@tensorflow/tfjs-backend-cpu"
import { selectBackend } from "../../ml/backend.ts"
import { ARCH_NAMES, buildModel } from "../../models/index.ts"
import type { ArchName, ModelSpec } from "../../models/index.ts"
import { flopsPerImage, modelsTable, trainingFlopsPerImage, paramCounts, PAPER_TABLE1 } from "../../models/count.ts"

const spec = (arch: ArchName, over: Partial<ModelSpec> = {}): ModelSpec => ({
  arch, inputSize: arch === "inception-v3" ? 75 : 32, widthMultiplier: 0.125, outputs: 5, outputActivation: "softmax", seed: 1, ...over,
})

// Independent counts from the architecture definitions (spec.md; Keras ResNet50).
const cbrDefs: Record<string, { k: number; ch: number[] }> = {
  "cbr-larget": { k: 7, ch: [32, 64, 128, 256, 512] },
  "cbr-largew": { k: 7, ch: [64, 128, 256, 512] },
  "cbr-small": { k: 7, ch: [32, 64, 128, 256] },
  "cbr-tiny": { k: 5, ch: [32, 64, 128, 256] },
}
const cbrTrueCounts = (k: number, ch: number[]) => {
  let kernels = 0, bn = 0
  ch.forEach((c, i) => {
    kernels += k * k * (i === 0 ? 3 : ch[i - 1]!) * c
    bn += c
  })
  return { trainable: kernels + 2 * bn, total: kernels + 4 * bn }
}
const resnetCounts = (widths: number[]) => {
  let trainable = 0, total = 0
  const conv = (k: number, cin: number, cout: number) => {
    trainable += k * k * cin * cout + cout + 2 * cout // kernel + bias + bn gamma/beta
    total += k * k * cin * cout + cout + 4 * cout
  }
  conv(7, 3, 64)
  let cin = 64
  const units = [3, 4, 6, 3]
  widths.forEach((f, s) => {
    for (let u = 0; u < units[s]!; u++) {
      if (u === 0) conv(1, cin, 4 * f)
      conv(1, cin, f); conv(3, f, f); conv(1, f, 4 * f)
      cin = 4 * f
    }
  })
  return { trainable, total }
}

test("setup: wasm backend", async () => {
  assert.is((await selectBackend("wasm")).name, "wasm")
})

test("Table 1 convention reproduces the paper's CBR counts; true counts match the definitions", () => {
  for (const arch of ["cbr-larget", "cbr-largew", "cbr-small", "cbr-tiny"] as const) {
    const c = paramCounts(arch)
    assert.is(c.table1Convention, PAPER_TABLE1[arch], arch)
    const d = cbrDefs[arch]!
    assert.equal({ trainable: c.trainable, total: c.total }, cbrTrueCounts(d.k, d.ch), arch)
  }
  assert.is(paramCounts("cbr-larget").table1Convention, 8_532_480)
  assert.is(paramCounts("cbr-largew").table1Convention, 8_432_128)
  assert.is(paramCounts("cbr-small").table1Convention, 2_108_672)
  assert.is(paramCounts("cbr-tiny").table1Convention, 1_076_480)
})

test("ResNet-50 and Inception-v3 without top have Keras's parameter counts; Slim halves conv4_x/conv5_x", () => {
  assert.equal(paramCounts("resnet50"), { table1Convention: null, trainable: 23_534_592, total: 23_587_712 })
  assert.equal(paramCounts("inception-v3"), { table1Convention: null, trainable: 21_768_352, total: 21_802_784 })
  assert.equal({ ...paramCounts("resnet50") , table1Convention: undefined }, { ...resnetCounts([64, 128, 256, 512]), table1Convention: undefined })
  const slim = paramCounts("resnet50-slim")
  assert.equal({ trainable: slim.trainable, total: slim.total }, resnetCounts([64, 128, 128, 256]))
  assert.is(PAPER_TABLE1["resnet50"], 23_570_408)
  assert.is(PAPER_TABLE1["inception-v3"], 22_881_424)
})

test("FLOPs: CBR-Tiny at 32 px equals the hand count; ResNet-50 at 224 px is the ResNet paper's 3.8-3.9 GMACs", () => {
  const built = buildModel(spec("cbr-tiny", { widthMultiplier: 1 }))
  let expected = 0, size = 32, cin = 3
  for (const c of [32, 64, 128, 256]) {
    expected += 2 * size * size * 25 * cin * c
    cin = c
    size = Math.ceil(size / 2)
  }
  expected += 2 * 256 * 5
  assert.is(flopsPerImage(built), expected)
  built.model.dispose()
  const resnet = buildModel(spec("resnet50", { widthMultiplier: 1, inputSize: 224 }))
  const macs = flopsPerImage(resnet) / 2
  resnet.model.dispose()
  assert.ok(macs > 3.8e9 && macs < 3.95e9, `ResNet-50 MACs ${macs}`)
})

test("training FLOPs: CBR-Tiny at 32 px is forward + weight gradient + input gradient, without conv1's input gradient", () => {
  const built = buildModel(spec("cbr-tiny", { widthMultiplier: 1 }))
  let expected = 0, size = 32, cin = 3
  for (const c of [32, 64, 128, 256]) {
    const forward = 2 * size * size * 25 * cin * c
    expected += cin === 3 ? 2 * forward : 3 * forward
    cin = c
    size = Math.ceil(size / 2)
  }
  expected += 3 * 2 * 256 * 5
  assert.is(trainingFlopsPerImage(built), expected)
  built.model.dispose()
  // ResNet-50's conv1 sits behind a zero padding, which has no weights: still no input gradient.
  const resnet = buildModel(spec("resnet50"))
  const conv1 = resnet.model.getLayer("conv1_conv")
  const conv1Forward = 2 * (conv1.outputShape[1] as number) * (conv1.outputShape[2] as number) * 7 * 7 * 3 * (conv1.outputShape[3] as number)
  assert.is(trainingFlopsPerImage(resnet), 3 * flopsPerImage(resnet) - conv1Forward)
  resnet.model.dispose()
})

test("modelsTable lists every architecture with its counts", () => {
  const table = modelsTable(32)
  for (const arch of ARCH_NAMES) assert.match(table, arch)
  for (const n of ["8,532,480", "8,432,128", "2,108,672", "1,076,480", "23,587,712", "21,802,784", "23,570,408", "22,881,424"]) assert.match(table, n)
  assert.match(table, /inception-v3.*min 75px/)
})

test("Keras layer names and the paper's blocks", () => {
  for (const arch of ARCH_NAMES) {
    const built = buildModel(spec(arch))
    const names = built.model.layers.map((l) => l.name)
    const nameSet = new Set(names)
    const blockNames = built.blocks.map((b) => b.name)
    assert.is(blockNames[0], "conv1", arch)
    assert.is(blockNames[blockNames.length - 1], "head", arch)
    const owner = new Map<string, string>()
    for (const b of built.blocks) {
      assert.ok(nameSet.has(b.output), `${arch}: block ${b.name} output ${b.output} is not a layer`)
      assert.ok(b.layers.includes(b.output), `${arch}: block ${b.name} output outside the block`)
      for (const l of b.layers) {
        assert.ok(nameSet.has(l), `${arch}: ${l} not in model`)
        assert.not.ok(owner.has(l), `${arch}: ${l} in two blocks`)
        owner.set(l, b.name)
      }
    }
    for (const layer of built.model.layers) {
      if (layer.weights.length > 0) assert.ok(owner.has(layer.name), `${arch}: weighted layer ${layer.name} in no block`)
    }
    assert.is(owner.get("head"), "head")
    if (arch === "resnet50" || arch === "resnet50-slim") {
      assert.equal(blockNames, ["conv1", "block1", "block2", "block3", "block4", "head"])
      for (const n of ["conv1_conv", "conv1_bn", "pool1_pool", "conv2_block1_0_conv", "conv2_block1_1_conv", "conv3_block4_out", "conv4_block6_3_bn", "conv5_block3_out"]) assert.ok(nameSet.has(n), n)
      assert.is(owner.get("conv2_block3_out"), "block1")
      assert.is(owner.get("conv5_block1_0_conv"), "block4")
    } else if (arch === "inception-v3") {
      assert.equal(blockNames, ["conv1", "stem", ...Array.from({ length: 11 }, (_, i) => `mixed${i}`), "head"])
      const convs = names.filter((n) => /^conv2d(_\d+)?$/.test(n))
      assert.is(convs.length, 94)
      assert.ok(nameSet.has("conv2d") && nameSet.has("conv2d_93") && nameSet.has("batch_normalization_93") && nameSet.has("mixed9_1"))
      assert.is(owner.get("conv2d"), "conv1")
    } else {
      const n = arch === "cbr-larget" ? 5 : 4
      assert.equal(blockNames, ["conv1", ...Array.from({ length: n - 1 }, (_, i) => `block${i + 2}`), "head"])
      assert.is(owner.get("block1_conv"), "conv1")
    }
    built.model.dispose()
  }
})

test("Slim ResNet-50 shares conv1..conv3_x shapes with ResNet-50 and halves conv4_x/conv5_x", () => {
  const full = buildModel(spec("resnet50", { widthMultiplier: 1 }))
  const slim = buildModel(spec("resnet50-slim", { widthMultiplier: 1 }))
  const shapes = (m: typeof full, prefix: RegExp) => m.model.layers.filter((l) => prefix.test(l.name)).map((l) => [l.name, l.weights.map((w) => w.shape)])
  assert.equal(shapes(slim, /^(conv1|conv2|conv3)_/), shapes(full, /^(conv1|conv2|conv3)_/))
  assert.equal(slim.model.getLayer("conv4_block1_1_conv").weights[0]!.shape, [1, 1, 512, 128])
  assert.equal(slim.model.getLayer("conv5_block3_3_conv").weights[0]!.shape, [1, 1, 256, 1024])
  full.model.dispose()
  slim.model.dispose()
})

const weightsOf = (s: ModelSpec): Float32Array[] => {
  const built = buildModel(s)
  const values = built.model.getWeights().map((w) => w.dataSync() as Float32Array)
  built.model.dispose()
  return values
}

test("same seed gives identical weights (on wasm and cpu alike); a different seed differs", async () => {
  for (const arch of ["cbr-tiny", "resnet50", "inception-v3"] as const) {
    const a = weightsOf(spec(arch)), b = weightsOf(spec(arch)), c = weightsOf(spec(arch, { seed: 2 }))
    assert.equal(a, b, `${arch} same seed`)
    assert.not.equal(a, c, `${arch} different seed`)
    // every conv kernel differs under another seed, not just one
    const kernels = a.filter((w, i) => w.length > 64 && w.some((v, j) => v !== c[i]![j]))
    assert.ok(kernels.length > 0)
  }
  await tf.setBackend("cpu")
  const onCpu = weightsOf(spec("cbr-tiny"))
  await tf.setBackend("wasm")
  assert.equal(onCpu, weightsOf(spec("cbr-tiny")))
})

test("spec errors name the field and the accepted values", () => {
  assert.throws(() => buildModel(spec("inception-v3", { inputSize: 64 })), /inputSize.*>= 75/)
  assert.throws(() => buildModel(spec("cbr-tiny", { widthMultiplier: 0 })), /widthMultiplier/)
  assert.throws(() => buildModel(spec("vgg16" as ArchName)), /arch.*resnet50/)
  assert.throws(() => buildModel(spec("cbr-tiny", { outputActivation: "relu" as "softmax" })), /outputActivation/)
})

test("every architecture trains one step on wasm: finite loss, all weights but frozen stats change", () => {
  for (const arch of ARCH_NAMES) {
    const s = spec(arch, { outputs: 3, outputActivation: arch === "cbr-small" ? "sigmoid" : "softmax" })
    const built = buildModel(s)
    const before = built.model.trainableWeights.map((w) => w.read().dataSync().slice())
    const opt = tf.train.adam(1e-2)
    const x = tf.randomNormal([2, s.inputSize, s.inputSize, 3], 0, 1, "float32", 3)
    const y = tf.tensor2d([[1, 0, 0], [0, 1, 1]])
    const loss = opt.minimize(() => {
      const p = built.model.apply(x, { training: true }) as tf.Tensor
      return (s.outputActivation === "softmax" ? tf.losses.softmaxCrossEntropy(y, p) : tf.losses.sigmoidCrossEntropy(y, p)) as tf.Scalar
    }, true)!
    assert.ok(Number.isFinite(loss.dataSync()[0]), arch)
    const changed = built.model.trainableWeights.filter((w, i) => w.read().dataSync().some((v, j) => v !== before[i]![j])).length
    assert.is(changed, built.model.trainableWeights.length, `${arch}: ${changed}/${built.model.trainableWeights.length} weights updated`)
    tf.dispose([x, y, loss])
    opt.dispose()
    built.model.dispose()
  }
})

test("gradients of every weight agree between wasm (transfusion kernels) and cpu for all three families", async () => {
  // Batch norm over few values (small batch, 1x1 or 2x2 maps at the end) amplifies float32
  // roundoff differences between XNNPACK and the cpu kernels through the depth; batch 8
  // and a relative L2 tolerance per weight tensor keep the check about the kernels.
  const BATCH = 8
  for (const arch of ["cbr-small", "resnet50", "inception-v3"] as const) {
    const s = spec(arch, { widthMultiplier: 0.0625, inputSize: arch === "inception-v3" ? 75 : 35 })
    const gradsOn = async (backend: string) => {
      await tf.setBackend(backend)
      const built = buildModel(s)
      const x = tf.randomNormal([BATCH, s.inputSize, s.inputSize, 3], 0, 1, "float32", 11)
      const y = tf.oneHot(tf.tensor1d(Array.from({ length: BATCH }, (_, i) => i % 5), "int32"), 5)
      const vars = built.model.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val)
      const { value, grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(y, built.model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar, vars)
      const out = { loss: value.dataSync()[0]!, grads: vars.map((v) => grads[v.name]!.dataSync().slice() as Float32Array) }
      tf.dispose([x, y, value, ...Object.values(grads)])
      built.model.dispose()
      return out
    }
    const onWasm = await gradsOn("wasm"), onCpu = await gradsOn("cpu")
    await tf.setBackend("wasm")
    // float32 roundoff differs between XNNPACK and the cpu kernels; batch norm over 2 images at 1x1 (Inception at 75 px) amplifies it
    assert.ok(Math.abs(onWasm.loss - onCpu.loss) < 1e-3 * Math.abs(onCpu.loss), `${arch} loss ${onWasm.loss} vs ${onCpu.loss}`)
    assert.is(onWasm.grads.length, onCpu.grads.length)
    onCpu.grads.forEach((g, i) => {
      let diff = 0, norm = 0
      for (let j = 0; j < g.length; j++) {
        diff += (g[j]! - onWasm.grads[i]![j]!) ** 2
        norm += g[j]! ** 2
      }
      // conv biases right before a batch norm have zero true gradient: only roundoff, hence the floor
      assert.ok(Math.sqrt(diff) < 1e-2 * Math.sqrt(norm) + 1e-4, `${arch} weight ${i}: |difference| ${Math.sqrt(diff)} against |gradient| ${Math.sqrt(norm)}`)
    })
  }
})

test.run()
