// The training loop: a manual, seeded loop (no model.fit, whose shuffle draws from
// Math.random) over an ImageSet, with the paper's task heads, a validation curve for
// convergence plots, progress callbacks, and checkpoints it resumes from after a kill.
//
// Every random choice is derived from (seed, epoch or step): the epoch's example order
// from fork("order/<epoch>") and the flips of a step from fork("flip/<step>"). So the
// random state at any step is just (seed, step), which the checkpoint holds (its step and
// the identity's seed; no generator state is stored), and a resumed run is bit-identical
// to an uninterrupted one on the same backend.
//
// The optimisers are written here rather than taken from tf.train: tf.train.adam keeps
// beta^t as a running product that its setWeights recomputes with pow(), so a restored
// optimiser differs from the uninterrupted one in the last bits. Ours derive the bias
// correction from the step count alone.

import * as tf from "@tensorflow/tfjs-core"
import type { LayersModel } from "@tensorflow/tfjs-layers"
import { Rng } from "../lib/random.ts"
import type { Batch, ImageSet, LabelSpec } from "../data/imageset.ts"
import { loadCheckpoint, newestReadableCheckpoint, saveCheckpoint, toRecords, type OptimizerState } from "./checkpoint.ts"
import { averagePrecision, rocAuc, topKAccuracy, type CurvePoint } from "./metrics.ts"

// ---------------------------------------------------------------- tasks

/** The paper's task heads (spec.md, "Tasks and metrics"). */
export type Task =
  /** RETINA: softmax over grades 0..classes-1; the reported score is P(grade >= referableFrom). */
  | { readonly kind: "grading"; readonly classes: number; readonly referableFrom: number }
  /** CheXpert: one sigmoid per finding, NaN labels masked out of loss and metrics. */
  | { readonly kind: "multilabel"; readonly names: readonly string[] }
  /** ImageNet pretraining: softmax over classes; accuracy and top-5. */
  | { readonly kind: "classification"; readonly classes: number }

export const retinaTask = (referableFrom = 2, classes = 5): Task => ({ kind: "grading", classes, referableFrom })
export const chexpertTask = (names: readonly string[]): Task => ({ kind: "multilabel", names })
export const classificationTask = (classes: number): Task => ({ kind: "classification", classes })

export const taskOutputs = (task: Task): number => (task.kind === "multilabel" ? task.names.length : task.classes)

const checkTaskMatches = (task: Task, labels: LabelSpec, model: LayersModel, what: string): void => {
  const outputs = model.outputs[0].shape[model.outputs[0].shape.length - 1]
  if (outputs !== taskOutputs(task)) throw new Error(`${what}: the model has ${outputs} outputs but task ${task.kind} needs ${taskOutputs(task)}; build the model with outputs = ${taskOutputs(task)}`)
  if (task.kind === "multilabel") {
    if (labels.kind !== "multilabel" || labels.names.length !== task.names.length) throw new Error(`${what}: task multilabel (${task.names.join(", ")}) but the image set's labels are ${JSON.stringify(labels)}`)
  } else if (labels.kind !== "class" || labels.classes !== task.classes) {
    throw new Error(`${what}: task ${task.kind} with ${task.classes} classes but the image set's labels are ${JSON.stringify(labels)}`)
  }
}

// ---------------------------------------------------------------- input

/** How uint8 pixels become model inputs: [0, 1] floats, optionally then (x - mean) / std per channel. */
export type Normalisation =
  | { readonly kind: "unit" }
  | { readonly kind: "channel"; readonly mean: readonly [number, number, number]; readonly std: readonly [number, number, number] }

const UNIT: Normalisation = { kind: "unit" }

/** Mirrors the images whose flag is set, in place (NHWC uint8, 3 channels). */
export const flipHorizontally = (pixels: Uint8Array, height: number, width: number, flags: readonly boolean[]): void => {
  for (let n = 0; n < flags.length; n++) {
    if (!flags[n]) continue
    for (let y = 0; y < height; y++) {
      const row = (n * height + y) * width * 3
      for (let x = 0; x < width >> 1; x++) {
        const a = row + x * 3, b = row + (width - 1 - x) * 3
        for (let c = 0; c < 3; c++) {
          const t = pixels[a + c]
          pixels[a + c] = pixels[b + c]
          pixels[b + c] = t
        }
      }
    }
  }
}

/** uint8 NHWC -> float32 input tensor. */
export const toInputTensor = (pixels: Uint8Array, count: number, height: number, width: number, norm: Normalisation = UNIT): tf.Tensor4D => {
  const out = new Float32Array(pixels.length)
  if (norm.kind === "unit") {
    for (let i = 0; i < pixels.length; i++) out[i] = pixels[i] / 255
  } else {
    for (let i = 0; i < pixels.length; i++) {
      const c = i % 3
      out[i] = (pixels[i] / 255 - norm.mean[c]) / norm.std[c]
    }
  }
  return tf.tensor4d(out, [count, height, width, 3])
}

const checkInputSize = (model: LayersModel, set: ImageSet, what: string): void => {
  const shape = model.inputs[0].shape
  if (shape[1] !== set.height || shape[2] !== set.width) {
    throw new Error(`${what}: the model takes ${shape[1]}x${shape[2]} images but the image set has ${set.height}x${set.width}; resize the data set or build the model with inputSize ${set.height}`)
  }
}

// ---------------------------------------------------------------- losses

const EPS = 1e-7

/**
 * Mean loss over labelled entries. Softmax heads: categorical cross-entropy of the
 * class column; sigmoid heads: binary cross-entropy per finding. NaN labels are masked.
 * Probabilities are clipped to [eps, 1 - eps] as Keras does.
 */
export const taskLoss = (task: Task, probs: tf.Tensor, labels: Float32Array, n: number): tf.Scalar => {
  const p = tf.clipByValue(probs, EPS, 1 - EPS)
  if (task.kind === "multilabel") {
    const k = task.names.length
    const y = new Float32Array(n * k), mask = new Float32Array(n * k)
    let count = 0
    for (let i = 0; i < n * k; i++) if (!Number.isNaN(labels[i])) { y[i] = labels[i]; mask[i] = 1; count++ }
    const yt = tf.tensor2d(y, [n, k]), mt = tf.tensor2d(mask, [n, k])
    const bce = tf.neg(tf.add(tf.mul(yt, tf.log(p)), tf.mul(tf.sub(1, yt), tf.log(tf.sub(1, p)))))
    return tf.div(tf.sum(tf.mul(bce, mt)), Math.max(count, 1)) as tf.Scalar
  }
  const k = task.classes
  const onehot = new Float32Array(n * k)
  let count = 0
  for (let i = 0; i < n; i++) {
    const y = labels[i]
    if (Number.isNaN(y)) continue
    if (!(Number.isInteger(y) && y >= 0 && y < k)) throw new RangeError(`training label ${y} is not a class index 0..${k - 1}`)
    onehot[i * k + y] = 1
    count++
  }
  const yt = tf.tensor2d(onehot, [n, k])
  return tf.div(tf.neg(tf.sum(tf.mul(yt, tf.log(p)))), Math.max(count, 1)) as tf.Scalar
}

// ---------------------------------------------------------------- optimisers

export type OptimizerConfig =
  | { readonly kind: "adam"; readonly learningRate: number; readonly beta1?: number; readonly beta2?: number; readonly epsilon?: number }
  | { readonly kind: "sgd-momentum"; readonly learningRate: number; readonly momentum: number }

/** Adam (Keras/TF form: lr_t = lr sqrt(1 - b2^t) / (1 - b1^t), eps outside the sqrt) or SGD with heavy-ball momentum (TF form). */
export class Optimizer {
  private readonly slots: tf.Variable[][]
  iterations = 0
  readonly config: Required<OptimizerConfig>

  constructor(config: OptimizerConfig, private readonly variables: readonly tf.Variable[], private readonly names: readonly string[]) {
    this.config = config.kind === "adam"
      ? { kind: "adam", learningRate: config.learningRate, beta1: config.beta1 ?? 0.9, beta2: config.beta2 ?? 0.999, epsilon: config.epsilon ?? 1e-7 }
      : { kind: "sgd-momentum", learningRate: config.learningRate, momentum: config.momentum }
    const perVar = this.config.kind === "adam" ? 2 : 1
    this.slots = variables.map((v) => Array.from({ length: perVar }, () => {
      const zeros = tf.zerosLike(v)
      const slot = tf.variable(zeros, false)
      zeros.dispose() // the variable holds its own reference to the data
      return slot
    }))
  }

  private slotNames(): string[] {
    const suffixes = this.config.kind === "adam" ? ["m", "v"] : ["momentum"]
    return this.names.flatMap((n) => suffixes.map((s) => `${n}/${s}`))
  }

  /** One update from gradients aligned with the variables (null = no gradient, left unchanged). */
  apply(grads: readonly (tf.Tensor | null | undefined)[]): void {
    this.iterations++
    const c = this.config
    tf.tidy(() => {
      if (c.kind === "adam") {
        const t = this.iterations
        const lrT = (c.learningRate * Math.sqrt(1 - c.beta2 ** t)) / (1 - c.beta1 ** t)
        this.variables.forEach((v, i) => {
          const g = grads[i]
          if (!g) return
          const [m, s] = this.slots[i]
          const m1 = tf.add(tf.mul(m, c.beta1), tf.mul(g, 1 - c.beta1))
          const v1 = tf.add(tf.mul(s, c.beta2), tf.mul(tf.square(g), 1 - c.beta2))
          m.assign(m1)
          s.assign(v1)
          v.assign(tf.sub(v, tf.div(tf.mul(m1, lrT), tf.add(tf.sqrt(v1), c.epsilon))))
        })
      } else {
        this.variables.forEach((v, i) => {
          const g = grads[i]
          if (!g) return
          const [acc] = this.slots[i]
          const a1 = tf.add(tf.mul(acc, c.momentum), g)
          acc.assign(a1)
          v.assign(tf.sub(v, tf.mul(a1, c.learningRate)))
        })
      }
    })
  }

  async state(): Promise<OptimizerState> {
    const names = this.slotNames()
    return {
      kind: this.config.kind,
      iterations: this.iterations,
      config: { ...this.config },
      slots: await toRecords(this.slots.flat().map((tensor, i) => ({ name: names[i], tensor }))),
    }
  }

  restore(state: OptimizerState, source: string): void {
    const c = this.config as Record<string, unknown>
    for (const [key, value] of Object.entries(state.config)) {
      if (c[key] !== value) throw new Error(`${source}: the checkpoint's optimiser has ${key} = ${value} but this run asks for ${String(c[key])}; resume with the same settings or use a fresh checkpoint directory`)
    }
    const names = this.slotNames()
    const byName = new Map(state.slots.map((s) => [s.name, s]))
    const flat = this.slots.flat()
    const values = names.map((name, i) => {
      const r = byName.get(name)
      if (!r) throw new Error(`${source}: optimiser slot "${name}" is missing from the checkpoint`)
      if (r.shape.join("x") !== flat[i].shape.join("x")) throw new Error(`${source}: optimiser slot "${name}" has shape [${r.shape.join("x")}] in the checkpoint but [${flat[i].shape.join("x")}] here`)
      return tf.tensor(r.data, [...r.shape], r.dtype)
    })
    flat.forEach((v, i) => v.assign(values[i]))
    tf.dispose(values)
    this.iterations = state.iterations
  }

  dispose(): void {
    tf.dispose(this.slots.flat())
  }
}

// ---------------------------------------------------------------- prediction and evaluation

export interface PredictOptions {
  readonly batchSize?: number
  readonly normalisation?: Normalisation
  /** Evaluate only these example indices (default: all, in order). */
  readonly indices?: readonly number[]
}

export interface Predictions {
  /** Row-major N x outputs model outputs (probabilities). */
  readonly outputs: Float32Array
  readonly width: number
  /** N x labelWidth labels as read. */
  readonly labels: Float32Array
  readonly patients: string[]
  readonly paths: string[]
}

/** Runs the model in inference mode over the set in batches. */
export const predict = async (model: LayersModel, set: ImageSet, options: PredictOptions = {}): Promise<Predictions> => {
  checkInputSize(model, set, "predict")
  const batchSize = options.batchSize ?? 32
  const indices = options.indices ?? Array.from({ length: set.count }, (_, i) => i)
  const width = model.outputs[0].shape[model.outputs[0].shape.length - 1] as number
  const labelWidth = set.labels.kind === "class" ? 1 : set.labels.names.length
  const outputs = new Float32Array(indices.length * width)
  const labels = new Float32Array(indices.length * labelWidth)
  const patients: string[] = [], paths: string[] = []
  for (let start = 0; start < indices.length; start += batchSize) {
    const chunk = indices.slice(start, start + batchSize)
    const batch = await set.read(chunk)
    const out = tf.tidy(() => {
      const x = toInputTensor(batch.pixels, chunk.length, set.height, set.width, options.normalisation)
      return model.apply(x, { training: false }) as tf.Tensor
    })
    outputs.set(await out.data() as Float32Array, start * width)
    out.dispose()
    labels.set(batch.labels, start * labelWidth)
    patients.push(...batch.patients)
    paths.push(...batch.paths)
  }
  return { outputs, width, labels, patients, paths }
}

export interface Evaluation {
  /**
   * grading: auc, ap (referable, grade >= referableFrom), accuracy (over grades), loss;
   * multilabel: auc/<name>, ap/<name>, their means auc, ap (over findings whose AUC is
   * defined, i.e. both classes present), loss;
   * classification: accuracy, top5, loss.
   */
  readonly metrics: Record<string, number>
  readonly predictions: Predictions
  /** The score each AUC is computed from: referable P(grade >= k) (grading), or the outputs (multilabel). */
  readonly scores?: Float32Array
}

/** Referable score P(grade >= from) per row of softmax outputs. */
export const referableScores = (outputs: Float32Array, classes: number, from: number): Float32Array => {
  const n = outputs.length / classes
  const out = new Float32Array(n)
  for (let i = 0; i < n; i++) {
    let s = 0
    for (let k = from; k < classes; k++) s += outputs[i * classes + k]
    out[i] = s
  }
  return out
}

/** Metrics of predictions for a task (see Evaluation.metrics). */
export const taskMetrics = (task: Task, p: Predictions): { metrics: Record<string, number>; scores?: Float32Array } => {
  const clip = (x: number) => Math.min(1 - EPS, Math.max(EPS, x))
  if (task.kind === "multilabel") {
    const k = task.names.length, n = p.labels.length / k
    const metrics: Record<string, number> = {}
    let lossSum = 0, lossCount = 0
    const aucs: number[] = [], aps: number[] = []
    task.names.forEach((name, j) => {
      const s = Array.from({ length: n }, (_, i) => p.outputs[i * k + j])
      const y = Array.from({ length: n }, (_, i) => p.labels[i * k + j])
      for (let i = 0; i < n; i++) {
        if (Number.isNaN(y[i])) continue
        lossSum -= y[i] * Math.log(clip(s[i])) + (1 - y[i]) * Math.log(clip(1 - s[i]))
        lossCount++
      }
      metrics[`auc/${name}`] = rocAuc(s, y)
      metrics[`ap/${name}`] = averagePrecision(s, y)
      aucs.push(metrics[`auc/${name}`])
      aps.push(metrics[`ap/${name}`])
    })
    // Findings without both classes in this set have no AUC; the means are over the rest.
    const mean = (xs: number[]) => {
      const ok = xs.filter((x) => !Number.isNaN(x))
      return ok.length ? ok.reduce((a, b) => a + b, 0) / ok.length : Number.NaN
    }
    metrics.auc = mean(aucs)
    metrics.ap = mean(aps)
    metrics.loss = lossCount ? lossSum / lossCount : Number.NaN
    return { metrics, scores: p.outputs }
  }
  const k = task.classes, n = p.labels.length
  let lossSum = 0, lossCount = 0
  for (let i = 0; i < n; i++) {
    if (Number.isNaN(p.labels[i])) continue
    lossSum -= Math.log(clip(p.outputs[i * k + p.labels[i]]))
    lossCount++
  }
  const loss = lossCount ? lossSum / lossCount : Number.NaN
  const accuracy = topKAccuracy(p.outputs, k, p.labels, 1)
  if (task.kind === "classification") return { metrics: { accuracy, top5: topKAccuracy(p.outputs, k, p.labels, Math.min(5, k)), loss } }
  const scores = referableScores(p.outputs, k, task.referableFrom)
  const referable = Array.from(p.labels, (y) => (Number.isNaN(y) ? Number.NaN : y >= task.referableFrom ? 1 : 0))
  return { metrics: { auc: rocAuc(scores, referable), ap: averagePrecision(scores, referable), accuracy, loss }, scores }
}

/** Predicts over the set and computes the task's metrics. */
export const evaluate = async (model: LayersModel, set: ImageSet, task: Task, options: PredictOptions = {}): Promise<Evaluation> => {
  checkTaskMatches(task, set.labels, model, "evaluate")
  const predictions = await predict(model, set, options)
  return { ...taskMetrics(task, predictions), predictions }
}

// ---------------------------------------------------------------- training

export interface TrainProgress {
  readonly step: number
  readonly totalSteps: number
  readonly epoch: number
  /** Training loss of this step's batch. */
  readonly loss: number
  readonly examplesPerSecond: number
  readonly elapsedMs: number
  /** Set on steps where the validation curve got a point. */
  readonly validation?: Readonly<Record<string, number>>
  /** Set on steps where a checkpoint was written. */
  readonly checkpoint?: string
}

export interface TrainOptions {
  /** Already initialised (ml/inits.ts); trained in place. */
  readonly model: LayersModel
  readonly train: ImageSet
  readonly validation?: ImageSet
  readonly task: Task
  readonly optimizer: OptimizerConfig
  readonly batchSize: number
  readonly steps: number
  /** Seeds data order and flips (the model's initialisation is seeded by its builder). */
  readonly seed: number | string
  /** Random horizontal flips with probability 1/2 (default true). */
  readonly flip?: boolean
  readonly normalisation?: Normalisation
  /** Validation curve point every N steps and after the last step (0 = only after the last; default 0). */
  readonly evalEvery?: number
  readonly evalBatchSize?: number
  /** Directory for checkpoints; without it no checkpoints are written or resumed. */
  readonly checkpointDir?: string
  /** Steps between checkpoints (default one epoch = floor(train.count / batchSize) steps). Always one after the last step. */
  readonly checkpointEvery?: number
  /** Checkpoints kept in the directory (default 2). */
  readonly keepCheckpoints?: number
  /** Start from the newest checkpoint in checkpointDir if there is one (default true). */
  readonly resume?: boolean
  readonly onProgress?: (p: TrainProgress) => void | Promise<void>
  /** Told when resuming skips a checkpoint that does not read whole (it is removed). */
  readonly onDamagedCheckpoint?: (message: string) => void
  /** Checked before each step: once aborted, writes a checkpoint (if any step was done since the last) and returns with completed = false. */
  readonly signal?: AbortSignal
}

export interface TrainResult {
  readonly completed: boolean
  /** Steps done in total (including those before a resume). */
  readonly steps: number
  readonly stepsPerEpoch: number
  /** Training loss of every step done, index = step - 1. */
  readonly losses: readonly number[]
  readonly curve: readonly CurvePoint[]
  /** The step the run resumed from, if it did. */
  readonly resumedFrom?: number
  readonly lastCheckpoint?: string
  readonly optimizer: Required<OptimizerConfig>
}

/** What must match for a checkpoint to be resumed by this run. */
interface RunIdentity {
  seed: string
  batchSize: number
  flip: boolean
  normalisation: Normalisation
  task: Task
  trainCount: number
}

interface TrainMeta {
  identity: RunIdentity
  losses: number[]
  curve: CurvePoint[]
}

/** Examples per epoch are visited in a fresh seeded order; a trailing partial batch is dropped so every step sees batchSize examples. */
export const stepsPerEpochOf = (count: number, batchSize: number): number => Math.max(1, Math.floor(count / Math.min(batchSize, count)))

/** The example indices of a training step (pure function of seed and step). */
export const batchIndices = (seed: number | string, count: number, batchSize: number, step: number, cache?: { epoch: number; order: number[] }): number[] => {
  const bs = Math.min(batchSize, count)
  const perEpoch = stepsPerEpochOf(count, batchSize)
  const epoch = Math.floor(step / perEpoch), pos = step % perEpoch
  let order: number[]
  if (cache && cache.epoch === epoch) order = cache.order
  else {
    order = new Rng(seed).fork(`order/${epoch}`).permutation(count)
    if (cache) { cache.epoch = epoch; cache.order = order }
  }
  return order.slice(pos * bs, (pos + 1) * bs)
}

/** Trains `model` in place for `options.steps` steps (resuming from a checkpoint when one exists). */
export const train = async (options: TrainOptions): Promise<TrainResult> => {
  const { model, task, batchSize } = options
  const set = options.train
  if (!(Number.isInteger(batchSize) && batchSize >= 1)) throw new RangeError(`train: batchSize must be a positive integer, got ${batchSize}`)
  if (!(Number.isInteger(options.steps) && options.steps >= 0)) throw new RangeError(`train: steps must be a non-negative integer, got ${options.steps}`)
  if (set.count === 0) throw new Error("train: the training set is empty")
  checkInputSize(model, set, "train")
  checkTaskMatches(task, set.labels, model, "train")
  if (options.validation) {
    checkInputSize(model, options.validation, "train (validation set)")
    checkTaskMatches(task, options.validation.labels, model, "train (validation set)")
  }
  const flip = options.flip ?? true
  const normalisation = options.normalisation ?? UNIT
  const perEpoch = stepsPerEpochOf(set.count, batchSize)
  const bs = Math.min(batchSize, set.count)
  const checkpointEvery = options.checkpointEvery ?? perEpoch
  const evalEvery = options.evalEvery ?? 0
  const identity: RunIdentity = { seed: String(options.seed), batchSize, flip, normalisation, task, trainCount: set.count }

  const trainable = model.trainableWeights
  const variables = trainable.map((w) => w.read() as tf.Variable)
  const optimizer = new Optimizer(options.optimizer, variables, trainable.map((w) => w.originalName))

  let step = 0
  let losses: number[] = []
  let curve: CurvePoint[] = []
  let resumedFrom: number | undefined
  let lastCheckpoint: string | undefined
  try {
    if (options.checkpointDir && (options.resume ?? true)) {
      const found = await newestReadableCheckpoint(options.checkpointDir, (path, problem) =>
        options.onDamagedCheckpoint?.(`skipped a damaged checkpoint (${problem}); resuming from an older one or from the start`),
      )
      if (found) {
        const path = found.path
        const ck = await loadCheckpoint<TrainMeta>(path, model, found.file)
        const saved = ck.meta.identity
        for (const key of Object.keys(identity) as (keyof RunIdentity)[]) {
          if (JSON.stringify(saved[key]) !== JSON.stringify(identity[key])) {
            throw new Error(`${path}: the checkpoint was made with ${key} = ${JSON.stringify(saved[key])} but this run has ${JSON.stringify(identity[key])}; resume with the same settings or point checkpointDir at a fresh directory`)
          }
        }
        if (!ck.optimizer) throw new Error(`${path}: the checkpoint has no optimiser state, so training cannot resume exactly from it`)
        optimizer.restore(ck.optimizer, path)
        if (ck.step > options.steps) throw new Error(`${path}: the checkpoint is at step ${ck.step}, past this run's ${options.steps} steps; ask for at least ${ck.step} steps or use a fresh checkpoint directory`)
        step = ck.step
        losses = ck.meta.losses.slice(0, step)
        curve = ck.meta.curve.filter((p) => p.step <= step)
        resumedFrom = step
        lastCheckpoint = path
      }
    }

    const save = async (): Promise<string | undefined> => {
      if (!options.checkpointDir) return undefined
      lastCheckpoint = await saveCheckpoint<TrainMeta>(options.checkpointDir, {
        step, model, optimizer: await optimizer.state(), meta: { identity, losses, curve }, keep: options.keepCheckpoints,
      })
      return lastCheckpoint
    }

    const cache = { epoch: -1, order: [] as number[] }
    const read = (s: number): Promise<Batch> => {
      const p = set.read(batchIndices(options.seed, set.count, batchSize, s, cache))
      p.catch(() => undefined) // a failed prefetch is reported where it is awaited, not as an unhandled rejection
      return p
    }
    const started = Date.now()
    const startStep = step
    let pending = step < options.steps ? read(step) : undefined
    let savedAt = resumedFrom ?? -1
    while (step < options.steps) {
      if (options.signal?.aborted) {
        if (savedAt !== step && step > 0) await save()
        await pending?.catch(() => undefined)
        return { completed: false, steps: step, stepsPerEpoch: perEpoch, losses, curve, resumedFrom, lastCheckpoint, optimizer: optimizer.config }
      }
      const batch = await pending!
      // Prefetch the next batch while this one trains.
      pending = step + 1 < options.steps ? read(step + 1) : undefined
      let pixels = batch.pixels
      if (flip) {
        const r = new Rng(options.seed).fork(`flip/${step}`)
        const flags = Array.from({ length: bs }, () => r.bernoulli(0.5))
        // Flip a copy: an ImageSet may hand out buffers it keeps (a cache).
        if (flags.some(Boolean)) {
          pixels = pixels.slice()
          flipHorizontally(pixels, set.height, set.width, flags)
        }
      }
      const lossTensor = tf.tidy(() => {
        const x = toInputTensor(pixels, bs, set.height, set.width, normalisation)
        const { value, grads } = tf.variableGrads(() => taskLoss(task, model.apply(x, { training: true }) as tf.Tensor, batch.labels, bs), variables)
        optimizer.apply(variables.map((v) => grads[v.name]))
        return value
      })
      const loss = (await lossTensor.data())[0]
      lossTensor.dispose()
      if (!Number.isFinite(loss)) throw new Error(`train: loss became ${loss} at step ${step + 1}; lower the learning rate (now ${options.optimizer.learningRate})`)
      losses.push(loss)
      step++

      let validation: Record<string, number> | undefined
      if (options.validation && ((evalEvery > 0 && step % evalEvery === 0) || step === options.steps)) {
        validation = (await evaluate(model, options.validation, task, { batchSize: options.evalBatchSize ?? batchSize, normalisation })).metrics
        curve.push({ step, metrics: validation })
      }
      let checkpoint: string | undefined
      if (step % checkpointEvery === 0 || step === options.steps) {
        checkpoint = await save()
        savedAt = step
      }
      const elapsedMs = Date.now() - started
      await options.onProgress?.({
        step, totalSteps: options.steps, epoch: Math.floor((step - 1) / perEpoch), loss,
        examplesPerSecond: ((step - startStep) * bs) / Math.max(elapsedMs / 1000, 1e-9), elapsedMs, validation, checkpoint,
      })
    }
    return { completed: true, steps: step, stepsPerEpoch: perEpoch, losses, curve, resumedFrom, lastCheckpoint, optimizer: optimizer.config }
  } finally {
    optimizer.dispose()
  }
}
