// Renders ReportData into one self-contained HTML file (inline CSS, inline SVG figures,
// PNGs as data: URIs, no scripts that run, no network references) and a Markdown summary.
// Every number printed is also recorded under a stable key in `values`, embedded in the
// HTML as a JSON block and as data-key/data-value attributes, so tests can check the
// report file against the artifacts it was built from.
//
// This file assembles the report; its parts are in report/render/: validate.ts (checks on
// the input), print.ts (escaping, cells, tables, the Printer of keyed numbers), tables.ts
// (Tables 1-3), similarity-figures.ts (Figures 2-5), training-figures.ts (Figures 6-8) and
// claims-provenance.ts (the verdicts and the per-run provenance).

import { copyFile, mkdir, writeFile } from "node:fs/promises"
import { dirname, join } from "node:path"
import { evaluateClaims, type ClaimOptions, type ClaimResult } from "./claims.ts"
import { isSynthetic } from "./select.ts"
import type { ReportData } from "./types.ts"
import { claimsSection, provenanceSection } from "./render/claims-provenance.ts"
import { esc, mdEsc, Printer, text, type Cell, type Section } from "./render/print.ts"
import { figure2, figure3, figure4, figure5, figure5File } from "./render/similarity-figures.ts"
import { table1, table2, table3 } from "./render/tables.ts"
import { figure6, figure7, figure8 } from "./render/training-figures.ts"
import { validateReportData } from "./render/validate.ts"

export { ReportDataError, validateReportData } from "./render/validate.ts"

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
  // Sequential: the figures record their numbers in the one Printer (so values.json keeps
  // a fixed order), and vega's SVG rendering is work on this thread that would not overlap.
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
