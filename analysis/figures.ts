// The numbers behind Figures 2-4 (Section 4): pure functions over similarity scores
// the similarity stages have computed (default score: PWCCA; see spec.md).

/** Similarity scores of one pair of networks, by layer name. */
export interface PairSimilarity {
  readonly model: string
  /** e.g. "pretrained-vs-random" or "random-vs-random" (Figure 2's baseline: two random-init seeds). */
  readonly comparison: string
  readonly scores: Readonly<Record<string, number>>
}

export interface Summary {
  readonly mean: number
  /** Sample standard deviation (n - 1); 0 for a single value. */
  readonly std: number
  readonly n: number
  readonly values: readonly number[]
}

export const summarise = (values: readonly number[]): Summary => {
  const n = values.length
  if (n === 0) return { mean: NaN, std: NaN, n: 0, values: [] }
  const mean = values.reduce((s, v) => s + v, 0) / n
  const std = n > 1 ? Math.sqrt(values.reduce((s, v) => s + (v - mean) ** 2, 0) / (n - 1)) : 0
  return { mean, std, n, values: [...values] }
}

const scoreOf = (pair: PairSimilarity, layer: string, what: string): number => {
  const v = pair.scores[layer]
  if (v === undefined || !Number.isFinite(v))
    throw new Error(`${what}: the ${pair.comparison} pair of ${pair.model} has no finite score for layer "${layer}" (has: ${Object.keys(pair.scores).join(", ") || "none"})`)
  return v
}

/** Mean score over the last `top` layers of `layers` (listed input to output, the output layer excluded). */
export const topLayersMean = (pair: PairSimilarity, layers: readonly string[], top = 2): number => {
  if (layers.length < top) throw new Error(`topLayersMean: ${pair.model} lists ${layers.length} layers, fewer than the ${top} requested`)
  const chosen = layers.slice(layers.length - top)
  return chosen.reduce((s, l) => s + scoreOf(pair, l, "Figure 2"), 0) / top
}

export interface Figure2Row extends Summary {
  readonly model: string
  readonly comparison: string
  /** The layers averaged. */
  readonly layers: readonly string[]
}

/**
 * Figure 2: per model and comparison, the mean over pairs of each pair's mean
 * similarity of the top two layers before the output. `layersByModel[model]` lists
 * that model's compared layers from input to output, without the output layer.
 */
export const figure2Data = (pairs: readonly PairSimilarity[], layersByModel: Readonly<Record<string, readonly string[]>>, top = 2): Figure2Row[] => {
  const groups = new Map<string, { model: string; comparison: string; values: number[] }>()
  for (const p of pairs) {
    const layers = layersByModel[p.model]
    if (!layers) throw new Error(`Figure 2: no layer list for model "${p.model}" (have: ${Object.keys(layersByModel).join(", ")})`)
    const key = `${p.model}\u0000${p.comparison}`
    const g = groups.get(key) ?? { model: p.model, comparison: p.comparison, values: [] }
    g.values.push(topLayersMean(p, layers, top))
    groups.set(key, g)
  }
  return [...groups.values()].map((g) => {
    const layers = layersByModel[g.model]!
    return { model: g.model, comparison: g.comparison, layers: layers.slice(layers.length - top), ...summarise(g.values) }
  })
}

/** One network's similarity to its own initialisation, by layer. */
export interface RunToInitSimilarity {
  readonly model: string
  /** Initialisation, e.g. "random" or "transfer". */
  readonly init: string
  readonly scores: Readonly<Record<string, number>>
}

export interface Figure3Row extends Summary {
  readonly model: string
  readonly init: string
  readonly layer: string
  /** Position of the layer from the input (0-based). */
  readonly depth: number
}

/** Figure 3: per model, initialisation and layer, the mean (over repetitions) similarity before vs after fine-tuning. */
export const figure3Data = (runs: readonly RunToInitSimilarity[], layersByModel: Readonly<Record<string, readonly string[]>>): Figure3Row[] => {
  const groups = new Map<string, { model: string; init: string; byLayer: number[][] }>()
  for (const r of runs) {
    const layers = layersByModel[r.model]
    if (!layers) throw new Error(`Figure 3: no layer list for model "${r.model}" (have: ${Object.keys(layersByModel).join(", ")})`)
    const key = `${r.model}\u0000${r.init}`
    const g = groups.get(key) ?? { model: r.model, init: r.init, byLayer: layers.map(() => []) }
    layers.forEach((l, i) => g.byLayer[i]!.push(scoreOf({ model: r.model, comparison: `${r.init} run-vs-init`, scores: r.scores }, l, "Figure 3")))
    groups.set(key, g)
  }
  return [...groups.values()].flatMap((g) => layersByModel[g.model]!.map((layer, depth) => ({ model: g.model, init: g.init, layer, depth, ...summarise(g.byLayer[depth]!) })))
}

export interface LinearFit {
  readonly slope: number
  readonly intercept: number
  /** Coefficient of determination of the least-squares line: 1 - SS_res / SS_tot. */
  readonly r2: number
  readonly n: number
}

/** Ordinary least squares y = intercept + slope x, with R^2. */
export const linearFit = (xs: readonly number[], ys: readonly number[]): LinearFit => {
  const n = xs.length
  if (n !== ys.length) throw new RangeError(`linearFit: ${n} x values but ${ys.length} y values`)
  if (n < 2) throw new RangeError(`linearFit: needs at least 2 points, got ${n}`)
  const mx = xs.reduce((s, v) => s + v, 0) / n, my = ys.reduce((s, v) => s + v, 0) / n
  let sxx = 0, sxy = 0, syy = 0
  for (let i = 0; i < n; i++) {
    const dx = xs[i]! - mx, dy = ys[i]! - my
    sxx += dx * dx
    sxy += dx * dy
    syy += dy * dy
  }
  if (sxx === 0) throw new RangeError("linearFit: all x values are equal; the slope is undefined")
  const slope = sxy / sxx
  const intercept = my - slope * mx
  let ssRes = 0
  for (let i = 0; i < n; i++) ssRes += (ys[i]! - intercept - slope * xs[i]!) ** 2
  return { slope, intercept, r2: syy === 0 ? 1 : 1 - ssRes / syy, n }
}

export interface Figure4Point {
  /** Which pair of runs, e.g. "mean-var-seed1 vs random-seed2". */
  readonly pair: string
  readonly atInit: number
  readonly afterTraining: number
}

/** Figure 4: (similarity at initialisation, similarity after training) over pairs of runs, with the line fit and R^2 (the paper: 0.75 and 0.84 for ResNet). */
export const figure4Data = (points: readonly Figure4Point[]): { points: readonly Figure4Point[]; fit: LinearFit } => ({
  points,
  fit: linearFit(points.map((p) => p.atInit), points.map((p) => p.afterTraining)),
})
