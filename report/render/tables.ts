// Tables 1-3 beside the paper's numbers: medical-task AUCs and ImageNet accuracy per
// model (Table 1), per-pathology CheXpert AUCs (Table 2), the small-data regime (Table 3).
import { PAPER_TABLE2, paperTable1Row, paperTable2Row, paperTable3Row } from "../paper.ts"
import { CONVERGENCE_WINDOW, type RunFilter, converged, metricBySeed, runsWhere, thresholdFor } from "../select.ts"
import { mean } from "../stats.ts"
import { type ImportedPretrained, type InitScheme, MODEL_IDS, MODEL_NAMES, type ModelId, PATHOLOGIES, PATHOLOGY_NAMES, type Pathology, type Provenance, type ReportData, trainedPretrained } from "../types.ts"
import { type Cell, DASH, INIT_LABEL, Printer, type Section, type Table, esc, int, pct, tableHtml, tableMd, text } from "./print.ts"

/** The best metric a synthetic task's labels allow, as its generator recorded it (no cell for real data). */
const ceilingCell = (data: ReportData, dataset: "retina" | "chexpert" | "imagenet", p: Printer): Cell | undefined => {
  const c = data.ceilings?.[dataset]
  if (!c) return undefined
  const v = p.num(`ceiling/${dataset}/${c.metric}`, c.value, (x) => (100 * x).toFixed(2))
  const before = `Ceiling of the synthetic ${dataset} task (${c.metric}, %): `
  const after = `, the best any model can reach in expectation: ${c.how}, over ${c.over}.`
  return { html: `${esc(before)}${v.html}${esc(after)}`, md: `${before}${v.md}${after}` }
}

/** "k/n": of the runs matching `f` whose convergence can be told, those that converged (select.ts); records key/converged, /convergence-checked. */
const convergedCell = (data: ReportData, p: Printer, key: string, f: RunFilter): Cell => {
  const seen = runsWhere(data, f).map((r) => converged(data, r)).filter((c) => c !== undefined)
  if (seen.length === 0) return DASH
  const k = p.num(`${key}/converged`, seen.filter((c) => c).length, String)
  const n = p.num(`${key}/convergence-checked`, seen.length, String)
  return { html: `${k.html}/${n.html}`, md: `${k.md}/${n.md}` }
}

/** Table 1's and 3's note on the converged-seeds columns. */
const convergedNote = (data: ReportData): string =>
  `Converged seeds: runs whose validation AUC, averaged over ${CONVERGENCE_WINDOW} consecutive evaluations, reached ${(100 * thresholdFor(data, "retina").threshold).toFixed(0)}% during training, of the runs that recorded a validation curve; the claims judge no comparison that rests on a run that did not (the paper trains every run to convergence).`

export const table1 = (data: ReportData, p: Printer): Section => {
  const hasRuns = (model: ModelId): boolean =>
    (["random", "transfer"] as const).some((init) => runsWhere(data, { model, init, dataset: "retina", regime: "full" }).length > 0)
  const models = MODEL_IDS.filter((m) => paperTable1Row(m) || hasRuns(m))
  const rows = models.map((model) => {
    const paper = paperTable1Row(model)
    const auc = (init: InitScheme): Cell =>
      p.summary(`table1/${model}/${init}`, metricBySeed(data, { model, init, dataset: "retina", regime: "full" }, "referable-auc"), pct)
    const pre = trainedPretrained(data.pretrained.filter((x) => x.model === model))
    const imported = data.pretrained.find((x): x is ImportedPretrained => x.model === model && x.origin === "imported")
    // Imported weights have no ImageNet accuracy of ours: the cell names the file instead.
    const importedCell = (what: string): Cell => {
      const v = `imported weights (${imported!.file}, sha256 ${imported!.sha256.slice(0, 12)})`
      return { html: `<span class="imported" title="${esc(`${what}: ${imported!.sha256}`)}">${esc(v)}</span>`, md: v }
    }
    const counts = data.parameterCounts?.find((c) => c.model === model)
    return [
      text(MODEL_NAMES[model]),
      auc("random"),
      p.paper(`table1/${model}/random`, paper?.random, 1),
      auc("transfer"),
      p.paper(`table1/${model}/transfer`, paper?.transfer, 1),
      convergedCell(data, p, `table1/${model}/random`, { model, init: "random", dataset: "retina", regime: "full" }),
      convergedCell(data, p, `table1/${model}/transfer`, { model, init: "transfer", dataset: "retina", regime: "full" }),
      counts && counts.table1Convention !== null ? p.num(`table1/${model}/params/table1-convention`, counts.table1Convention, int) : DASH,
      counts ? p.num(`table1/${model}/params/trainable`, counts.trainable, int) : DASH,
      paper ? p.num(`paper/table1/${model}/params`, paper.parameters, int) : DASH,
      imported && pre.length === 0 ? importedCell("top-5") : p.summary(`table1/${model}/imagenet-top5`, pre.map((x) => x.top5), pct),
      p.paper(`table1/${model}/imagenet-top5`, paper?.imagenetTop5, 1),
      imported && pre.length === 0 ? importedCell("top-1") : p.summary(`table1/${model}/imagenet-top1`, pre.map((x) => x.top1), pct),
    ]
  })
  const t: Table = {
    headers: [
      "Model",
      "Random init AUC % (ours)",
      "Random init (paper)",
      "Transfer AUC % (ours)",
      "Transfer (paper)",
      "Converged seeds, random init",
      "Converged seeds, transfer",
      "Params, Table 1 convention (ours)",
      "Params, trainable (ours)",
      "Params (paper)",
      "ImageNet top-5 % (ours)",
      "ImageNet top-5 (paper)",
      "ImageNet top-1 % (ours)",
    ],
    rows,
  }
  const note =
    `RETINA referable-DR AUC (grade >= 2), full training data. Ours: mean &plusmn; sample std over seeds [95% Student t-interval of the mean over seeds: it covers seed-to-seed variation, not test-set sampling] (n seeds). Paper: as printed in Table 1 (its &plusmn; is not defined in the text). Table 1 convention: conv kernels except conv1 plus a 5-way dense without bias (spec.md). ${convergedNote(data)}`
  const ceilings = [ceilingCell(data, "retina", p), ceilingCell(data, "imagenet", p)].filter((c): c is Cell => c !== undefined)
  return {
    id: "table1",
    title: "Table 1: RETINA, random init vs transfer, and ImageNet accuracy",
    html: `<p class="note">${note}</p>${ceilings.map((c) => `<p class="note">${c.html}</p>`).join("")}${tableHtml(t, "table1-data")}`,
    md: `${note.replace(/&plusmn;/g, "±")}\n\n${ceilings.map((c) => `${c.md}\n\n`).join("")}${tableMd(t)}`,
  }
}

export const table2 = (data: ReportData, p: Printer): Section => {
  const hasRuns = (model: ModelId): boolean =>
    (["random", "transfer"] as const).some((init) => runsWhere(data, { model, init, dataset: "chexpert", regime: "full" }).length > 0)
  const models = MODEL_IDS.filter((m) => PAPER_TABLE2.some((r) => r.model === m) || hasRuns(m))
  const rows: Cell[][] = []
  for (const model of models) {
    for (const init of ["random", "transfer"] as const) {
      const paper = paperTable2Row(model, init)
      const row: Cell[] = [text(MODEL_NAMES[model]), text(INIT_LABEL[init]!)]
      for (const path of PATHOLOGIES) {
        row.push(p.summary(`table2/${model}/${init}/${path}`, metricBySeed(data, { model, init, dataset: "chexpert", regime: "full" }, path), pct))
        row.push(p.paper(`table2/${model}/${init}/${path}`, paper?.auc[path], 2, 2))
      }
      rows.push(row)
    }
  }
  const headers = ["Model", "Init", ...PATHOLOGIES.flatMap((x) => [`${PATHOLOGY_NAMES[x]} % (ours)`, `${PATHOLOGY_NAMES[x]} (paper)`])]
  const policies = [...new Set(data.runs.filter((r) => r.dataset === "chexpert" && r.provenance.chexpertUncertaintyPolicy).map((r) => JSON.stringify(r.provenance.chexpertUncertaintyPolicy)))]
  const policyText =
    policies.length === 0
      ? "No CheXpert run recorded its uncertain-label policy."
      : `Uncertain-label policy applied: ${policies
          .map((s) => Object.entries(JSON.parse(s) as Record<Pathology, string>).map(([k, v]) => `${PATHOLOGY_NAMES[k as Pathology]} ${v}`).join(", "))
          .join("; ")}${policies.length > 1 ? " (runs differ!)" : ""}. The paper does not state its policy.`
  const note = `CheXpert AUC per pathology, full training data. Ours: mean &plusmn; sample std [95% t-interval over seeds] (n). ${esc(policyText)}`
  const ceiling = ceilingCell(data, "chexpert", p)
  return {
    id: "table2",
    title: "Table 2: CheXpert, random init vs transfer",
    html: `<p class="note">${note}</p>${ceiling ? `<p class="note">${ceiling.html}</p>` : ""}${tableHtml({ headers, rows }, "table2-data")}`,
    md: `${note.replace(/&plusmn;/g, "±")}\n\n${ceiling ? `${ceiling.md}\n\n` : ""}${tableMd({ headers, rows })}`,
  }
}

export const table3 = (data: ReportData, p: Printer): Section => {
  const hasRuns = (model: ModelId): boolean =>
    (["random", "transfer"] as const).some((init) => runsWhere(data, { model, init, dataset: "retina", regime: "small-data" }).length > 0)
  const models = MODEL_IDS.filter((m) => paperTable3Row(m) || hasRuns(m))
  const rows = models.map((model) => {
    const paper = paperTable3Row(model)
    const auc = (init: InitScheme): Cell =>
      p.summary(`table3/${model}/${init}`, metricBySeed(data, { model, init, dataset: "retina", regime: "small-data" }, "referable-auc"), pct)
    const conv = (init: InitScheme): Cell => convergedCell(data, p, `table3/${model}/${init}`, { model, init, dataset: "retina", regime: "small-data" })
    return [text(MODEL_NAMES[model]), auc("random"), p.paper(`table3/${model}/random`, paper?.random, 1), auc("transfer"), p.paper(`table3/${model}/transfer`, paper?.transfer, 1), conv("random"), conv("transfer")]
  })
  const headers = ["Model", "Random init AUC % (ours)", "Random init (paper)", "Transfer AUC % (ours)", "Transfer (paper)", "Converged seeds, random init", "Converged seeds, transfer"]
  const note = `RETINA referable-DR AUC in the very small data regime (the paper: 5,000 training examples; ours: see each run's params in Provenance). ${convergedNote(data)}`
  return { id: "table3", title: "Table 3: RETINA, small data regime", html: `<p class="note">${note}</p>${tableHtml({ headers, rows }, "table3-data")}`, md: `${note}\n\n${tableMd({ headers, rows })}` }
}
