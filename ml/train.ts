// The training loop: a manual, seeded loop (no model.fit, whose shuffle draws from
// Math.random) over an ImageSet, with the paper's task heads, a validation curve for
// convergence plots, progress callbacks, and checkpoints it resumes from after a kill.
//
// Every random choice is derived from (seed, epoch or step): the epoch's example order
// from fork("order/<epoch>"), the crop boxes of a step from fork("crop/<step>") and its
// flips from fork("flip/<step>"); the learning rate is a function of the step. So the
// random state at any step is just (seed, step), which the checkpoint holds (its step and
// the identity's seed; no generator state is stored), and a resumed run is bit-identical
// to an uninterrupted one on the same backend.
//
// The task heads, inputs and losses live in ml/task.ts, the optimisers in ml/optimizer.ts,
// prediction and metrics in ml/evaluate.ts; this module re-exports them for its callers.

import * as tf from "@tensorflow/tfjs-core"
import * as Schema from "effect/Schema"
import type { LayersModel } from "@tensorflow/tfjs-layers"
import { Rng } from "../lib/random.ts"
import { JsonNumber } from "../lib/json-number.ts"
import { describeParseError } from "../pipeline/schema-errors.ts"
import type { Batch, ImageSet } from "../data/imageset.ts"
import { loadCheckpoint, newestReadableCheckpoint, saveCheckpoint } from "./checkpoint.ts"
import { CurvePointSchema, type CurvePoint } from "./metrics.ts"
import { checkInputSize, checkTaskMatches, cropAndResize, flipHorizontally, randomResizedCropBox, taskLoss, toInputTensor, UNIT, type Normalisation, type RandomResizedCrop, type Task } from "./task.ts"
import { CONSTANT_RATE, learningRateAt, Optimizer, type LearningRateSchedule, type OptimizerConfig } from "./optimizer.ts"
import { evaluate } from "./evaluate.ts"

export { chexpertTask, classificationTask, flipHorizontally, retinaTask, taskLoss, taskOutputs, toInputTensor, type Normalisation, type Task } from "./task.ts"
export { Optimizer, type OptimizerConfig } from "./optimizer.ts"
export { evaluate, predict, referableScores, taskMetrics, type Evaluation, type PredictOptions, type Predictions } from "./evaluate.ts"

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
  /** Random-resized crops of every training image, before the flip (default none). */
  readonly randomResizedCrop?: RandomResizedCrop
  /** The learning rate over the run (default constant at the optimiser's rate). */
  readonly learningRateSchedule?: LearningRateSchedule
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
  /**
   * Awaited after each validation pass and before that step's checkpoint is written, so what
   * it persists (the best validation point) is never behind the checkpoint a resumed run
   * starts from: a run killed just after a checkpoint resumes past that step's validation
   * and never sees it again.
   */
  readonly onValidation?: (step: number, metrics: Record<string, number>) => void | Promise<void>
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
  crop: RandomResizedCrop | null
  schedule: LearningRateSchedule
  normalisation: Normalisation
  task: Task
  trainCount: number
}

interface TrainMeta {
  identity: RunIdentity
  losses: number[]
  curve: CurvePoint[]
}

// The checkpoint's meta is JSON, so a NaN loss or metric (an AUC on a batch without
// positives) comes back as null; decoding restores the NaN the run had recorded.
const StoredProgress = Schema.Struct({ losses: Schema.Array(JsonNumber), curve: Schema.Array(CurvePointSchema) })

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
  const crop = options.randomResizedCrop ?? null
  const schedule = options.learningRateSchedule ?? CONSTANT_RATE
  const identity: RunIdentity = { seed: String(options.seed), batchSize, flip, crop, schedule, normalisation, task, trainCount: set.count }

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
        const progress = Schema.decodeUnknownEither(StoredProgress)(ck.meta)
        if (progress._tag === "Left") throw new Error(`${path}: the checkpoint's progress does not decode (${describeParseError(progress.left, "meta")}); point checkpointDir at a fresh directory`)
        losses = progress.right.losses.slice(0, step)
        curve = progress.right.curve.filter((p) => p.step <= step)
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
      if (crop) {
        // A new array: an ImageSet may hand out buffers it keeps (a cache).
        const r = new Rng(options.seed).fork(`crop/${step}`)
        pixels = cropAndResize(pixels, set.height, set.width, Array.from({ length: bs }, () => randomResizedCropBox(r, set.height, set.width, crop)))
      }
      if (flip) {
        const r = new Rng(options.seed).fork(`flip/${step}`)
        const flags = Array.from({ length: bs }, () => r.bernoulli(0.5))
        // Flip a copy: an ImageSet may hand out buffers it keeps (a cache).
        if (flags.some(Boolean)) {
          if (pixels === batch.pixels) pixels = pixels.slice()
          flipHorizontally(pixels, set.height, set.width, flags)
        }
      }
      const lossTensor = tf.tidy(() => {
        const x = toInputTensor(pixels, bs, set.height, set.width, normalisation)
        const { value, grads } = tf.variableGrads(() => taskLoss(task, model.apply(x, { training: true }) as tf.Tensor, batch.labels, bs), variables)
        optimizer.apply(variables.map((v) => grads[v.name]), learningRateAt(schedule, options.optimizer.learningRate, step, options.steps))
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
        await options.onValidation?.(step, validation)
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
