// Renders ReportData into one self-contained HTML file (inline CSS, inline SVG figures,
// PNGs as data: URIs, no scripts that run, no network references) and a Markdown summary.
// Every number printed is also recorded under a stable key in `values`, embedded in the
// HTML as a JSON block and as data-key/data-value attributes, so tests can check the
// report file against the artifacts it was built from.

import { copyFile, mkdir, readFile, writeFile } from "node:fs/promises"
import { dirname, join } from "node:path"
import { curvesSpec, figure2Spec, figure3Spec, figure4Spec, renderSvg, stepsSpec, type Spec } from "./charts.ts"
import { evaluateClaims, type ClaimOptions, type ClaimResult } from "./claims.ts"
import { PAPER_FIGURE4_R2, PAPER_TABLE2, paperTable1Row, paperTable2Row, paperTable3Row, type PaperValue } from "./paper.ts"
import { isSynthetic, metricBySeed, runsWhere, stepsToThreshold, thresholdFor, type RunFilter } from "./select.ts"
import { correlationCI, linearFit, mean, meanCI, sampleStd } from "./stats.ts"
import type { CurveMetric, DatasetId, Figure5Panel, ImportedPretrained, InitScheme, ModelId, Pathology, Provenance, ReportData, RunResult } from "./types.ts"
import { MODEL_IDS, MODEL_NAMES, PATHOLOGIES, PATHOLOGY_NAMES, TRANSFUSION_PREFIXES, trainedPretrained } from "./types.ts"

export interface RenderOptions {
  /** Options of the claims' decision rules (margins, minimum seeds). */
  readonly claims?: ClaimOptions
}

export interface RenderedReport {
  readonly html: string
  readonly markdown: string
  /** Stable key -> the number printed (full precision, in ReportData units: AUC as a fraction). */
  readonly values: Record<string, number>
  /** The claims' verdicts as printed (evaluated once per report). */
  readonly claims: readonly ClaimResult[]
}

// ---- validation of user-supplied data ----

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

/** Which weights the runs report (a training setting recorded in each run's params). */
const checkpointChoices = (data: ReportData): string => {
  const choices = [...new Set(data.runs.map((r) => (r.provenance.params.checkpoint as { choice?: string } | undefined)?.choice ?? "not recorded"))]
  const meaning: Record<string, string> = {
    "best-validation": "best-validation (each run's weights at its best validation AUC; the step is in its Provenance params)",
    last: "last (each run's weights after its last step)",
  }
  return choices.length === 0 ? "no runs" : choices.map((c) => meaning[c] ?? c).join("; ")
}

/** What our PWCCA is, so a reader comparing with google/svcca's numbers knows why they differ. */
const PWCCA_NOTE =
  "Our PWCCA centres the activations and weights each canonical correlation using the whitened canonical directions (analysis/cca.ts); google/svcca's compute_pwcca neither whitens the directions nor keeps the variates centred (it adds the neuron means back), so its values differ from ours."

// ---- printing helpers ----

const esc = (s: string): string => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;")
// Markdown viewers pass raw HTML through, so markup in data (a path, a synset name, a
// config value) is written as entities, which every viewer shows as the characters.
const mdEsc = (s: string): string => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/\|/g, "\\|").replace(/\n/g, " ")

interface Cell {
  readonly html: string
  readonly md: string
}
const text = (s: string): Cell => ({ html: esc(s), md: mdEsc(s) })
const DASH: Cell = { html: "&mdash;", md: "—" }

class Printer {
  readonly values: Record<string, number> = {}

  /** Records `x` under `key` and returns it formatted, tagged with the key in HTML. */
  num(key: string, x: number, format: (x: number) => string): Cell {
    if (!Number.isFinite(x)) return { html: "n/a", md: "n/a" }
    if (key in this.values && this.values[key] !== x) throw new Error(`report key "${key}" printed twice with different values (${this.values[key]} and ${x})`)
    this.values[key] = x
    const s = format(x)
    return { html: `<span data-key="${esc(key)}" data-value="${x}">${esc(s)}</span>`, md: s }
  }

  /** mean ± std [95% t-interval of the mean over seeds] (n); records key/mean, /std, /ci-lo, /ci-hi, /n. */
  summary(key: string, xs: readonly number[], format: (x: number) => string): Cell {
    if (xs.length === 0) return DASH
    const ci = meanCI(xs)
    const m = this.num(`${key}/mean`, mean(xs), format)
    const n = this.num(`${key}/n`, xs.length, String)
    if (xs.length < 2) return { html: `${m.html} <small>(n=${n.html})</small>`, md: `${m.md} (n=${n.md})` }
    const s = this.num(`${key}/std`, sampleStd(xs), format)
    const lo = this.num(`${key}/ci-lo`, ci.lo, format)
    const hi = this.num(`${key}/ci-hi`, ci.hi, format)
    return {
      html: `${m.html} &plusmn; ${s.html} <small>[${lo.html}, ${hi.html}] (n=${n.html})</small>`,
      md: `${m.md} ± ${s.md} [${lo.md}, ${hi.md}] (n=${n.md})`,
    }
  }

  /** A paper number as printed: `digits` decimals for the value, `pmDigits` for its ± (undefined: as transcribed). */
  paper(key: string, v: PaperValue | undefined, digits: number, pmDigits?: number): Cell {
    if (!v) return DASH
    const val = this.num(`paper/${key}`, v.value, (x) => x.toFixed(digits))
    if (v.pm === null) return { html: `<span class="paper">${val.html}</span>`, md: val.md }
    const pm = this.num(`paper/${key}/pm`, v.pm, (x) => (pmDigits === undefined ? String(x) : x.toFixed(pmDigits)))
    return { html: `<span class="paper">${val.html} &plusmn; ${pm.html}</span>`, md: `${val.md} ± ${pm.md}` }
  }
}

const pct = (x: number): string => (100 * x).toFixed(2)
const fixed = (d: number) => (x: number): string => x.toFixed(d)
const int = (x: number): string => Math.round(x).toLocaleString("en-US")

interface Table {
  readonly headers: readonly string[]
  readonly rows: readonly (readonly Cell[])[]
}

const tableHtml = (t: Table, id: string): string =>
  `<table id="${id}"><thead><tr>${t.headers.map((h) => `<th>${esc(h)}</th>`).join("")}</tr></thead><tbody>${t.rows
    .map((r) => `<tr>${r.map((c) => `<td>${c.html}</td>`).join("")}</tr>`)
    .join("")}</tbody></table>`

const tableMd = (t: Table): string =>
  [`| ${t.headers.map(mdEsc).join(" | ")} |`, `|${t.headers.map(() => "---").join("|")}|`, ...t.rows.map((r) => `| ${r.map((c) => c.md).join(" | ")} |`)].join("\n")

interface Section {
  readonly id: string
  readonly title: string
  readonly html: string
  readonly md: string
}

const INIT_LABEL: Record<string, string> = { "random": "random init", "transfer": "transfer", "mean-var": "Mean Var" }

// ---- Tables 1-3 ----

/** The best metric a synthetic task's labels allow, as its generator recorded it (no cell for real data). */
const ceilingCell = (data: ReportData, dataset: "retina" | "chexpert" | "imagenet", p: Printer): Cell | undefined => {
  const c = data.ceilings?.[dataset]
  if (!c) return undefined
  const v = p.num(`ceiling/${dataset}/${c.metric}`, c.value, (x) => (100 * x).toFixed(2))
  const before = `Ceiling of the synthetic ${dataset} task (${c.metric}, %): `
  const after = `, the best any model can reach in expectation: ${c.how}, over ${c.over}.`
  return { html: `${esc(before)}${v.html}${esc(after)}`, md: `${before}${v.md}${after}` }
}

const table1 = (data: ReportData, p: Printer): Section => {
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
    "RETINA referable-DR AUC (grade >= 2), full training data. Ours: mean &plusmn; sample std over seeds [95% Student t-interval of the mean over seeds: it covers seed-to-seed variation, not test-set sampling] (n seeds). Paper: as printed in Table 1 (its &plusmn; is not defined in the text). Table 1 convention: conv kernels except conv1 plus a 5-way dense without bias (spec.md)."
  const ceilings = [ceilingCell(data, "retina", p), ceilingCell(data, "imagenet", p)].filter((c): c is Cell => c !== undefined)
  return {
    id: "table1",
    title: "Table 1: RETINA, random init vs transfer, and ImageNet accuracy",
    html: `<p class="note">${note}</p>${ceilings.map((c) => `<p class="note">${c.html}</p>`).join("")}${tableHtml(t, "table1-data")}`,
    md: `${note.replace(/&plusmn;/g, "±")}\n\n${ceilings.map((c) => `${c.md}\n\n`).join("")}${tableMd(t)}`,
  }
}

const table2 = (data: ReportData, p: Printer): Section => {
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

const table3 = (data: ReportData, p: Printer): Section => {
  const hasRuns = (model: ModelId): boolean =>
    (["random", "transfer"] as const).some((init) => runsWhere(data, { model, init, dataset: "retina", regime: "small-data" }).length > 0)
  const models = MODEL_IDS.filter((m) => paperTable3Row(m) || hasRuns(m))
  const rows = models.map((model) => {
    const paper = paperTable3Row(model)
    const auc = (init: InitScheme): Cell =>
      p.summary(`table3/${model}/${init}`, metricBySeed(data, { model, init, dataset: "retina", regime: "small-data" }, "referable-auc"), pct)
    return [text(MODEL_NAMES[model]), auc("random"), p.paper(`table3/${model}/random`, paper?.random, 1), auc("transfer"), p.paper(`table3/${model}/transfer`, paper?.transfer, 1)]
  })
  const headers = ["Model", "Random init AUC % (ours)", "Random init (paper)", "Transfer AUC % (ours)", "Transfer (paper)"]
  const note = "RETINA referable-DR AUC in the very small data regime (the paper: 5,000 training examples; ours: see each run's params in Provenance)."
  return { id: "table3", title: "Table 3: RETINA, small data regime", html: `<p class="note">${note}</p>${tableHtml({ headers, rows }, "table3-data")}`, md: `${note}\n\n${tableMd({ headers, rows })}` }
}

// ---- Figures ----

const svgBlock = async (spec: Spec): Promise<string> => `<div class="svg">${await renderSvg(spec)}</div>`

const missing = (what: string): { html: string; md: string } => ({
  html: `<p class="missing">No data for this figure in the report input (${esc(what)}).</p>`,
  md: `_No data for this figure in the report input (${what})._`,
})

const figureSection = (id: string, title: string, caption: string | Cell, body: string, md: string): Section => {
  const c = typeof caption === "string" ? text(caption) : caption
  return { id, title, html: `<figure id="${id}-figure">${body}<figcaption>${c.html}</figcaption></figure>`, md: `${c.md}\n\n${md}` }
}

const figure2 = async (data: ReportData, p: Printer): Promise<Section> => {
  const caption = "Similarity of the top two layers/stages before the output (averaged): transfer-trained vs random-trained (orange) and random vs random with another seed (blue). Bars: mean over pairs; dots: pairs."
  const entries = data.similarity?.figure2 ?? []
  if (entries.length === 0) {
    const m = missing("similarity.figure2")
    return figureSection("figure2", "Figure 2: representations, pretrained vs random", caption, m.html, m.md)
  }
  let body = ""
  const lines: string[] = []
  const companion = data.similarity?.companion
  for (const dataset of [...new Set(entries.map((e) => e.dataset))]) {
    const rows: Record<string, string | number>[] = []
    const t: Cell[][] = []
    for (const e of entries.filter((x) => x.dataset === dataset)) {
      for (const s of e.pretrainedVsRandom) rows.push({ model: MODEL_NAMES[e.model], comparison: "pretrained vs random", similarity: s })
      for (const s of e.randomVsRandom) rows.push({ model: MODEL_NAMES[e.model], comparison: "random vs random", similarity: s })
      const k = `figure2/${e.model}/${dataset}`
      const row = [text(MODEL_NAMES[e.model]), text(e.layers.join(" + ")), p.summary(`${k}/pretrained-vs-random`, e.pretrainedVsRandom, fixed(3)), p.summary(`${k}/random-vs-random`, e.randomVsRandom, fixed(3))]
      const c = companion?.figure2.find((x) => x.model === e.model && x.dataset === dataset)
      if (companion) {
        const ck = `figure2/${companion.measure}/${e.model}/${dataset}`
        row.push(c ? p.summary(`${ck}/pretrained-vs-random`, c.pretrainedVsRandom, fixed(3)) : DASH, c ? p.summary(`${ck}/random-vs-random`, c.randomVsRandom, fixed(3)) : DASH)
      }
      t.push(row)
    }
    const headers = ["Model", "Layers averaged", `Pretrained vs random (${data.similarity!.measure})`, `Random vs random (${data.similarity!.measure})`]
    if (companion) headers.push(`Pretrained vs random (${companion.measure})`, `Random vs random (${companion.measure})`)
    const table: Table = { headers, rows: t }
    body += (await svgBlock(figure2Spec(rows, `${dataset} (${data.similarity!.measure})`))) + tableHtml(table, `figure2-${dataset}-data`)
    lines.push(`**${dataset}** (${data.similarity!.measure})\n\n${tableMd(table)}`)
  }
  return figureSection("figure2", "Figure 2: representations, pretrained vs random", caption, body, lines.join("\n\n"))
}

const figure3 = async (data: ReportData, p: Printer): Promise<Section> => {
  const caption = "Per-layer similarity of each trained network to its own initialisation, random init (blue) and pretrained init (orange), mean over seeds; dashed grey: pretrained minus random."
  const entries = data.similarity?.figure3 ?? []
  if (entries.length === 0) {
    const m = missing("similarity.figure3")
    return figureSection("figure3", "Figure 3: per-layer similarity to initialisation", caption, m.html, m.md)
  }
  const panels = entries.map((e) => ({
    title: `${MODEL_NAMES[e.model]} (${e.dataset})`,
    layers: e.layers.map((l) => l.layer),
    rows: e.layers.flatMap((l) => [
      ...l.randomInit.map((s) => ({ layer: l.layer, series: "random init", similarity: s })),
      ...l.pretrainedInit.map((s) => ({ layer: l.layer, series: "pretrained init", similarity: s })),
      { layer: l.layer, series: "pretrained - random", similarity: mean(l.pretrainedInit) - mean(l.randomInit) },
    ]),
  }))
  const rows: Cell[][] = []
  const companion = data.similarity?.companion
  for (const e of entries) {
    for (const l of e.layers) {
      const k = `figure3/${e.model}/${e.dataset}/${l.layer}`
      const row = [
        text(MODEL_NAMES[e.model]),
        text(e.dataset),
        text(l.layer),
        p.summary(`${k}/random-init`, l.randomInit, fixed(3)),
        p.summary(`${k}/pretrained-init`, l.pretrainedInit, fixed(3)),
        p.num(`${k}/difference`, mean(l.pretrainedInit) - mean(l.randomInit), fixed(3)),
      ]
      if (companion) {
        const c = companion.figure3.find((x) => x.model === e.model && x.dataset === e.dataset)?.layers.find((x) => x.layer === l.layer)
        row.push(c ? p.num(`figure3/${companion.measure}/${e.model}/${e.dataset}/${l.layer}/difference`, mean(c.pretrainedInit) - mean(c.randomInit), fixed(3)) : DASH)
      }
      rows.push(row)
    }
  }
  const measure = data.similarity!.measure
  const headers = ["Model", "Dataset", "Layer", `Random init (${measure})`, `Pretrained init (${measure})`, `Pretrained - random (${measure})`]
  if (companion) headers.push(`Pretrained - random (${companion.measure})`)
  const table: Table = { headers, rows }
  const body = (await svgBlock(figure3Spec(panels))) + `<details><summary>Numbers</summary>${tableHtml(table, "figure3-data")}</details>`
  return figureSection("figure3", "Figure 3: per-layer similarity to initialisation", caption, body, tableMd(table))
}

const figure4 = async (data: ReportData, p: Printer): Promise<Section> => {
  const r2Paper = PAPER_FIGURE4_R2.map((r, i) => p.num(`paper/figure4/r2/${i}`, r, fixed(2)))
  const before = "Similarity at initialisation vs after training, one point per pair of networks, with the least-squares line. The paper reports R^2 = "
  const after = " for ResNet-50 conv1 (random-vs-random and pretrained-vs-random panels; the text does not say which is which)."
  const caption: Cell = { html: `${esc(before)}${r2Paper.map((c) => c.html).join(", ")}${esc(after)}`, md: `${before}${r2Paper.map((c) => c.md).join(", ")}${after}` }
  const entries = data.similarity?.figure4 ?? []
  if (entries.length === 0) {
    const m = missing("similarity.figure4")
    return figureSection("figure4", "Figure 4: similarity at init vs after training", caption, m.html, m.md)
  }
  const rows: Cell[][] = []
  const panels = entries.map((e) => {
    const x = e.points.map((q) => q.atInit), y = e.points.map((q) => q.afterTraining)
    const fit = linearFit(x, y)
    const k = `figure4/${e.model}/${e.dataset}/${e.layer}/${e.comparison}`
    // R^2 of a line through 3 points is ~0.5 by chance: the correlation's interval says how little a few pairs show.
    const r = correlationCI(x, y)
    const rCell = Number.isFinite(r.lo)
      ? (() => { const c = [p.num(`${k}/r`, r.r, fixed(2)), p.num(`${k}/r-ci-lo`, r.lo, fixed(2)), p.num(`${k}/r-ci-hi`, r.hi, fixed(2))]; return { html: `${c[0]!.html} [${c[1]!.html}, ${c[2]!.html}]`, md: `${c[0]!.md} [${c[1]!.md}, ${c[2]!.md}]` } })()
      : { html: `${p.num(`${k}/r`, r.r, fixed(2)).html} <small>(no interval under 4 pairs)</small>`, md: `${Number.isFinite(r.r) ? r.r.toFixed(2) : "n/a"} (no interval under 4 pairs)` }
    rows.push([text(MODEL_NAMES[e.model]), text(e.dataset), text(e.layer), text(e.comparison), p.num(`${k}/r2`, fit.r2, fixed(3)), rCell, p.num(`${k}/slope`, fit.slope, fixed(3)), p.num(`${k}/n`, fit.n, String)])
    const lo = Math.min(...x), hi = Math.max(...x)
    return {
      title: `${MODEL_NAMES[e.model]} ${e.layer}, ${e.comparison}: R² = ${Number.isFinite(fit.r2) ? fit.r2.toFixed(2) : "n/a"}`,
      points: e.points.map((q) => ({ atInit: q.atInit, afterTraining: q.afterTraining })),
      line: Number.isFinite(fit.slope) ? [lo, hi].map((v) => ({ atInit: v, afterTraining: fit.intercept + fit.slope * v })) : [],
    }
  })
  const table: Table = { headers: ["Model", "Dataset", "Layer", "Comparison", "R^2", "Pearson r [95% Fisher CI]", "Slope", "Pairs"], rows }
  const body = (await svgBlock(figure4Spec(panels))) + tableHtml(table, "figure4-data")
  return figureSection("figure4", "Figure 4: similarity at init vs after training", caption, body, tableMd(table))
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]

/** Where writeReportFiles copies a Figure 5 panel, relative to the report (report.md links it there, so the folder travels whole). */
const figure5File = (p: Figure5Panel): string => `figures/figure5-${p.model}-${p.dataset}-${p.init}-${p.when}.png`

const figure5 = async (data: ReportData): Promise<Section> => {
  const caption = "conv1 filters before and after training, from random init and from pretrained weights (the paper's panels: ResNet-50 top row, CBR-Small bottom row)."
  const panels = data.figure5 ?? []
  if (panels.length === 0) {
    const m = missing("figure5 PNG paths")
    return figureSection("figure5", "Figure 5: conv1 filters", caption, m.html, m.md)
  }
  const order = [
    ["random", "init"],
    ["random", "trained"],
    ["transfer", "init"],
    ["transfer", "trained"],
  ] as const
  const groups = [...new Set(panels.map((x) => `${x.model}|${x.dataset}`))]
  let body = ""
  const md: string[] = []
  for (const g of groups) {
    const [model, dataset] = g.split("|") as [ModelId, DatasetId]
    const cells: string[] = []
    for (const [init, when] of order) {
      const panel = panels.find((x) => x.model === model && x.dataset === dataset && x.init === init && x.when === when)
      const label = `${init === "random" ? "random init" : "pretrained"}, ${when === "init" ? "before training" : "after training"}`
      if (!panel) {
        cells.push(`<div class="filters"><p class="missing">missing</p><p>${esc(label)}</p></div>`)
        continue
      }
      let bytes: Buffer
      try {
        bytes = await readFile(panel.pngPath)
      } catch (e) {
        throw new Error(`Figure 5 panel ${model}/${dataset}/${init}/${when}: cannot read ${panel.pngPath} (${(e as Error).message}); re-run the figures stage or fix figure5[].pngPath`)
      }
      if (!PNG_SIGNATURE.every((b, i) => bytes[i] === b)) throw new Error(`Figure 5 panel ${model}/${dataset}/${init}/${when}: ${panel.pngPath} is not a PNG file; the figures stage must write PNG images`)
      cells.push(`<div class="filters"><img alt="${esc(`${MODEL_NAMES[model]} conv1, ${label}`)}" src="data:image/png;base64,${bytes.toString("base64")}"><p>${esc(label)}</p></div>`)
      md.push(`- ${MODEL_NAMES[model]} (${dataset}), ${label}: ![${label}](${figure5File(panel)})`)
    }
    body += `<h4>${esc(MODEL_NAMES[model])} (${esc(dataset)})</h4><div class="filter-row">${cells.join("")}</div>`
  }
  return figureSection("figure5", "Figure 5: conv1 filters", caption, body, md.join("\n"))
}

interface Config {
  readonly label: string
  readonly filter: RunFilter & { model: ModelId; init: InitScheme; dataset: DatasetId }
}

const MAX_CURVE_POINTS = 400

const curveRows = (data: ReportData, configs: readonly Config[], metric: CurveMetric): Record<string, string | number>[] =>
  configs.flatMap((c) =>
    runsWhere(data, c.filter).flatMap((r) => {
      const curve = r.curves?.[metric] ?? []
      const stride = Math.max(1, Math.ceil(curve.length / MAX_CURVE_POINTS))
      return curve.filter((_, i) => i % stride === 0 || i === curve.length - 1).map((q) => ({ step: q.step, value: q.value, config: c.label, run: r.id }))
    }),
  )

const finalMetric = (r: RunResult): number | undefined => (r.dataset === "retina" ? r.metrics.referableAuc : r.metrics.chexpertAuc?.consolidation)

/** Steps to threshold and final metric per configuration; records <key>/<model>/<init>/steps and /final-auc. */
const stepsTable = (data: ReportData, p: Printer, key: string, configs: readonly Config[]): Table => ({
  headers: ["Configuration", "Steps to threshold (ours)", "Never reached", "Final test AUC % (ours)"],
  rows: configs
    .filter((c) => runsWhere(data, c.filter).length > 0)
    .map((c) => {
      const runs = runsWhere(data, c.filter).slice().sort((a, b) => a.seed - b.seed)
      const steps = runs.map((r) => stepsToThreshold(data, r)).filter((s) => s !== undefined)
      const k = `${key}/${c.filter.dataset}/${c.filter.model}/${c.filter.init}`
      return [
        text(c.label),
        p.summary(`${k}/steps`, steps.map((s) => s.steps), int),
        p.num(`${k}/censored`, steps.filter((s) => s.censored).length, String),
        p.summary(`${k}/final-auc`, runs.map(finalMetric).filter((x): x is number => x !== undefined), pct),
      ]
    }),
})

const metricTitle = (m: CurveMetric): string => (m === "referable-auc" ? "validation referable AUC" : m === "mean-auc" ? "validation mean AUC" : `validation ${PATHOLOGY_NAMES[m]} AUC`)

const figure6 = async (data: ReportData, p: Printer): Promise<Section> => {
  const caption = "Convergence from random init, transfer and Mean Var init (per-layer N(mean, var) of the pretrained weights). One line per seed; dashed: the convergence threshold. CheXpert: ResNet-50 on the Consolidation curve (the paper's panel c), metric as configured."
  const panels: Parameters<typeof curvesSpec>[0] = []
  const tables: Array<{ title: string; t: Table }> = []
  for (const dataset of ["retina", "chexpert"] as const) {
    const { metric, threshold } = thresholdFor(data, dataset)
    const models = dataset === "retina" ? MODEL_IDS : (["resnet50"] as const)
    for (const model of models) {
      const configs: Config[] = (["random", "transfer", "mean-var"] as const).map((init) => ({ label: INIT_LABEL[init]!, filter: { model, init, dataset, regime: "full" } }))
      if (!runsWhere(data, { model, dataset, regime: "full", init: "mean-var" }).length) continue
      const rows = curveRows(data, configs, metric)
      if (rows.length > 0) panels.push({ title: `${MODEL_NAMES[model]} (${dataset})`, rows, order: configs.map((c) => c.label), threshold, yTitle: metricTitle(metric) })
      tables.push({ title: `${MODEL_NAMES[model]} (${dataset}), threshold ${threshold} on ${metric}`, t: stepsTable(data, p, "figure6", configs) })
    }
  }
  if (panels.length === 0 && tables.length === 0) {
    const m = missing("runs with init mean-var")
    return figureSection("figure6", "Figure 6: Mean Var init and convergence", caption, m.html, m.md)
  }
  const body = (panels.length ? await svgBlock(curvesSpec(panels)) : missing("validation curves").html) + tables.map((x) => `<h4>${esc(x.title)}</h4>${tableHtml(x.t, "figure6-data")}`).join("")
  return figureSection("figure6", "Figure 6: Mean Var init and convergence", caption, body, tables.map((x) => `**${x.title}**\n\n${tableMd(x.t)}`).join("\n\n"))
}

const figure7 = async (data: ReportData, p: Printer): Promise<Section> => {
  const { metric, threshold } = thresholdFor(data, "retina")
  const caption = `Weight transfusion on ResNet-50, RETINA: pretrained weights up to a stage, the rest random. Left: validation curves; right: steps until validation AUC first reaches ${threshold} (the paper: 91%).`
  const f = { model: "resnet50" as const, dataset: "retina" as const, regime: "full" as const }
  const configs: Config[] = [
    { label: "random", filter: { ...f, init: "random" } },
    ...TRANSFUSION_PREFIXES.map((prefix): Config => ({ label: `up to ${prefix}`, filter: { ...f, init: `transfusion-${prefix}` } })),
    { label: "full transfer", filter: { ...f, init: "transfer" } },
  ]
  if (!TRANSFUSION_PREFIXES.some((x) => runsWhere(data, { ...f, init: `transfusion-${x}` }).length > 0)) {
    const m = missing("ResNet-50 RETINA runs with init transfusion-*")
    return figureSection("figure7", "Figure 7: weight transfusion", caption, m.html, m.md)
  }
  const present = configs.filter((c) => runsWhere(data, c.filter).length > 0)
  const order = present.map((c) => c.label)
  const stepRows = present.flatMap((c) =>
    runsWhere(data, c.filter).flatMap((r) => {
      const s = stepsToThreshold(data, r)
      return s ? [{ config: c.label, steps: s.steps, reached: s.censored ? "no (training length)" : "yes" }] : []
    }),
  )
  const rows = curveRows(data, present, metric)
  const charts: Spec[] = []
  if (rows.length > 0) charts.push(curvesSpec([{ title: "ResNet-50 (retina)", rows, order, threshold, yTitle: metricTitle(metric) }]))
  if (stepRows.length > 0) charts.push(stepsSpec(stepRows, order, "steps to threshold"))
  const t = stepsTable(data, p, "figure7", present)
  const svgs = (await Promise.all(charts.map(svgBlock))).join("")
  return figureSection("figure7", "Figure 7: weight transfusion", caption, `<div class="row">${svgs}</div>${tableHtml(t, "figure7-data")}`, tableMd(t))
}

const figure8 = async (data: ReportData, p: Printer): Promise<Section> => {
  const caption = "Hybrid approaches. Left: Slim ResNet-50 (pretrained up to block2, blocks 3-4 at half width, random) vs ResNet-50 transfer and random. Right: synthetic Gabor conv1 vs pretrained conv1 vs random, for ResNet-50 and CBR-LargeW."
  const { metric, threshold } = thresholdFor(data, "retina")
  const f = { dataset: "retina" as const, regime: "full" as const }
  const groups: Array<{ title: string; configs: Config[] }> = [
    {
      title: "Slim ResNet-50",
      configs: [
        { label: "ResNet-50 random", filter: { ...f, model: "resnet50", init: "random" } },
        { label: "ResNet-50 transfer", filter: { ...f, model: "resnet50", init: "transfer" } },
        { label: "Slim (pretrained to block2)", filter: { ...f, model: "resnet50-slim", init: "transfusion-block2" } },
      ],
    },
    ...(["resnet50", "cbr-largew"] as const).map((model) => ({
      title: `${MODEL_NAMES[model]}: Gabor conv1`,
      configs: [
        { label: "Gabor conv1", filter: { ...f, model, init: "gabor-conv1" as const } },
        { label: "pretrained conv1", filter: { ...f, model, init: "transfusion-conv1" as const } },
        { label: "random", filter: { ...f, model, init: "random" as const } },
      ],
    })),
  ]
  // A group is shown only when its hybrid (first) configuration has runs.
  const shown = groups.filter((g) => g.configs.some((c, i) => (g.title.startsWith("Slim") ? i === 2 : i === 0) && runsWhere(data, c.filter).length > 0))
  if (shown.length === 0) {
    const m = missing("resnet50-slim or gabor-conv1 runs")
    return figureSection("figure8", "Figure 8: hybrid approaches", caption, m.html, m.md)
  }
  const panels = shown
    .map((g) => ({ title: g.title, rows: curveRows(data, g.configs, metric), order: g.configs.map((c) => c.label), threshold, yTitle: metricTitle(metric) }))
    .filter((x) => x.rows.length > 0)
  const tables = shown.map((g) => ({ title: g.title, t: stepsTable(data, p, "figure8", g.configs) }))
  const body = (panels.length ? await svgBlock(curvesSpec(panels)) : missing("validation curves").html) + tables.map((x) => `<h4>${esc(x.title)}</h4>${tableHtml(x.t, "figure8-data")}`).join("")
  return figureSection("figure8", "Figure 8: hybrid approaches", caption, body, tables.map((x) => `**${x.title}**\n\n${tableMd(x.t)}`).join("\n\n"))
}

// ---- Claims and provenance ----

const claimsSection = (claims: readonly ClaimResult[], p: Printer): Section => {
  const html: string[] = []
  const md: string[] = []
  for (const c of claims) {
    const numbers = Object.entries(c.numbers).map(([k, x]) => [text(k), p.num(`claims/${c.key}/${k}`, x, (y) => (Number.isInteger(y) ? String(y) : y.toPrecision(6)))])
    const numbersHtml = numbers.length ? `<details><summary>Numbers behind the verdict</summary>${tableHtml({ headers: ["Name", "Value"], rows: numbers }, `claim-${c.id}-numbers`)}</details>` : ""
    const cls = c.verdict.replace(" ", "-")
    html.push(
      `<div class="claim" id="claim-${c.id}" data-claim="${esc(c.key)}" data-verdict="${esc(c.verdict)}"><h3>Claim ${c.id}: ${esc(c.claim)} <span class="verdict ${cls}">${esc(c.verdict)}</span></h3><p class="source">${esc(c.source)}</p><p><b>Rule.</b> ${esc(c.rule)}</p><ul>${c.evidence.map((e) => `<li>${esc(e)}</li>`).join("")}</ul>${numbersHtml}</div>`,
    )
    md.push(`### Claim ${c.id}: ${c.claim} — **${c.verdict}**\n\n_${c.source}._ Rule: ${c.rule}\n\n${c.evidence.map((e) => `- ${e}`).join("\n")}`)
  }
  return { id: "claims", title: "The paper's claims", html: html.join(""), md: md.join("\n\n") }
}

const provenanceSection = (data: ReportData): Section => {
  const runs = data.runs.slice().sort((a, b) => a.id.localeCompare(b.id))
  const policy = (r: RunResult): string =>
    r.provenance.chexpertUncertaintyPolicy ? Object.entries(r.provenance.chexpertUncertaintyPolicy).map(([k, v]) => `${k}:${v}`).join(" ") : ""
  const headers = ["Run", "Model", "Init", "Dataset", "Regime", "Seed", "Data", "Backend", "Fingerprint", "CheXpert policy", "Versions", "Params"]
  const rows = runs.map((r) => [
    r.id,
    MODEL_NAMES[r.model],
    r.init,
    r.dataset,
    r.regime,
    String(r.seed),
    r.provenance.dataSource,
    r.provenance.backend,
    r.provenance.fingerprint,
    policy(r),
    Object.entries(r.provenance.versions).map(([k, v]) => `${k} ${v}`).join(", "),
    JSON.stringify(r.provenance.params),
  ])
  const describe = (pv: Provenance | undefined): string =>
    pv
      ? `; backend ${pv.backend}; fingerprint ${pv.fingerprint}; versions ${Object.entries(pv.versions).map(([k, v]) => `${k} ${v}`).join(", ")}; params ${JSON.stringify(pv.params)}`
      : ""
  const others = [
    ...data.pretrained.map((x) =>
      x.origin === "imported"
        ? `Pretrained ${MODEL_NAMES[x.model]}: imported weights (${x.file}, sha256 ${x.sha256})${describe(x.provenance)}`
        : `Pretrained ${MODEL_NAMES[x.model]} seed ${x.seed}: trained, ${x.dataSource} ImageNet${describe(x.provenance)}`,
    ),
    ...(data.similarity?.provenance ? [`Similarity (${data.similarity.measure}): ${data.similarity.provenance.dataSource} data${describe(data.similarity.provenance)}`] : []),
  ]
  const html = `<table id="provenance-data" class="provenance"><thead><tr>${headers.map((h) => `<th>${h}</th>`).join("")}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map((c, i) => `<td>${i >= 8 ? `<code>${esc(c)}</code>` : esc(c)}</td>`).join("")}</tr>`)
    .join("")}</tbody></table>${others.length ? `<h4>Pretrained models and analyses</h4><ul class="provenance">${others.map((x) => `<li>${esc(x)}</li>`).join("")}</ul>` : ""}`
  const md = `${tableMd({ headers, rows: rows.map((r) => r.map(text)) })}${others.length ? `\n\n${others.map((x) => `- ${mdEsc(x)}`).join("\n")}` : ""}`
  return { id: "provenance", title: "Provenance per run", html, md }
}

const CSS = `
body{font-family:sans-serif;margin:2em auto;max-width:1200px;color:#222;line-height:1.4}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:13px}
th,td{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#f3f3f3}
td small{color:#666}
.paper{color:#555;font-style:italic}
.banner{background:#fff3cd;border:2px solid #d39e00;padding:.8em 1em;font-weight:bold;margin-bottom:1em}
.note,.source{color:#555;font-size:13px}
.missing{color:#a00}
.verdict{font-size:13px;padding:2px 8px;border-radius:3px;color:white;vertical-align:middle}
.verdict.supported{background:#2e7d32}.verdict.not-supported{background:#c62828}.verdict.inconclusive{background:#757575}
.claim{border-left:4px solid #ddd;padding-left:1em;margin:1em 0}
.filter-row,.row{display:flex;flex-wrap:wrap;gap:1em;align-items:flex-start}
.filters img{image-rendering:pixelated;max-width:260px}
.filters p{margin:.2em 0;font-size:12px}
.provenance{font-size:11px}
.svg{overflow-x:auto}
figure{margin:0}
figcaption{font-size:13px;color:#444;margin-top:.5em}
`

/** Reads the `values` back from a rendered HTML file's JSON block. */
export const readValuesFromHtml = (html: string): Record<string, number> => {
  const m = /<script type="application\/json" id="report-values">([\s\S]*?)<\/script>/.exec(html)
  if (!m) throw new Error("report HTML has no <script id=\"report-values\"> block; was it written by renderReport?")
  return JSON.parse(m[1]!) as Record<string, number>
}

/** Reads every data-key/data-value pair printed in the HTML body. */
export const readPrintedValuesFromHtml = (html: string): Record<string, number> => {
  const out: Record<string, number> = {}
  for (const m of html.matchAll(/data-key="([^"]*)" data-value="([^"]*)"/g)) out[m[1]!.replace(/&amp;/g, "&").replace(/&quot;/g, '"')] = Number(m[2])
  return out
}

/** Renders the report: one self-contained HTML file, a Markdown summary, and every printed number by key. */
export const renderReport = async (data: ReportData, options: RenderOptions = {}): Promise<RenderedReport> => {
  validateReportData(data)
  const p = new Printer()
  const synthetic = isSynthetic(data)
  const retinaThreshold = p.num("settings/convergence/retina/threshold", data.convergence.retina.threshold, String)
  const chexpertThreshold = p.num("settings/convergence/chexpert/threshold", data.convergence.chexpert.threshold, String)
  const sections: Section[] = [table1(data, p), table2(data, p), table3(data, p)]
  // Sequential: the figures share one vega instance and the machine has two cores.
  sections.push(await figure2(data, p), await figure3(data, p), await figure4(data, p), await figure5(data), await figure6(data, p), await figure7(data, p), await figure8(data, p))
  const claims = evaluateClaims(data, options.claims)
  sections.push(claimsSection(claims, p), provenanceSection(data))

  const bannerText = synthetic
    ? "SYNTHETIC DATA: these results come from generated stand-ins for RETINA, CheXpert and/or ImageNet. They test the pipeline; they are not evidence about the paper's claims."
    : ""
  const settings: Cell[] = [
    text(`Profile: ${data.profile}`),
    text(`User overrides: ${Object.keys(data.overrides).length ? JSON.stringify(data.overrides) : "none"}`),
    text(`Generated: ${data.generatedAt ?? "not recorded"}`),
    {
      html: `Convergence thresholds: RETINA ${retinaThreshold.html} on ${esc(data.convergence.retina.metric)}; CheXpert ${chexpertThreshold.html} on ${esc(data.convergence.chexpert.metric)}`,
      md: `Convergence thresholds: RETINA ${retinaThreshold.md} on ${mdEsc(data.convergence.retina.metric)}; CheXpert ${chexpertThreshold.md} on ${mdEsc(data.convergence.chexpert.metric)}`,
    },
    text(`Checkpoint evaluated: ${checkpointChoices(data)}`),
    text(`Similarity measure: ${data.similarity ? `${data.similarity.measure}${data.similarity.reduction ? ` (${data.similarity.reduction})` : ""}${data.similarity.companion ? `; ${data.similarity.companion.measure} beside it in Figures 2-3` : ""}` : "none"}. ${PWCCA_NOTE}`),
  ]
  const toc = sections.map((s) => `<li><a href="#${s.id}">${esc(s.title)}</a></li>`).join("")
  const valuesJson = JSON.stringify(p.values).replace(/</g, "\\u003c")
  const html = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Transfusion reproduction report (${esc(data.profile)})</title><style>${CSS}</style></head>
<body data-synthetic="${synthetic}">
${synthetic ? `<div class="banner" id="synthetic-banner">${esc(bannerText)}</div>` : ""}
<h1>Transfusion: Understanding Transfer Learning for Medical Imaging &mdash; reproduction report</h1>
<ul class="settings">${settings.map((s) => `<li>${s.html}</li>`).join("")}</ul>
<ol class="toc">${toc}</ol>
${sections.map((s) => `<section id="${s.id}"><h2>${esc(s.title)}</h2>${s.html}</section>`).join("\n")}
<script type="application/json" id="report-values">${valuesJson}</script>
</body></html>
`
  const markdown = [
    `# Transfusion reproduction report (${mdEsc(data.profile)})`,
    synthetic ? `> **${bannerText}**` : "",
    settings.map((s) => `- ${s.md}`).join("\n"),
    ...sections.map((s) => `## ${s.title}\n\n${s.md}`),
  ]
    .filter((x) => x !== "")
    .join("\n\n")
  return { html, markdown: `${markdown}\n`, values: p.values, claims }
}


export interface WrittenReport {
  readonly htmlPath: string
  readonly markdownPath: string
  readonly valuesPath: string
  readonly values: Record<string, number>
  readonly claims: readonly ClaimResult[]
}

/**
 * Renders and writes report.html, report.md and values.json into `dir` (created if needed).
 * Plain writes: `dir` is the report stage's artifact, which the store commits whole by a
 * directory rename (pipeline/store.ts), so no reader sees half a report.
 */
export const writeReportFiles = async (data: ReportData, dir: string, options: RenderOptions = {}): Promise<WrittenReport> => {
  const { html, markdown, values, claims } = await renderReport(data, options)
  await mkdir(dir, { recursive: true })
  // report.html embeds the panels; report.md links these copies.
  for (const panel of data.figure5 ?? []) {
    const target = join(dir, figure5File(panel))
    await mkdir(dirname(target), { recursive: true })
    await copyFile(panel.pngPath, target)
  }
  const put = async (name: string, body: string): Promise<string> => {
    const path = join(dir, name)
    await writeFile(path, body)
    return path
  }
  return {
    htmlPath: await put("report.html", html),
    markdownPath: await put("report.md", markdown),
    valuesPath: await put("values.json", `${JSON.stringify(values, null, 1)}\n`),
    values,
    claims,
  }
}
