// The paper's claims, each turned into a stated decision rule over ReportData.
// With three seeds per cell no rule can be a strong test; the rules are written so a
// reader sees exactly what was compared, with which numbers, and why the verdict follows.
//
// Every interval is a Student/Welch t-interval over seeds (report/stats.ts): it covers the
// seed-to-seed variation of training, not the sampling error of the fixed test set.
// Three rule shapes recur:
// - "equivalent within a margin" (claims of "little", "comparable", "matches", "same effect"):
//   Schuirmann's two one-sided tests (TOST) at alpha = 0.05. Supported if the 90% t-interval
//   lies inside (-margin, margin); not supported if the 95% t-interval lies wholly outside it;
//   inconclusive otherwise (few or noisy seeds cannot show equivalence);
// - "a meaningful positive effect": supported if the 95% interval's lower end is above 0 and
//   the mean effect reaches the minimum effect, not supported if its upper end is below the
//   minimum effect, inconclusive otherwise;
// - families of tests where one hit decides (claim 5's layers, claim 11's stages) are
//   corrected with Holm's step-down procedure.
// Sub-verdicts combine as: any "not supported" -> not supported; all "supported" -> supported;
// otherwise (or nothing to judge) inconclusive.

import { chexpertMeanAuc, isSynthetic, metricBySeed, runsWhere, stepsBySeed, type StepsGroup } from "./select.ts"
import { PAPER_TABLE1 } from "./paper.ts"
import {
  contrastCI, correlationCI, diffCI, holmAdjust, mean, pAbove, slopeCI, spearman, spearmanPermutationP, studentTQuantile, tost, tostOf,
  welchTTest, type Interval, type TInterval, type TostResult,
} from "./stats.ts"
import { Rng } from "../lib/random.ts"
import { bootstrapCi, delongTest } from "../ml/metrics.ts"
import type { DatasetId, InitScheme, ModelId, ReportData, RunResult } from "./types.ts"
import { CBR_MODELS, LARGE_MODELS, MODEL_IDS, MODEL_NAMES, SMALL_CBR_MODELS, TRANSFUSION_PREFIXES, trainedPretrained } from "./types.ts"

export type Verdict = "supported" | "not supported" | "inconclusive"

export interface ClaimResult {
  /** 1..11: the seven claims of the brief, then four more the paper makes (Figures 2, 7, 8, Table 3). */
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
  /** Fewer seeds than this in any compared group makes that comparison inconclusive (default 3). */
  readonly minSeeds?: number
  /** AUC margin for "little"/"comparable" (default 0.01 = 1 percentage point). */
  readonly aucMargin?: number
  /** Minimum meaningful similarity difference (default 0.05). */
  readonly similarityMargin?: number
  /** Minimum meaningful speedup as a fraction of the slower group's steps (default 0.1). */
  readonly minSpeedup?: number
  /** Steps-to-threshold equivalence margin as a fraction of the reference's steps (default 0.2). */
  readonly stepsMargin?: number
  /** Minimum models for the ImageNet-vs-medical dependence (default 5). */
  readonly minModels?: number
  /** Claim 3's margin on the slope, in AUC points per 10 ImageNet top-5 points (default 1). */
  readonly slopeMargin?: number
  /** Significance level of every test (default 0.05). */
  readonly alpha?: number
}

interface Resolved {
  readonly minSeeds: number
  readonly aucMargin: number
  readonly similarityMargin: number
  readonly minSpeedup: number
  readonly stepsMargin: number
  readonly minModels: number
  readonly slopeMargin: number
  readonly alpha: number
}

const resolve = (o: ClaimOptions): Resolved => ({
  minSeeds: o.minSeeds ?? 3,
  aucMargin: o.aucMargin ?? 0.01,
  similarityMargin: o.similarityMargin ?? 0.05,
  minSpeedup: o.minSpeedup ?? 0.1,
  stepsMargin: o.stepsMargin ?? 0.2,
  minModels: o.minModels ?? 5,
  slopeMargin: o.slopeMargin ?? 1,
  alpha: o.alpha ?? 0.05,
})

export const combineVerdicts = (vs: readonly Verdict[]): Verdict =>
  vs.length === 0 ? "inconclusive" : vs.includes("not supported") ? "not supported" : vs.every((v) => v === "supported") ? "supported" : "inconclusive"

export const meaningfulPositive = (meanEffect: number, ci: Interval, minEffect: number): Verdict =>
  !Number.isFinite(ci.lo) || !Number.isFinite(ci.hi)
    ? "inconclusive"
    : ci.lo > 0 && meanEffect >= minEffect
      ? "supported"
      : ci.hi < minEffect
        ? "not supported"
        : "inconclusive"

/** Equivalence by TOST: shown -> supported; the 95% interval wholly outside the margin -> not supported. */
export const equivalence = (t: TostResult, ci95: Interval, alpha: number): Verdict =>
  t.p < alpha ? "supported" : ci95.lo >= t.margin || ci95.hi <= -t.margin ? "not supported" : "inconclusive"

// ---- formatting ----

const pct = (x: number): string => (Number.isFinite(x) ? `${(100 * x).toFixed(2)}` : "n/a")
const num = (x: number, digits = 3): string => (Number.isFinite(x) ? x.toFixed(digits) : "n/a")
const pval = (p: number): string => (!Number.isFinite(p) ? "n/a" : p < 1e-4 ? "< 0.0001" : p.toFixed(4))
const ciOf = (ci: Interval, format: (x: number) => string): string => `[${format(ci.lo)}, ${format(ci.hi)}]`
const ciPct = (ci: Interval): string => ciOf(ci, pct)
const ciNum = (ci: Interval, digits = 3): string => ciOf(ci, (x) => num(x, digits))
const name = (m: ModelId): string => MODEL_NAMES[m]
const tostText = (t: TostResult, format: (x: number) => string): string =>
  `TOST against ±${format(t.margin)}: p = ${pval(t.p)}, 90% CI ${ciOf(t.interval, format)}`

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
  setTost(prefix: string, t: TostResult): void {
    this.set(`${prefix}/tost-p`, t.p)
    this.set(`${prefix}/ci90-lo`, t.interval.lo)
    this.set(`${prefix}/ci90-hi`, t.interval.hi)
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
  /** An equivalence comparison of two groups: TOST, the 95% interval, the verdict. */
  equivalent(prefix: string, line: string, a: readonly number[], b: readonly number[], margin: number, o: Resolved, format: (x: number) => string): void {
    const ci = diffCI(a, b)
    const t = tost([a, b], [1, -1], margin, o.alpha)
    this.set(prefix, ci.estimate)
    this.setCI(prefix, ci)
    this.setTost(prefix, t)
    this.judge(`${line} = ${format(ci.estimate)}, 95% CI ${ciOf(ci, format)}; ${tostText(t, format)}`, equivalence(t, ci, o.alpha))
  }
}

const censoredNote = (...groups: StepsGroup[]): string => {
  const n = groups.reduce((s, g) => s + g.censored, 0)
  return n > 0 ? ` (${n} runs never reached the threshold; their training length is used)` : ""
}

type Claim = Omit<ClaimResult, "synthetic">
const retinaFull = (model: ModelId, init: InitScheme) => ({ model, init, dataset: "retina" as const, regime: "full" as const })
const EQUIVALENCE_RULE = "equivalent (TOST at alpha = 0.05: the 90% t-interval inside the margin) -> supported; the 95% t-interval wholly outside the margin -> not supported; otherwise inconclusive"

// ---- test-set sampling ----

/**
 * The test-set sampling variance of mean(AUC a) - mean(AUC b) over seed pairs scored on the same
 * test images: DeLong's variance of each pair's paired difference, averaged over pairs (the bound
 * for pairs that are perfectly correlated, since every pair shares the one test set). Undefined
 * unless every seed has per-image scores on identical patients.
 */
const pairedTestVariance = (a: readonly RunResult[], b: readonly RunResult[]): { variance: number; pairs: number; p: number[] } | undefined => {
  const bySeed = new Map(b.map((r) => [r.seed, r]))
  const vars: number[] = [], ps: number[] = []
  for (const ra of a) {
    const rb = bySeed.get(ra.seed)
    const sa = ra.testScores, sb = rb?.testScores
    if (!sa || !sb || sa.patients.length !== sb.patients.length || sa.patients.some((p, i) => p !== sb.patients[i])) return undefined
    const d = delongTest(sa.scores, sb.scores, sa.labels)
    vars.push(d.varA + d.varB - 2 * d.covariance)
    ps.push(d.p)
  }
  return vars.length === 0 ? undefined : { variance: mean(vars), pairs: vars.length, p: ps }
}

// ---- Claim 1: transfer adds little ----

const claimTransferAddsLittle = (data: ReportData, o: Resolved): Claim => {
  const b = new Builder("transfer-adds-little")
  for (const model of MODEL_IDS) {
    const randomRuns = runsWhere(data, retinaFull(model, "random")).sort((x, y) => x.seed - y.seed)
    const transferRuns = runsWhere(data, retinaFull(model, "transfer")).sort((x, y) => x.seed - y.seed)
    const random = metricBySeed(data, retinaFull(model, "random"), "referable-auc")
    const transfer = metricBySeed(data, retinaFull(model, "transfer"), "referable-auc")
    if (random.length === 0 && transfer.length === 0) continue
    if (b.tooFew(`${name(model)} RETINA`, [random.length, transfer.length], o.minSeeds)) continue
    const test = pairedTestVariance(transferRuns, randomRuns)
    if (!test) {
      b.equivalent(`${model}/gain`, `${name(model)} RETINA (n = ${transfer.length} vs ${random.length}; seeds only, no per-image scores): transfer - random AUC pts`, transfer, random, o.aucMargin, o, pct)
      continue
    }
    // Seeds and the test set both vary: the Welch seed variance plus DeLong's test-set variance.
    const seeds = diffCI(transfer, random)
    const se = Math.sqrt(seeds.se ** 2 + test.variance)
    const combined: TInterval = { ...seeds, se, lo: seeds.estimate - studentTQuantile(0.975, seeds.df) * se, hi: seeds.estimate + studentTQuantile(0.975, seeds.df) * se }
    const t = tostOf(combined, o.aucMargin, o.alpha)
    b.set(`${model}/gain`, seeds.estimate)
    b.setCI(`${model}/gain`, combined)
    b.setCI(`${model}/gain/seeds-only`, seeds)
    b.set(`${model}/gain/test-se`, Math.sqrt(test.variance))
    b.setTost(`${model}/gain`, t)
    b.judge(
      `${name(model)} RETINA (n = ${transfer.length} vs ${random.length}): transfer - random AUC pts = ${pct(seeds.estimate)}, 95% CI over seeds only ${ciPct(seeds)}, over seeds and test-set sampling ${ciPct(combined)} (paired DeLong SE ${pct(Math.sqrt(test.variance))} pts over ${test.pairs} seed pairs; per-pair p ${test.p.map(pval).join(", ")}); ${tostText(t, pct)}`,
      equivalence(t, combined, o.alpha),
    )
    // Cross-check of the test-set error by the patient-resampled bootstrap of one run's AUC.
    const first = transferRuns.find((r) => r.testScores)
    if (first?.testScores) {
      const boot = bootstrapCi(first.testScores.scores, first.testScores.labels, first.testScores.patients, { rng: new Rng(`report/claims/test-bootstrap/${first.id}`), resamples: 1000 })
      b.setCI(`${model}/transfer-seed${first.seed}/patient-bootstrap`, { lo: boot.lower, hi: boot.upper })
      b.note(`(context) ${name(model)} transfer seed ${first.seed}: test AUC ${pct(boot.estimate)}, 95% patient-resampled bootstrap CI ${ciPct({ lo: boot.lower, hi: boot.upper })} (test-set sampling only)`)
    }
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
    rule: `Per model on RETINA (full data), the transfer gain = mean AUC(transfer) - mean AUC(random) over seeds, margin ±${pct(o.aucMargin)} pts: ${EQUIVALENCE_RULE}. The interval covers seed-to-seed variation (Welch) and, where runs stored per-image test scores, test-set sampling too (paired DeLong variance of each seed pair's difference on the shared test images, added to the seed variance); otherwise seeds only, as the evidence says. Supported if every model is equivalent. CheXpert differences are listed for context only.`,
    verdict: combineVerdicts(b.verdicts),
    evidence: b.evidence,
    numbers: b.numbers,
  }
}

// ---- Claim 2: small CBRs match large models ----

const claimSmallMatchesLarge = (data: ReportData, o: Resolved): Claim => {
  const b = new Builder("small-matches-large")
  const best = (models: readonly ModelId[], init: InitScheme): { model: ModelId; values: number[] } | undefined => {
    let out: { model: ModelId; values: number[] } | undefined
    for (const model of models) {
      const values = metricBySeed(data, retinaFull(model, init), "referable-auc")
      if (values.length === 0) continue
      if (!out || mean(values) > mean(out.values)) out = { model, values }
    }
    return out
  }
  for (const init of ["random", "transfer"] as const) {
    const large = best(LARGE_MODELS, init), small = best(SMALL_CBR_MODELS, init)
    if (!large || !small) continue
    if (b.tooFew(`${init} init`, [large.values.length, small.values.length], o.minSeeds)) continue
    b.equivalent(`${init}/gap`, `${init} init: best large (${name(large.model)}) - best small CBR (${name(small.model)}) AUC pts`, large.values, small.values, o.aucMargin, o, pct)
  }
  return {
    id: 2,
    key: b.key,
    claim: "Small, simple CBR models perform comparably to the large ImageNet architectures.",
    source: "Section 3.2, Table 1",
    rule: `For each of random and transfer init on RETINA (full data): gap = mean AUC of the best large model (ResNet-50, Inception-v3) - mean AUC of the best small CBR (CBR-Small, CBR-Tiny), Welch t-intervals over seeds, margin ±${pct(o.aucMargin)} pts: ${EQUIVALENCE_RULE}.`,
    verdict: combineVerdicts(b.verdicts),
    evidence: b.evidence,
    numbers: b.numbers,
  }
}

// ---- Claim 3: ImageNet accuracy does not predict medical performance ----

interface SlopeJudgement {
  readonly ci: TInterval
  readonly tost: TostResult
  readonly verdict: Verdict
  readonly rho: number
  readonly rhoP: number
}

/** Claim 3's rule on (top-5, AUC) per model, both as fractions; the slope is reported per 10 top-5 points. */
const judgeSlope = (top5: readonly number[], auc: readonly number[], o: Resolved): SlopeJudgement => {
  // AUC points per 10 top-5 points = 10 x (dAUC / dTop5) on fractions.
  const raw = slopeCI(top5, auc)
  const ci: TInterval = { ...raw, estimate: 10 * raw.estimate, se: 10 * raw.se, lo: 10 * raw.lo, hi: 10 * raw.hi }
  const t = tostOf(ci, o.slopeMargin, o.alpha)
  return { ci, tost: t, verdict: equivalence(t, ci, o.alpha), rho: spearman(top5, auc), rhoP: spearmanPermutationP(top5, auc) }
}

const claimImagenetDoesNotPredict = (data: ReportData, o: Resolved): Claim => {
  const b = new Builder("imagenet-does-not-predict")
  const xs: number[] = [], ys: number[] = [], used: ModelId[] = []
  for (const model of MODEL_IDS) {
    // Imported weights carry no top-5 of ours; such a model is left out of the fit.
    const top5 = trainedPretrained(data.pretrained.filter((p) => p.model === model)).map((p) => p.top5)
    const auc = metricBySeed(data, retinaFull(model, "transfer"), "referable-auc")
    if (top5.length === 0 || auc.length === 0) continue
    xs.push(mean(top5))
    ys.push(mean(auc))
    used.push(model)
  }
  const slopeLine = (who: string, j: SlopeJudgement): string =>
    `${who}: slope ${num(j.ci.estimate, 2)} AUC pts per 10 top-5 pts, 95% CI ${ciNum(j.ci, 2)}; ${tostText(j.tost, (x) => num(x, 2))}; Spearman rho = ${num(j.rho)} (exact permutation p = ${pval(j.rhoP)}, context)`
  if (used.length < o.minModels) {
    b.judge(`only ${used.length} models have both ImageNet accuracy and transfer RETINA AUC (need ${o.minModels})`, "inconclusive")
  } else {
    const j = judgeSlope(xs, ys, o)
    b.set("slope-per-10", j.ci.estimate)
    b.setCI("slope-per-10", j.ci)
    b.setTost("slope-per-10", j.tost)
    b.set("spearman-rho", j.rho)
    b.set("spearman-p", j.rhoP)
    b.set("auc-spread", Math.max(...ys) - Math.min(...ys))
    b.set("imagenet-top5-spread", Math.max(...xs) - Math.min(...xs))
    b.judge(slopeLine(`ours, ${used.length} models (${used.map(name).join(", ")})`, j), j.verdict)
  }
  // The same rule on the paper's own Table 1 (transfer column), printed beside ours, not judged.
  const paper = judgeSlope(PAPER_TABLE1.map((r) => r.imagenetTop5.value / 100), PAPER_TABLE1.map((r) => r.transfer.value / 100), o)
  b.set("paper/slope-per-10", paper.ci.estimate)
  b.setCI("paper/slope-per-10", paper.ci)
  b.set("paper/spearman-rho", paper.rho)
  b.note(`(the same rule on the paper's Table 1 numbers, not judged) ${slopeLine(`paper, ${PAPER_TABLE1.length} models`, paper)} -> ${paper.verdict}`)
  return {
    id: 3,
    key: b.key,
    claim: "ImageNet accuracy does not predict performance on the medical task.",
    source: "Section 3.2, Table 1",
    rule: `Across models (at least ${o.minModels}), fit mean transfer RETINA AUC against mean ImageNet top-5 accuracy of the pretrained weights by least squares; the slope in AUC points per 10 top-5 points has a t-interval with n - 2 degrees of freedom. Margin ±${num(o.slopeMargin, 2)} AUC pts per 10 top-5 pts: ${EQUIVALENCE_RULE}. A rank correlation alone says nothing about magnitude (on the paper's own table rho = 0.93 with a tiny slope), so it is printed as context only.`,
    verdict: combineVerdicts(b.verdicts),
    evidence: b.evidence,
    numbers: b.numbers,
  }
}

// ---- Claim 4: large models change less in lower layers ----

const claimLargeChangeLess = (data: ReportData, o: Resolved): Claim => {
  const b = new Builder("large-change-less")
  const fig3 = data.similarity?.figure3 ?? []
  const datasets = [...new Set(fig3.map((e) => e.dataset))] as DatasetId[]
  for (const dataset of datasets) {
    const lowest = (models: readonly ModelId[]): number[] =>
      fig3.filter((e) => e.dataset === dataset && models.includes(e.model) && e.layers.length > 0).flatMap((e) => [...e.layers[0]!.randomInit])
    const large = lowest(LARGE_MODELS), small = lowest(CBR_MODELS)
    if (large.length === 0 || small.length === 0) continue
    if (b.tooFew(`${dataset} lowest layer`, [large.length, small.length], o.minSeeds)) continue
    const ci = diffCI(large, small)
    b.set(`${dataset}/large-lowest`, mean(large))
    b.set(`${dataset}/cbr-lowest`, mean(small))
    b.set(`${dataset}/diff`, ci.estimate)
    b.setCI(`${dataset}/diff`, ci)
    b.judge(
      `${dataset}: lowest-layer similarity to own random init after training, large ${num(mean(large))} vs CBR ${num(mean(small))}, difference ${num(ci.estimate)}, 95% CI ${ciNum(ci)}`,
      meaningfulPositive(ci.estimate, ci, o.similarityMargin),
    )
  }
  // Figure 4: a line through 3 points has an expected R^2 near 0.5 by chance, so the context
  // given is the correlation over both comparisons' pairs with its Fisher interval.
  const fig4 = data.similarity?.figure4 ?? []
  for (const key of [...new Set(fig4.map((e) => `${e.model}|${e.dataset}|${e.layer}`))]) {
    const entries = fig4.filter((e) => `${e.model}|${e.dataset}|${e.layer}` === key)
    const pts = entries.flatMap((e) => e.points)
    const c = correlationCI(pts.map((p) => p.atInit), pts.map((p) => p.afterTraining))
    if (!Number.isFinite(c.r)) continue
    const { model, layer } = entries[0]!
    b.set(`figure4/${model}/${layer}/r`, c.r)
    b.setCI(`figure4/${model}/${layer}/r`, c)
    b.note(
      `(context) Figure 4 ${name(model)} ${layer}, ${entries.map((e) => e.comparison).join(" + ")}: Pearson r = ${num(c.r)} over ${c.n} pairs, 95% CI ${Number.isFinite(c.lo) ? ciNum(c) : "undefined (fewer than 4 pairs)"} (paper: R^2 = 0.75 / 0.84 for ResNet-50 conv1, i.e. r = 0.87 / 0.92)`,
    )
  }
  return {
    id: 4,
    key: b.key,
    claim: "Large models change less through training, especially in the lowest layers, even from random initialisation.",
    source: "Section 4, Figures 3-4",
    rule: `Per dataset, compare the lowest layer's similarity to its own (random) initialisation after training, pooled over seeds: large models (ResNet-50, Inception-v3) minus CBRs, 95% Welch t-interval. Supported if the interval's lower end is above 0 and the difference is at least ${num(o.similarityMargin, 2)}; not supported if its upper end is below ${num(o.similarityMargin, 2)}; otherwise inconclusive. Figure 4 correlations (with their intervals) are listed for context.`,
    verdict: combineVerdicts(b.verdicts),
    evidence: b.evidence,
    numbers: b.numbers,
  }
}

// ---- Claim 5: feature reuse is confined to the lowest layers ----

const claimReuseLowest = (data: ReportData, o: Resolved): Claim => {
  const b = new Builder("reuse-lowest-layers")
  // One family over every layer of every model: a single uncorrected hit among ~40 layers is expected by chance.
  const tested: Array<{ entry: string; model: ModelId; dataset: DatasetId; layer: string; index: number; gap: number; p: number }> = []
  const entries: Array<{ model: ModelId; dataset: DatasetId; layers: readonly string[] }> = []
  for (const e of data.similarity?.figure3 ?? []) {
    if (e.layers.length < 3) {
      b.judge(`${name(e.model)} ${e.dataset}: only ${e.layers.length} layers, cannot separate the lowest two from the rest`, "inconclusive")
      continue
    }
    if (b.tooFew(`${name(e.model)} ${e.dataset}`, e.layers.flatMap((l) => [l.pretrainedInit.length, l.randomInit.length]), o.minSeeds)) continue
    entries.push({ model: e.model, dataset: e.dataset, layers: e.layers.map((l) => l.layer) })
    e.layers.forEach((l, index) => {
      const ci = diffCI(l.pretrainedInit, l.randomInit)
      const k = `${e.model}/${e.dataset}/${l.layer}/gap`
      b.set(k, ci.estimate)
      b.setCI(k, ci)
      tested.push({ entry: `${e.model}/${e.dataset}`, model: e.model, dataset: e.dataset, layer: l.layer, index, gap: ci.estimate, p: welchTTest(l.pretrainedInit, l.randomInit).pGreater })
    })
  }
  const adjusted = holmAdjust(tested.map((t) => t.p))
  tested.forEach((t, i) => b.set(`${t.model}/${t.dataset}/${t.layer}/holm-p`, adjusted[i]!))
  for (const e of entries) {
    const mine = tested.map((t, i) => ({ ...t, holm: adjusted[i]! })).filter((t) => t.entry === `${e.model}/${e.dataset}`)
    const reuse = mine.filter((t) => t.holm < o.alpha && t.gap >= o.similarityMargin)
    const v: Verdict = reuse.some((t) => t.index >= 2) ? "not supported" : reuse.length > 0 ? "supported" : "inconclusive"
    const gaps = mine.map((t) => `${t.layer} ${num(t.gap)} (Holm p ${pval(t.holm)})`).join(", ")
    b.judge(`${name(e.model)} ${e.dataset}: pretrained - random similarity to init per layer: ${gaps}; clear reuse at ${reuse.length === 0 ? "no layer" : reuse.map((t) => t.layer).join(", ")}`, v)
  }
  // Figure 7: share of full transfer's speedup already given by transfusing conv1 + block1.
  // share >= 1/2  <=>  0.5 random - block1 + 0.5 transfer >= 0, a linear contrast of seed means.
  const random = stepsBySeed(data, retinaFull("resnet50", "random"))
  const lowTwo = stepsBySeed(data, retinaFull("resnet50", "transfusion-block1"))
  const full = stepsBySeed(data, retinaFull("resnet50", "transfer"))
  if (random.steps.length > 0 && lowTwo.steps.length > 0 && full.steps.length > 0) {
    if (!b.tooFew("Figure 7 ResNet-50 steps", [random.steps.length, lowTwo.steps.length, full.steps.length], o.minSeeds)) {
      const means = [mean(random.steps), mean(lowTwo.steps), mean(full.steps)]
      if (!(means[0]! > means[2]!)) {
        b.judge(`Figure 7: full transfer (${num(means[2]!, 0)} steps) is not faster than random (${num(means[0]!, 0)}), no speedup to attribute`, "inconclusive")
      } else {
        const share = (means[0]! - means[1]!) / (means[0]! - means[2]!)
        const ci = contrastCI([random.steps, lowTwo.steps, full.steps], [0.5, -1, 0.5])
        b.set("figure7/share-up-to-block1", share)
        b.set("figure7/half-contrast", ci.estimate)
        b.setCI("figure7/half-contrast", ci)
        const v: Verdict = ci.lo > 0 ? "supported" : ci.hi < 0 ? "not supported" : "inconclusive"
        b.judge(
          `Figure 7 ResNet-50: steps to threshold random ${num(means[0]!, 0)}, up to block1 ${num(means[1]!, 0)}, full transfer ${num(means[2]!, 0)}; share of the speedup from conv1+block1 = ${num(share)}; (random + transfer)/2 - block1 = ${num(ci.estimate, 1)} steps, 95% CI ${ciNum(ci, 1)}${censoredNote(random, lowTwo, full)}`,
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
    rule: `Figure 3, per model with at least 3 layers: a layer shows reuse when its similarity to initialisation is higher after pretrained than after random init: one-sided Welch test, Holm-corrected over every layer of every model (adjusted p < ${o.alpha}), and a gap of at least ${num(o.similarityMargin, 2)}. Supported if reuse appears and only in the lowest two layers; not supported if any higher layer shows it; inconclusive if no layer does. Figure 7 (ResNet-50): the share of full transfer's speedup in steps-to-threshold already obtained by transfusing up to block1 is at least 1/2 exactly when (random + transfer)/2 - block1 >= 0; supported if that contrast's 95% Welch interval lies above 0, not supported if below 0.`,
    verdict: combineVerdicts(b.verdicts),
    evidence: b.evidence,
    numbers: b.numbers,
  }
}

// ---- Claim 6: Mean Var speeds convergence ----

const claimMeanVarSpeedsUp = (data: ReportData, o: Resolved): Claim => {
  const b = new Builder("mean-var-speeds-convergence")
  for (const dataset of ["retina", "chexpert"] as const) {
    for (const model of MODEL_IDS) {
      const f = { model, dataset, regime: "full" as const }
      const random = stepsBySeed(data, { ...f, init: "random" })
      const meanVar = stepsBySeed(data, { ...f, init: "mean-var" })
      if (meanVar.steps.length === 0 || random.steps.length === 0) continue
      if (b.tooFew(`${name(model)} ${dataset}`, [random.steps.length, meanVar.steps.length], o.minSeeds)) continue
      const ci = diffCI(random.steps, meanVar.steps)
      const minEffect = o.minSpeedup * mean(random.steps)
      b.set(`${model}/${dataset}/random-steps`, mean(random.steps))
      b.set(`${model}/${dataset}/mean-var-steps`, mean(meanVar.steps))
      b.set(`${model}/${dataset}/ratio`, mean(meanVar.steps) / mean(random.steps))
      b.setCI(`${model}/${dataset}/steps-saved`, ci)
      b.judge(
        `${name(model)} ${dataset}: steps to threshold random ${num(mean(random.steps), 0)} vs Mean Var ${num(mean(meanVar.steps), 0)} (ratio ${num(mean(meanVar.steps) / mean(random.steps))}); steps saved ${num(ci.estimate, 0)}, 95% CI ${ciNum(ci, 0)}, minimum effect ${num(minEffect, 0)}${censoredNote(random, meanVar)}`,
        meaningfulPositive(ci.estimate, ci, minEffect),
      )
    }
  }
  return {
    id: 6,
    key: b.key,
    claim: "Mean Var initialisation (pretrained weight scaling, no features) speeds up convergence over random initialisation.",
    source: "Section 5, Figure 6",
    rule: `Per model and dataset, steps saved = mean steps-to-threshold(random) - mean steps-to-threshold(Mean Var), 95% Welch t-interval over seeds. Supported if its lower end is above 0 and the saving is at least ${num(100 * o.minSpeedup, 0)}% of random's steps; not supported if its upper end is below that minimum; otherwise inconclusive. Runs that never reach the threshold count their training length.`,
    verdict: combineVerdicts(b.verdicts),
    evidence: b.evidence,
    numbers: b.numbers,
  }
}

// ---- Claims 7 and 10: a hybrid matches its reference in speed and final AUC ----

const judgeMatch = (b: Builder, data: ReportData, o: Resolved, who: string, prefix: string, hybrid: ReturnType<typeof retinaFull>, reference: ReturnType<typeof retinaFull>, refName: string): void => {
  const hs = stepsBySeed(data, hybrid), rs = stepsBySeed(data, reference)
  if (hs.steps.length === 0 || rs.steps.length === 0) return
  if (b.tooFew(`${who} steps`, [hs.steps.length, rs.steps.length], o.minSeeds)) return
  const margin = o.stepsMargin * mean(rs.steps)
  b.set(`${prefix}/hybrid-steps`, mean(hs.steps))
  b.set(`${prefix}/reference-steps`, mean(rs.steps))
  b.equivalent(`${prefix}/steps-diff`, `${who}: steps to threshold ${num(mean(hs.steps), 0)} vs ${refName} ${num(mean(rs.steps), 0)}${censoredNote(hs, rs)}; difference`, hs.steps, rs.steps, margin, o, (x) => num(x, 0))
  const ha = metricBySeed(data, hybrid, "referable-auc"), ra = metricBySeed(data, reference, "referable-auc")
  if (ha.length === 0 || ra.length === 0) return
  if (b.tooFew(`${who} AUC`, [ha.length, ra.length], o.minSeeds)) return
  b.equivalent(`${prefix}/auc-diff`, `${who}: final AUC - ${refName}, pts`, ha, ra, o.aucMargin, o, pct)
}

const claimGaborMatches = (data: ReportData, o: Resolved): Claim => {
  const b = new Builder("gabor-matches-pretrained-conv1")
  for (const model of MODEL_IDS) {
    judgeMatch(b, data, o, `${name(model)} Gabor conv1`, model, retinaFull(model, "gabor-conv1"), retinaFull(model, "transfusion-conv1"), "pretrained conv1")
  }
  return {
    id: 7,
    key: b.key,
    claim: "Synthetic Gabor filters in conv1 have the same effect as pretrained conv1 weights.",
    source: "Section 5, Figure 8",
    rule: `Per model on RETINA, Gabor conv1 vs pretrained conv1 (transfusion up to conv1): the difference in mean steps-to-threshold with margin ±${num(100 * o.stepsMargin, 0)}% of pretrained conv1's steps, and the final AUC difference with margin ±${pct(o.aucMargin)} pts, Welch t-intervals over seeds: ${EQUIVALENCE_RULE}. Supported if all comparisons are equivalent.`,
    verdict: combineVerdicts(b.verdicts),
    evidence: b.evidence,
    numbers: b.numbers,
  }
}

// ---- Claim 8: pretrained and random representations differ more in large models (Figure 2) ----

const claimLargeRepresentationsDiffer = (data: ReportData, o: Resolved): Claim => {
  const b = new Builder("large-representations-differ")
  const fig2 = data.similarity?.figure2 ?? []
  for (const dataset of [...new Set(fig2.map((e) => e.dataset))] as DatasetId[]) {
    const pooled = (models: readonly ModelId[], side: "randomVsRandom" | "pretrainedVsRandom"): number[] =>
      fig2.filter((e) => e.dataset === dataset && models.includes(e.model)).flatMap((e) => [...e[side]])
    const lr = pooled(LARGE_MODELS, "randomVsRandom"), lp = pooled(LARGE_MODELS, "pretrainedVsRandom")
    const cr = pooled(CBR_MODELS, "randomVsRandom"), cp = pooled(CBR_MODELS, "pretrainedVsRandom")
    if (lr.length + lp.length === 0 || cr.length + cp.length === 0) continue
    if (b.tooFew(`${dataset} Figure 2 pairs`, [lr.length, lp.length, cr.length, cp.length], o.minSeeds)) continue
    const large = diffCI(lr, lp)
    b.set(`${dataset}/large-gap`, large.estimate)
    b.setCI(`${dataset}/large-gap`, large)
    b.judge(
      `${dataset}, large models: random-vs-random ${num(mean(lr))} - pretrained-vs-random ${num(mean(lp))} = ${num(large.estimate)}, 95% CI ${ciNum(large)}`,
      meaningfulPositive(large.estimate, large, o.similarityMargin),
    )
    const dd = contrastCI([lr, lp, cr, cp], [1, -1, -1, 1])
    b.set(`${dataset}/large-minus-cbr-gap`, dd.estimate)
    b.setCI(`${dataset}/large-minus-cbr-gap`, dd)
    b.judge(
      `${dataset}: that gap for large models minus the same gap for CBRs (${num(mean(cr) - mean(cp))}) = ${num(dd.estimate)}, 95% CI ${ciNum(dd)}`,
      meaningfulPositive(dd.estimate, dd, o.similarityMargin),
    )
  }
  return {
    id: 8,
    key: b.key,
    claim: "For large models, representations learned from pretrained weights differ from those learned from random initialisation more than two random initialisations differ; less so for small models.",
    source: "Section 4, Figure 2",
    rule: `Per dataset, top-two-layer similarity pooled over pairs: the gap random-vs-random - pretrained-vs-random for the large models, and that gap minus the CBRs' gap, 95% Welch t-intervals. Each is supported if its lower end is above 0 and it is at least ${num(o.similarityMargin, 2)}; not supported if its upper end is below ${num(o.similarityMargin, 2)}; otherwise inconclusive. Pairs share networks, so the intervals are somewhat narrower than independent pairs would give.`,
    verdict: combineVerdicts(b.verdicts),
    evidence: b.evidence,
    numbers: b.numbers,
  }
}

// ---- Claim 9: transfer helps only the large models with little data (Table 3) ----

const claimSmallDataLargeOnly = (data: ReportData, o: Resolved): Claim => {
  const b = new Builder("transfer-helps-large-small-data")
  for (const model of MODEL_IDS) {
    const f = { model, dataset: "retina" as const, regime: "small-data" as const }
    const random = metricBySeed(data, { ...f, init: "random" }, "referable-auc")
    const transfer = metricBySeed(data, { ...f, init: "transfer" }, "referable-auc")
    if (random.length === 0 && transfer.length === 0) continue
    if (b.tooFew(`${name(model)} small data`, [random.length, transfer.length], o.minSeeds)) continue
    if (LARGE_MODELS.includes(model)) {
      const ci = diffCI(transfer, random)
      b.set(`${model}/gain`, ci.estimate)
      b.setCI(`${model}/gain`, ci)
      b.judge(`${name(model)} small data: transfer - random = ${pct(ci.estimate)} pts AUC, 95% CI ${ciPct(ci)}, minimum effect ${pct(o.aucMargin)} pts`, meaningfulPositive(ci.estimate, ci, o.aucMargin))
    } else {
      b.equivalent(`${model}/gain`, `${name(model)} small data: transfer - random AUC pts`, transfer, random, o.aucMargin, o, pct)
    }
  }
  return {
    id: 9,
    key: b.key,
    claim: "With very little data, transfer helps the large models (ResNet-50) but not the small CBRs.",
    source: "Section 3.3, Table 3",
    rule: `RETINA small-data regime, transfer - random AUC per model, Welch t-intervals over seeds. Large models: supported if the 95% interval's lower end is above 0 and the gain is at least ${pct(o.aucMargin)} pts, not supported if its upper end is below ${pct(o.aucMargin)} pts. CBRs, margin ±${pct(o.aucMargin)} pts: ${EQUIVALENCE_RULE}.`,
    verdict: combineVerdicts(b.verdicts),
    evidence: b.evidence,
    numbers: b.numbers,
  }
}

// ---- Claim 10: Slim ResNet-50 matches full transfer (Figure 8) ----

const claimSlimMatches = (data: ReportData, o: Resolved): Claim => {
  const b = new Builder("slim-matches-transfer")
  judgeMatch(b, data, o, "Slim ResNet-50 (pretrained to block2)", "resnet50-slim", retinaFull("resnet50-slim", "transfusion-block2"), retinaFull("resnet50", "transfer"), "full transfer")
  return {
    id: 10,
    key: b.key,
    claim: "Reusing pretrained weights up to block2 and slimming the rest (Slim ResNet-50) matches full transfer in convergence and performance.",
    source: "Section 5, Figure 8",
    rule: `RETINA, Slim ResNet-50 vs ResNet-50 full transfer: steps-to-threshold difference with margin ±${num(100 * o.stepsMargin, 0)}% of full transfer's steps, final AUC difference with margin ±${pct(o.aucMargin)} pts, Welch t-intervals over seeds: ${EQUIVALENCE_RULE}. Supported if both are equivalent.`,
    verdict: combineVerdicts(b.verdicts),
    evidence: b.evidence,
    numbers: b.numbers,
  }
}

// ---- Claim 11: conv1 gives the largest marginal speed-up (Figure 7) ----

const claimConv1LargestSpeedup = (data: ReportData, o: Resolved): Claim => {
  const b = new Builder("conv1-largest-marginal-speedup")
  // Stages in order: random, then pretrained up to conv1, block1, ..., block4.
  const inits: InitScheme[] = ["random", ...TRANSFUSION_PREFIXES.map((p) => `transfusion-${p}` as const)]
  const groups = inits.map((init) => stepsBySeed(data, retinaFull("resnet50", init)))
  if (groups.every((g) => g.steps.length > 0) && !b.tooFew("Figure 7 ResNet-50 steps", groups.map((g) => g.steps.length), o.minSeeds)) {
    // conv1's marginal (random - conv1) minus stage k's marginal (prefix k-1 - prefix k), k = block1..block4.
    const contrasts = TRANSFUSION_PREFIXES.slice(1).map((prefix, j) => {
      const k = j + 2
      const c = inits.map(() => 0)
      c[0]! += 1
      c[1]! -= 1
      c[k - 1]! -= 1
      c[k]! += 1
      const ci = contrastCI(groups.map((g) => g.steps), c)
      return { prefix, ci, pConv1Larger: pAbove(ci, 0), pOtherLarger: 1 - pAbove(ci, 0) }
    })
    const holmOther = holmAdjust(contrasts.map((x) => x.pOtherLarger))
    const marginal = inits.slice(1).map((init, i) => `${init.replace("transfusion-", "")} ${num(mean(groups[i]!.steps) - mean(groups[i + 1]!.steps), 0)}`)
    b.note(`Marginal steps saved by each added stage (previous prefix - this prefix): ${marginal.join(", ")}${censoredNote(...groups)}`)
    contrasts.forEach((x, i) => {
      b.set(`conv1-minus-${x.prefix}`, x.ci.estimate)
      b.setCI(`conv1-minus-${x.prefix}`, x.ci)
      const v: Verdict = x.pConv1Larger < o.alpha ? "supported" : holmOther[i]! < o.alpha ? "not supported" : "inconclusive"
      b.judge(`conv1's marginal saving - ${x.prefix}'s = ${num(x.ci.estimate, 1)} steps, 95% CI ${ciNum(x.ci, 1)}; one-sided p (conv1 larger) = ${pval(x.pConv1Larger)}, Holm p (${x.prefix} larger) = ${pval(holmOther[i]!)}`, v)
    })
  }
  return {
    id: 11,
    key: b.key,
    claim: "Of all stages, transfusing conv1 gives the largest marginal speed-up in convergence.",
    source: "Section 5, Figure 7",
    rule: `ResNet-50 on RETINA, steps-to-threshold of random init and of transfusion up to conv1, block1, ..., block4: each stage's marginal saving is the previous prefix's mean steps minus its own. For each later stage, conv1's marginal saving minus that stage's (a Welch contrast of seed means): supported if conv1's is larger (one-sided p < ${o.alpha}; all must hold, an intersection-union test needs no correction); not supported if that stage's is larger (Holm-corrected over the four stages); otherwise inconclusive.`,
    verdict: combineVerdicts(b.verdicts),
    evidence: b.evidence,
    numbers: b.numbers,
  }
}

/** All claims, in order, each with its verdict, rule and evidence. */
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
    claimLargeRepresentationsDiffer,
    claimSmallDataLargeOnly,
    claimSlimMatches,
    claimConv1LargestSpeedup,
  ].map((f) => {
    const r = f(data, o)
    const evidence = r.evidence.length === 0 ? ["no runs in the report data bear on this claim -> inconclusive"] : r.evidence
    return { ...r, evidence: synthetic ? [SYNTHETIC_NOTE, ...evidence] : evidence, synthetic }
  })
}
