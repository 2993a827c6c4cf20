// What pretraining and fine-tuning share: build the paper's model, initialise it by a
// named scheme, train with checkpoints in the scratch dir (a killed run resumes), keep
// the weights at initialisation and after training, evaluate on the test split.
import * as Schema from "effect/Schema"
import { join } from "node:path"
import type { StageContext } from "../pipeline/stage.ts"
import { CurvePointSchema } from "../ml/metrics.ts"
import { JsonNumber } from "../lib/json-number.ts"
import type { Task } from "../ml/train.ts"
import { ARCH_NAMES } from "../models/types.ts"
import { BackendSchema, useBackend, type BackendRequest } from "./common.ts"

export const ArchSchema = Schema.Literal(...ARCH_NAMES)

const LearningRateScheduleSchema = Schema.Union(
  Schema.Struct({ kind: Schema.Literal("constant") }),
  Schema.Struct({
    kind: Schema.Literal("step"),
    every: Schema.Int.pipe(Schema.positive()),
    factor: Schema.Number.pipe(Schema.greaterThan(0), Schema.lessThan(1)),
  }),
  Schema.Struct({
    kind: Schema.Literal("cosine"),
    warmupSteps: Schema.Int.pipe(Schema.nonNegative()),
    finalFraction: Schema.Number.pipe(Schema.greaterThanOrEqualTo(0), Schema.lessThan(1)),
  }),
)

/** An ordered range [lo, hi] with 0 < lo <= hi (<= max where given). */
const Range = (what: string, max?: number) =>
  Schema.Tuple(Schema.Number.pipe(Schema.positive()), Schema.Number.pipe(Schema.positive())).pipe(
    Schema.filter(([lo, hi]) => (lo <= hi && (max === undefined || hi <= max)) || `${what} [${lo}, ${hi}] must have 0 < lo <= hi${max === undefined ? "" : ` <= ${max}`}`),
  )

const RandomResizedCropSchema = Schema.Struct({
  /** The crop's area as a fraction of the image's. */
  scale: Range("randomResizedCrop.scale", 1),
  /** The crop's aspect, width / height (log-uniform). */
  ratio: Range("randomResizedCrop.ratio"),
})

/**
 * A step count: positive, and at most 10 million, 22 times the paper's longest schedule
 * (450,000 ImageNet pretraining steps), so that a typo such as 1e12 is refused at planning
 * instead of showing up as an ETA of centuries.
 */
export const StepCount = Schema.Int.pipe(
  Schema.positive(),
  Schema.lessThanOrEqualTo(10_000_000, { message: () => "a step count of at most 10,000,000 (the paper's longest schedule, ImageNet pretraining, is 450,000)" }),
)

/** The training settings, with their constraints: a config and a stage's params both decode through it. */
export const TrainingSchema = Schema.Struct({
  steps: StepCount,
  batchSize: Schema.Int.pipe(Schema.positive()),
  learningRate: Schema.Number.pipe(Schema.positive()),
  optimizer: Schema.Literal("adam", "sgd-momentum"),
  /** Validation curve point every N steps (convergence figures, steps-to-threshold). */
  evalEvery: Schema.Int.pipe(Schema.positive()),
  /**
   * The learning rate over the run (ml/optimizer.ts): constant (spec.md's default), stepped
   * (x factor every `every` steps) or cosine (linear warm-up, then down to finalFraction).
   */
  learningRateSchedule: LearningRateScheduleSchema,
  /** Random horizontal flips (spec.md: the only augmentation the paper names). */
  flip: Schema.Boolean,
  /** Random-resized crops of training images (ml/task.ts), or null for none. */
  randomResizedCrop: Schema.NullOr(RandomResizedCropSchema),
  /**
   * Batch norm's moving-average momentum (Keras default 0.99). At a few hundred steps 0.99
   * leaves 0.99^steps of the initial statistics in the evaluated model (0.37 after 100), and a
   * deep net evaluated with them is near chance; short profiles use 0.9.
   */
  batchNormMomentum: Schema.Number.pipe(Schema.between(0, 1)),
  /**
   * Which weights a run reports (test metrics, activations): the last step's, or those of the
   * best validation point (validation AUC; accuracy when pretraining), the common practice.
   */
  checkpoint: Schema.Literal("last", "best-validation"),
})

export const InitSchema = Schema.Union(
  Schema.Struct({ kind: Schema.Literal("random") }),
  Schema.Struct({ kind: Schema.Literal("transfer") }),
  Schema.Struct({ kind: Schema.Literal("meanvar") }),
  Schema.Struct({ kind: Schema.Literal("transfusion"), upTo: Schema.String }),
  Schema.Struct({ kind: Schema.Literal("slim") }),
  Schema.Struct({ kind: Schema.Literal("gabor") }),
)
export type Init = typeof InitSchema.Type

export const ModelParams = {
  arch: ArchSchema,
  widthMultiplier: Schema.Number,
  inputSize: Schema.Int,
  seed: Schema.Int,
  backend: BackendSchema,
  training: TrainingSchema,
}

export const TrainedResultSchema = Schema.Struct({
  spec: Schema.Struct({
    arch: ArchSchema,
    inputSize: Schema.Int,
    widthMultiplier: Schema.Number,
    outputs: Schema.Int,
    outputActivation: Schema.Literal("softmax", "sigmoid"),
    seed: Schema.Int,
  }),
  /** The paper's coarse layers, input to output, with the layer representing each. */
  blocks: Schema.Array(Schema.Struct({ name: Schema.String, output: Schema.String })),
  init: Schema.Struct({ scheme: Schema.String, pretrained: Schema.Int, meanVar: Schema.Int, random: Schema.Int, gabor: Schema.Int }),
  /** Test-split metrics (AUCs, accuracies, loss); NaN where undefined (a finding without positives). */
  test: Schema.Record({ key: Schema.String, value: JsonNumber }),
  curve: Schema.Array(CurvePointSchema),
  steps: Schema.Int,
  seconds: Schema.Number,
  backend: Schema.Struct({ name: Schema.String, versions: Schema.Record({ key: Schema.String, value: Schema.String }) }),
  /** Which weights were evaluated and saved as final: the last step's or the best validation point's. */
  checkpoint: Schema.Struct({
    choice: Schema.Literal("last", "best-validation"),
    step: Schema.Int,
    metric: Schema.optional(Schema.String),
    validation: Schema.optional(JsonNumber),
  }),
  /** TEST_SCORES in the artifact, when the task has per-image scores (RETINA, CheXpert). */
  testScores: Schema.optional(Schema.String),
  /** Set for weights imported from a Keras file (no training, no test metrics): the file and its content hash. */
  imported: Schema.optional(Schema.Struct({ file: Schema.String, sha256: Schema.String })),
})
/** What a pretraining, fine-tuning or weight-import stage returns. */
export type TrainedResult = typeof TrainedResultSchema.Type

/** Per-image test scores with patient ids, so the report can resample patients and pair runs (DeLong). */
export const TEST_SCORES = "test-scores.json"
export const TestScoresSchema = Schema.Struct({
  /** In test-split order, one per image. */
  patients: Schema.Array(Schema.String),
  paths: Schema.Array(Schema.String),
  /** Stored labels, `labelWidth` per image (RETINA: the written grade; CheXpert: five findings, NaN ignored -> null). */
  labels: Schema.Array(Schema.NullOr(Schema.Number)),
  labelWidth: Schema.Int.pipe(Schema.positive()),
  /** The scores each AUC is computed from (RETINA: P(grade >= 2); CheXpert: one per finding), `scoreWidth` per image. */
  scores: Schema.Array(Schema.Number),
  scoreWidth: Schema.Int.pipe(Schema.positive()),
}).pipe(
  Schema.filter((t) =>
    t.paths.length === t.patients.length && t.labels.length === t.patients.length * t.labelWidth && t.scores.length === t.patients.length * t.scoreWidth
      ? undefined
      : `${t.patients.length} patients, ${t.paths.length} paths, ${t.labels.length} labels (${t.labelWidth} per image) and ${t.scores.length} scores (${t.scoreWidth} per image) do not agree`,
  ),
)
export type TestScores = typeof TestScoresSchema.Type

/** Files in a trained artifact. */
export const INIT_WEIGHTS = "init.tfck"
export const FINAL_WEIGHTS = "final.tfck"

/** Rebuilds a trained artifact's model with the weights at `which`. */
export const loadTrained = async (dir: string, result: TrainedResult, which: "init" | "final") => {
  const { buildModel } = await import("../models/index.ts")
  const { loadCheckpoint } = await import("../ml/checkpoint.ts")
  const built = buildModel(result.spec)
  await loadCheckpoint(join(dir, which === "init" ? INIT_WEIGHTS : FINAL_WEIGHTS), built.model)
  return built
}

export interface TrainArgs {
  readonly arch: string
  readonly widthMultiplier: number
  readonly inputSize: number
  readonly seed: number
  readonly backend: BackendRequest
  readonly training: typeof TrainingSchema.Type
  readonly init: Init
  readonly task: Task
  /** Ingested dataset directory and the splits to use. */
  readonly data: string
  readonly trainSplit: string
  readonly validationSplit: string
  readonly testSplit: string
  /** A pretrained artifact's final weights (for every scheme but random and gabor). */
  readonly pretrainedWeights?: string
}

export const trainModel = async (ctx: StageContext<unknown, unknown>, a: TrainArgs): Promise<TrainedResult> => {
  const info = await useBackend(a.backend, ctx)
  const tf = await import("@tensorflow/tfjs-core")
  const { buildModel } = await import("../models/index.ts")
  const { setBatchNormMomentum } = await import("../models/batch-norm.ts")
  const { applyInit } = await import("../ml/inits.ts")
  const { pretrainedFromCheckpoint, saveModelWeights } = await import("../ml/checkpoint.ts")
  const { train, evaluate, taskOutputs } = await import("../ml/train.ts")
  const { openShards } = await import("../data/shards.ts")

  const spec = {
    arch: a.arch as "cbr-tiny",
    inputSize: a.inputSize,
    widthMultiplier: a.widthMultiplier,
    outputs: taskOutputs(a.task),
    outputActivation: a.task.kind === "multilabel" ? ("sigmoid" as const) : ("softmax" as const),
    seed: a.seed,
  }
  const built = buildModel(spec)
  setBatchNormMomentum(built.model, a.training.batchNormMomentum)
  const pretrained = a.pretrainedWeights ? await pretrainedFromCheckpoint(a.pretrainedWeights) : undefined
  const report = await applyInit(built, a.init, { ...(pretrained ? { pretrained } : {}), seed: a.seed })
  if (pretrained) for (const ts of pretrained.values()) tf.dispose(ts)
  ctx.log(`init ${report.scheme}: ${report.pretrained.length} layers pretrained, ${report.meanVar.length} mean-var, ${report.random.length} random, ${report.gabor.length} gabor`)
  await saveModelWeights(join(ctx.outDir, INIT_WEIGHTS), built.model)

  const trainSet = await openShards(a.data, a.trainSplit)
  const validation = await openShards(a.data, a.validationSplit)
  const test = await openShards(a.data, a.testSplit)
  ctx.log(`train ${trainSet.count} images (${a.trainSplit}), validation ${validation.count}, test ${test.count}, ${trainSet.height}x${trainSet.width}`)
  const started = Date.now()
  // Best validation point so far, persisted beside the checkpoints so a resumed run keeps it.
  const { readTensorFile, loadCheckpoint } = await import("../ml/checkpoint.ts")
  const { mkdir } = await import("node:fs/promises")
  const selectBy = a.task.kind === "classification" ? "accuracy" : "auc"
  const bestPath = join(ctx.scratchDir, "checkpoints", "best-validation.tfck")
  let best: { step: number; value: number } | undefined
  if (a.training.checkpoint === "best-validation") {
    const saved = await readTensorFile(bestPath).catch(() => undefined)
    best = (saved?.meta as { meta?: { step: number; value: number } } | undefined)?.meta
    await mkdir(join(ctx.scratchDir, "checkpoints"), { recursive: true })
  }
  try {
    const result = await train({
      model: built.model,
      train: trainSet,
      validation,
      task: a.task,
      optimizer: a.training.optimizer === "adam" ? { kind: "adam", learningRate: a.training.learningRate } : { kind: "sgd-momentum", learningRate: a.training.learningRate, momentum: 0.9 },
      batchSize: a.training.batchSize,
      steps: a.training.steps,
      seed: a.seed,
      flip: a.training.flip,
      ...(a.training.randomResizedCrop ? { randomResizedCrop: a.training.randomResizedCrop } : {}),
      learningRateSchedule: a.training.learningRateSchedule,
      evalEvery: a.training.evalEvery,
      checkpointDir: join(ctx.scratchDir, "checkpoints"),
      signal: ctx.signal,
      onDamagedCheckpoint: ctx.log,
      onProgress: (p) => {
        ctx.progress(p.step, p.totalSteps, "steps")
        if (p.validation) ctx.log(`step ${p.step}: loss ${p.loss.toFixed(4)} validation ${JSON.stringify(p.validation)}`)
      },
      onValidation: async (step, metrics) => {
        const value = metrics[selectBy]
        if (a.training.checkpoint === "best-validation" && value !== undefined && Number.isFinite(value) && (!best || value > best.value)) {
          best = { step, value }
          await saveModelWeights(bestPath, built.model, best, step)
        }
      },
    })
    if (result.resumedFrom !== undefined) ctx.log(`resumed from the checkpoint at step ${result.resumedFrom}`)
    if (!result.completed) throw new Error("training was interrupted")
    if (best) {
      await loadCheckpoint(bestPath, built.model)
      ctx.log(`evaluating the best validation point: step ${best.step}, validation ${selectBy} ${best.value.toFixed(4)}`)
    }
    const checkpoint = best
      ? { choice: "best-validation" as const, step: best.step, metric: selectBy, validation: best.value }
      : { choice: a.training.checkpoint, step: result.steps }
    await saveModelWeights(join(ctx.outDir, FINAL_WEIGHTS), built.model, {}, checkpoint.step)
    const evaluation = await evaluate(built.model, test, a.task)
    ctx.log(`test ${JSON.stringify(evaluation.metrics)}`)
    const testScores = evaluation.scores ? await writeTestScores(join(ctx.outDir, TEST_SCORES), test, evaluation.scores) : undefined
    return {
      spec,
      blocks: built.blocks.map((b) => ({ name: b.name, output: b.output })),
      init: { scheme: report.scheme, pretrained: report.pretrained.length, meanVar: report.meanVar.length, random: report.random.length, gabor: report.gabor.length },
      test: evaluation.metrics,
      curve: result.curve,
      steps: result.steps,
      seconds: (Date.now() - started) / 1000,
      backend: { name: info.name, versions: info.versions },
      checkpoint,
      ...(testScores ? { testScores } : {}),
    }
  } finally {
    await Promise.all([trainSet.close(), validation.close(), test.close()])
    built.model.dispose()
  }
}

/** Writes the test split's patients, labels and per-image scores (read in chunks: only ids and labels are kept). */
const writeTestScores = async (path: string, set: import("../data/imageset.ts").ImageSet, scores: Float32Array): Promise<string> => {
  const { writeFile } = await import("node:fs/promises")
  const patients: string[] = [], paths: string[] = [], labels: (number | null)[] = []
  for (let start = 0; start < set.count; start += 32) {
    const batch = await set.read(Array.from({ length: Math.min(32, set.count - start) }, (_, i) => start + i))
    patients.push(...batch.patients)
    paths.push(...batch.paths)
    for (const x of batch.labels) labels.push(Number.isNaN(x) ? null : x)
  }
  const body: TestScores = { patients, paths, labels, labelWidth: labels.length / set.count, scores: Array.from(scores), scoreWidth: scores.length / set.count }
  await writeFile(path, JSON.stringify(body))
  return TEST_SCORES
}
