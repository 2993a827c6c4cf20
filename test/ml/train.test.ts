import { test } from "uvu"
import * as assert from "uvu/assert"
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as tf from "@tensorflow/tfjs-core"
import { Rng } from "../../lib/random.ts"
import { memoryImageSet, type ImageSet } from "../../data/imageset.ts"
import {
  batchIndices, chexpertTask, evaluate, flipHorizontally, Optimizer, referableScores, retinaTask, taskLoss, taskMetrics, train, type TrainOptions,
} from "../../ml/train.ts"
import { cropAndResize, randomResizedCropBox, type RandomResizedCrop } from "../../ml/task.ts"
import { selectBackend } from "../../ml/backend.ts"
import { buildModel } from "../../models/index.ts"
import { listCheckpoints } from "../../ml/checkpoint.ts"
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { KILL_RUN_STEPS, killRunOptions } from "./fixtures/kill-child.ts"
import { rocAuc } from "../../ml/metrics.ts"
import { randomClassSet, tinyConvNet, restoreBackend, toyRetina, TOY_SIZE as SIZE, useWasm, weightArrays } from "./fixtures/tiny-models.ts"

test.before(useWasm)
test.after(restoreBackend)

const trainSet = toyRetina(40, "train")
const valSet = toyRetina(20, "val")
const model = (seed = 1) => tinyConvNet({ seed, inputSize: SIZE, width: 4, width2: 8 }).model
const base = (m: TrainOptions["model"], extra: Partial<TrainOptions> = {}): TrainOptions => ({
  model: m, train: trainSet, validation: valSet, task: retinaTask(), optimizer: { kind: "adam", learningRate: 1e-2 },
  batchSize: 8, steps: 6, seed: 11, evalEvery: 2, ...extra,
})

const withDir = async (f: (dir: string) => Promise<void>) => {
  const dir = await mkdtemp(join(tmpdir(), "transfusion-train-"))
  try { await f(dir) } finally { await rm(dir, { recursive: true, force: true }) }
}

test("flipHorizontally mirrors only flagged images", () => {
  // two 1x3 images: pixels (r,g,b) = column index
  const px = Uint8Array.from([0, 0, 0, 1, 1, 1, 2, 2, 2, /**/ 0, 0, 0, 1, 1, 1, 2, 2, 2])
  flipHorizontally(px, 1, 3, [true, false])
  assert.equal(Array.from(px), [2, 2, 2, 1, 1, 1, 0, 0, 0, /**/ 0, 0, 0, 1, 1, 1, 2, 2, 2])
})

const IMAGENET_CROP: RandomResizedCrop = { scale: [0.08, 1], ratio: [3 / 4, 4 / 3] }

test("randomResizedCropBox: boxes inside the image, area and aspect within bounds, spread over them, deterministic for a seed", () => {
  const H = 224, W = 224, n = 4000
  const r = new Rng("crop-stats")
  const boxes = Array.from({ length: n }, () => randomResizedCropBox(r, H, W, IMAGENET_CROP))
  const scales: number[] = [], logAspects: number[] = []
  for (const b of boxes) {
    assert.ok(b.top >= 0 && b.left >= 0 && b.height >= 1 && b.width >= 1 && b.top + b.height <= H && b.left + b.width <= W, JSON.stringify(b))
    scales.push((b.height * b.width) / (H * W))
    logAspects.push(Math.log(b.width / b.height))
  }
  // Rounding w and h to whole pixels moves area and aspect by at most ~1 pixel's worth at 224 px.
  const slack = 2.5 / 21 // one pixel on each side of the smallest crop's side (sqrt(0.08) x 224 = 63 px)
  assert.ok(Math.min(...scales) >= 0.08 * (1 - slack) && Math.max(...scales) <= 1, `scale in [${Math.min(...scales)}, ${Math.max(...scales)}]`)
  assert.ok(Math.min(...logAspects) >= Math.log(3 / 4) - slack && Math.max(...logAspects) <= Math.log(4 / 3) + slack)
  // Spread: both ends of the scale range are reached, and aspects are log-symmetric about 1.
  assert.ok(scales.filter((s) => s < 0.15).length > n * 0.03 && scales.filter((s) => s > 0.85).length > n * 0.05)
  const meanLog = logAspects.reduce((a, b) => a + b, 0) / n
  assert.ok(Math.abs(meanLog) < 0.01, `mean log aspect ${meanLog}`)
  // Area uniform on [0.08, 1], kept when the box fits (s <= min(a, 1/a) for aspect a), else
  // redrawn: E[s | fits] over log-uniform a is 0.4778 (numerical integral); the sample mean's
  // standard error is ~0.004 at n = 4000.
  const meanScale = scales.reduce((a, b) => a + b, 0) / n
  assert.ok(Math.abs(meanScale - 0.4778) < 0.015, `mean scale ${meanScale}`)
  // Same seed, same boxes; another seed, other boxes.
  const again = new Rng("crop-stats")
  assert.equal(Array.from({ length: n }, () => randomResizedCropBox(again, H, W, IMAGENET_CROP)), boxes)
  const other = new Rng("crop-stats-2")
  assert.not.equal(Array.from({ length: 20 }, () => randomResizedCropBox(other, H, W, IMAGENET_CROP)), boxes.slice(0, 20))
  // Nothing fits (a 1:1 crop range on a 4:1 image): the centred crop at the nearest allowed aspect.
  assert.equal(randomResizedCropBox(new Rng(1), 10, 40, { scale: [0.9, 1], ratio: [1, 1] }), { top: 0, left: 15, height: 10, width: 10 })
})

test("cropAndResize: the whole-image box is the identity; a half box of a ramp is the ramp stretched, bilinearly", () => {
  const H = 4, W = 8
  const ramp = new Uint8Array(H * W * 3)
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) for (let c = 0; c < 3; c++) ramp[(y * W + x) * 3 + c] = 10 * x + c
  assert.equal(Array.from(cropAndResize(ramp, H, W, [{ top: 0, left: 0, height: H, width: W }])), Array.from(ramp))
  // Columns 0..3 stretched to 8: source x = (x + 0.5) / 2 - 0.5, clamped to [0, 3]: 0, 0.25, 0.75, 1.25, ..., 3.
  const half = cropAndResize(ramp, H, W, [{ top: 0, left: 0, height: H, width: 4 }])
  const row = Array.from({ length: W }, (_, x) => half[x * 3]!)
  assert.equal(row, [0, 3, 8, 13, 18, 23, 28, 30])
  assert.ok(half !== ramp)
})

test("random-resized crops in training: deterministic for a seed, different from no crops, never writing into the ImageSet's buffers", async () => {
  const first = await trainSet.read([0, 1, 2, 3, 4, 5, 6, 7])
  const pristine = first.pixels.slice()
  const cached = { ...trainSet, count: 8, read: async () => first }
  const a = model(), b = model(), c = model()
  await train(base(a, { train: cached, validation: undefined, steps: 3, randomResizedCrop: IMAGENET_CROP }))
  await train(base(b, { train: cached, validation: undefined, steps: 3, randomResizedCrop: IMAGENET_CROP }))
  await train(base(c, { train: cached, validation: undefined, steps: 3 }))
  assert.equal(weightArrays(a), weightArrays(b))
  assert.not.equal(weightArrays(a), weightArrays(c))
  assert.ok(Buffer.from(first.pixels).equals(Buffer.from(pristine)))
})

test("a learning-rate schedule changes the run, and a checkpoint made under another schedule is not resumed", async () => {
  await withDir(async (dir) => {
    const constant = model(), stepped = model()
    await train(base(constant, { validation: undefined, steps: 4 }))
    await train(base(stepped, { validation: undefined, steps: 4, learningRateSchedule: { kind: "step", every: 2, factor: 0.1 } }))
    assert.not.equal(weightArrays(constant), weightArrays(stepped))
    await train(base(model(), { validation: undefined, steps: 2, checkpointDir: dir }))
    let mismatch: unknown
    try { await train(base(model(), { validation: undefined, steps: 4, checkpointDir: dir, learningRateSchedule: { kind: "cosine", warmupSteps: 0, finalFraction: 0 } })) } catch (e) { mismatch = e }
    assert.match(String(mismatch), /the checkpoint was made with schedule = \{"kind":"constant"\} but this run has \{"kind":"cosine"/)
  })
})

test("batchIndices: each epoch is a seeded permutation cut into full batches", () => {
  const epoch0 = [0, 1, 2, 3, 4].flatMap((s) => batchIndices(3, 43, 8, s))
  assert.is(epoch0.length, 40)
  assert.is(new Set(epoch0).size, 40)
  assert.equal(batchIndices(3, 43, 8, 2), batchIndices(3, 43, 8, 2))
  assert.not.equal(batchIndices(3, 43, 8, 0), batchIndices(3, 43, 8, 5)) // epoch 1 reshuffles
  assert.not.equal(batchIndices(3, 43, 8, 0), batchIndices(4, 43, 8, 0))
})

test("taskLoss: softmax cross-entropy and masked sigmoid cross-entropy against hand values", () => {
  const probs = tf.tensor2d([[0.5, 0.25, 0.25], [0.1, 0.1, 0.8]])
  const ce = taskLoss({ kind: "classification", classes: 3 }, probs, Float32Array.from([0, 2]), 2)
  assert.ok(Math.abs(ce.dataSync()[0] - (-Math.log(0.5) - Math.log(0.8)) / 2) < 1e-6)
  // NaN rows are dropped from the mean
  const ceMasked = taskLoss({ kind: "classification", classes: 3 }, probs, Float32Array.from([NaN, 2]), 2)
  assert.ok(Math.abs(ceMasked.dataSync()[0] + Math.log(0.8)) < 1e-6)
  const sig = tf.tensor2d([[0.9, 0.3], [0.2, 0.6]])
  const bce = taskLoss(chexpertTask(["a", "b"]), sig, Float32Array.from([1, NaN, NaN, 0]), 2)
  assert.ok(Math.abs(bce.dataSync()[0] - (-Math.log(0.9) - Math.log(0.4)) / 2) < 1e-6)
  tf.dispose([probs, ce, ceMasked, sig, bce])
})

test("taskMetrics: referable score is P(grade >= 2); multilabel AUC per finding ignores NaN", () => {
  const outputs = Float32Array.from([0.7, 0.2, 0.1, 0, 0, /**/ 0.1, 0.1, 0.3, 0.3, 0.2, /**/ 0.2, 0.5, 0.2, 0.1, 0, /**/ 0, 0, 0, 0.5, 0.5])
  const scores = referableScores(outputs, 5, 2)
  assert.ok(Math.abs(scores[0] - 0.1) < 1e-6 && Math.abs(scores[1] - 0.8) < 1e-6 && Math.abs(scores[2] - 0.3) < 1e-6 && Math.abs(scores[3] - 1) < 1e-6)
  const labels = Float32Array.from([0, 3, 2, 4])
  const m = taskMetrics(retinaTask(), { outputs, width: 5, labels, patients: [], paths: [] }).metrics
  // referable labels 0,1,1,1 with scores .1,.8,.3,1 -> all positives above the negative
  assert.is(m.auc, 1)
  // top-1 with ties going to the lower class index: predictions 0, 2, 1, 3 against labels 0, 3, 2, 4
  assert.is(m.accuracy, 0.25)
  const multi = taskMetrics(chexpertTask(["a", "b"]), {
    outputs: Float32Array.from([0.9, 0.1, 0.2, 0.8, 0.6, 0.4]), width: 2, labels: Float32Array.from([1, NaN, 0, 1, 1, 0]), patients: [], paths: [],
  }).metrics
  assert.is(multi["auc/a"], rocAuc([0.9, 0.2, 0.6], [1, 0, 1]))
  assert.is(multi["auc/b"], rocAuc([0.8, 0.4], [1, 0]))
  assert.is(multi.auc, (multi["auc/a"] + multi["auc/b"]) / 2)
})

test("same seed and backend give bit-identical weights; another seed does not", async () => {
  const a = model(), b = model(), c = model()
  await train(base(a, { validation: undefined }))
  await train(base(b, { validation: undefined }))
  await train(base(c, { validation: undefined, seed: 12 }))
  assert.equal(weightArrays(a), weightArrays(b))
  assert.not.equal(weightArrays(a), weightArrays(c))
  // SGD with momentum is deterministic too
  const d = model(), e = model()
  await train(base(d, { validation: undefined, optimizer: { kind: "sgd-momentum", learningRate: 0.05, momentum: 0.9 }, steps: 3 }))
  await train(base(e, { validation: undefined, optimizer: { kind: "sgd-momentum", learningRate: 0.05, momentum: 0.9 }, steps: 3 }))
  assert.equal(weightArrays(d), weightArrays(e))
})

test("tensor count stays flat across steps, and batch norm statistics train", async () => {
  const m = model()
  const counts: number[] = []
  const meanBefore = Float32Array.from(m.getLayer("conv1_bn").getWeights()[2].dataSync())
  await train(base(m, { steps: 10, evalEvery: 3, onProgress: () => { counts.push(tf.memory().numTensors) } }))
  assert.is(counts.length, 10)
  assert.ok(counts.slice(1).every((c) => c === counts[1]), `tensor counts ${counts.join(",")}`)
  assert.not.equal(Array.from(m.getLayer("conv1_bn").getWeights()[2].dataSync()), Array.from(meanBefore))
})

test("resume after a kill continues bit-identically to an uninterrupted run", async () => {
  await withDir(async (dir) => {
    const whole = model()
    const full = await train(base(whole, { steps: 7, checkpointDir: join(dir, "whole"), checkpointEvery: 2 }))
    assert.ok(full.completed)
    assert.is(full.curve.length, 4) // steps 2, 4, 6 and the last, 7

    const killed = model()
    const ckDir = join(dir, "killed")
    let error: unknown
    try {
      await train(base(killed, { steps: 7, checkpointDir: ckDir, checkpointEvery: 2, onProgress: (p) => { if (p.step === 5) throw new Error("killed") } }))
    } catch (e) { error = e }
    assert.is((error as Error).message, "killed")
    // a half-written temporary file from the kill must be ignored
    await writeFile(join(ckDir, "checkpoint-000000006.tfck.tmp-999-1"), "partial")
    const resumedModel = model(7) // different init: everything must come from the checkpoint
    const resumed = await train(base(resumedModel, { steps: 7, checkpointDir: ckDir, checkpointEvery: 2 }))
    assert.is(resumed.resumedFrom, 4)
    assert.equal(weightArrays(resumedModel), weightArrays(whole))
    assert.equal(resumed.losses, full.losses)
    assert.equal(resumed.curve, full.curve)
    assert.ok((await readdir(ckDir)).filter((f) => f.startsWith("checkpoint-")).length <= 2)

    let mismatch: unknown
    try { await train(base(model(), { steps: 8, batchSize: 4, checkpointDir: ckDir })) } catch (e) { mismatch = e }
    assert.match(String(mismatch), /batchSize = 8 but this run has 4/)
  })
})

test("onValidation runs before the step's checkpoint, so a kill right after a checkpoint loses no validation point", async () => {
  await withDir(async (dir) => {
    const seen: { step: number; checkpoints: number[] }[] = []
    const onValidation = async (step: number) => { seen.push({ step, checkpoints: (await listCheckpoints(dir)).map((c) => c.step) }) }
    await train(base(model(), { steps: 6, evalEvery: 2, checkpointDir: dir, checkpointEvery: 2, onValidation }))
    assert.equal(seen, [{ step: 2, checkpoints: [] }, { step: 4, checkpoints: [2] }, { step: 6, checkpoints: [2, 4] }])
  })
})

test("a damaged newest checkpoint falls back to the older one; with none readable training starts clean; killed writers' temporaries go", async () => {
  await withDir(async (dir) => {
    const whole = model()
    const full = await train(base(whole, { steps: 7, checkpointEvery: 2 }))
    const ckDir = join(dir, "killed")
    const kill = async () => {
      try {
        await train(base(model(), { steps: 7, checkpointDir: ckDir, checkpointEvery: 2, onProgress: (p) => { if (p.step === 5) throw new Error("killed") } }))
      } catch { /* the kill */ }
    }
    const truncate = async (name: string) => {
      const path = join(ckDir, name)
      const bytes = await readFile(path)
      await writeFile(path, bytes.subarray(0, bytes.length - 100)) // mid tensor data
    }
    await kill()
    assert.equal((await readdir(ckDir)).sort(), ["checkpoint-000000002.tfck", "checkpoint-000000004.tfck"])
    await truncate("checkpoint-000000004.tfck")
    const temp = "checkpoint-000000006.tfck.tmp-4194003-1"
    await writeFile(join(ckDir, temp), "partial")
    const damaged: string[] = []
    const resumedModel = model(7)
    const resumed = await train(base(resumedModel, { steps: 7, checkpointDir: ckDir, checkpointEvery: 2, onDamagedCheckpoint: (m) => damaged.push(m) }))
    assert.is(resumed.resumedFrom, 2)
    assert.is(damaged.length, 1)
    assert.match(damaged[0]!, /checkpoint-000000004\.tfck.*truncated/)
    assert.equal(weightArrays(resumedModel), weightArrays(whole))
    assert.equal(resumed.losses, full.losses)
    assert.not.ok((await readdir(ckDir)).includes(temp))

    await rm(ckDir, { recursive: true, force: true })
    await kill()
    for (const n of await readdir(ckDir)) await truncate(n)
    const cleanModel = model()
    const clean = await train(base(cleanModel, { steps: 7, checkpointDir: ckDir, checkpointEvery: 2 }))
    assert.is(clean.resumedFrom, undefined)
    assert.ok(clean.completed)
    assert.equal(weightArrays(cleanModel), weightArrays(whole), "a clean start trains from the run's own init, as the uninterrupted run")
  })
})

test("resume after a real SIGKILL of the training process matches an uninterrupted run", async () => {
  await withDir(async (dir) => {
    const ckDir = join(dir, "killed")
    const child = spawn(process.execPath, ["--import", "tsx", fileURLToPath(new URL("./fixtures/kill-child.ts", import.meta.url)), "--child", ckDir], {
      stdio: ["ignore", "pipe", "pipe"],
    })
    let out = "", err = ""
    child.stderr.on("data", (d) => { err += String(d) })
    const exited = new Promise<NodeJS.Signals | number | null>((res) => child.on("exit", (code, signal) => res(signal ?? code)))
    await new Promise<void>((res) => {
      child.stdout.on("data", (d) => {
        out += String(d)
        if (/step 4\n/.test(out) && child.exitCode === null) { child.kill("SIGKILL"); res() }
      })
      child.on("exit", () => res())
    })
    assert.is(await exited, "SIGKILL", `child was not killed; stdout ${out} stderr ${err.slice(-2000)}`)
    const left = await listCheckpoints(ckDir)
    assert.ok(left.length > 0 && left.at(-1)!.step >= 4 && left.at(-1)!.step < KILL_RUN_STEPS, `checkpoints ${JSON.stringify(left)}`)

    const resumedModel = model(3)
    const resumed = await train(killRunOptions(resumedModel, ckDir))
    const whole = model()
    const full = await train(killRunOptions(whole, join(dir, "whole")))
    assert.is(resumed.resumedFrom, left.at(-1)!.step)
    assert.equal(weightArrays(resumedModel), weightArrays(whole))
    assert.equal(resumed.losses, full.losses)
    assert.equal(resumed.curve, full.curve)
  })
})

test("an abort signal stops after the step with a checkpoint, and the loss falls on a learnable task", async () => {
  await withDir(async (dir) => {
    const controller = new AbortController()
    const m = model()
    const partial = await train(base(m, { steps: 40, checkpointDir: dir, evalEvery: 0, onProgress: (p) => { if (p.step === 3) controller.abort() }, signal: controller.signal }))
    assert.is(partial.completed, false)
    assert.is(partial.steps, 3)
    assert.match(partial.lastCheckpoint ?? "", /checkpoint-000000003\.tfck$/)
    const done = await train(base(m, { steps: 40, checkpointDir: dir, evalEvery: 0 }))
    assert.is(done.resumedFrom, 3)
    const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length
    assert.ok(mean(done.losses.slice(-8)) < 0.8 * mean(done.losses.slice(0, 8)), `loss ${mean(done.losses.slice(0, 8))} -> ${mean(done.losses.slice(-8))}`)
    const ev = await evaluate(m, valSet, retinaTask(), { batchSize: 7 })
    assert.is(ev.predictions.outputs.length, 20 * 5)
    assert.ok(ev.metrics.auc > 0.5, `validation AUC ${ev.metrics.auc}`)
  })
})

test("our Adam and SGD-momentum match tf.train's on a quadratic (independent implementations)", () => {
  const target = tf.tensor1d([1, -2, 3, 0.5])
  const run = (make: (v: tf.Variable) => (g: tf.Tensor) => void) => {
    const v = tf.variable(tf.tensor1d([0.3, 0.1, -0.2, 2]))
    const step = make(v)
    for (let i = 0; i < 5; i++) {
      const g = tf.tidy(() => tf.mul(tf.sub(v, target), tf.tensor1d([1, 10, 0.1, 3]))) // gradient of a scaled quadratic
      step(g)
      g.dispose()
    }
    const out = Array.from(v.dataSync())
    v.dispose()
    return out
  }
  const ours = (config: ConstructorParameters<typeof Optimizer>[0]) => (v: tf.Variable) => {
    const opt = new Optimizer(config, [v], ["v"])
    return (g: tf.Tensor) => opt.apply([g])
  }
  const theirs = (opt: tf.Optimizer) => (v: tf.Variable) => (g: tf.Tensor) => opt.applyGradients({ [v.name]: g })
  const adamOurs = run(ours({ kind: "adam", learningRate: 0.1, epsilon: 1e-8 }))
  const adamTheirs = run(theirs(tf.train.adam(0.1, 0.9, 0.999, 1e-8)))
  adamOurs.forEach((x, i) => assert.ok(Math.abs(x - adamTheirs[i]) < 1e-5, `adam ${adamOurs} vs ${adamTheirs}`))
  assert.not.equal(adamOurs, [0.3, 0.1, -0.2, 2])
  const sgdOurs = run(ours({ kind: "sgd-momentum", learningRate: 0.05, momentum: 0.9 }))
  const sgdTheirs = run(theirs(tf.train.momentum(0.05, 0.9)))
  sgdOurs.forEach((x, i) => assert.ok(Math.abs(x - sgdTheirs[i]) < 1e-6, `sgd ${sgdOurs} vs ${sgdTheirs}`))
  target.dispose()
})

test("flips never write into the ImageSet's buffers", async () => {
  const first = await trainSet.read([0, 1, 2, 3, 4, 5, 6, 7])
  const pristine = first.pixels.slice()
  // An ImageSet that hands out one cached batch, as a caching reader might.
  const cached = { ...trainSet, count: 8, read: async () => first }
  await train(base(model(), { train: cached, validation: undefined, steps: 3 }))
  assert.ok(Buffer.from(first.pixels).equals(Buffer.from(pristine)))
})

test("CheXpert-style multilabel training: five sigmoids, NaN labels masked, per-finding AUCs", async () => {
  const names = ["Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Pleural Effusion"]
  const r = new Rng("chexpert-toy")
  const n = 24
  const labelValues = new Float32Array(n * 5)
  for (let i = 0; i < n; i++) for (let j = 0; j < 5; j++) labelValues[i * 5 + j] = j === 4 ? NaN : r.bernoulli(0.2) ? NaN : r.int(2)
  const set = memoryImageSet({
    height: SIZE, width: SIZE, labels: { kind: "multilabel", names }, labelValues,
    pixels: Uint8Array.from({ length: n * SIZE * SIZE * 3 }, () => r.int(256)), patients: Array.from({ length: n }, (_, i) => `p${i}`),
  })
  const m = tinyConvNet({ seed: 1, inputSize: SIZE, width: 4, width2: 8, outputs: 5, activation: "sigmoid" }).model
  const res = await train(base(m, { train: set, validation: set, task: chexpertTask(names), steps: 3, evalEvery: 0 }))
  assert.ok(res.losses.every(Number.isFinite), `losses ${res.losses}`)
  const last = res.curve.at(-1)!.metrics
  for (const name of names.slice(0, 4)) assert.ok(last[`auc/${name}`] >= 0 && last[`auc/${name}`] <= 1, name)
  assert.ok(Number.isNaN(last["auc/Pleural Effusion"])) // never labelled
  assert.ok(Number.isFinite(last.loss))
  const defined = names.slice(0, 4).map((x) => last[`auc/${x}`])
  assert.ok(Math.abs(last.auc - defined.reduce((a, b) => a + b, 0) / 4) < 1e-12)
})

test("a resumed CheXpert-style run keeps the NaN AUC of a never-labelled finding (stored as null in the checkpoint)", async () => {
  await withDir(async (dir) => {
    const names = ["Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Pleural Effusion"]
    const r = new Rng("chexpert-resume")
    const n = 24
    const labelValues = Float32Array.from({ length: n * 5 }, (_, k) => (k % 5 === 4 ? NaN : r.int(2)))
    const set = memoryImageSet({
      height: SIZE, width: SIZE, labels: { kind: "multilabel", names }, labelValues,
      pixels: Uint8Array.from({ length: n * SIZE * SIZE * 3 }, () => r.int(256)), patients: Array.from({ length: n }, (_, i) => `p${i}`),
    })
    const net = () => tinyConvNet({ seed: 1, inputSize: SIZE, width: 4, width2: 8, outputs: 5, activation: "sigmoid" }).model
    const options = (m: TrainOptions["model"], extra: Partial<TrainOptions>) =>
      base(m, { train: set, validation: set, task: chexpertTask(names), steps: 4, evalEvery: 1, checkpointEvery: 2, ...extra })
    const full = await train(options(net(), { checkpointDir: join(dir, "whole") }))
    assert.ok(Number.isNaN(full.curve[0]!.metrics["auc/Pleural Effusion"]))
    const ckDir = join(dir, "killed")
    await train(options(net(), { checkpointDir: ckDir, onProgress: (p) => { if (p.step === 3) throw new Error("killed") } })).catch(() => undefined)
    const resumed = await train(options(net(), { checkpointDir: ckDir }))
    assert.is(resumed.resumedFrom, 2)
    assert.ok(Number.isNaN(resumed.curve[0]!.metrics["auc/Pleural Effusion"]), `resumed curve ${JSON.stringify(resumed.curve[0])}`)
    assert.equal(resumed.curve, full.curve)
  })
})

test("train leaves no tensors behind", async () => {
  const m = model()
  const before = tf.memory().numTensors
  await train(base(m, { steps: 2 }))
  assert.is(tf.memory().numTensors, before)
})

test("a real architecture (CBR-Tiny) trains deterministically on the wasm backend", async () => {
  const previous = tf.getBackend()
  await selectBackend("wasm")
  try {
    const size = 16
    const set = randomClassSet("wasm-data", size)
    const once = async () => {
      const built = buildModel({ arch: "cbr-tiny", inputSize: size, widthMultiplier: 0.25, outputs: 5, outputActivation: "softmax", seed: 1 })
      const before = Float32Array.from(built.model.getLayer(built.blocks[0].layers[0]).getWeights()[0].dataSync())
      const res = await train({ model: built.model, train: set, task: retinaTask(), optimizer: { kind: "adam", learningRate: 1e-3 }, batchSize: 8, steps: 3, seed: 5 })
      const w = weightArrays(built.model)
      const after = Float32Array.from(built.model.getLayer(built.blocks[0].layers[0]).getWeights()[0].dataSync())
      built.model.dispose()
      return { w, res, before, after }
    }
    const a = await once(), b = await once()
    assert.is(tf.getBackend(), "wasm")
    assert.equal(a.w, b.w)
    assert.equal(a.res.losses, b.res.losses)
    assert.is(a.after.length, a.before.length)
    assert.not.equal(Array.from(a.after), Array.from(a.before)) // conv1 moved
  } finally {
    await tf.setBackend(previous)
  }
})

test("clear errors for mismatched model, task and data", async () => {
  let e1: unknown
  try { await train(base(tinyConvNet({ seed: 1, inputSize: 16 }).model)) } catch (e) { e1 = e }
  assert.match(String(e1), /takes 16x16 images but the image set has 12x12/)
  let e2: unknown
  try { await train(base(model(), { task: chexpertTask(["a", "b"]) })) } catch (e) { e2 = e }
  assert.match(String(e2), /5 outputs but task multilabel needs 2/)
})

test.run()
