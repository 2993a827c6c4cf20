// Figures 2-5: representational similarity (pretrained vs random, per layer, at init vs
// after training) and the conv1 filters.
import { readFile } from "node:fs/promises"
import { figure2Spec, figure3Spec, figure4Spec } from "../charts.ts"
import { PAPER_FIGURE4_R2 } from "../paper.ts"
import { correlationCI, linearFit, mean } from "../stats.ts"
import { type DatasetId, type Figure5Panel, MODEL_NAMES, type ModelId, type ReportData } from "../types.ts"
import { type Cell, DASH, Printer, type Section, type Table, esc, figureSection, fixed, missing, svgBlock, tableHtml, tableMd, text } from "./print.ts"

export const figure2 = async (data: ReportData, p: Printer): Promise<Section> => {
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

export const figure3 = async (data: ReportData, p: Printer): Promise<Section> => {
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

export const figure4 = async (data: ReportData, p: Printer): Promise<Section> => {
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
export const figure5File = (p: Figure5Panel): string => `figures/figure5-${p.model}-${p.dataset}-${p.init}-${p.when}.png`

export const figure5 = async (data: ReportData): Promise<Section> => {
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
