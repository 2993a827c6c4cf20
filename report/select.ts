// Picking numbers out of ReportData: shared by the tables, figures and claims so
// they all count the same runs the same way.

import type { CurveMetric, DatasetId, InitScheme, ModelId, Pathology, ReportData, Regime, RunResult } from "./types.ts"
import { PATHOLOGIES } from "./types.ts"

export interface RunFilter {
  readonly model?: ModelId
  readonly init?: InitScheme
  readonly dataset?: DatasetId
  readonly regime?: Regime
}

export const runsWhere = (data: ReportData, f: RunFilter): RunResult[] =>
  data.runs.filter(
    (r) =>
      (f.model === undefined || r.model === f.model) &&
      (f.init === undefined || r.init === f.init) &&
      (f.dataset === undefined || r.dataset === f.dataset) &&
      (f.regime === undefined || r.regime === f.regime),
  )

/** Mean of the five CheXpert AUCs of a run; undefined unless all five are present. */
export const chexpertMeanAuc = (run: RunResult): number | undefined => {
  const a = run.metrics.chexpertAuc
  if (!a) return undefined
  let s = 0
  for (const p of PATHOLOGIES) {
    const x = a[p]
    if (x === undefined) return undefined
    s += x
  }
  return s / PATHOLOGIES.length
}

/** The run's final test metric: RETINA referable AUC, one CheXpert pathology, or the CheXpert mean. */
export const runMetric = (run: RunResult, metric: "referable-auc" | Pathology | "mean-auc"): number | undefined => {
  if (metric === "referable-auc") return run.metrics.referableAuc
  if (metric === "mean-auc") return chexpertMeanAuc(run)
  return run.metrics.chexpertAuc?.[metric]
}

/** One value per seed (runs sorted by seed) for the runs matching `f`. */
export const metricBySeed = (data: ReportData, f: RunFilter, metric: "referable-auc" | Pathology | "mean-auc"): number[] =>
  runsWhere(data, f)
    .slice()
    .sort((a, b) => a.seed - b.seed)
    .map((r) => runMetric(r, metric))
    .filter((x): x is number => x !== undefined && Number.isFinite(x))

export interface StepsToThreshold {
  readonly steps: number
  /** True when the threshold was never reached: `steps` is then the training length (a lower bound). */
  readonly censored: boolean
}

export const thresholdFor = (data: ReportData, dataset: DatasetId): { metric: CurveMetric; threshold: number } =>
  dataset === "retina" ? data.convergence.retina : data.convergence.chexpert

/**
 * Steps until the dataset's convergence threshold: the run's own `stepsToThreshold` when given,
 * else the first curve point at or above the threshold. Undefined when neither is available.
 */
export const stepsToThreshold = (data: ReportData, run: RunResult): StepsToThreshold | undefined => {
  const { metric, threshold } = thresholdFor(data, run.dataset)
  const curve = run.curves?.[metric]
  const lastStep = run.trainedSteps ?? (curve && curve.length > 0 ? curve[curve.length - 1]!.step : undefined)
  if (run.stepsToThreshold !== undefined) {
    if (run.stepsToThreshold !== null) return { steps: run.stepsToThreshold, censored: false }
    return lastStep === undefined ? undefined : { steps: lastStep, censored: true }
  }
  if (!curve || curve.length === 0) return undefined
  const hit = curve.find((p) => p.value >= threshold)
  if (hit) return { steps: hit.step, censored: false }
  return lastStep === undefined ? undefined : { steps: lastStep, censored: true }
}

/** Consecutive validation evaluations whose mean must reach the threshold for a run to count as converged. */
export const CONVERGENCE_WINDOW = 3

/**
 * Whether a run converged: the mean of its validation metric over some CONVERGENCE_WINDOW
 * consecutive evaluations (all of them when it has fewer) reached the dataset's convergence
 * threshold during training. One evaluation is not enough: on a small validation split the best
 * of ~20 noisy points sits well above the run's level (mini, ResNet-50 random init, batch 8, 300
 * steps: best validation AUC 0.81-0.86, test AUC 0.70-0.76). A run without a curve falls back on
 * its given steps-to-threshold (null: never reached); undefined when it has neither.
 */
export const converged = (data: ReportData, run: RunResult): boolean | undefined => {
  const { metric, threshold } = thresholdFor(data, run.dataset)
  const curve = run.curves?.[metric]
  if (!curve || curve.length === 0) return run.stepsToThreshold === undefined ? undefined : run.stepsToThreshold !== null
  const values = [...curve].sort((a, b) => a.step - b.step).map((p) => p.value)
  const w = Math.min(CONVERGENCE_WINDOW, values.length)
  for (let i = 0; i + w <= values.length; i++) {
    if (values.slice(i, i + w).reduce((s, x) => s + x, 0) / w >= threshold) return true
  }
  return false
}

export interface StepsGroup {
  readonly steps: number[]
  readonly censored: number
}

export const stepsBySeed = (data: ReportData, f: RunFilter): StepsGroup => {
  const out: number[] = []
  let censored = 0
  for (const r of runsWhere(data, f).slice().sort((a, b) => a.seed - b.seed)) {
    const s = stepsToThreshold(data, r)
    if (!s) continue
    out.push(s.steps)
    if (s.censored) censored++
  }
  return { steps: out, censored }
}

/** Any synthetic run or pretrained model makes the whole report "synthetic". */
export const isSynthetic = (data: ReportData): boolean =>
  data.runs.some((r) => r.provenance.dataSource === "synthetic") ||
  data.pretrained.some((p) => p.dataSource === "synthetic") ||
  data.similarity?.provenance?.dataSource === "synthetic"

