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
import { mkdir, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { Rng } from "../../lib/random.ts"
import { Raster, encodeRaster, mapLimit, type Colour } from "../raster.ts"
import type { GeneratedSummary } from "./summary.ts"

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
  jpegQuality: 90,
  concurrency: 4,
} as const

export const gradeNames = ["0 none", "1 mild", "2 moderate", "3 severe", "4 proliferative"] as const

type Knobs = Required<Omit<EyepacsOptions, "patients" | "seed" | "concurrency" | "jpegQuality" | "gradeWeights" | "eyeAgreement">>

const poisson = (rng: Rng, mean: number) => {
  // Knuth's method; means here are small.
  const l = Math.exp(-mean)
  let k = 0, p = rng.next()
  while (p > l) { k++; p *= rng.next() }
  return k
}

/** Draws one fundus photograph of the given grade; `side` is +1 for a right eye (disc on the right). */
export const drawFundus = (grade: number, side: 1 | -1, rng: Rng, knobs: Knobs): Raster => {
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
  const microaneurysms = [0, range(3, 7), range(5, 10), range(8, 16), range(8, 16)][grade]!
  for (let i = 0; i < microaneurysms; i++) {
    const [x, y] = spot()
    img.disc(x, y, Math.max(0.8, s * 0.006 * scale * rng.uniform(0.8, 1.3)), red, 0.95 * con, 0.8)
  }
  const haemorrhages = [0, 0, range(2, 6), range(8, 16), range(6, 14)][grade]!
  for (let i = 0; i < haemorrhages; i++) {
    const [x, y] = spot()
    const sg = s * 0.014 * scale * rng.uniform(0.7, 1.5)
    const flame = rng.bernoulli(0.4)
    img.gaussian(x, y, flame ? sg * 2 : sg, sg, red, 0.9 * con, rng.uniform(0, Math.PI))
  }
  const exudateClusters = [0, 0, range(1, 3), range(2, 5), range(1, 4)][grade]!
  for (let i = 0; i < exudateClusters; i++) {
    const near = rng.bernoulli(0.6)
    const [x0, y0] = near ? [macX + rng.normal(0, R * 0.2), macY + rng.normal(0, R * 0.2)] : spot()
    const n = range(3, 9)
    for (let j = 0; j < n; j++)
      img.disc(x0 + rng.normal(0, s * 0.02), y0 + rng.normal(0, s * 0.02), Math.max(0.7, s * 0.005 * scale * rng.uniform(0.7, 1.6)), [255, 235, 130], 0.9 * con, 0.8)
  }
  const cottonWool = [0, 0, 0, range(2, 5), range(1, 4)][grade]!
  for (let i = 0; i < cottonWool; i++) {
    const [x, y] = spot()
    img.gaussian(x, y, s * 0.022 * scale, s * 0.016 * scale, [245, 230, 205], 0.65 * con, rng.uniform(0, Math.PI))
  }
  if (grade === 4) {
    const tufts = range(1, 3)
    for (let t = 0; t < tufts; t++) {
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
  await mapLimit(items.length, o.concurrency, async (i) => {
    const it = items[i]!
    const img = drawFundus(it.grade, it.side, rng.fork(it.image), o)
    await writeFile(join(root, "train", `${it.image}.jpeg`), await encodeRaster(img, "jpeg", o.jpegQuality))
  })
  await writeFile(join(root, "trainLabels.csv"), "image,level\n" + items.map((it) => `${it.image},${it.grade}\n`).join(""))
  const classCounts: Record<string, number> = {}
  for (const name of gradeNames) classCounts[name] = 0
  for (const it of items) classCounts[gradeNames[it.grade]!]!++
  return { format: "eyepacs", root, images: items.length, patients: o.patients, classCounts, classCountsBySource: { "trainLabels.csv": classCounts }, options: o }
}
