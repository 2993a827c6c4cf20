// The paper's seven claims, each turned into a stated decision rule over ReportData.
// With three seeds per cell no rule can be a strong test; the rules are written so a
// reader sees exactly what was compared, with which numbers, and why the verdict follows.
//
// Three rule shapes recur (bootstrap CIs are 95% percentile intervals over seeds):
// - "at most a margin": supported if the CI's upper end is below the margin, not supported
//   if its lower end is above it, inconclusive otherwise;
// - "a meaningful positive effect": supported if the CI's lower end is above 0 and the mean
//   effect reaches the minimum effect, not supported if the CI's upper end is below the
//   minimum effect, inconclusive otherwise;
// - "equivalent": supported if the CI lies inside (-margin, margin), not supported if it lies
//   wholly outside, inconclusive otherwise.
// Sub-verdicts combine as: any "not supported" -> not supported; all "supported" -> supported;
// otherwise (or nothing to judge) inconclusive.

import { Rng } from "../lib/random.ts"
import { chexpertMeanAuc, isSynthetic, metricBySeed, runsWhere, stepsBySeed } from "./select.ts"
import { bootstrapDiffCI, bootstrapStatisticCI, linearFit, mean, spearman, spearmanPermutationP, type Interval } from "./stats.ts"
import type { DatasetId, InitScheme, ModelId, ReportData } from "./types.ts"
import { CBR_MODELS, LARGE_MODELS, MODEL_IDS, MODEL_NAMES, SMALL_CBR_MODELS } from "./types.ts"

export type Verdict = "supported" | "not supported" | "inconclusive"

export interface ClaimResult {
  /** 1..7 in the order of the brief (Sections 3-5 of the paper). */
  readonly id: number
  /** Stable key used in `values` ("claims/<key>/<number>"). */
  readonly key: string
  /** The claim as the paper makes it. */
  readonly claim: string
  /** Where in the paper. */
  readonly source: string
  readonly verdict: Verdict
  /** The decision rule, in words, with its thresholds. */
  readonly rule: string
  /** One line per comparison, with the numbers behind the verdict. */
  readonly evidence: readonly string[]
  /** Every number quoted in the evidence, by a stable name. */
  readonly numbers: Readonly<Record<string, number>>
  readonly synthetic: boolean
}

export interface ClaimOptions {
  /** Fewer seeds than this in any compared group makes that comparison inconclusive (default 2). */
  readonly minSeeds?: number
  /** AUC margin for "little"/"comparable" (default 0.01 = 1 percentage point). */
  readonly aucMargin?: number
  /** Minimum meaningful similarity difference (default 0.05). */
  readonly similarityMargin?: number
  /** Minimum meaningful speedup as a fraction of the slower group's steps (default 0.1). */
  readonly minSpeedup?: number
  /** Steps-to-threshold equivalence margin as a fraction of the reference's steps (default 0.2). */
  readonly stepsMargin?: number
  /** Minimum models for the ImageNet-vs-medical correlation (default 5). */
  readonly minModels?: number
  /** Bootstrap resamples (default 10,000). */
  readonly resamples?: number
}

interface Resolved {
  readonly minSeeds: number
  readonly aucMargin: number
  readonly similarityMargin: number
  readonly minSpeedup: number
  readonly stepsMargin: number
  readonly minModels: number
  readonly resamples: number
}

const resolve = (o: ClaimOptions): Resolved => ({
  minSeeds: o.minSeeds ?? 2,
  aucMargin: o.aucMargin ?? 0.01,
  similarityMargin: o.similarityMargin ?? 0.05,
  minSpeedup: o.minSpeedup ?? 0.1,
  stepsMargin: o.stepsMargin ?? 0.2,
  minModels: o.minModels ?? 5,
  resamples: o.resamples ?? 10_000,
})

export const combineVerdicts = (vs: readonly Verdict[]): Verdict =>
  vs.length === 0 ? "inconclusive" : vs.includes("not supported") ? "not supported" : vs.every((v) => v === "supported") ? "supported" : "inconclusive"

export const atMostMargin = (ci: Interval, margin: number): Verdict =>
  !Number.isFinite(ci.lo) || !Number.isFinite(ci.hi) ? "inconclusive" : ci.hi < margin ? "supported" : ci.lo > margin ? "not supported" : "inconclusive"

export const meaningfulPositive = (meanEffect: number, ci: Interval, minEffect: number): Verdict =>
  !Number.isFinite(ci.lo) || !Number.isFinite(ci.hi)
    ? "inconclusive"
    : ci.lo > 0 && meanEffect >= minEffect
      ? "supported"
      : ci.hi < minEffect
        ? "not supported"
        : "inconclusive"

export const equivalent = (ci: Interval, margin: number): Verdict =>
  !Number.isFinite(ci.lo) || !Number.isFinite(ci.hi)
    ? "inconclusive"
    : ci.lo > -margin && ci.hi < margin
      ? "supported"
      : ci.lo >= margin || ci.hi <= -margin
        ? "not supported"
        : "inconclusive"

// ---- formatting ----

const pct = (x: number): string => (Number.isFinite(x) ? `${(100 * x).toFixed(2)}` : "n/a")
const num = (x: number, digits = 3): string => (Number.isFinite(x) ? x.toFixed(digits) : "n/a")
const ciPct = (ci: Interval): string => `[${pct(ci.lo)}, ${pct(ci.hi)}]`
const ciNum = (ci: Interval, digits = 3): string => `[${num(ci.lo, digits)}, ${num(ci.hi, digits)}]`
const name = (m: ModelId): string => MODEL_NAMES[m]

const SYNTHETIC_NOTE =
  "The data are SYNTHETIC stand-ins, not RETINA/CheXpert/ImageNet: this verdict checks that the pipeline computes the comparison, and says nothing about the paper's claim."

class Builder {
  readonly evidence: string[] = []
  readonly numbers: Record<string, number> = {}
  readonly verdicts: Verdict[] = []
  constructor(readonly key: string) {}
  set(nameOf: string, x: number): void {
    if (Number.isFinite(x)) this.numbers[nameOf] = x
  }
  setCI(prefix: string, ci: Interval): void {
    this.set(`${prefix}/ci-lo`, ci.lo)
    this.set(`${prefix}/ci-hi`, ci.hi)
  }
  judge(line: string, v: Verdict): void {
    this.evidence.push(`${line} -> ${v}`)
    this.verdicts.push(v)
  }
  note(line: string): void {
    this.evidence.push(line)
  }
  tooFew(what: string, counts: readonly number[], minSeeds: number): boolean {
    if (counts.every((n) => n >= minSeeds)) return false
    this.judge(`${what}: too few seeds (${counts.join(" vs ")}; need ${minSeeds} per group)`, "inconclusive")
    return true
  }
}

const rngFor = (key: string): Rng => new Rng(`report/claims/${key}`)

// ---- Claim 1: transfer adds little ----

const claimTransferAddsLittle = (data: ReportData, o: Resolved): Omit<ClaimResult, "synthetic"> => {
  const b = new Builder("transfer-adds-little")
  for (const model of MODEL_IDS) {
    const random = metricBySeed(data, { model, init: "random", dataset: "retina", regime: "full" }, "referable-auc")
    const transfer = metricBySeed(data, { model, init: "transfer", dataset: "retina", regime: "full" }, "referable-auc")
    if (random.length === 0 && transfer.length === 0) continue
    if (b.tooFew(`${name(model)} RETINA`, [random.length, transfer.length], o.minSeeds)) continue
    const gain = mean(transfer) - mean(random)
    const ci = bootstrapDiffCI(transfer, random, rngFor(`transfer-adds-little/${model}`), { resamples: o.resamples })
    b.set(`${model}/gain`, gain)
    b.setCI(`${model}/gain`, ci)
    b.judge(`${name(model)} RETINA: transfer - random = ${pct(gain)} pts AUC, 95% CI ${ciPct(ci)} (n = ${transfer.length} vs ${random.length})`, atMostMargin(ci, o.aucMargin))
  }
  // CheXpert is shown for context: the paper itself calls its gains "mixed" there.
  for (const model of MODEL_IDS) {
    const per = (init: InitScheme): number[] =>
      runsWhere(data, { model, init, dataset: "chexpert", regime: "full" })
        .map(chexpertMeanAuc)
        .filter((x): x is number => x !== undefined)
    const random = per("random"), transfer = per("transfer")
    if (random.length === 0 || transfer.length === 0) continue
    const gain = mean(transfer) - mean(random)
    b.set(`${model}/chexpert-mean-gain`, gain)
    b.note(`(context, not judged) ${name(model)} CheXpert mean of five AUCs: transfer - random = ${pct(gain)} pts`)
  }
  return {
    id: 1,
    key: b.key,
    claim: "Transfer learning adds little: pretrained weights give about the same final AUC as random initialisation.",
    source: "Section 3.2, Tables 1-2",
    rule: `Per model on RETINA (full data), the transfer gain = mean AUC(transfer) - mean AUC(random) with a 95% bootstrap CI over seeds. Supported if the CI's upper end is below ${pct(o.aucMargin)} pts for every model; not supported if any model's CI lies wholly above ${pct(o.aucMargin)} pts; otherwise inconclusive. CheXpert differences are listed for context only.`,
    verdict: combineVerdicts(b.verdicts),
    evidence: b.evidence,
    numbers: b.numbers,
  }
}

// ---- Claim 2: small CBRs match large models ----

const claimSmallMatchesLarge = (data: ReportData, o: Resolved): Omit<ClaimResult, "synthetic"> => {
  const b = new Builder("small-matches-large")
  const best = (models: readonly ModelId[], init: InitScheme): { model: ModelId; values: number[] } | undefined => {
    let out: { model: ModelId; values: number[] } | undefined
    for (const model of models) {
      const values = metricBySeed(data, { model, init, dataset: "retina", regime: "full" }, "referable-auc")
      if (values.length === 0) continue
      if (!out || mean(values) > mean(out.values)) out = { model, values }
    }
    return out
  }
  for (const init of ["random", "transfer"] as const) {
    const large = best(LARGE_MODELS, init), small = best(SMALL_CBR_MODELS, init)
    if (!large || !small) continue
    if (b.tooFew(`${init} init`, [large.values.length, small.values.length], o.minSeeds)) continue
    const gap = mean(large.values) - mean(small.values)
    const ci = bootstrapDiffCI(large.values, small.values, rngFor(`small-matches-large/${init}`), { resamples: o.resamples })
    b.set(`${init}/gap`, gap)
    b.setCI(`${init}/gap`, ci)
    b.judge(`${init} init: best large (${name(large.model)}) - best small CBR (${name(small.model)}) = ${pct(gap)} pts AUC, 95% CI ${ciPct(ci)}`, atMostMargin(ci, o.aucMargin))
  }
  return {
    id: 2,
    key: b.key,
    claim: "Small, simple CBR models perform comparably to the large ImageNet architectures.",
    source: "Section 3.2, Table 1",
    rule: `For each of random and transfer init on RETINA (full data): gap = mean AUC of the best large model (ResNet-50, Inception-v3) - mean AUC of the best small CBR (CBR-Small, CBR-Tiny), with a 95% bootstrap CI. Supported if every CI's upper end is below ${pct(o.aucMargin)} pts; not supported if any CI lies wholly above it; otherwise inconclusive.`,
    verdict: combineVerdicts(b.verdicts),
    evidence: b.evidence,
    numbers: b.numbers,
  }
}

// ---- Claim 3: ImageNet accuracy does not predict medical performance ----

const claimImagenetDoesNotPredict = (data: ReportData, o: Resolved): Omit<ClaimResult, "synthetic"> => {
  const b = new Builder("imagenet-does-not-predict")
  const xs: number[] = [], ys: number[] = [], used: ModelId[] = []
  for (const model of MODEL_IDS) {
    const top5 = data.pretrained.filter((p) => p.model === model).map((p) => p.top5)
    const auc = metricBySeed(data, { model, init: "transfer", dataset: "retina", regime: "full" }, "referable-auc")
    if (top5.length === 0 || auc.length === 0) continue
    xs.push(mean(top5))
    ys.push(mean(auc))
    used.push(model)
  }
  if (used.length < o.minModels) {
    b.judge(`only ${used.length} models have both ImageNet accuracy and transfer RETINA AUC (need ${o.minModels})`, "inconclusive")
  } else {
    const rho = spearman(xs, ys)
    const p = spearmanPermutationP(xs, ys)
    const spread = Math.max(...ys) - Math.min(...ys)
    const imagenetSpread = Math.max(...xs) - Math.min(...xs)
    const fit = linearFit(xs, ys)
    b.set("spearman-rho", rho)
    b.set("spearman-p", p)
    b.set("auc-spread", spread)
    b.set("imagenet-top5-spread", imagenetSpread)
    b.set("slope", fit.slope)
    b.note(`${used.length} models (${used.map(name).join(", ")}): ImageNet top-5 spans ${pct(imagenetSpread)} pts, transfer RETINA AUC spans ${pct(spread)} pts; least-squares slope ${num(fit.slope)} AUC per unit top-5`)
    const v: Verdict = spread < o.aucMargin || !(p < 0.05) ? "supported" : "not supported"
    b.judge(`Spearman rho = ${num(rho)} (exact permutation p = ${num(p, 4)}), medical AUC spread ${pct(spread)} pts vs margin ${pct(o.aucMargin)} pts`, v)
  }
  return {
    id: 3,
    key: b.key,
    claim: "ImageNet accuracy does not predict performance on the medical task.",
    source: "Section 3.2, Table 1",
    rule: `Across models (at least ${o.minModels}), compare mean ImageNet top-5 accuracy of the pretrained weights with mean transfer RETINA AUC. Supported if the models' medical AUCs lie within ${pct(o.aucMargin)} pts of each other (large ImageNet differences buy no practical medical gain) or the Spearman rank correlation is not significant (exact permutation p >= 0.05); not supported if the AUC spread reaches the margin and the rank correlation is significant; inconclusive with too few models.`,
    verdict: combineVerdicts(b.verdicts),
    evidence: b.evidence,
    numbers: b.numbers,
  }
}

// ---- Claim 4: large models change less in lower layers ----

const claimLargeChangeLess = (data: ReportData, o: Resolved): Omit<ClaimResult, "synthetic"> => {
  const b = new Builder("large-change-less")
  const fig3 = data.similarity?.figure3 ?? []
  const datasets = [...new Set(fig3.map((e) => e.dataset))] as DatasetId[]
  for (const dataset of datasets) {
    const lowest = (models: readonly ModelId[]): number[] =>
      fig3.filter((e) => e.dataset === dataset && models.includes(e.model) && e.layers.length > 0).flatMap((e) => [...e.layers[0]!.randomInit])
    const large = lowest(LARGE_MODELS), small = lowest(CBR_MODELS)
    if (large.length === 0 || small.length === 0) continue
    if (b.tooFew(`${dataset} lowest layer`, [large.length, small.length], o.minSeeds)) continue
    const diff = mean(large) - mean(small)
    const ci = bootstrapDiffCI(large, small, rngFor(`large-change-less/${dataset}`), { resamples: o.resamples })
    b.set(`${dataset}/large-lowest`, mean(large))
    b.set(`${dataset}/cbr-lowest`, mean(small))
    b.set(`${dataset}/diff`, diff)
    b.setCI(`${dataset}/diff`, ci)
    b.judge(
      `${dataset}: lowest-layer similarity to own random init after training, large ${num(mean(large))} vs CBR ${num(mean(small))}, difference ${num(diff)}, 95% CI ${ciNum(ci)}`,
      meaningfulPositive(diff, ci, o.similarityMargin),
    )
  }
  for (const e of data.similarity?.figure4 ?? []) {
    const fit = linearFit(e.points.map((p) => p.atInit), e.points.map((p) => p.afterTraining))
    if (!Number.isFinite(fit.r2)) continue
    b.set(`figure4/${e.model}/${e.layer}/${e.comparison}/r2`, fit.r2)
    b.note(`(context) Figure 4 ${name(e.model)} ${e.layer} ${e.comparison}: R^2 = ${num(fit.r2)} over ${fit.n} pairs (paper: 0.75 / 0.84 for ResNet-50 conv1)`)
  }
  return {
    id: 4,
    key: b.key,
    claim: "Large models change less through training, especially in the lowest layers, even from random initialisation.",
    source: "Section 4, Figures 3-4",
    rule: `Per dataset, compare the lowest layer's similarity to its own (random) initialisation after training, pooled over seeds: large models (ResNet-50, Inception-v3) minus CBRs, 95% bootstrap CI. Supported if the CI's lower end is above 0 and the difference is at least ${num(o.similarityMargin, 2)}; not supported if the CI's upper end is below ${num(o.similarityMargin, 2)}; otherwise inconclusive. Figure 4 R^2 values are listed for context.`,
    verdict: combineVerdicts(b.verdicts),
    evidence: b.evidence,
    numbers: b.numbers,
  }
}

// ---- Claim 5: feature reuse is confined to the lowest layers ----

const claimReuseLowest = (data: ReportData, o: Resolved): Omit<ClaimResult, "synthetic"> => {
  const b = new Builder("reuse-lowest-layers")
  for (const e of data.similarity?.figure3 ?? []) {
    if (e.layers.length < 3) {
      b.judge(`${name(e.model)} ${e.dataset}: only ${e.layers.length} layers, cannot separate the lowest two from the rest`, "inconclusive")
      continue
    }
    if (b.tooFew(`${name(e.model)} ${e.dataset}`, e.layers.flatMap((l) => [l.pretrainedInit.length, l.randomInit.length]), o.minSeeds)) continue
    const reuse: number[] = []
    e.layers.forEach((l, i) => {
      const gap = mean(l.pretrainedInit) - mean(l.randomInit)
      const ci = bootstrapDiffCI(l.pretrainedInit, l.randomInit, rngFor(`reuse-lowest-layers/${e.model}/${e.dataset}/${l.layer}`), { resamples: o.resamples })
      b.set(`${e.model}/${e.dataset}/${l.layer}/gap`, gap)
      b.setCI(`${e.model}/${e.dataset}/${l.layer}/gap`, ci)
      if (ci.lo > 0 && gap >= o.similarityMargin) reuse.push(i)
    })
    const above = reuse.filter((i) => i >= 2)
    const v: Verdict = above.length > 0 ? "not supported" : reuse.length > 0 ? "supported" : "inconclusive"
    const gaps = e.layers.map((l) => `${l.layer} ${num(b.numbers[`${e.model}/${e.dataset}/${l.layer}/gap`] ?? NaN)}`).join(", ")
    const where = reuse.length === 0 ? "no layer" : reuse.map((i) => e.layers[i]!.layer).join(", ")
    b.judge(`${name(e.model)} ${e.dataset}: pretrained - random similarity to init per layer: ${gaps}; clear reuse at ${where}`, v)
  }
  // Figure 7: share of full transfer's speedup already given by transfusing conv1 + block1.
  const f = { model: "resnet50" as const, dataset: "retina" as const, regime: "full" as const }
  const random = stepsBySeed(data, { ...f, init: "random" })
  const lowTwo = stepsBySeed(data, { ...f, init: "transfusion-block1" })
  const full = stepsBySeed(data, { ...f, init: "transfer" })
  if (random.steps.length > 0 && lowTwo.steps.length > 0 && full.steps.length > 0) {
    if (!b.tooFew("Figure 7 ResNet-50 steps", [random.steps.length, lowTwo.steps.length, full.steps.length], o.minSeeds)) {
      const share = (m: number[]): number => (m[0]! - m[1]!) / (m[0]! - m[2]!)
      const means = [mean(random.steps), mean(lowTwo.steps), mean(full.steps)]
      if (!(means[0]! > means[2]!)) {
        b.judge(`Figure 7: full transfer (${num(means[2]!, 0)} steps) is not faster than random (${num(means[0]!, 0)}), no speedup to attribute`, "inconclusive")
      } else {
        const s = share(means)
        const ci = bootstrapStatisticCI([random.steps, lowTwo.steps, full.steps], share, rngFor("reuse-lowest-layers/figure7"), { resamples: o.resamples })
        b.set("figure7/share-up-to-block1", s)
        b.setCI("figure7/share-up-to-block1", ci)
        const censored = random.censored + lowTwo.censored + full.censored
        const v: Verdict = ci.lo >= 0.5 ? "supported" : ci.hi < 0.5 ? "not supported" : "inconclusive"
        b.judge(
          `Figure 7 ResNet-50: steps to threshold random ${num(means[0]!, 0)}, up to block1 ${num(means[1]!, 0)}, full transfer ${num(means[2]!, 0)}; share of the speedup from conv1+block1 = ${num(s)}, 95% CI ${ciNum(ci)}${censored > 0 ? ` (${censored} runs never reached the threshold; their training length is used)` : ""}`,
          v,
        )
      }
    }
  }
  return {
    id: 5,
    key: b.key,
    claim: "Meaningful feature reuse is confined to the lowest two layers/stages.",
    source: "Sections 4-5, Figures 3 and 7",
    rule: `Figure 3, per model with at least 3 layers: a layer shows reuse when its similarity to initialisation is higher after pretrained than after random init (95% bootstrap CI above 0 and gap >= ${num(o.similarityMargin, 2)}). Supported if reuse appears and only in the lowest two layers; not supported if any higher layer shows it; inconclusive if no layer does. Figure 7 (ResNet-50): share of full transfer's speedup in steps-to-threshold already obtained by transfusing up to block1; supported if its 95% CI lies at or above 0.5, not supported if below 0.5.`,
    verdict: combineVerdicts(b.verdicts),
    evidence: b.evidence,
    numbers: b.numbers,
  }
}

// ---- Claim 6: Mean Var speeds convergence ----

const claimMeanVarSpeedsUp = (data: ReportData, o: Resolved): Omit<ClaimResult, "synthetic"> => {
  const b = new Builder("mean-var-speeds-convergence")
  for (const dataset of ["retina", "chexpert"] as const) {
    for (const model of MODEL_IDS) {
      const f = { model, dataset, regime: "full" as const }
      const random = stepsBySeed(data, { ...f, init: "random" })
      const meanVar = stepsBySeed(data, { ...f, init: "mean-var" })
      if (meanVar.steps.length === 0 || random.steps.length === 0) continue
      if (b.tooFew(`${name(model)} ${dataset}`, [random.steps.length, meanVar.steps.length], o.minSeeds)) continue
      const saved = mean(random.steps) - mean(meanVar.steps)
      const ci = bootstrapDiffCI(random.steps, meanVar.steps, rngFor(`mean-var/${model}/${dataset}`), { resamples: o.resamples })
      const minEffect = o.minSpeedup * mean(random.steps)
      b.set(`${model}/${dataset}/random-steps`, mean(random.steps))
      b.set(`${model}/${dataset}/mean-var-steps`, mean(meanVar.steps))
      b.set(`${model}/${dataset}/ratio`, mean(meanVar.steps) / mean(random.steps))
      b.setCI(`${model}/${dataset}/steps-saved`, ci)
      const censored = random.censored + meanVar.censored
      b.judge(
        `${name(model)} ${dataset}: steps to threshold random ${num(mean(random.steps), 0)} vs Mean Var ${num(mean(meanVar.steps), 0)} (ratio ${num(mean(meanVar.steps) / mean(random.steps))}); steps saved ${num(saved, 0)}, 95% CI ${ciNum(ci, 0)}, minimum effect ${num(minEffect, 0)}${censored > 0 ? ` (${censored} runs never reached the threshold)` : ""}`,
        meaningfulPositive(saved, ci, minEffect),
      )
    }
  }
  return {
    id: 6,
    key: b.key,
    claim: "Mean Var initialisation (pretrained weight scaling, no features) speeds up convergence over random initialisation.",
    source: "Section 5, Figure 6",
    rule: `Per model and dataset, steps saved = mean steps-to-threshold(random) - mean steps-to-threshold(Mean Var), 95% bootstrap CI. Supported if the CI's lower end is above 0 and the saving is at least ${num(100 * o.minSpeedup, 0)}% of random's steps; not supported if the CI's upper end is below that minimum; otherwise inconclusive. Runs that never reach the threshold count their training length.`,
    verdict: combineVerdicts(b.verdicts),
    evidence: b.evidence,
    numbers: b.numbers,
  }
}

// ---- Claim 7: Gabor conv1 matches pretrained conv1 ----

const claimGaborMatches = (data: ReportData, o: Resolved): Omit<ClaimResult, "synthetic"> => {
  const b = new Builder("gabor-matches-pretrained-conv1")
  for (const model of MODEL_IDS) {
    const f = { model, dataset: "retina" as const, regime: "full" as const }
    const gabor = stepsBySeed(data, { ...f, init: "gabor-conv1" })
    const conv1 = stepsBySeed(data, { ...f, init: "transfusion-conv1" })
    if (gabor.steps.length === 0 || conv1.steps.length === 0) continue
    if (b.tooFew(`${name(model)} steps`, [gabor.steps.length, conv1.steps.length], o.minSeeds)) continue
    const diff = mean(gabor.steps) - mean(conv1.steps)
    const margin = o.stepsMargin * mean(conv1.steps)
    const ci = bootstrapDiffCI(gabor.steps, conv1.steps, rngFor(`gabor/${model}/steps`), { resamples: o.resamples })
    b.set(`${model}/gabor-steps`, mean(gabor.steps))
    b.set(`${model}/pretrained-conv1-steps`, mean(conv1.steps))
    b.set(`${model}/steps-diff`, diff)
    b.setCI(`${model}/steps-diff`, ci)
    b.judge(`${name(model)}: steps to threshold Gabor ${num(mean(gabor.steps), 0)} vs pretrained conv1 ${num(mean(conv1.steps), 0)}; difference ${num(diff, 0)}, 95% CI ${ciNum(ci, 0)}, margin ±${num(margin, 0)}`, equivalent(ci, margin))
    const ga = metricBySeed(data, { ...f, init: "gabor-conv1" }, "referable-auc")
    const ca = metricBySeed(data, { ...f, init: "transfusion-conv1" }, "referable-auc")
    if (ga.length === 0 || ca.length === 0) continue
    if (b.tooFew(`${name(model)} AUC`, [ga.length, ca.length], o.minSeeds)) continue
    const aucDiff = mean(ga) - mean(ca)
    const aci = bootstrapDiffCI(ga, ca, rngFor(`gabor/${model}/auc`), { resamples: o.resamples })
    b.set(`${model}/auc-diff`, aucDiff)
    b.setCI(`${model}/auc-diff`, aci)
    b.judge(`${name(model)}: final AUC Gabor - pretrained conv1 = ${pct(aucDiff)} pts, 95% CI ${ciPct(aci)}, margin ±${pct(o.aucMargin)} pts`, equivalent(aci, o.aucMargin))
  }
  return {
    id: 7,
    key: b.key,
    claim: "Synthetic Gabor filters in conv1 have the same effect as pretrained conv1 weights.",
    source: "Section 5, Figure 8",
    rule: `Per model on RETINA, Gabor conv1 vs pretrained conv1 (transfusion up to conv1): equivalent if the 95% bootstrap CI of the difference in mean steps-to-threshold lies within ±${num(100 * o.stepsMargin, 0)}% of pretrained conv1's steps, and the CI of the final AUC difference within ±${pct(o.aucMargin)} pts. Supported if all comparisons are equivalent; not supported if any CI lies wholly outside its margin; otherwise inconclusive.`,
    verdict: combineVerdicts(b.verdicts),
    evidence: b.evidence,
    numbers: b.numbers,
  }
}

/** All seven claims, in order, each with its verdict, rule and evidence. */
export const evaluateClaims = (data: ReportData, options: ClaimOptions = {}): ClaimResult[] => {
  const o = resolve(options)
  const synthetic = isSynthetic(data)
  return [
    claimTransferAddsLittle,
    claimSmallMatchesLarge,
    claimImagenetDoesNotPredict,
    claimLargeChangeLess,
    claimReuseLowest,
    claimMeanVarSpeedsUp,
    claimGaborMatches,
  ].map((f) => {
    const r = f(data, o)
    const evidence = r.evidence.length === 0 ? ["no runs in the report data bear on this claim -> inconclusive"] : r.evidence
    return { ...r, evidence: synthetic ? [SYNTHETIC_NOTE, ...evidence] : evidence, synthetic }
  })
}
