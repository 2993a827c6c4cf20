// Checks on user-supplied ReportData: what would silently corrupt the report is refused
// with every problem listed (run ids, AUC units, curve order, duplicate entries).
import { MODEL_IDS, type ReportData } from "../types.ts"

export class ReportDataError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`ReportData has ${problems.length} problem(s):\n  - ${problems.join("\n  - ")}`)
    this.name = "ReportDataError"
  }
}

const inUnit = (x: number): boolean => Number.isFinite(x) && x >= 0 && x <= 1

/** Checks what would silently corrupt the report; throws ReportDataError listing every problem. */
export const validateReportData = (data: ReportData): void => {
  const problems: string[] = []
  const ids = new Set<string>()
  const cells = new Map<string, string>()
  for (const r of data.runs) {
    if (ids.has(r.id)) problems.push(`run id "${r.id}" appears twice: every run needs a unique id`)
    ids.add(r.id)
    if (!MODEL_IDS.includes(r.model)) problems.push(`run "${r.id}": model "${r.model}" is not one of ${MODEL_IDS.join(", ")}`)
    const cell = `${r.model}/${r.init}/${r.dataset}/${r.regime}/seed${r.seed}`
    const other = cells.get(cell)
    if (other !== undefined) problems.push(`runs "${other}" and "${r.id}" are both ${cell}: one of them would be counted twice; give them different seeds or drop one`)
    cells.set(cell, r.id)
    const a = r.metrics.referableAuc
    if (a !== undefined && !inUnit(a)) problems.push(`run "${r.id}": metrics.referableAuc = ${a}; AUCs are fractions in [0, 1] (divide percentages by 100)`)
    for (const [p, x] of Object.entries(r.metrics.chexpertAuc ?? {})) {
      if (x !== undefined && !inUnit(x)) problems.push(`run "${r.id}": metrics.chexpertAuc.${p} = ${x}; AUCs are fractions in [0, 1]`)
    }
    for (const [m, curve] of Object.entries(r.curves ?? {})) {
      if (!curve) continue
      for (let i = 1; i < curve.length; i++) {
        if (!(curve[i]!.step > curve[i - 1]!.step)) {
          problems.push(`run "${r.id}": curves.${m}[${i}].step = ${curve[i]!.step} does not increase (previous ${curve[i - 1]!.step}); sort the curve by step`)
          break
        }
      }
    }
  }
  for (const p of data.pretrained) {
    if (p.origin === "trained" && (!inUnit(p.top1) || !inUnit(p.top5))) problems.push(`pretrained ${p.model} seed ${p.seed}: top1 = ${p.top1}, top5 = ${p.top5}; accuracies are fractions in [0, 1]`)
    if (p.origin === "imported" && !/^[0-9a-f]{64}$/.test(p.sha256)) problems.push(`pretrained ${p.model}: imported from ${p.file} with sha256 ${JSON.stringify(p.sha256)}; give the file's 64-digit hex sha256`)
  }
  const once = (what: string, keys: string[]): void => {
    const seen = new Set<string>()
    for (const k of keys) {
      if (seen.has(k)) problems.push(`${what}: two entries for ${k}; merge their values into one entry`)
      seen.add(k)
    }
  }
  const sim = data.similarity
  if (sim) {
    once("similarity.figure2", sim.figure2.map((e) => `${e.model}/${e.dataset}`))
    once("similarity.figure3", sim.figure3.map((e) => `${e.model}/${e.dataset}`))
    once("similarity.figure4", sim.figure4.map((e) => `${e.model}/${e.dataset}/${e.layer}/${e.comparison}`))
    for (const e of sim.figure2) {
      if ([...e.pretrainedVsRandom, ...e.randomVsRandom].some((x) => !Number.isFinite(x))) problems.push(`similarity.figure2 ${e.model} ${e.dataset}: non-finite similarity (a failed CCA?); recompute or drop the pair`)
    }
    for (const e of sim.figure3) {
      once(`similarity.figure3 ${e.model} ${e.dataset}`, e.layers.map((l) => l.layer))
      for (const l of e.layers) {
        if ([...l.randomInit, ...l.pretrainedInit].some((x) => !Number.isFinite(x))) problems.push(`similarity.figure3 ${e.model} ${e.dataset} layer ${l.layer}: non-finite similarity (a failed CCA?); recompute or drop the seed`)
      }
    }
    for (const e of sim.figure4) {
      if (e.points.some((q) => !Number.isFinite(q.atInit) || !Number.isFinite(q.afterTraining))) problems.push(`similarity.figure4 ${e.model} ${e.dataset} ${e.layer} ${e.comparison}: non-finite point`)
    }
  }
  once("figure5", (data.figure5 ?? []).map((x) => `${x.model}/${x.dataset}/${x.init}/${x.when}`))
  if (problems.length > 0) throw new ReportDataError(problems)
}
