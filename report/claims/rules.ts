// What every claim of report/claims.ts is built from: the claim's result and options
// types, the verdict shapes (equivalence by TOST, a meaningful positive effect, how
// sub-verdicts combine), the number formatting of the evidence lines, the Builder that
// collects a claim's evidence and numbers, and the test-set sampling term of claim 1.
import { CONVERGENCE_WINDOW, type StepsGroup, converged, runsWhere, thresholdFor } from "../select.ts"
import { type Interval, type TInterval, type TostResult, diffCI, mean, studentTQuantile, tost, tostOf } from "../stats.ts"
import { delongTest } from "../../ml/metrics.ts"
import { type DatasetId, type InitScheme, MODEL_NAMES, type ModelId, type ReportData, type RunResult } from "../types.ts"

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

export interface Resolved {
  readonly minSeeds: number
  readonly aucMargin: number
  readonly similarityMargin: number
  readonly minSpeedup: number
  readonly stepsMargin: number
  readonly minModels: number
  readonly slopeMargin: number
  readonly alpha: number
}

/** The options with every default filled in. */
export const resolveOptions = (o: ClaimOptions): Resolved => ({
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

export const pct = (x: number): string => (Number.isFinite(x) ? `${(100 * x).toFixed(2)}` : "n/a")
export const num = (x: number, digits = 3): string => (Number.isFinite(x) ? x.toFixed(digits) : "n/a")
export const pval = (p: number): string => (!Number.isFinite(p) ? "n/a" : p < 1e-4 ? "< 0.0001" : p.toFixed(4))
const ciOf = (ci: Interval, format: (x: number) => string): string => `[${format(ci.lo)}, ${format(ci.hi)}]`
export const ciPct = (ci: Interval): string => ciOf(ci, pct)
export const ciNum = (ci: Interval, digits = 3): string => ciOf(ci, (x) => num(x, digits))
export const name = (m: ModelId): string => MODEL_NAMES[m]
export const tostText = (t: TostResult, format: (x: number) => string): string =>
  `TOST against ±${format(t.margin)}: p = ${pval(t.p)}, 90% CI ${ciOf(t.interval, format)}`

export const SYNTHETIC_NOTE =
  "The data are SYNTHETIC stand-ins, not RETINA/CheXpert/ImageNet: this verdict checks that the pipeline computes the comparison, and says nothing about the paper's claim."

/** The runs of one side of a comparison, named for the evidence ("ResNet-50 random"). */
export interface RunGroup {
  readonly label: string
  readonly runs: readonly RunResult[]
}

/** The full-data runs of each model and init on a dataset (for the similarity figures: the Table 1 runs their activations come from). */
export const fullDataGroups = (data: ReportData, models: readonly ModelId[], dataset: DatasetId, inits: readonly InitScheme[]): RunGroup[] =>
  models.flatMap((model) => inits.map((init) => ({ label: `${MODEL_NAMES[model]} ${init}`, runs: runsWhere(data, { model, init, dataset, regime: "full" }) }))).filter((g) => g.runs.length > 0)

/** Per group: its runs, those that never reached the convergence threshold, those that recorded no curve. */
export interface GroupConvergence {
  readonly label: string
  readonly runs: number
  readonly unconverged: number
  readonly unknown: number
}

export const convergenceOf = (data: ReportData, groups: readonly RunGroup[]): GroupConvergence[] =>
  groups.map((g) => {
    const c = g.runs.map((r) => converged(data, r))
    return { label: g.label, runs: g.runs.length, unconverged: c.filter((x) => x === false).length, unknown: c.filter((x) => x === undefined).length }
  })

/** "validation referable-auc >= 0.80 (mean of 3 consecutive evaluations)", what a run must reach to count as converged. */
export const thresholdText = (data: ReportData, dataset: DatasetId): string => {
  const t = thresholdFor(data, dataset)
  return `validation ${t.metric} >= ${num(t.threshold, 2)} (mean of ${CONVERGENCE_WINDOW} consecutive evaluations)`
}

/** The convergence condition of the comparisons that need converged runs (final AUCs, the Table 1 runs' similarities), for the rules' text. */
export const convergenceRule = (data: ReportData, subject = "Each comparison"): string =>
  `${subject} rests on converged runs only, as the paper trains every run to convergence: a run has converged if its validation curve reached the profile's threshold during training (RETINA ${thresholdText(data, "retina")}; the mean over consecutive evaluations, all of them if fewer, because the best single point of a small validation split sits above the run's level); if any run a comparison rests on did not, that comparison is inconclusive whatever its numbers (printed as context), and the evidence names each model and init with how many of its seeds did not converge. Runs that recorded neither a validation curve nor steps to threshold are not checked, and the evidence says so.`

export class Builder {
  readonly evidence: string[] = []
  readonly numbers: Record<string, number> = {}
  readonly verdicts: Verdict[] = []
  /** Set while a comparison that rests on unconverged runs prints its numbers as context. */
  private withheld = false
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
    if (this.withheld) {
      this.evidence.push(`(context, not judged: unconverged runs) ${line}; the rule alone would say ${v}`)
      return
    }
    this.evidence.push(`${line} -> ${v}`)
    this.verdicts.push(v)
  }
  /**
   * A comparison of final metrics that may only be judged on converged runs. If every run of
   * `groups` reached the dataset's threshold (or recorded no curve, which the evidence then says),
   * `compare` judges as usual; otherwise `what` is judged inconclusive with each unconverged group
   * named and counted, and `compare` runs with its judgements printed as context only. Sets
   * `<prefix>/unconverged-runs` and `<prefix>/unchecked-runs` where they are not 0.
   */
  gateOnConvergence(prefix: string, what: string, data: ReportData, dataset: DatasetId, groups: readonly RunGroup[], compare: () => void): void {
    const c = convergenceOf(data, groups)
    const unconverged = c.filter((g) => g.unconverged > 0), unknown = c.reduce((s, g) => s + g.unknown, 0)
    if (unknown > 0) {
      this.set(`${prefix}/unchecked-runs`, unknown)
      this.note(`(${what}: ${unknown} of ${c.reduce((s, g) => s + g.runs, 0)} runs recorded no validation curve (nor steps to threshold); their convergence is not checked)`)
    }
    if (unconverged.length === 0) return compare()
    const n = unconverged.reduce((s, g) => s + g.unconverged, 0)
    this.set(`${prefix}/unconverged-runs`, n)
    const who = unconverged.map((g) => `${g.label} ${g.unconverged} of ${g.runs} seeds`).join(", ")
    this.judge(
      `${what}: not judged, it rests on unconverged runs: ${who} never reached ${thresholdText(data, dataset)} during training (the paper's claims are about runs trained to convergence)`,
      "inconclusive",
    )
    this.withheld = true
    try {
      compare()
    } finally {
      this.withheld = false
    }
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
  /**
   * An equivalence comparison of two groups' test AUCs, mean(a) - mean(b) in AUC points, with
   * the uncertainty the evidence allows: seed to seed (Welch) plus, where every seed pair was
   * scored on the same test images, the test-set sampling variance (aucDifference); seeds
   * only otherwise, and the line says which. Numbers: `<prefix>` and its CI and TOST, and
   * with per-image scores `<prefix>/seeds-only` and `<prefix>/test-se`.
   */
  equivalentAuc(prefix: string, line: string, a: readonly number[], b: readonly number[], runs: readonly [readonly RunResult[], readonly RunResult[]], o: Resolved): void {
    const d = aucDifference(a, b, runs[0], runs[1])
    if (!d.test) return this.equivalent(prefix, `${line} (seeds only, no per-image scores)`, a, b, o.aucMargin, o, pct)
    const t = tostOf(d.interval, o.aucMargin, o.alpha)
    this.set(prefix, d.seeds.estimate)
    this.setCI(prefix, d.interval)
    this.setCI(`${prefix}/seeds-only`, d.seeds)
    this.set(`${prefix}/test-se`, Math.sqrt(d.test.variance))
    this.setTost(prefix, t)
    this.judge(
      `${line} = ${pct(d.seeds.estimate)}, 95% CI over seeds only ${ciPct(d.seeds)}, over seeds and test-set sampling ${ciPct(d.interval)} (paired DeLong SE ${pct(Math.sqrt(d.test.variance))} pts over ${d.test.pairs} seed pairs; per-pair p ${d.test.p.map(pval).join(", ")}); ${tostText(t, pct)}`,
      equivalence(t, d.interval, o.alpha),
    )
  }
}

export const censoredNote = (...groups: StepsGroup[]): string => {
  const n = groups.reduce((s, g) => s + g.censored, 0)
  return n > 0 ? ` (${n} runs never reached the threshold; their training length is used)` : ""
}

export type Claim = Omit<ClaimResult, "synthetic">
export const retinaFull = (model: ModelId, init: InitScheme) => ({ model, init, dataset: "retina" as const, regime: "full" as const })
/** What an AUC comparison's interval covers (equivalentAuc, aucDifference), for the rules' text. */
export const AUC_UNCERTAINTY =
  "The interval covers seed-to-seed variation (Welch) and, where runs stored per-image test scores, test-set sampling too (paired DeLong variance of each seed pair's difference on the shared test images, added to the seed variance); otherwise seeds only, as the evidence says."
export const EQUIVALENCE_RULE = "equivalent (TOST at alpha = 0.05: the 90% t-interval inside the margin) -> supported; the 95% t-interval wholly outside the margin -> not supported; otherwise inconclusive"

// ---- test-set sampling ----

/**
 * The test-set sampling variance of mean(AUC a) - mean(AUC b) over seed pairs scored on the same
 * test images: DeLong's variance of each pair's paired difference, averaged over pairs (the bound
 * for pairs that are perfectly correlated, since every pair shares the one test set). Undefined
 * unless every seed has per-image scores on identical patients.
 */
export const pairedTestVariance = (a: readonly RunResult[], b: readonly RunResult[]): { variance: number; pairs: number; p: number[] } | undefined => {
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

/** mean(a) - mean(b) over seeds, and the interval once the test set's sampling error is added where it is known. */
export interface AucDifference {
  /** Seed to seed only (Welch). */
  readonly seeds: TInterval
  /** Seeds and, with `test`, test-set sampling: Welch's variance plus DeLong's, on Welch's degrees of freedom. */
  readonly interval: TInterval
  readonly test?: { readonly variance: number; readonly pairs: number; readonly p: readonly number[] }
}

export const aucDifference = (a: readonly number[], b: readonly number[], runsA: readonly RunResult[], runsB: readonly RunResult[]): AucDifference => {
  const seeds = diffCI(a, b)
  const test = pairedTestVariance(runsA, runsB)
  if (!test) return { seeds, interval: seeds }
  const se = Math.sqrt(seeds.se ** 2 + test.variance)
  const half = studentTQuantile(0.975, seeds.df) * se
  return { seeds, interval: { ...seeds, se, lo: seeds.estimate - half, hi: seeds.estimate + half }, test }
}
