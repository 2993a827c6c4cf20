// Vega-Lite specs for Figures 2-4 and 6-8, rendered headless to inline SVG.
// vega and vega-lite are imported lazily so loading the report module stays cheap.

import type { TopLevelSpec } from "vega-lite"

export type Spec = TopLevelSpec

/** The paper's colours: orange for pretrained-vs-random, blue for the random baseline (Figure 2). */
export const ORANGE = "#ff7f0e"
export const BLUE = "#1f77b4"
export const GREY = "#7f7f7f"

let engines: Promise<{ vega: typeof import("vega"); vl: typeof import("vega-lite") }> | undefined

const loadEngines = () => (engines ??= Promise.all([import("vega"), import("vega-lite")]).then(([vega, vl]) => ({ vega, vl })))

/**
 * Renders a Vega-Lite spec to an SVG string fit for inlining in HTML: no renderer, no
 * network (the specs carry inline data only), and the XML namespace declarations removed
 * (HTML parsers do not need them) so the report contains no http(s) text at all.
 */
export const renderSvg = async (spec: Spec): Promise<string> => {
  const { vega, vl } = await loadEngines()
  const compiled = vl.compile(spec).spec
  const view = new vega.View(vega.parse(compiled), { renderer: "none" })
  try {
    const svg = await view.toSVG()
    return svg.replace(/\s+xmlns(:xlink)?="[^"]*"/g, "")
  } finally {
    view.finalize()
  }
}

type Row = Record<string, string | number | boolean | null>

// labelLimit 0: never truncate legend labels (configuration names are the point of the legend).
const base = { background: "white", config: { font: "sans-serif", view: { stroke: "#ccc" }, legend: { labelLimit: 0 } } } as const

/** Figure 2: grouped bars of mean similarity per model, one dot per compared pair. */
export const figure2Spec = (rows: Row[], title: string): Spec => ({
  ...base,
  title,
  data: { values: rows },
  width: { step: 28 },
  height: 220,
  layer: [
    {
      mark: { type: "bar" },
      encoding: {
        x: { field: "model", type: "nominal", sort: null, title: null },
        xOffset: { field: "comparison", sort: null },
        y: { aggregate: "mean", field: "similarity", type: "quantitative", title: "similarity", scale: { domain: [0, 1] } },
        color: { field: "comparison", type: "nominal", sort: null, scale: { range: [ORANGE, BLUE] }, title: null },
      },
    },
    {
      mark: { type: "point", filled: true, color: "black", size: 18 },
      encoding: {
        x: { field: "model", type: "nominal", sort: null },
        xOffset: { field: "comparison", sort: null },
        y: { field: "similarity", type: "quantitative" },
      },
    },
  ],
})

/** Figure 3: per layer, similarity to own init for random and pretrained init, and their difference (dashed grey). */
export const figure3Spec = (panels: Array<{ title: string; layers: string[]; rows: Row[] }>): Spec => ({
  ...base,
  columns: 3,
  concat: panels.map((p) => ({
    title: p.title,
    data: { values: p.rows },
    width: Math.max(160, 36 * p.layers.length),
    height: 200,
    layer: [
      {
        mark: { type: "line", point: true },
        encoding: {
          x: { field: "layer", type: "ordinal", sort: p.layers, title: null },
          y: { aggregate: "mean", field: "similarity", type: "quantitative", title: "similarity to init", scale: { domain: [-0.2, 1] } },
          color: { field: "series", type: "nominal", scale: { domain: ["random init", "pretrained init", "pretrained - random"], range: [BLUE, ORANGE, GREY] }, title: null },
          strokeDash: { field: "series", type: "nominal", scale: { domain: ["random init", "pretrained init", "pretrained - random"], range: [[1, 0], [1, 0], [4, 3]] }, title: null },
        },
      },
    ],
  })),
})

/** Figure 4: similarity at init vs after training, with the least-squares line. */
export const figure4Spec = (panels: Array<{ title: string; points: Row[]; line: Row[] }>): Spec => ({
  ...base,
  columns: 3,
  concat: panels.map((p) => ({
    title: p.title,
    width: 180,
    height: 180,
    layer: [
      {
        data: { values: p.points },
        mark: { type: "point", filled: true, color: ORANGE },
        encoding: {
          x: { field: "atInit", type: "quantitative", title: "similarity at init", scale: { zero: false } },
          y: { field: "afterTraining", type: "quantitative", title: "similarity after training", scale: { zero: false } },
        },
      },
      {
        data: { values: p.line },
        mark: { type: "line", color: GREY },
        encoding: { x: { field: "atInit", type: "quantitative" }, y: { field: "afterTraining", type: "quantitative" } },
      },
    ],
  })),
})

/** Validation curves (Figures 6-8): one line per run, coloured by configuration, threshold as a rule. */
export const curvesSpec = (panels: Array<{ title: string; rows: Row[]; order: string[]; threshold?: number; yTitle: string }>): Spec => ({
  ...base,
  // Panels compare different configurations, so each gets its own colours and legend.
  resolve: { scale: { color: "independent" }, legend: { color: "independent" } },
  columns: 3,
  concat: panels.map((p) => ({
    title: p.title,
    width: 240,
    height: 200,
    layer: [
      {
        data: { values: p.rows },
        mark: { type: "line", strokeWidth: 1.2 },
        encoding: {
          x: { field: "step", type: "quantitative", title: "training step" },
          y: { field: "value", type: "quantitative", title: p.yTitle, scale: { zero: false } },
          color: { field: "config", type: "nominal", sort: p.order, scale: { domain: p.order, scheme: "tableau10" }, title: null },
          detail: { field: "run", type: "nominal" },
        },
      },
      ...(p.threshold === undefined
        ? []
        : [
            {
              data: { values: [{ threshold: p.threshold }] },
              mark: { type: "rule" as const, color: GREY, strokeDash: [4, 3] },
              encoding: { y: { field: "threshold", type: "quantitative" as const } },
            },
          ]),
    ],
  })),
})

/** Figure 7 right: steps to threshold per transfused prefix (bar = mean, dots = seeds, hollow = never reached). */
export const stepsSpec = (rows: Row[], order: string[], title: string): Spec => ({
  ...base,
  title,
  data: { values: rows },
  width: { step: 40 },
  height: 200,
  layer: [
    {
      mark: { type: "bar", color: BLUE, opacity: 0.7 },
      encoding: {
        x: { field: "config", type: "ordinal", sort: order, title: null },
        y: { aggregate: "mean", field: "steps", type: "quantitative", title: "steps to threshold" },
      },
    },
    {
      mark: { type: "point", color: "black", size: 22 },
      encoding: {
        x: { field: "config", type: "ordinal", sort: order },
        y: { field: "steps", type: "quantitative" },
        shape: { field: "reached", type: "nominal", scale: { domain: ["yes", "no (training length)"], range: ["circle", "triangle-up"] }, title: "reached threshold" },
      },
    },
  ],
})
