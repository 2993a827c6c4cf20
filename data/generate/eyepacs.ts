// Stand-in for the Kaggle EyePACS diabetic-retinopathy set, in its on-disk layout:
//   train/{patient}_{left|right}.jpeg   and   trainLabels.csv  (image,level)
// Each image is a round fundus on black with vignetting, optic disc, macula and a
// branching vessel tree. The grade (ICDR 0-4) is carried only by small LOCAL lesions,
// the property of medical tasks the paper contrasts with ImageNet's global subjects:
//   grade 1: microaneurysms (tiny red dots)
//   grade 2: + blot haemorrhages and hard exudates (yellow flecks)
//   grade 3: more of both, + cotton-wool spots
//   grade 4: + neovascularisation (fine tortuous vessel tufts) and a preretinal bleed
// Difficulty knobs (all documented on EyepacsOptions): lesionScale, lesionContrast,
// noise, distractors. Both eyes of a patient share a grade with probability eyeAgreement.
// Real grading is not a noiseless function of the lesions, so three knobs bring the best
// achievable AUC below 1: grader disagreement (labelNoise), grade 1/2 lesion counts that
// overlap (boundaryOverlap) and lesion-coloured distractors (red dots drawn exactly like
// microaneurysms, yellow clusters exactly like exudates). The generator records the Bayes
// ceiling they imply (`retinaCeiling`): the AUC of the best lesion-count-based score against
// the labels it wrote.
import { mkdir, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { Rng } from "../../lib/random.ts"
import { Raster, encodeRaster, mapLimit, type Colour } from "../raster.ts"
import { rocAuc } from "../../ml/metrics.ts"
import type { Ceiling, GeneratedSummary } from "./summary.ts"

export interface EyepacsOptions {
  readonly patients: number
  readonly seed: number | string
  /** Image height in pixels; width is height x aspect (the paper trains at 587 x 587). Default 256. */
  readonly size?: number
  /** Width / height. Real EyePACS photos are ~1.5 (a round fundus between black side bands). Default 1. */
  readonly aspect?: number
  /** Grade prevalences 0..4; default the real set's ~73/7/15/2.5/2.5 %. */
  readonly gradeWeights?: readonly number[]
  /** Probability the second eye copies the first eye's grade (else drawn afresh). Default 0.8. */
  readonly eyeAgreement?: number
  /** Multiplies lesion radii (1 = microaneurysm ~0.6% of the image side). Smaller is harder. Default 1. */
  readonly lesionScale?: number
  /** Multiplies lesion opacity (0..1]. Lower is harder. Default 1. */
  readonly lesionContrast?: number
  /** Sensor noise standard deviation in 0..255 grey levels. Default 4. */
  readonly noise?: number
  /** Mean number of lesion-like but grade-neutral marks per image (dust, reflections). Default 1. */
  readonly distractors?: number
  /** Probability a written grade is the true grade shifted by +1 or -1 (equally likely, clamped to 0..4): grader disagreement. Default 0. */
  readonly labelNoise?: number
  /**
   * Probability that a grade 1 eye shows 1-2 haemorrhages, and, separately, that a grade 2 eye shows only
   * 0-2 haemorrhages and 0-1 exudate clusters: lesion counts that overlap at the referable boundary. Default 0.
   */
  readonly boundaryOverlap?: number
  /** Mean number (Poisson) of grade-neutral red dots drawn like microaneurysms, and of yellow clusters drawn like exudates, per eye. Default 0. */
  readonly lesionDistractors?: number
  readonly jpegQuality?: number
  readonly concurrency?: number
}

export const eyepacsDefaults = {
  size: 256,
  aspect: 1,
  gradeWeights: [0.73, 0.07, 0.15, 0.025, 0.025],
  eyeAgreement: 0.8,
  lesionScale: 1,
  lesionContrast: 1,
  noise: 4,
  distractors: 1,
  labelNoise: 0,
  boundaryOverlap: 0,
  lesionDistractors: 0,
  jpegQuality: 90,
  concurrency: 4,
} as const

export const gradeNames = ["0 none", "1 mild", "2 moderate", "3 severe", "4 proliferative"] as const

type Knobs = Required<Omit<EyepacsOptions, "patients" | "seed" | "concurrency" | "jpegQuality" | "gradeWeights" | "eyeAgreement" | "labelNoise">>
type LesionKnobs = Pick<Knobs, "boundaryOverlap" | "lesionDistractors">

const poisson = (rng: Rng, mean: number) => {
  // Knuth's method; means here are small.
  const l = Math.exp(-mean)
  let k = 0, p = rng.next()
  while (p > l) { k++; p *= rng.next() }
  return k
}

/** What an eye shows, as counts an observer could make; `red`/`yellow` distractors look exactly like microaneurysms/exudate clusters. */
export interface LesionCounts {
  readonly microaneurysms: number
  readonly haemorrhages: number
  readonly exudateClusters: number
  readonly cottonWool: number
  readonly tufts: number
  readonly redDistractors: number
  readonly yellowDistractors: number
}

/** A uniform integer range lo..hi. */
type Range = readonly [number, number]
/**
 * The lesion-count model per grade as mixtures of independent uniform counts: the one
 * description both the drawing and the Bayes ceiling use. Each component: weight, then
 * ranges for microaneurysms, haemorrhages, exudate clusters, cotton-wool spots, tufts.
 */
type Component = { readonly weight: number; readonly counts: readonly [Range, Range, Range, Range, Range] }
export const lesionModel = (grade: number, overlap: number): readonly Component[] => {
  const none: Range = [0, 0]
  switch (grade) {
    case 0: return [{ weight: 1, counts: [none, none, none, none, none] }]
    case 1: return [
      { weight: 1 - overlap, counts: [[3, 7], none, none, none, none] },
      { weight: overlap, counts: [[3, 7], [1, 2], none, none, none] },
    ]
    case 2: return [
      { weight: 1 - overlap, counts: [[5, 10], [2, 6], [1, 3], none, none] },
      // Early grade 2: microaneurysms as in grade 1, at most a couple of small bleeds.
      { weight: overlap, counts: [[3, 7], [0, 2], [0, 1], none, none] },
    ]
    case 3: return [{ weight: 1, counts: [[8, 16], [8, 16], [2, 5], [2, 5], none] }]
    default: return [{ weight: 1, counts: [[8, 16], [6, 14], [1, 4], [1, 4], [1, 3]] }]
  }
}

/** Draws the counts of one eye of the given grade. */
export const lesionCounts = (grade: number, rng: Rng, knobs: LesionKnobs): LesionCounts => {
  const components = lesionModel(grade, knobs.boundaryOverlap).filter((c) => c.weight > 0)
  const c = components[rng.categorical(components.map((x) => x.weight))]!.counts
  const draw = ([lo, hi]: Range) => lo + rng.int(hi - lo + 1)
  return {
    microaneurysms: draw(c[0]), haemorrhages: draw(c[1]), exudateClusters: draw(c[2]), cottonWool: draw(c[3]), tufts: draw(c[4]),
    redDistractors: poisson(rng, knobs.lesionDistractors), yellowDistractors: poisson(rng, knobs.lesionDistractors),
  }
}

const poissonPmf = (k: number, mean: number): number => {
  if (k < 0) return 0
  if (mean === 0) return k === 0 ? 1 : 0
  let logP = -mean + k * Math.log(mean)
  for (let i = 2; i <= k; i++) logP -= Math.log(i)
  return Math.exp(logP)
}

/** P(observed count | a uniform lo..hi true count plus Poisson(mean) look-alikes). */
const observedPmf = (observed: number, [lo, hi]: Range, mean: number): number => {
  let p = 0
  for (let k = lo; k <= Math.min(hi, observed); k++) p += poissonPmf(observed - k, mean) / (hi - lo + 1)
  return p
}

/** P(written grade >= 2 | true grade) under `labelNoise` (shift +-1 equally likely, clamped to 0..4). */
export const referableGivenGrade = (grade: number, labelNoise: number): number =>
  grade === 0 ? 0 : grade === 1 ? labelNoise / 2 : grade === 2 ? 1 - labelNoise / 2 : 1

/**
 * The Bayes-optimal referable score of one eye from what it shows: P(written grade >= 2 | counts),
 * where red distractors add to the visible microaneurysms and yellow ones to the exudate clusters.
 */
export const referableScore = (c: LesionCounts, weights: readonly number[], knobs: LesionKnobs & { labelNoise: number }): number => {
  const visible = [c.microaneurysms + c.redDistractors, c.haemorrhages, c.exudateClusters + c.yellowDistractors, c.cottonWool, c.tufts]
  const lookAlikes = [knobs.lesionDistractors, 0, knobs.lesionDistractors, 0, 0]
  let evidence = 0, referable = 0
  weights.forEach((w, grade) => {
    let likelihood = 0
    for (const comp of lesionModel(grade, knobs.boundaryOverlap)) {
      let p = comp.weight
      for (let t = 0; t < visible.length && p > 0; t++) p *= observedPmf(visible[t]!, comp.counts[t]!, lookAlikes[t]!)
      likelihood += p
    }
    evidence += w * likelihood
    referable += w * likelihood * referableGivenGrade(grade, knobs.labelNoise)
  })
  return evidence > 0 ? referable / evidence : 0
}

/** Writes the grade a grader reports: the true one, or with probability labelNoise one step off. */
export const noisyGrade = (grade: number, rng: Rng, labelNoise: number): number =>
  rng.bernoulli(labelNoise) ? Math.min(4, Math.max(0, grade + (rng.bernoulli(0.5) ? 1 : -1))) : grade

/** Draws one fundus photograph of the given grade; `side` is +1 for a right eye (disc on the right). */
export const drawFundus = (grade: number, side: 1 | -1, rng: Rng, knobs: Knobs, lesions: LesionCounts = lesionCounts(grade, rng.fork("lesions"), knobs)): Raster => {
  const s = knobs.size
  const img = new Raster(Math.round(s * knobs.aspect), s, 3)
  const cx = img.width / 2 + rng.normal(0, s * 0.01), cy = s / 2 + rng.normal(0, s * 0.01)
  const R = s * rng.uniform(0.44, 0.48)
  const bright = rng.uniform(0.75, 1.1)
  const base: Colour = [rng.uniform(185, 225) * bright, rng.uniform(75, 110) * bright, rng.uniform(30, 55) * bright]
  img.disc(cx, cy, R, base, 1, 1.5)
  const discX = cx + side * R * rng.uniform(0.45, 0.55), discY = cy + rng.normal(0, R * 0.05)
  const discR = R * rng.uniform(0.12, 0.15)
  // Macula: dark, slightly temporal of the centre.
  const macX = cx - side * R * 0.08, macY = cy + R * 0.03
  img.gaussian(macX, macY, R * 0.12, R * 0.12, [base[0]! * 0.55, base[1]! * 0.45, base[2]! * 0.4], 0.6)
  // Vessel tree: four arcades leaving the disc, each a curving tapered random walk with branches.
  const vessel = (x: number, y: number, angle: number, curve: number, len: number, width: number, colour: Colour, depth: number) => {
    const pts: [number, number][] = [[x, y]]
    const steps = 10
    for (let i = 0; i < steps; i++) {
      angle += curve + rng.normal(0, 0.12)
      x += Math.cos(angle) * (len / steps)
      y += Math.sin(angle) * (len / steps)
      pts.push([x, y])
      if (depth > 0 && i > 2 && rng.bernoulli(0.18)) vessel(x, y, angle + rng.uniform(0.4, 0.9) * (rng.bernoulli(0.5) ? 1 : -1), curve * 0.5, len * 0.45, width * 0.55, colour, depth - 1)
    }
    img.polyline(pts, width, Math.max(0.6, width * 0.3), colour, 0.85)
  }
  const vein: Colour = [base[0]! * 0.55, base[1]! * 0.22, base[2]! * 0.3]
  const artery: Colour = [base[0]! * 0.75, base[1]! * 0.35, base[2]! * 0.4]
  const toward = side === 1 ? Math.PI : 0 // temporal direction seen from the disc
  for (const [dir, col] of [[-1, vein], [1, vein], [-1, artery], [1, artery]] as const) {
    const a0 = toward + dir * rng.uniform(0.9, 1.3) * (side === 1 ? -1 : 1)
    vessel(discX, discY, a0, -dir * 0.09 * (side === 1 ? -1 : 1), R * rng.uniform(1.1, 1.4), s * 0.016, col, 2)
  }
  for (let i = 0; i < 2; i++) vessel(discX, discY, toward + Math.PI + rng.uniform(-1, 1), 0, R * 0.5, s * 0.01, vein, 1)
  img.disc(discX, discY, discR, [250, 225, 160], 0.95, 2)
  img.gaussian(discX + side * discR * 0.2, discY, discR * 0.45, discR * 0.45, [255, 245, 215], 0.8)

  // Lesions, inside the fundus and off the disc.
  const scale = knobs.lesionScale, con = Math.min(1, knobs.lesionContrast)
  const spot = (): [number, number] => {
    for (;;) {
      const a = rng.uniform(0, 2 * Math.PI), d = Math.sqrt(rng.next()) * R * 0.85
      const x = cx + d * Math.cos(a), y = cy + d * Math.sin(a)
      if (Math.hypot(x - discX, y - discY) > discR * 1.5) return [x, y]
    }
  }
  const red: Colour = [base[0]! * 0.45, base[1]! * 0.12, base[2]! * 0.15]
  const range = (lo: number, hi: number) => lo + rng.int(hi - lo + 1)
  for (let i = 0; i < lesions.microaneurysms + lesions.redDistractors; i++) {
    const [x, y] = spot()
    img.disc(x, y, Math.max(0.8, s * 0.006 * scale * rng.uniform(0.8, 1.3)), red, 0.95 * con, 0.8)
  }
  for (let i = 0; i < lesions.haemorrhages; i++) {
    const [x, y] = spot()
    const sg = s * 0.014 * scale * rng.uniform(0.7, 1.5)
    const flame = rng.bernoulli(0.4)
    img.gaussian(x, y, flame ? sg * 2 : sg, sg, red, 0.9 * con, rng.uniform(0, Math.PI))
  }
  for (let i = 0; i < lesions.exudateClusters + lesions.yellowDistractors; i++) {
    const near = rng.bernoulli(0.6)
    const [x0, y0] = near ? [macX + rng.normal(0, R * 0.2), macY + rng.normal(0, R * 0.2)] : spot()
    const n = range(3, 9)
    for (let j = 0; j < n; j++)
      img.disc(x0 + rng.normal(0, s * 0.02), y0 + rng.normal(0, s * 0.02), Math.max(0.7, s * 0.005 * scale * rng.uniform(0.7, 1.6)), [255, 235, 130], 0.9 * con, 0.8)
  }
  for (let i = 0; i < lesions.cottonWool; i++) {
    const [x, y] = spot()
    img.gaussian(x, y, s * 0.022 * scale, s * 0.016 * scale, [245, 230, 205], 0.65 * con, rng.uniform(0, Math.PI))
  }
  if (lesions.tufts > 0) {
    for (let t = 0; t < lesions.tufts; t++) {
      const onDisc = rng.bernoulli(0.5)
      let [x, y] = onDisc ? [discX + rng.normal(0, discR), discY + rng.normal(0, discR)] : spot()
      for (let k = 0; k < 6; k++) {
        const pts: [number, number][] = [[x, y]]
        let a = rng.uniform(0, 2 * Math.PI)
        for (let j = 0; j < 8; j++) {
          a += rng.normal(0, 0.9)
          x += Math.cos(a) * s * 0.008 * scale; y += Math.sin(a) * s * 0.008 * scale
          pts.push([x, y])
        }
        img.polyline(pts, Math.max(0.7, s * 0.004 * scale), Math.max(0.6, s * 0.003 * scale), red, 0.9 * con)
      }
    }
    if (rng.bernoulli(0.5)) {
      const [x, y] = spot()
      img.ellipse(x, y, s * 0.05 * scale, s * 0.035 * scale, rng.uniform(0, Math.PI), red, 0.85 * con, 2)
    }
  }
  // Grade-neutral marks: dust on the lens (grey) and small light reflexes.
  const marks = poisson(rng, knobs.distractors)
  for (let i = 0; i < marks; i++) {
    const [x, y] = spot()
    if (rng.bernoulli(0.5)) img.disc(x, y, Math.max(0.8, s * 0.007), [base[0]! * 0.6, base[1]! * 0.6, base[2]! * 0.6], 0.6, 1)
    else img.gaussian(x, y, s * 0.01, s * 0.01, [255, 255, 240], 0.5)
  }
  // Illumination fall-off toward the rim; the black surround stays black.
  img.modulate((x, y) => {
    const q = Math.hypot(x - cx, y - cy) / R
    return q > 1.05 ? 0 : 1 - 0.5 * q * q
  })
  // Choroidal unevenness: broad faint blotches so the background is not flat.
  // Acquisition draws use their own streams, so two grades drawn from one seed differ only in lesions.
  const acquisition = rng.fork("acquisition")
  img.unevenness(acquisition, 5, 0.12)
  if (acquisition.bernoulli(0.3)) img.blur(1)
  img.noise(acquisition.fork("noise"), knobs.noise)
  return img
}

/** Patients' eyes and grades: ids increase with gaps like the real set's; eyes agree with probability `agreement`. */
export const eyepacsLabels = (rng: Rng, patients: number, weights: readonly number[], agreement: number) => {
  const items: { image: string; grade: number; side: 1 | -1 }[] = []
  let id = 10
  for (let p = 0; p < patients; p++) {
    id += 1 + rng.int(5)
    const first = rng.categorical(weights)
    const second = rng.bernoulli(agreement) ? first : rng.categorical(weights)
    items.push({ image: `${id}_left`, grade: first, side: -1 }, { image: `${id}_right`, grade: second, side: 1 })
  }
  return items
}

export const generateEyepacs = async (root: string, options: EyepacsOptions): Promise<GeneratedSummary> => {
  const o = { ...eyepacsDefaults, ...options }
  if (!(o.patients >= 1)) throw new RangeError(`generateEyepacs: patients must be >= 1, got ${o.patients}`)
  const rng = new Rng(`eyepacs/${String(o.seed)}`)
  await mkdir(join(root, "train"), { recursive: true })
  const items = eyepacsLabels(rng.fork("labels"), o.patients, o.gradeWeights, o.eyeAgreement)
  const lesions = items.map((it) => lesionCounts(it.grade, rng.fork(it.image).fork("lesions"), o))
  const noise = rng.fork("grader")
  const written = items.map((it) => noisyGrade(it.grade, noise, o.labelNoise))
  await mapLimit(items.length, o.concurrency, async (i) => {
    const it = items[i]!
    const img = drawFundus(it.grade, it.side, rng.fork(it.image), o, lesions[i]!)
    await writeFile(join(root, "train", `${it.image}.jpeg`), await encodeRaster(img, "jpeg", o.jpegQuality))
  })
  await writeFile(join(root, "trainLabels.csv"), "image,level\n" + items.map((it, i) => `${it.image},${written[i]}\n`).join(""))
  const classCounts: Record<string, number> = {}
  for (const name of gradeNames) classCounts[name] = 0
  for (const g of written) classCounts[gradeNames[g]!]!++
  const ceiling = retinaCeiling(lesions, written, o)
  return { format: "eyepacs", root, images: items.length, patients: o.patients, classCounts, classCountsBySource: { "trainLabels.csv": classCounts }, options: o, ceiling }
}

/**
 * The Bayes ceiling of referable-DR AUC: the AUC of `referableScore` (the best score from the
 * lesions an eye shows, given the generator's own lesion model) against the written grades >= 2,
 * over every generated eye. A model that sees only pixels cannot beat it in expectation; a test
 * split is a sample of these eyes, so its own ceiling scatters around this value.
 */
export const retinaCeiling = (
  lesions: readonly LesionCounts[],
  writtenGrades: readonly number[],
  o: LesionKnobs & { labelNoise: number; gradeWeights: readonly number[] },
): Ceiling => {
  const scores = lesions.map((c) => referableScore(c, o.gradeWeights, o))
  return {
    metric: "referable-auc",
    value: rocAuc(scores, writtenGrades.map((g) => (g >= 2 ? 1 : 0))),
    over: `all ${lesions.length} generated eyes`,
    how: `AUC of P(written grade >= 2 | visible lesion counts) under the generator's lesion model (labelNoise ${o.labelNoise}, boundaryOverlap ${o.boundaryOverlap}, lesionDistractors ${o.lesionDistractors})`,
  }
}
