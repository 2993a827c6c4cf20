// Inference over an image set in batches, and the paper's metrics per task.

import * as tf from "@tensorflow/tfjs-core"
import type { LayersModel } from "@tensorflow/tfjs-layers"
import type { ImageSet } from "../data/imageset.ts"
import { averagePrecision, rocAuc, topKAccuracy, type CurvePoint } from "./metrics.ts"
import { checkInputSize, checkTaskMatches, EPS, toInputTensor, type Normalisation, type Task } from "./task.ts"

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
