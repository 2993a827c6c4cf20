// Stand-in for CheXpert-v1.0-small in its on-disk layout:
//   CheXpert-v1.0-small/train.csv, valid.csv (the 19 real columns)
//   CheXpert-v1.0-small/{train,valid}/patientNNNNN/studyN/view1_frontal.jpg (+ view2_lateral.jpg)
// Grayscale thorax: soft tissue, dark lungs under bright ribs and clavicles, spine,
// heart and diaphragm domes. The five competition findings look as they do on film:
//   Cardiomegaly      enlarged cardiac silhouette (cardiothoracic ratio > 0.5)
//   Pleural Effusion  fluid at a lung base, higher laterally (meniscus), blunting the angle
//   Consolidation     a focal dense opacity
//   Atelectasis       a band-like (plate) opacity with a raised hemidiaphragm
//   Edema             bilateral perihilar haze
// Labels follow a latent-cause model so findings co-occur as in the real set (heart
// failure drives cardiomegaly, edema and effusion; infection drives consolidation and
// pneumonia; effusion drives atelectasis) and patients' studies share causes. train.csv
// states each finding as 1.0 / 0.0 / -1.0 (uncertain) / blank (not mentioned), the
// way the CheXpert labeler does; valid.csv is radiologist consensus, 1.0 / 0.0 only.
// Difficulty knobs: findingContrast, findingScale, noise.
import { mkdir, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { Rng } from "../../lib/random.ts"
import { Raster, encodeRaster, mapLimit } from "../raster.ts"
import { rocAuc } from "../../ml/metrics.ts"
import { defaultPolicy } from "../formats/chexpert.ts"
import { CHEXPERT_FINDINGS } from "../findings.ts"
import { emptyTally, type Ceiling, type GeneratedSummary, type LabelTally } from "./summary.ts"

/** The 14 observations, in the real CSV's column order. */
export const chexpertObservations = [
  "No Finding", "Enlarged Cardiomediastinum", "Cardiomegaly", "Lung Opacity", "Lung Lesion", "Edema",
  "Consolidation", "Pneumonia", "Atelectasis", "Pneumothorax", "Pleural Effusion", "Pleural Other",
  "Fracture", "Support Devices",
] as const
export const chexpertColumns = ["Path", "Sex", "Age", "Frontal/Lateral", "AP/PA", ...chexpertObservations] as const

export type Observation = (typeof chexpertObservations)[number]

export interface ChexpertOptions {
  /** Training patients (train.csv). */
  readonly patients: number
  /** Validation patients (valid.csv); default max(1, patients/50). */
  readonly validPatients?: number
  readonly seed: number | string
  /** Image width; CheXpert-small images are 320 wide. Default 256. */
  readonly width?: number
  /** Image height; default = width * 1.2 (portrait, like the real films). */
  readonly height?: number
  /** Most studies per patient (uniform 1..max). Default 3. */
  readonly maxStudies?: number
  /** Probability a study also has a lateral view. Default 0.3. */
  readonly lateralRate?: number
  /** Multiplies the opacity of every finding (0..1]. Lower is harder. Default 1. */
  readonly findingContrast?: number
  /** Multiplies the size of focal findings and the cardiac enlargement. Default 1. */
  readonly findingScale?: number
  /** Film noise standard deviation in grey levels. Default 5. */
  readonly noise?: number
  readonly jpegQuality?: number
  readonly concurrency?: number
}

export const chexpertDefaults = {
  width: 256,
  maxStudies: 3,
  lateralRate: 0.3,
  findingContrast: 1,
  findingScale: 1,
  noise: 5,
  jpegQuality: 90,
  concurrency: 4,
} as const

export type Truth = Record<Observation, boolean>

/** Per-study truth from latent causes; `chronic` is the patient's heart-failure propensity. */
export const drawTruth = (rng: Rng, chronic: boolean): Truth => {
  const hf = rng.bernoulli(chronic ? 0.75 : 0.08)
  const infection = rng.bernoulli(0.18)
  const b = (p: number) => rng.bernoulli(p)
  const cardiomegaly = b(hf ? 0.6 : 0.07)
  const edema = b(hf ? 0.6 : 0.04)
  const effusion = b(hf ? 0.55 : infection ? 0.25 : 0.1)
  const consolidation = b(infection ? 0.55 : 0.04)
  const pneumonia = b(infection ? 0.45 : 0.02)
  const atelectasis = b(effusion ? 0.35 : 0.12)
  const t: Truth = {
    "No Finding": false,
    "Enlarged Cardiomediastinum": b(cardiomegaly ? 0.4 : 0.05),
    Cardiomegaly: cardiomegaly,
    "Lung Opacity": b(consolidation || edema || atelectasis ? 0.8 : 0.08),
    "Lung Lesion": b(0.04),
    Edema: edema,
    Consolidation: consolidation,
    Pneumonia: pneumonia,
    Atelectasis: atelectasis,
    Pneumothorax: b(0.06),
    "Pleural Effusion": effusion,
    "Pleural Other": b(0.02),
    Fracture: b(0.03),
    "Support Devices": b(hf ? 0.5 : 0.3),
  }
  t["No Finding"] = !chexpertObservations.some((o) => o !== "No Finding" && o !== "Support Devices" && t[o])
  return t
}

/** How the report labeler states a finding: uncertainty is likelier for real positives of Atelectasis and Edema. */
export const stateLabel = (rng: Rng, obs: Observation, truth: boolean): string => {
  if (obs === "No Finding") return truth ? "1.0" : ""
  const hedgy = obs === "Atelectasis" || obs === "Edema"
  if (truth) return rng.bernoulli(hedgy ? 0.3 : 0.15) ? "-1.0" : "1.0"
  const u = rng.next()
  return u < (hedgy ? 0.04 : 0.03) ? "-1.0" : u < 0.25 ? "0.0" : ""
}

export interface ChestKnobs { findingContrast: number; findingScale: number; noise: number }

export const drawFrontal = (w: number, h: number, t: Truth, rng: Rng, k: ChestKnobs): Raster => {
  const img = new Raster(w, h, 1).fill([12])
  // Patient pose and exposure vary: shift, scale and overall brightness.
  const sx = w * rng.uniform(0.95, 1.05), sy = h * rng.uniform(0.95, 1.05)
  const ox = w * rng.normal(0, 0.015), oy = h * rng.normal(0, 0.015)
  const X = (u: number) => ox + u * sx + (w - sx) / 2, Y = (v: number) => oy + v * sy + (h - sy) / 2
  const tissue = rng.uniform(95, 125)
  const con = Math.min(1, k.findingContrast), sc = k.findingScale
  img.ellipse(X(0.5), Y(0.62), sx * 0.47, sy * 0.55, 0, [tissue], 1, 6) // torso
  img.ellipse(X(0.2), Y(0.2), sx * 0.2, sy * 0.1, -0.3, [tissue], 1, 6) // shoulders
  img.ellipse(X(0.8), Y(0.2), sx * 0.2, sy * 0.1, 0.3, [tissue], 1, 6)
  const lungs = [
    { cx: 0.32, cy: 0.47, rx: 0.145, ry: 0.27 }, // patient's right = image left
    { cx: 0.68, cy: 0.48, rx: 0.135, ry: 0.26 },
  ]
  for (const l of lungs) img.ellipse(X(l.cx), Y(l.cy), sx * l.rx, sy * l.ry, 0, [38], 0.92, 5)
  // Vascular markings: faint branching lines fanning from the hila.
  for (const [hx, dir] of [[0.42, -1], [0.58, 1]] as const) {
    for (let i = 0; i < 7; i++) {
      const a = Math.PI / 2 + dir * rng.uniform(0.3, 1.4) * (rng.bernoulli(0.5) ? 1 : -1) - Math.PI / 2
      const len = rng.uniform(0.08, 0.18)
      img.segment(X(hx), Y(0.45), X(hx + dir * Math.abs(Math.cos(a)) * len), Y(0.45 + Math.sin(a) * len * 1.3), w * 0.008, w * 0.002, [95], 0.35)
    }
  }
  // Heart, shifted to the patient's left (image right); enlarged in cardiomegaly.
  const enlarge = t.Cardiomegaly ? 1 + 0.4 * sc * rng.uniform(0.85, 1.15) : rng.uniform(0.92, 1.06)
  img.ellipse(X(0.545), Y(0.64), sx * 0.115 * enlarge, sy * 0.11 * Math.sqrt(enlarge), 0.25, [tissue + 25], 0.95, 4)
  img.segment(X(0.5), Y(0.08), X(0.5), Y(0.95), w * 0.075, w * 0.085, [tissue + 35], 0.9) // spine and mediastinum
  // Hemidiaphragms; atelectasis raises one (volume loss).
  const raised = t.Atelectasis ? rng.int(2) : -1
  for (const [i, l] of lungs.entries()) {
    const lift = i === raised ? 0.035 * sc : 0
    img.ellipse(X(l.cx), Y(l.cy + l.ry - 0.02 - lift + 0.07), sx * 0.19, sy * 0.08, 0, [tissue + 10], 1, 4)
  }
  // Posterior ribs: arcs from the spine, out and down; clavicles.
  for (const dir of [-1, 1]) {
    for (let r = 0; r < 9; r++) {
      const v0 = 0.2 + r * 0.063
      const pts: [number, number][] = []
      for (let j = 0; j <= 8; j++) {
        const s = j / 8
        pts.push([X(0.5 + dir * (0.04 + 0.36 * Math.sin(s * 1.9))), Y(v0 + 0.03 * s + 0.1 * s * s)])
      }
      img.polyline(pts, h * 0.018, h * 0.014, [175], 0.3)
    }
    img.segment(X(0.5 + dir * 0.05), Y(0.17), X(0.5 + dir * 0.3), Y(0.13), h * 0.025, h * 0.02, [185], 0.55)
  }
  // Findings.
  if (t["Pleural Effusion"]) {
    const sides = rng.bernoulli(0.5) ? [0, 1] : [rng.int(2)]
    for (const i of sides) {
      const l = lungs[i]!, lateral = i === 0 ? -1 : 1
      const level = l.cy + l.ry * (1 - 0.45 * sc * rng.uniform(0.7, 1.2))
      const x0 = X(l.cx - l.rx - 0.02), x1 = X(l.cx + l.rx + 0.02)
      img.paint(x0, Y(level - 0.12), x1, Y(l.cy + l.ry + 0.08), [tissue + 15], (x, y) => {
        const across = ((x - X(l.cx)) / (sx * l.rx)) * lateral // +1 at the chest wall
        const meniscus = Y(level) - sy * 0.06 * Math.max(0, across)
        return 0.85 * con * Math.min(1, Math.max(0, (y - meniscus) / (sy * 0.03)))
      })
    }
  }
  if (t.Consolidation) {
    const l = lungs[rng.int(2)]!
    const cxv = l.cx + rng.uniform(-0.5, 0.5) * l.rx, cyv = l.cy + rng.uniform(-0.4, 0.5) * l.ry
    img.gaussian(X(cxv), Y(cyv), sx * 0.055 * sc, sy * 0.05 * sc, [165], 0.75 * con, rng.uniform(0, Math.PI))
    img.gaussian(X(cxv + 0.02), Y(cyv - 0.02), sx * 0.035 * sc, sy * 0.03 * sc, [170], 0.5 * con)
  }
  if (t.Atelectasis) {
    const l = lungs[raised === -1 ? 0 : raised]!
    img.ellipse(X(l.cx + rng.uniform(-0.3, 0.3) * l.rx), Y(l.cy + l.ry * rng.uniform(0.25, 0.6)), sx * 0.1 * sc, Math.max(1.2, sy * 0.012 * sc), rng.uniform(-0.25, 0.25), [160], 0.8 * con, 2)
  }
  if (t.Edema) {
    for (const l of lungs) img.gaussian(X(l.cx + (l.cx < 0.5 ? 0.05 : -0.05)), Y(l.cy - 0.02), sx * 0.11, sy * 0.17, [135], 0.55 * con)
  }
  if (t["Lung Lesion"]) {
    const l = lungs[rng.int(2)]!
    img.disc(X(l.cx + rng.uniform(-0.5, 0.5) * l.rx), Y(l.cy + rng.uniform(-0.6, 0.3) * l.ry), Math.max(1.5, w * 0.012), [160], 0.7, 1.5)
  }
  if (t["Support Devices"]) {
    // An endotracheal or central-line tube, sometimes a pacemaker box.
    const xe = X(0.5 + rng.uniform(-0.05, 0.1))
    img.polyline([[X(0.5), Y(0.02)], [X(0.505), Y(0.2)], [xe, Y(0.35)]], w * 0.008, w * 0.008, [235], 0.9)
    if (rng.bernoulli(0.3)) img.ellipse(X(0.75), Y(0.2), w * 0.035, h * 0.022, 0.2, [245], 1, 1.5)
  }
  img.blur(1)
  img.modulate((x, y) => 1.05 - 0.15 * Math.abs(x / w - 0.5) - 0.1 * Math.abs(y / h - 0.5))
  img.noise(rng, k.noise)
  return img
}

const drawLateral = (w: number, h: number, t: Truth, rng: Rng, k: ChestKnobs): Raster => {
  const img = new Raster(w, h, 1).fill([12])
  const tissue = rng.uniform(95, 125), con = Math.min(1, k.findingContrast)
  img.ellipse(w * 0.5, h * 0.58, w * 0.36, h * 0.5, 0, [tissue], 1, 6)
  img.ellipse(w * 0.5, h * 0.46, w * 0.26, h * 0.3, 0, [50], 0.85, 6) // superimposed lungs
  img.segment(w * 0.78, h * 0.05, w * 0.74, h * 0.95, w * 0.08, w * 0.09, [tissue + 40], 0.9) // spine, posterior
  const enlarge = t.Cardiomegaly ? 1 + 0.35 * k.findingScale : 1
  img.ellipse(w * 0.4, h * 0.62, w * 0.14 * enlarge, h * 0.12 * enlarge, -0.4, [tissue + 20], 0.9, 4)
  img.ellipse(w * 0.5, h * 0.8, w * 0.3, h * 0.08, 0, [tissue + 10], 1, 4)
  if (t["Pleural Effusion"]) img.gaussian(w * 0.7, h * 0.74, w * 0.08, h * 0.05, [tissue + 15], 0.8 * con)
  if (t.Edema) img.gaussian(w * 0.5, h * 0.48, w * 0.15, h * 0.18, [130], 0.5 * con)
  img.blur(1)
  img.noise(rng, k.noise)
  return img
}

export const generateChexpert = async (root: string, options: ChexpertOptions): Promise<GeneratedSummary> => {
  const o = { ...chexpertDefaults, ...options }
  const width = o.width, height = o.height ?? Math.round(o.width * 1.2)
  const validPatients = o.validPatients ?? Math.max(1, Math.round(o.patients / 50))
  if (!(o.patients >= 1)) throw new RangeError(`generateChexpert: patients must be >= 1, got ${o.patients}`)
  const rng = new Rng(`chexpert/${String(o.seed)}`)
  const base = join(root, "CheXpert-v1.0-small")
  const labelRng = rng.fork("labels")
  interface Row { path: string; truth: Truth; cells: string[]; frontal: boolean; source: "train.csv" | "valid.csv" }
  const rows: Row[] = []
  const frontalBySource: Record<string, number> = { "train.csv": 0, "valid.csv": 0 }
  const labelCountsBySource: Record<string, Record<string, LabelTally>> = { "train.csv": {}, "valid.csv": {} }
  for (const src of Object.values(labelCountsBySource)) for (const obs of chexpertObservations) src[obs] = emptyTally()
  let patientNo = 0
  for (const [source, dir, count] of [["train.csv", "train", o.patients], ["valid.csv", "valid", validPatients]] as const) {
    for (let p = 0; p < count; p++) {
      const patient = `patient${String(++patientNo).padStart(5, "0")}`
      const sex = labelRng.bernoulli(0.55) ? "Male" : "Female"
      const age = 18 + labelRng.int(73)
      const chronic = labelRng.bernoulli(0.2)
      const studies = 1 + (source === "valid.csv" ? 0 : labelRng.int(o.maxStudies))
      for (let s = 1; s <= studies; s++) {
        const truth = drawTruth(labelRng, chronic)
        const stated = chexpertObservations.map((obs) =>
          source === "valid.csv" ? (truth[obs] ? "1.0" : "0.0") : stateLabel(labelRng, obs, truth[obs]),
        )
        const views: ["frontal" | "lateral", string][] = [["frontal", labelRng.bernoulli(0.7) ? "AP" : "PA"]]
        if (labelRng.bernoulli(o.lateralRate)) views.push(["lateral", ""])
        views.forEach(([view, apPa], v) => {
          const path = `CheXpert-v1.0-small/${dir}/${patient}/study${s}/view${v + 1}_${view}.jpg`
          rows.push({ path, truth, frontal: view === "frontal", source, cells: [path, sex, String(age), view === "frontal" ? "Frontal" : "Lateral", apPa, ...stated] })
          if (view === "frontal") {
            frontalBySource[source]!++
            chexpertObservations.forEach((obs, i) => {
              const tally = labelCountsBySource[source]![obs]!, val = stated[i]!
              if (val === "1.0") tally.positive++
              else if (val === "0.0") tally.negative++
              else if (val === "-1.0") tally.uncertain++
              else tally.blank++
            })
          }
        })
      }
    }
  }
  const knobs = { findingContrast: o.findingContrast, findingScale: o.findingScale, noise: o.noise }
  const madeDirs = new Map<string, Promise<unknown>>()
  await mapLimit(rows.length, o.concurrency, async (i) => {
    const r = rows[i]!
    const dir = join(root, r.path.slice(0, r.path.lastIndexOf("/")))
    if (!madeDirs.has(dir)) madeDirs.set(dir, mkdir(dir, { recursive: true }))
    await madeDirs.get(dir)
    const img = (r.frontal ? drawFrontal : drawLateral)(width, height, r.truth, rng.fork(r.path), knobs)
    await writeFile(join(root, r.path), await encodeRaster(img, "jpeg", o.jpegQuality))
  })
  const csv = (source: string) =>
    chexpertColumns.join(",") + "\n" + rows.filter((r) => r.source === source).map((r) => r.cells.join(",") + "\n").join("")
  await mkdir(base, { recursive: true })
  await writeFile(join(base, "train.csv"), csv("train.csv"))
  await writeFile(join(base, "valid.csv"), csv("valid.csv"))
  return {
    format: "chexpert", root, images: rows.length, patients: o.patients + validPatients,
    frontalBySource, labelCountsBySource, options: { ...o, height, validPatients }, ceiling: chexpertCeiling(rows),
  }
}

/**
 * The ceiling of the mean competition AUC: every finding is drawn exactly as true, so the best
 * score is the truth itself, and only the labeler's uncertain and blank mentions (read with the
 * default policy: U-Ones for Atelectasis and Edema, U-Zeros otherwise, blank negative) keep a
 * model below 1. Computed over the frontal images of train.csv and valid.csv, pooled as ingest does.
 */
export const chexpertCeiling = (rows: readonly { truth: Truth; frontal: boolean; cells: readonly string[] }[]): Ceiling => {
  const frontal = rows.filter((r) => r.frontal)
  const aucs = CHEXPERT_FINDINGS.map((finding) => {
    const column = chexpertColumns.indexOf(finding)
    const policy = defaultPolicy(finding)
    const labels = frontal.map((r) => {
      const v = r.cells[column]
      return v === "1.0" ? 1 : v === "-1.0" ? (policy === "U-Ones" ? 1 : policy === "U-Zeros" ? 0 : NaN) : 0
    })
    return rocAuc(frontal.map((r) => (r.truth[finding] ? 1 : 0)), labels)
  })
  return {
    metric: "mean-auc",
    value: aucs.reduce((a, b) => a + b, 0) / aucs.length,
    over: `${frontal.length} frontal images of train.csv and valid.csv`,
    how: `AUC of the true finding against its stated label under the default uncertainty policy, mean of ${CHEXPERT_FINDINGS.map((f, i) => `${f} ${aucs[i]!.toFixed(3)}`).join(", ")}`,
  }
}
