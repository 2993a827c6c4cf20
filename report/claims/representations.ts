// The claims about representations (report/claims.ts states the rule shapes): 4, large
// models change less in lower layers; 5, feature reuse is confined to the lowest layers;
// 8, pretrained and random representations differ more in large models (Figure 2).
import { stepsBySeed } from "../select.ts"
import { contrastCI, correlationCI, diffCI, holmAdjust, mean, welchTTest } from "../stats.ts"
import { CBR_MODELS, type DatasetId, LARGE_MODELS, type ModelId, type ReportData } from "../types.ts"
import { Builder, type Claim, type Resolved, type Verdict, censoredNote, ciNum, combineVerdicts, convergenceRule, fullDataGroups, meaningfulPositive, name, num, pval, retinaFull } from "./rules.ts"

// ---- Claim 4: large models change less in lower layers ----

export const claimLargeChangeLess = (data: ReportData, o: Resolved): Claim => {
  const b = new Builder("large-change-less")
  const fig3 = data.similarity?.figure3 ?? []
  const datasets = [...new Set(fig3.map((e) => e.dataset))] as DatasetId[]
  for (const dataset of datasets) {
    const lowest = (models: readonly ModelId[]): number[] =>
      fig3.filter((e) => e.dataset === dataset && models.includes(e.model) && e.layers.length > 0).flatMap((e) => [...e.layers[0]!.randomInit])
    const large = lowest(LARGE_MODELS), small = lowest(CBR_MODELS)
    if (large.length === 0 || small.length === 0) continue
    if (b.tooFew(`${dataset} lowest layer`, [large.length, small.length], o.minSeeds)) continue
    // A network stopped early has moved less from its initialisation, so the comparison needs converged runs.
    const models = [...new Set(fig3.filter((e) => e.dataset === dataset).map((e) => e.model))]
    b.gateOnConvergence(`${dataset}/diff`, `${dataset} lowest layer`, data, dataset, fullDataGroups(data, models, dataset, ["random"]), () => {
      const ci = diffCI(large, small)
      b.set(`${dataset}/large-lowest`, mean(large))
      b.set(`${dataset}/cbr-lowest`, mean(small))
      b.set(`${dataset}/diff`, ci.estimate)
      b.setCI(`${dataset}/diff`, ci)
      b.judge(
        `${dataset}: lowest-layer similarity to own random init after training, large ${num(mean(large))} vs CBR ${num(mean(small))}, difference ${num(ci.estimate)}, 95% CI ${ciNum(ci)}`,
        meaningfulPositive(ci.estimate, ci, o.similarityMargin),
      )
    })
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
    rule: `Per dataset, compare the lowest layer's similarity to its own (random) initialisation after training, pooled over seeds: large models (ResNet-50, Inception-v3) minus CBRs, 95% Welch t-interval. Supported if the interval's lower end is above 0 and the difference is at least ${num(o.similarityMargin, 2)}; not supported if its upper end is below ${num(o.similarityMargin, 2)}; otherwise inconclusive. ${convergenceRule(data, "The comparison (of the Table 1 random-init runs)")} Figure 4 correlations (with their intervals) are listed for context.`,
    verdict: combineVerdicts(b.verdicts),
    evidence: b.evidence,
    numbers: b.numbers,
  }
}

// ---- Claim 5: feature reuse is confined to the lowest layers ----

export const claimReuseLowest = (data: ReportData, o: Resolved): Claim => {
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
    b.gateOnConvergence(`${e.model}/${e.dataset}`, `${name(e.model)} ${e.dataset} Figure 3`, data, e.dataset, fullDataGroups(data, [e.model], e.dataset, ["random", "transfer"]), () =>
      b.judge(`${name(e.model)} ${e.dataset}: pretrained - random similarity to init per layer: ${gaps}; clear reuse at ${reuse.length === 0 ? "no layer" : reuse.map((t) => t.layer).join(", ")}`, v),
    )
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
    rule: `Figure 3, per model with at least 3 layers: a layer shows reuse when its similarity to initialisation is higher after pretrained than after random init: one-sided Welch test, Holm-corrected over every layer of every model (adjusted p < ${o.alpha}), and a gap of at least ${num(o.similarityMargin, 2)}. Supported if reuse appears and only in the lowest two layers; not supported if any higher layer shows it; inconclusive if no layer does. ${convergenceRule(data, "Each model's Figure 3 verdict (of its Table 1 runs)")} Figure 7 (ResNet-50): the share of full transfer's speedup in steps-to-threshold already obtained by transfusing up to block1 is at least 1/2 exactly when (random + transfer)/2 - block1 >= 0; supported if that contrast's 95% Welch interval lies above 0, not supported if below 0.`,
    verdict: combineVerdicts(b.verdicts),
    evidence: b.evidence,
    numbers: b.numbers,
  }
}

// ---- Claim 8: pretrained and random representations differ more in large models (Figure 2) ----

export const claimLargeRepresentationsDiffer = (data: ReportData, o: Resolved): Claim => {
  const b = new Builder("large-representations-differ")
  const fig2 = data.similarity?.figure2 ?? []
  for (const dataset of [...new Set(fig2.map((e) => e.dataset))] as DatasetId[]) {
    const pooled = (models: readonly ModelId[], side: "randomVsRandom" | "pretrainedVsRandom"): number[] =>
      fig2.filter((e) => e.dataset === dataset && models.includes(e.model)).flatMap((e) => [...e[side]])
    const lr = pooled(LARGE_MODELS, "randomVsRandom"), lp = pooled(LARGE_MODELS, "pretrainedVsRandom")
    const cr = pooled(CBR_MODELS, "randomVsRandom"), cp = pooled(CBR_MODELS, "pretrainedVsRandom")
    if (lr.length + lp.length === 0 || cr.length + cp.length === 0) continue
    if (b.tooFew(`${dataset} Figure 2 pairs`, [lr.length, lp.length, cr.length, cp.length], o.minSeeds)) continue
    const models = [...new Set(fig2.filter((e) => e.dataset === dataset).map((e) => e.model))]
    b.gateOnConvergence(`${dataset}/large-gap`, `${dataset} Figure 2`, data, dataset, fullDataGroups(data, models, dataset, ["random", "transfer"]), () => {
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
    })
  }
  return {
    id: 8,
    key: b.key,
    claim: "For large models, representations learned from pretrained weights differ from those learned from random initialisation more than two random initialisations differ; less so for small models.",
    source: "Section 4, Figure 2",
    rule: `Per dataset, top-two-layer similarity pooled over pairs: the gap random-vs-random - pretrained-vs-random for the large models, and that gap minus the CBRs' gap, 95% Welch t-intervals. Each is supported if its lower end is above 0 and it is at least ${num(o.similarityMargin, 2)}; not supported if its upper end is below ${num(o.similarityMargin, 2)}; otherwise inconclusive. Pairs share networks, so the intervals are somewhat narrower than independent pairs would give. ${convergenceRule(data, "The comparison (of the Table 1 runs)")}`,
    verdict: combineVerdicts(b.verdicts),
    evidence: b.evidence,
    numbers: b.numbers,
  }
}
