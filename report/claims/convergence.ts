// The claims about convergence speed (report/claims.ts states the rule shapes): 6, Mean
// Var speeds convergence; 7 and 10, a hybrid (Gabor conv1, Slim ResNet-50) matches its
// reference; 11, conv1 gives the largest marginal speed-up (Figure 7).
import { metricBySeed, runsWhere, stepsBySeed } from "../select.ts"
import { contrastCI, diffCI, holmAdjust, mean, pAbove } from "../stats.ts"
import { type InitScheme, MODEL_IDS, type ReportData, TRANSFUSION_PREFIXES } from "../types.ts"
import { AUC_UNCERTAINTY, Builder, type Claim, EQUIVALENCE_RULE, type Resolved, type Verdict, censoredNote, ciNum, combineVerdicts, convergenceRule, meaningfulPositive, name, num, pct, pval, retinaFull } from "./rules.ts"

// ---- Claim 6: Mean Var speeds convergence ----

export const claimMeanVarSpeedsUp = (data: ReportData, o: Resolved): Claim => {
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
  const runs = [runsWhere(data, hybrid), runsWhere(data, reference)] as const
  b.gateOnConvergence(`${prefix}/auc-diff`, `${who} final AUC`, data, "retina", [{ label: who, runs: runs[0] }, { label: `${name(reference.model)} ${refName}`, runs: runs[1] }], () =>
    b.equivalentAuc(`${prefix}/auc-diff`, `${who}: final AUC - ${refName}, pts`, ha, ra, runs, o),
  )
}

export const claimGaborMatches = (data: ReportData, o: Resolved): Claim => {
  const b = new Builder("gabor-matches-pretrained-conv1")
  for (const model of MODEL_IDS) {
    judgeMatch(b, data, o, `${name(model)} Gabor conv1`, model, retinaFull(model, "gabor-conv1"), retinaFull(model, "transfusion-conv1"), "pretrained conv1")
  }
  return {
    id: 7,
    key: b.key,
    claim: "Synthetic Gabor filters in conv1 have the same effect as pretrained conv1 weights.",
    source: "Section 5, Figure 8",
    rule: `Per model on RETINA, Gabor conv1 vs pretrained conv1 (transfusion up to conv1): the difference in mean steps-to-threshold with margin ±${num(100 * o.stepsMargin, 0)}% of pretrained conv1's steps, and the final AUC difference with margin ±${pct(o.aucMargin)} pts, Welch t-intervals over seeds: ${EQUIVALENCE_RULE}. ${AUC_UNCERTAINTY.replace("The interval", "The AUC interval")} ${convergenceRule(data, "The final AUC comparison")} Supported if all comparisons are equivalent.`,
    verdict: combineVerdicts(b.verdicts),
    evidence: b.evidence,
    numbers: b.numbers,
  }
}

// ---- Claim 10: Slim ResNet-50 matches full transfer (Figure 8) ----

export const claimSlimMatches = (data: ReportData, o: Resolved): Claim => {
  const b = new Builder("slim-matches-transfer")
  judgeMatch(b, data, o, "Slim ResNet-50 (pretrained to block2)", "resnet50-slim", retinaFull("resnet50-slim", "transfusion-block2"), retinaFull("resnet50", "transfer"), "full transfer")
  return {
    id: 10,
    key: b.key,
    claim: "Reusing pretrained weights up to block2 and slimming the rest (Slim ResNet-50) matches full transfer in convergence and performance.",
    source: "Section 5, Figure 8",
    rule: `RETINA, Slim ResNet-50 vs ResNet-50 full transfer: steps-to-threshold difference with margin ±${num(100 * o.stepsMargin, 0)}% of full transfer's steps, final AUC difference with margin ±${pct(o.aucMargin)} pts, Welch t-intervals over seeds: ${EQUIVALENCE_RULE}. ${AUC_UNCERTAINTY.replace("The interval", "The AUC interval")} ${convergenceRule(data, "The final AUC comparison")} Supported if both are equivalent.`,
    verdict: combineVerdicts(b.verdicts),
    evidence: b.evidence,
    numbers: b.numbers,
  }
}

// ---- Claim 11: conv1 gives the largest marginal speed-up (Figure 7) ----

export const claimConv1LargestSpeedup = (data: ReportData, o: Resolved): Claim => {
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
