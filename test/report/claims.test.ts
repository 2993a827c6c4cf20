import { test } from "uvu"
import * as assert from "uvu/assert"
import { Rng } from "../../lib/random.ts"
import { evaluateClaims, type ClaimResult } from "../../report/claims.ts"
import { converged, stepsToThreshold } from "../../report/select.ts"
import type { Figure3Entry, ModelId, PretrainedResult, ReportData, RunResult } from "../../report/types.ts"
import { data, retinaRun, risingCurve, seeds, stepRuns } from "./fixtures/report-data.ts"

const claim = (d: ReportData, key: string): ClaimResult => {
  const c = evaluateClaims(d).find((x) => x.key === key)
  if (!c) throw new Error(`no claim ${key}`)
  return c
}

test("every claim is inconclusive on empty data, and all eleven are present in order", () => {
  const all = evaluateClaims(data())
  assert.equal(all.map((c) => c.id), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11])
  for (const c of all) {
    assert.is(c.verdict, "inconclusive", c.key)
    assert.ok(c.rule.length > 40 && c.evidence.length > 0)
  }
})

test("claim 1 (transfer adds little): supported, not supported, too few seeds", () => {
  const small = data({ runs: [...seeds("resnet50", "random", [0.964, 0.9645, 0.9638]), ...seeds("resnet50", "transfer", [0.967, 0.9668, 0.9675])] })
  const c = claim(small, "transfer-adds-little")
  assert.is(c.verdict, "supported", c.evidence.join("\n"))
  assert.ok(Math.abs(c.numbers["resnet50/gain"]! - (0.96710 - 0.96410)) < 1e-9)
  const big = data({ runs: [...seeds("cbr-small", "random", [0.95, 0.951, 0.949]), ...seeds("cbr-small", "transfer", [0.99, 0.991, 0.989])] })
  assert.is(claim(big, "transfer-adds-little").verdict, "not supported")
  const one = data({ runs: [...seeds("cbr-small", "random", [0.95]), ...seeds("cbr-small", "transfer", [0.99])] })
  const c1 = claim(one, "transfer-adds-little")
  assert.is(c1.verdict, "inconclusive")
  assert.match(c1.evidence.join(" "), /too few seeds/)
})

test("claim 1 with per-image test scores: test-set sampling widens the interval (paired DeLong), a small test set cannot show equivalence", () => {
  const rng = new Rng("test-scores")
  // Each image has a difficulty shared by all runs; each run adds its own noise of size `own`.
  const scored = (init: "random" | "transfer", aucs: number[], shared: number[], own: number) =>
    seeds("resnet50", init, aucs).map((r) => {
      const labels = shared.map((_, i) => (i % 3 === 0 ? 1 : 0))
      return { ...r, testScores: { patients: labels.map((_, i) => `p${i >> 1}`), labels, scores: labels.map((y, i) => y + shared[i]! + rng.normal(0, own)) } }
    })
  const seedRuns = (images: number, own: number) => {
    const shared = Array.from({ length: images }, () => rng.normal(0, 0.8))
    return data({ runs: [...scored("random", [0.964, 0.9645, 0.9638], shared, own), ...scored("transfer", [0.967, 0.9668, 0.9675], shared, own)] })
  }
  const small = claim(seedRuns(30, 0.8), "transfer-adds-little")
  assert.is(small.verdict, "inconclusive", small.evidence.join("\n"))
  assert.ok(small.numbers["resnet50/gain/test-se"]! > 0.03, String(small.numbers["resnet50/gain/test-se"]))
  assert.ok(small.numbers["resnet50/gain/seeds-only/ci-hi"]! < 0.01, "the seeds alone would have shown equivalence")
  assert.match(small.evidence.join("\n"), /patient-resampled bootstrap CI/)
  // A large test set on which the runs rank images alike: the DeLong term is small, equivalence is shown again.
  const large = claim(seedRuns(3000, 0.05), "transfer-adds-little")
  assert.is(large.verdict, "supported", large.evidence.join("\n"))
})

test("claim 2 (small CBRs match large models)", () => {
  const runs = (smallAuc: number[]) => [...seeds("resnet50", "random", [0.964, 0.965, 0.963]), ...seeds("cbr-tiny", "random", smallAuc)]
  assert.is(claim(data({ runs: runs([0.958, 0.959, 0.957]) }), "small-matches-large").verdict, "supported")
  const c = claim(data({ runs: runs([0.90, 0.91, 0.905]) }), "small-matches-large")
  assert.is(c.verdict, "not supported")
  assert.ok(Math.abs(c.numbers["random/gap"]! - (0.964 - 0.905)) < 1e-9)
})

test("claims 2 and 9 take test-set sampling into their AUC intervals too (per-image scores, paired DeLong; 7 and 10 share the comparison)", () => {
  const rng = new Rng("test-scores/other-claims")
  const images = 30
  const shared = Array.from({ length: images }, () => rng.normal(0, 0.8))
  const labels = shared.map((_, i) => (i % 3 === 0 ? 1 : 0))
  const withScores = <R extends ReportData["runs"][number]>(r: R): R => ({
    ...r,
    testScores: { patients: labels.map((_, i) => `p${i >> 1}`), labels, scores: labels.map((y, i) => y + shared[i]! + rng.normal(0, 0.8)) },
  })
  const runs = [...seeds("resnet50", "random", [0.964, 0.965, 0.963]), ...seeds("cbr-tiny", "random", [0.962, 0.963, 0.961])]
  // Seeds alone: equivalent. With a small noisy test set: the DeLong term makes it inconclusive.
  assert.is(claim(data({ runs }), "small-matches-large").verdict, "supported")
  const c2 = claim(data({ runs: runs.map(withScores) }), "small-matches-large")
  assert.is(c2.verdict, "inconclusive", c2.evidence.join("\n"))
  assert.ok(c2.numbers["random/gap/test-se"]! > 0.03, String(c2.numbers["random/gap/test-se"]))
  assert.ok(c2.numbers["random/gap/seeds-only/ci-hi"]! < 0.01)
  assert.match(c2.evidence.join("\n"), /over seeds and test-set sampling/)
  assert.match(c2.rule, /paired DeLong/)
  // Claim 9's large-model rule reads the widened interval as well.
  const small = (model: ModelId, init: "random" | "transfer", aucs: number[]) => seeds(model, init, aucs).map((r) => ({ ...r, regime: "small-data" as const }))
  const c9 = claim(data({ runs: [...small("resnet50", "random", [0.90, 0.901, 0.899]), ...small("resnet50", "transfer", [0.95, 0.951, 0.949])].map(withScores) }), "transfer-helps-large-small-data")
  assert.ok(c9.numbers["resnet50/gain/ci-lo"]! < 0.95 - 0.9 - 0.05, `interval ${c9.numbers["resnet50/gain/ci-lo"]}..${c9.numbers["resnet50/gain/ci-hi"]}`)
  assert.match(c9.evidence.join("\n"), /over seeds and test-set sampling/)
})

const imagenet = (model: ModelId, top5: number): PretrainedResult => ({ model, seed: 1, top1: top5 - 0.2, top5, origin: "trained", dataSource: "real" })
const TOP5: Array<[ModelId, number]> = [["resnet50", 0.92], ["inception-v3", 0.939], ["cbr-larget", 0.775], ["cbr-largew", 0.751], ["cbr-small", 0.676], ["cbr-tiny", 0.735]]

test("claim 3 (ImageNet accuracy does not predict): paper's Table 1 supported; steep dependence not supported; 4 models inconclusive", () => {
  const paperAuc = [0.967, 0.967, 0.962, 0.958, 0.958, 0.958]
  const paper = data({
    pretrained: TOP5.map(([m, t]) => imagenet(m, t)),
    runs: TOP5.flatMap(([m], i) => seeds(m, "transfer", [paperAuc[i]!, paperAuc[i]! + 0.0005])),
  })
  const c = claim(paper, "imagenet-does-not-predict")
  assert.is(c.verdict, "supported", c.evidence.join("\n"))
  assert.ok(c.numbers["spearman-rho"]! > 0.9, "ranks do agree in the paper's table; the small spread decides")
  const steep = data({
    pretrained: TOP5.map(([m, t]) => imagenet(m, t)),
    runs: TOP5.flatMap(([m, t]) => seeds(m, "transfer", [0.5 + 0.5 * t, 0.5 + 0.5 * t + 0.001])),
  })
  assert.is(claim(steep, "imagenet-does-not-predict").verdict, "not supported")
  const four = data({ pretrained: TOP5.slice(0, 4).map(([m, t]) => imagenet(m, t)), runs: TOP5.slice(0, 4).flatMap(([m, t]) => seeds(m, "transfer", [t, t])) })
  assert.is(claim(four, "imagenet-does-not-predict").verdict, "inconclusive")
})

/** The runs with a validation curve that reaches the fixture's threshold (0.91, first at step 1200), or one that stays below it for its 3,000 steps. */
const withCurves = (runs: RunResult[], reaches: boolean): RunResult[] =>
  runs.map((r) => ({ ...r, curves: { "referable-auc": reaches ? risingCurve(1200, 0.91) : risingCurve(5000, 0.91, 3000) } }))
const evidenceOf = (c: ClaimResult): string => c.evidence.join("\n")

test("claims 1 and 2: a comparison that rests on unconverged runs is inconclusive, naming the model, init and seeds; converged, the verdict stands", () => {
  // Claim 1, not supported when converged (a 4-point gain).
  const random = seeds("cbr-small", "random", [0.95, 0.951, 0.949]), transfer = seeds("cbr-small", "transfer", [0.99, 0.991, 0.989])
  const ok = claim(data({ runs: [...withCurves(random, true), ...withCurves(transfer, true)] }), "transfer-adds-little")
  assert.is(ok.verdict, "not supported", evidenceOf(ok))
  assert.not.match(evidenceOf(ok), /unconverged|no validation curve/)
  const c1 = claim(data({ runs: [...withCurves(random.slice(0, 1), false), ...withCurves(random.slice(1), true), ...withCurves(transfer, true)] }), "transfer-adds-little")
  assert.is(c1.verdict, "inconclusive", evidenceOf(c1))
  assert.match(evidenceOf(c1), /CBR-Small RETINA: not judged, it rests on unconverged runs: CBR-Small random 1 of 3 seeds never reached validation referable-auc >= 0\.91 \(mean of 3 consecutive evaluations\) during training \(the paper's claims are about runs trained to convergence/)
  assert.not.match(evidenceOf(c1), /CBR-Small transfer \d of/)
  // The numbers are still printed, as context, with what the rule alone would say.
  assert.match(evidenceOf(c1), /\(context, not judged: unconverged runs\) CBR-Small RETINA .*; the rule alone would say not supported/)
  assert.is(c1.numbers["cbr-small/gain/unconverged-runs"], 1)
  assert.match(c1.rule, /converged runs only.*RETINA validation referable-auc >= 0\.91/)
  // Supported when converged (a 0.3-point gain); unconverged transfer runs make it inconclusive too.
  const r2 = seeds("resnet50", "random", [0.964, 0.9645, 0.9638]), t2 = seeds("resnet50", "transfer", [0.967, 0.9668, 0.9675])
  assert.is(claim(data({ runs: [...withCurves(r2, true), ...withCurves(t2, true)] }), "transfer-adds-little").verdict, "supported")
  const c1b = claim(data({ runs: [...withCurves(r2, true), ...withCurves(t2, false)] }), "transfer-adds-little")
  assert.is(c1b.verdict, "inconclusive")
  assert.match(evidenceOf(c1b), /ResNet-50 transfer 3 of 3 seeds never reached/)
  // Runs without a curve are not checked, and the evidence says so.
  const c1c = claim(data({ runs: [...r2, ...withCurves(t2, true)] }), "transfer-adds-little")
  assert.is(c1c.verdict, "supported")
  assert.match(evidenceOf(c1c), /ResNet-50 RETINA: 3 of 6 runs recorded no validation curve \(nor steps to threshold\); their convergence is not checked/)

  // Claim 2: the best of each group rests on all its candidates, so an unconverged runner-up counts too.
  const runs2 = (inceptionReaches: boolean) => [
    ...withCurves(seeds("resnet50", "random", [0.964, 0.965, 0.963]), true),
    ...withCurves(seeds("inception-v3", "random", [0.80, 0.81, 0.79]), inceptionReaches),
    ...withCurves(seeds("cbr-tiny", "random", [0.90, 0.91, 0.905]), true),
  ]
  assert.is(claim(data({ runs: runs2(true) }), "small-matches-large").verdict, "not supported")
  const c2 = claim(data({ runs: runs2(false) }), "small-matches-large")
  assert.is(c2.verdict, "inconclusive", evidenceOf(c2))
  assert.match(evidenceOf(c2), /random init: not judged, it rests on unconverged runs: Inception-v3 random 3 of 3 seeds never reached/)
  assert.match(c2.rule, /every candidate's runs must have converged/)
})

test("claims 3, 9 and the AUC halves of 7 and 10: unconverged runs make the comparison inconclusive; converged, the verdict stands", () => {
  // Claim 3: a steep dependence is not supported; with ResNet-50's transfer runs unconverged the fit is not judged.
  const steep = (resnetReaches: boolean) =>
    data({
      pretrained: TOP5.map(([m, t]) => imagenet(m, t)),
      runs: TOP5.flatMap(([m, t]) => withCurves(seeds(m, "transfer", [0.5 + 0.5 * t, 0.5 + 0.5 * t + 0.001]), m !== "resnet50" || resnetReaches)),
    })
  assert.is(claim(steep(true), "imagenet-does-not-predict").verdict, "not supported")
  const c3 = claim(steep(false), "imagenet-does-not-predict")
  assert.is(c3.verdict, "inconclusive", evidenceOf(c3))
  assert.match(evidenceOf(c3), /the fit across models: not judged, it rests on unconverged runs: ResNet-50 transfer 2 of 2 seeds never reached/)
  assert.match(evidenceOf(c3), /the same rule on the paper's Table 1 numbers/)

  // Claim 9: supported converged; unconverged small-data random runs of ResNet-50 make it inconclusive.
  const small = (resnetReaches: boolean) =>
    data({
      runs: [
        ...withCurves(seeds("resnet50", "random", [0.9, 0.905, 0.895], { regime: "small-data" }), resnetReaches),
        ...withCurves(seeds("resnet50", "transfer", [0.94, 0.945, 0.935], { regime: "small-data" }), true),
        ...withCurves(seeds("cbr-larget", "random", [0.93, 0.931, 0.929], { regime: "small-data" }), true),
        ...withCurves(seeds("cbr-larget", "transfer", [0.931, 0.932, 0.930], { regime: "small-data" }), true),
      ],
    })
  assert.is(claim(small(true), "transfer-helps-large-small-data").verdict, "supported")
  const c9 = claim(small(false), "transfer-helps-large-small-data")
  assert.is(c9.verdict, "inconclusive", evidenceOf(c9))
  assert.match(evidenceOf(c9), /ResNet-50 small data: not judged, it rests on unconverged runs: ResNet-50 small-data random 3 of 3 seeds never reached/)
  assert.match(evidenceOf(c9), /CBR-LargeT small data: transfer - random AUC pts .* -> supported/)

  // Claim 10: full transfer censored at 300 steps (its steps to threshold unchanged), so only the AUC half changes.
  const slim = (referenceReaches: boolean) =>
    data({
      runs: [
        ...stepRuns("resnet50", "transfer", [300, 300, 300], [0.95, 0.951, 0.949]).map((r) => (referenceReaches ? r : { ...r, stepsToThreshold: null, trainedSteps: 300 })),
        ...stepRuns("resnet50-slim", "transfusion-block2", [305, 300, 295], [0.95, 0.9505, 0.9495]),
      ],
    })
  assert.is(claim(slim(true), "slim-matches-transfer").verdict, "supported")
  const c10 = claim(slim(false), "slim-matches-transfer")
  assert.is(c10.verdict, "inconclusive", evidenceOf(c10))
  assert.match(evidenceOf(c10), /Slim ResNet-50 \(pretrained to block2\): steps to threshold .* -> supported/)
  assert.match(evidenceOf(c10), /Slim ResNet-50 \(pretrained to block2\) final AUC: not judged, it rests on unconverged runs: ResNet-50 full transfer 3 of 3 seeds never reached/)

  // Claim 7: the same gate on its final AUCs.
  const gabor = (reaches: boolean) =>
    data({
      runs: [
        ...stepRuns("cbr-largew", "transfusion-conv1", [1000, 1050, 950], [0.95, 0.951, 0.949]),
        ...stepRuns("cbr-largew", "gabor-conv1", [1010, 1040, 960], [0.95, 0.9505, 0.9495]).map((r) => (reaches ? r : { ...r, stepsToThreshold: null, trainedSteps: r.stepsToThreshold! })),
      ],
    })
  assert.is(claim(gabor(true), "gabor-matches-pretrained-conv1").verdict, "supported")
  const c7 = claim(gabor(false), "gabor-matches-pretrained-conv1")
  assert.is(c7.verdict, "inconclusive")
  assert.match(evidenceOf(c7), /CBR-LargeW Gabor conv1 3 of 3 seeds never reached/)
})

const fig3 = (model: ModelId, layers: Array<[number[], number[]]>): Figure3Entry => ({
  model,
  dataset: "retina",
  layers: layers.map(([randomInit, pretrainedInit], i) => ({ layer: `layer${i}`, randomInit, pretrainedInit })),
})
const sim = (figure3: Figure3Entry[]): ReportData => data({ similarity: { measure: "pwcca", figure2: [], figure3, figure4: [] } })

test("claim 4 (large models change less in the lowest layer)", () => {
  const hi: [number[], number[]] = [[0.9, 0.91, 0.92], [0.95, 0.96, 0.97]]
  const lo: [number[], number[]] = [[0.5, 0.52, 0.51], [0.6, 0.61, 0.62]]
  assert.is(claim(sim([fig3("resnet50", [hi]), fig3("cbr-small", [lo])]), "large-change-less").verdict, "supported")
  assert.is(claim(sim([fig3("resnet50", [lo]), fig3("cbr-small", [hi])]), "large-change-less").verdict, "not supported")
})

test("claim 5 (feature reuse confined to the lowest layers), from Figure 3 and from Figure 7", () => {
  const gap = (g: number): [number[], number[]] => [[0.5, 0.51, 0.49], [0.5 + g, 0.51 + g, 0.49 + g]]
  assert.is(claim(sim([fig3("resnet50", [gap(0.3), gap(0.2), gap(0), gap(0)])]), "reuse-lowest-layers").verdict, "supported")
  const c = claim(sim([fig3("resnet50", [gap(0.3), gap(0.2), gap(0), gap(0.25)])]), "reuse-lowest-layers")
  assert.is(c.verdict, "not supported")
  assert.ok(Math.abs(c.numbers["resnet50/retina/layer3/gap"]! - 0.25) < 1e-9)
  assert.is(claim(sim([fig3("resnet50", [gap(0), gap(0), gap(0)])]), "reuse-lowest-layers").verdict, "inconclusive")
  const fig7 = (block1: number[]) =>
    data({ runs: [...stepRuns("resnet50", "random", [1000, 1100, 900]), ...stepRuns("resnet50", "transfusion-block1", block1), ...stepRuns("resnet50", "transfer", [300, 310, 290])] })
  const s = claim(fig7([400, 420, 380]), "reuse-lowest-layers")
  assert.is(s.verdict, "supported", s.evidence.join("\n"))
  assert.ok(Math.abs(s.numbers["figure7/share-up-to-block1"]! - 600 / 700) < 1e-9)
  assert.is(claim(fig7([900, 920, 880]), "reuse-lowest-layers").verdict, "not supported")
})

test("claims 4, 5 and 8: similarities of unconverged Table 1 runs are not judged; the same runs converged keep the verdict", () => {
  // The similarity figures come from the Table 1 runs: a network stopped early has moved less from its init.
  const table1 = (model: ModelId, init: "random" | "transfer", reaches: boolean) => withCurves(seeds(model, init, [0.9, 0.91, 0.92]), reaches)
  const hi: [number[], number[]] = [[0.9, 0.91, 0.92], [0.95, 0.96, 0.97]]
  const lo: [number[], number[]] = [[0.5, 0.52, 0.51], [0.6, 0.61, 0.62]]
  const four = (reaches: boolean) => ({ ...sim([fig3("resnet50", [hi]), fig3("cbr-small", [lo])]), runs: [...table1("resnet50", "random", reaches), ...table1("cbr-small", "random", true)] })
  assert.is(claim(four(true), "large-change-less").verdict, "supported")
  const c4 = claim(four(false), "large-change-less")
  assert.is(c4.verdict, "inconclusive", evidenceOf(c4))
  assert.match(evidenceOf(c4), /retina lowest layer: not judged, it rests on unconverged runs: ResNet-50 random 3 of 3 seeds never reached/)
  assert.match(c4.rule, /converged runs only/)

  const gap = (g: number): [number[], number[]] => [[0.5, 0.51, 0.49], [0.5 + g, 0.51 + g, 0.49 + g]]
  const five = (reaches: boolean) => ({ ...sim([fig3("resnet50", [gap(0.3), gap(0.2), gap(0), gap(0)])]), runs: [...table1("resnet50", "random", true), ...table1("resnet50", "transfer", reaches)] })
  assert.is(claim(five(true), "reuse-lowest-layers").verdict, "supported")
  const c5 = claim(five(false), "reuse-lowest-layers")
  assert.is(c5.verdict, "inconclusive", evidenceOf(c5))
  assert.match(evidenceOf(c5), /ResNet-50 retina Figure 3: not judged, it rests on unconverged runs: ResNet-50 transfer 3 of 3 seeds never reached/)

  const fig2 = (model: ModelId, rvr: number[], pvr: number[]) => ({ model, dataset: "retina" as const, layers: ["a", "b"], randomVsRandom: rvr, pretrainedVsRandom: pvr })
  const eight = (reaches: boolean) =>
    data({
      similarity: { measure: "svcca", figure2: [fig2("resnet50", [0.8, 0.81, 0.79], [0.5, 0.51, 0.49]), fig2("cbr-small", [0.8, 0.81, 0.79], [0.78, 0.79, 0.77])], figure3: [], figure4: [] },
      runs: [...table1("resnet50", "random", true), ...table1("resnet50", "transfer", true), ...table1("cbr-small", "random", true), ...table1("cbr-small", "transfer", reaches)],
    })
  assert.is(claim(eight(true), "large-representations-differ").verdict, "supported")
  const c8 = claim(eight(false), "large-representations-differ")
  assert.is(c8.verdict, "inconclusive", evidenceOf(c8))
  assert.match(evidenceOf(c8), /retina Figure 2: not judged, it rests on unconverged runs: CBR-Small transfer 3 of 3 seeds never reached/)
})

test("converged: the mean of 3 consecutive validation evaluations reaches the threshold; one noisy spike does not", () => {
  const d = data()
  const run = (values: number[]) => retinaRun("resnet50", "random", 1, 0.8, { curve: values.map((value, i) => ({ step: 10 * (i + 1), value })) })
  // A single point at 0.93 among 0.85s: it reaches the threshold (steps to threshold 30), but the run has not converged.
  assert.equal(stepsToThreshold(d, run([0.85, 0.86, 0.93, 0.85, 0.86, 0.85])), { steps: 30, censored: false })
  assert.is(converged(d, run([0.85, 0.86, 0.93, 0.85, 0.86, 0.85])), false)
  assert.is(converged(d, run([0.85, 0.86, 0.90, 0.91, 0.92, 0.88])), true)
  // Fewer evaluations than the window: all of them.
  assert.is(converged(d, run([0.90, 0.93])), true)
  assert.is(converged(d, run([0.85, 0.93])), false)
  // Without a curve: the given steps to threshold (null = never reached), else unknown.
  assert.is(converged(d, retinaRun("resnet50", "random", 1, 0.9, { steps: 700 })), true)
  assert.is(converged(d, retinaRun("resnet50", "random", 1, 0.9, { steps: null, trainedSteps: 4000 })), false)
  assert.is(converged(d, retinaRun("resnet50", "random", 1, 0.9)), undefined)
})

test("steps to threshold: given, derived from the curve, and censored", () => {
  const d = data()
  assert.equal(stepsToThreshold(d, retinaRun("resnet50", "random", 1, 0.9, { steps: 700 })), { steps: 700, censored: false })
  assert.equal(stepsToThreshold(d, retinaRun("resnet50", "random", 1, 0.9, { curve: risingCurve(1200, 0.91) })), { steps: 1200, censored: false })
  assert.equal(stepsToThreshold(d, retinaRun("resnet50", "random", 1, 0.9, { curve: risingCurve(5000, 0.91, 3000) })), { steps: 3000, censored: true })
  assert.equal(stepsToThreshold(d, retinaRun("resnet50", "random", 1, 0.9, { steps: null, trainedSteps: 4000 })), { steps: 4000, censored: true })
  assert.is(stepsToThreshold(d, retinaRun("resnet50", "random", 1, 0.9)), undefined)
})

test("claim 6 (Mean Var speeds convergence), steps derived from validation curves", () => {
  const curves = (model: ModelId, init: "random" | "mean-var", cross: number[]) =>
    cross.map((x, i) => retinaRun(model, init, i + 1, 0.95, { curve: risingCurve(x, 0.91) }))
  const fast = data({ runs: [...curves("resnet50", "random", [1500, 1600, 1400]), ...curves("resnet50", "mean-var", [700, 800, 600])] })
  const c = claim(fast, "mean-var-speeds-convergence")
  assert.is(c.verdict, "supported", c.evidence.join("\n"))
  assert.ok(Math.abs(c.numbers["resnet50/retina/ratio"]! - 700 / 1500) < 1e-9)
  const slower = data({ runs: [...curves("resnet50", "random", [1500, 1600, 1400]), ...curves("resnet50", "mean-var", [1700, 1800, 1600])] })
  assert.is(claim(slower, "mean-var-speeds-convergence").verdict, "not supported")
  // No difference, but three noisy seeds cannot rule out a 10% saving: the t-interval is wide.
  const same = data({ runs: [...curves("resnet50", "random", [1500, 1600, 1400]), ...curves("resnet50", "mean-var", [1500, 1500, 1500])] })
  assert.is(claim(same, "mean-var-speeds-convergence").verdict, "inconclusive")
})

test("claim 7 (Gabor conv1 matches pretrained conv1)", () => {
  const runs = (gabor: number[]) => [
    ...stepRuns("cbr-largew", "transfusion-conv1", [1000, 1050, 950], [0.95, 0.951, 0.949]),
    ...stepRuns("cbr-largew", "gabor-conv1", gabor, [0.95, 0.9505, 0.9495]),
  ]
  const c = claim(data({ runs: runs([1010, 1040, 960]) }), "gabor-matches-pretrained-conv1")
  assert.is(c.verdict, "supported", c.evidence.join("\n"))
  assert.is(claim(data({ runs: runs([2000, 2100, 1900]) }), "gabor-matches-pretrained-conv1").verdict, "not supported")
})

test("a synthetic data source is stated in every verdict", () => {
  const d = data({ runs: seeds("resnet50", "random", [0.9, 0.91], { dataSource: "synthetic" }) })
  for (const c of evaluateClaims(d)) {
    assert.is(c.synthetic, true)
    assert.match(c.evidence[0]!, /SYNTHETIC/)
  }
  for (const c of evaluateClaims(data())) assert.not.match(c.evidence.join(" "), /SYNTHETIC/)
})

test("calibration: the paper's own Table 1 (three seeds rebuilt as mean, mean ± std) supports claims 1 and 3; claim 2 only with transfer", async () => {
  const { PAPER_TABLE1 } = await import("../../report/paper.ts")
  const rebuilt = (v: { value: number; pm: number | null }) => [-1, 0, 1].map((k) => (v.value + k * (v.pm ?? 0)) / 100)
  const d = data({
    runs: PAPER_TABLE1.flatMap((r) => [...seeds(r.model, "random", rebuilt(r.random)), ...seeds(r.model, "transfer", rebuilt(r.transfer))]),
    pretrained: PAPER_TABLE1.map((r) => imagenet(r.model, r.imagenetTop5.value / 100)),
  })
  const all = evaluateClaims(d)
  for (const key of ["transfer-adds-little", "imagenet-does-not-predict"]) {
    const c = all.find((x) => x.key === key)!
    assert.is(c.verdict, "supported", `${key}:\n${c.evidence.join("\n")}`)
  }
  // Random init: Inception-v3 96.6 ± 0.13 vs CBR-Tiny 95.8 ± 0.03 is a 0.8-point gap whose 90% interval
  // reaches 1.01 pts with three seeds, so equivalence within 1 pt is not shown (TOST p = 0.055).
  const c2 = all.find((x) => x.key === "small-matches-large")!
  assert.is(c2.verdict, "inconclusive", c2.evidence.join("\n"))
  assert.match(c2.evidence.find((e) => e.startsWith("random"))!, /-> inconclusive$/)
  assert.match(c2.evidence.find((e) => e.startsWith("transfer"))!, /-> supported$/)
  // Claim 3 prints its rule applied to the paper's numbers, whatever the data.
  const c3 = all.find((x) => x.key === "imagenet-does-not-predict")!
  assert.ok(Math.abs(c3.numbers["paper/slope-per-10"]! - c3.numbers["slope-per-10"]!) < 1e-9, "same numbers, same slope")
})

test("claims 8-11 (Figure 2, Table 3, Slim, conv1's marginal speed-up): supported and not supported", () => {
  const fig2 = (model: ModelId, rvr: number[], pvr: number[]) => ({ model, dataset: "retina" as const, layers: ["a", "b"], randomVsRandom: rvr, pretrainedVsRandom: pvr })
  const sim2 = (large: number, cbr: number) =>
    data({ similarity: { measure: "svcca", figure2: [fig2("resnet50", [0.8, 0.81, 0.79], [0.8 - large, 0.81 - large, 0.79 - large]), fig2("cbr-small", [0.8, 0.81, 0.79], [0.8 - cbr, 0.81 - cbr, 0.79 - cbr])], figure3: [], figure4: [] } })
  assert.is(claim(sim2(0.3, 0.02), "large-representations-differ").verdict, "supported")
  assert.is(claim(sim2(0.0, 0.0), "large-representations-differ").verdict, "not supported")
  const small = (gain: number, cbrGain: number) =>
    data({
      runs: [
        ...seeds("resnet50", "random", [0.9, 0.905, 0.895], { regime: "small-data" }),
        ...seeds("resnet50", "transfer", [0.9 + gain, 0.905 + gain, 0.895 + gain], { regime: "small-data" }),
        ...seeds("cbr-larget", "random", [0.93, 0.931, 0.929], { regime: "small-data" }),
        ...seeds("cbr-larget", "transfer", [0.93 + cbrGain, 0.931 + cbrGain, 0.929 + cbrGain], { regime: "small-data" }),
      ],
    })
  const s9 = claim(small(0.04, 0.001), "transfer-helps-large-small-data")
  assert.is(s9.verdict, "supported", s9.evidence.join("\n"))
  assert.is(claim(small(0.04, 0.05), "transfer-helps-large-small-data").verdict, "not supported")
  const slim = (steps: number[], auc: number[]) =>
    data({ runs: [...stepRuns("resnet50", "transfer", [300, 310, 290], [0.95, 0.951, 0.949]), ...stepRuns("resnet50-slim", "transfusion-block2", steps, auc)] })
  const s10 = claim(slim([305, 300, 295], [0.95, 0.9505, 0.9495]), "slim-matches-transfer")
  assert.is(s10.verdict, "supported", s10.evidence.join("\n"))
  assert.is(claim(slim([900, 910, 890], [0.95, 0.9505, 0.9495]), "slim-matches-transfer").verdict, "not supported")
  const sweep = (conv1: number[]) =>
    data({
      runs: [
        ...stepRuns("resnet50", "random", [1000, 1010, 990]),
        ...stepRuns("resnet50", "transfusion-conv1", conv1),
        ...stepRuns("resnet50", "transfusion-block1", [400, 405, 395]),
        ...stepRuns("resnet50", "transfusion-block2", [350, 355, 345]),
        ...stepRuns("resnet50", "transfusion-block3", [330, 335, 325]),
        ...stepRuns("resnet50", "transfusion-block4", [320, 325, 315]),
      ],
    })
  const s11 = claim(sweep([500, 505, 495]), "conv1-largest-marginal-speedup")
  assert.is(s11.verdict, "supported", s11.evidence.join("\n"))
  assert.ok(Math.abs(s11.numbers["conv1-minus-block1"]! - (500 - 100)) < 1e-9)
  // conv1 saves 50 steps, block1 then saves 550: not the largest.
  assert.is(claim(sweep([950, 955, 945]), "conv1-largest-marginal-speedup").verdict, "not supported")
})

test.run()
