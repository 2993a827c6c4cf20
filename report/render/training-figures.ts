// Figures 6-8: convergence speed-ups of Mean Var, of transfusing a prefix of the
// pretrained layers, and of the hybrid (Slim, Gabor) approaches; curves and steps tables.
import { type Spec, curvesSpec, stepsSpec } from "../charts.ts"
import { type RunFilter, runsWhere, stepsToThreshold, thresholdFor } from "../select.ts"
import { mean } from "../stats.ts"
import { type CurveMetric, type DatasetId, type InitScheme, MODEL_IDS, MODEL_NAMES, type ModelId, PATHOLOGY_NAMES, type ReportData, type RunResult, TRANSFUSION_PREFIXES } from "../types.ts"
import { INIT_LABEL, Printer, type Section, type Table, esc, figureSection, int, missing, pct, svgBlock, tableHtml, tableMd, text } from "./print.ts"

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

export const figure6 = async (data: ReportData, p: Printer): Promise<Section> => {
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

export const figure7 = async (data: ReportData, p: Printer): Promise<Section> => {
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

export const figure8 = async (data: ReportData, p: Printer): Promise<Section> => {
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
