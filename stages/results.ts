// What `transfusion results` and `diff` show of this project: one row per training run
// (pretraining on ImageNet, fine-tuning on a medical task), named by model, init, dataset
// and seed, with every test metric the run recorded and its steps to the profile's
// convergence threshold (the report's Figure 6/7 measure).
import type { ResultsSpec } from "../pipeline/results.ts"
import { stepsToThreshold } from "../ml/metrics.ts"
import type { TrainedResult } from "./training.ts"

interface TrainingParams {
  readonly arch: string
  readonly seed: number
  readonly task?: "retina" | "chexpert"
  readonly init?: { readonly kind: string; readonly upTo?: string }
}

export const resultsSpec = (convergence: { readonly retinaThreshold: number; readonly chexpertThreshold: number }): ResultsSpec => ({
  kinds: ["pretrain", "finetune"],
  hideParams: ["arch", "seed", "task", "init.kind", "init.upTo"],
  describe: ({ kind, params, result }) => {
    const p = params as TrainingParams, r = result as TrainedResult
    const init = p.init ? (p.init.upTo ? `${p.init.kind}-${p.init.upTo}` : p.init.kind) : "random"
    const identity = { model: p.arch, init, dataset: kind === "pretrain" ? "imagenet" : (p.task ?? null), seed: p.seed }
    const context = { backend: r.backend?.name ?? null }
    if (kind === "pretrain")
      return { identity, metrics: { "imagenet.top1": r.test.accuracy ?? null, "imagenet.top5": r.test.top5 ?? null, "imagenet.loss": r.test.loss ?? null, steps: r.steps }, context }
    // The report's convergence curves: RETINA's AUC, CheXpert's Consolidation AUC.
    const [metric, threshold] = p.task === "chexpert" ? ["auc/Consolidation", convergence.chexpertThreshold] : ["auc", convergence.retinaThreshold]
    const metrics: Record<string, number | null> = {}
    for (const [k, v] of Object.entries(r.test)) metrics[`test.${k}`] = v
    metrics.steps = r.steps
    metrics.steps_to_threshold = stepsToThreshold(r.curve, threshold, metric) ?? null
    return { identity, metrics, context }
  },
})
