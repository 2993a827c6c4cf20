// Stand-in for ImageNet (ILSVRC2012 as Kaggle ships it):
//   train/nXXXXXXXX/nXXXXXXXX_N.JPEG
//   val/ILSVRC2012_val_NNNNNNNN.JPEG + LOC_val_solution.csv (ImageId,PredictionString)
//   LOC_synset_mapping.txt ("nXXXXXXXX name, name")
// Each of K classes is one global object: a shape with its own colour and surface
// texture, seen at a random pose (position, scale, rotation) over a cluttered,
// graded background - the "whole-image subject" kind of task the paper contrasts
// with medical images, where small local features decide the label.
// Difficulty knobs: clutter (distracting shapes), colourJitter, noise.
import { mkdir, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { Rng } from "../../lib/random.ts"
import { Raster, encodeRaster, mapLimit, type Colour } from "../raster.ts"
import type { GeneratedSummary } from "./summary.ts"

export interface ImagenetOptions {
  readonly classes: number
  readonly trainPerClass: number
  readonly valPerClass: number
  readonly seed: number | string
  /** Nominal image side; each image's width and height vary by +-sizeJitter like real photos. Default 96. */
  readonly size?: number
  readonly sizeJitter?: number
  /** Mean number of background distractor shapes. Default 3. */
  readonly clutter?: number
  /** Standard deviation of per-image colour shifts (0..255). Default 20. */
  readonly colourJitter?: number
  readonly noise?: number
  readonly jpegQuality?: number
  readonly concurrency?: number
}

export const imagenetDefaults = { size: 96, sizeJitter: 0.2, clutter: 3, colourJitter: 20, noise: 4, jpegQuality: 90, concurrency: 4 } as const

const shapes = ["disc", "square", "triangle", "star", "ring", "cross", "diamond", "crescent"] as const
const textures = ["plain", "stripes", "checks", "dots"] as const
const palette: readonly [string, Colour][] = [
  ["red", [210, 40, 40]], ["green", [40, 170, 60]], ["blue", [40, 80, 210]], ["yellow", [230, 210, 40]],
  ["purple", [140, 50, 170]], ["orange", [240, 140, 30]], ["cyan", [40, 200, 210]], ["white", [235, 235, 235]],
]

/** Signed inside-ness of a unit shape at (u, v) in its own frame: > 0 inside, in units of its radius. */
const inside = (shape: (typeof shapes)[number], u: number, v: number): number => {
  const r = Math.hypot(u, v)
  switch (shape) {
    case "disc": return 1 - r
    case "square": return 0.8 - Math.max(Math.abs(u), Math.abs(v))
    case "diamond": return 1 - (Math.abs(u) + Math.abs(v))
    case "ring": return 0.25 - Math.abs(r - 0.75)
    case "cross": return 0.3 - Math.min(Math.max(Math.abs(u) - 0.7, Math.abs(v)), Math.max(Math.abs(v) - 0.7, Math.abs(u)))
    case "triangle": return Math.min(v + 0.5, 0.5 * (1 - v) - 0.866 * Math.abs(u) * 0.9) // apex up
    case "star": {
      const a = Math.atan2(v, u)
      return 0.55 + 0.4 * Math.cos(5 * a) - r
    }
    case "crescent": return Math.min(1 - r, Math.hypot(u - 0.45, v) - 0.75)
  }
}

export interface ImagenetClass { synset: string; name: string; shape: (typeof shapes)[number]; texture: (typeof textures)[number]; colour: Colour; colourName: string }

/** Class k's look: shape, colour and texture combined so that no two of the first 256 classes share all three. */
export const imagenetClasses = (k: number): ImagenetClass[] =>
  Array.from({ length: k }, (_, c) => {
    const shape = shapes[c % shapes.length]!
    const [colourName, colour] = palette[(c + Math.floor(c / shapes.length)) % palette.length]!
    const texture = textures[((c >> 1) + (c >> 6)) % textures.length]!
    if (c >= shapes.length * palette.length * textures.length) throw new RangeError(`imagenetClasses: at most ${shapes.length * palette.length * textures.length} classes`)
    return { synset: `n${String(1000000 + c * 7919).padStart(8, "0")}`, name: `${colourName} ${texture} ${shape}`, shape, texture, colour, colourName }
  })

export const drawObject = (cls: ImagenetClass, w: number, h: number, rng: Rng, o: { clutter: number; colourJitter: number; noise: number }): { image: Raster; box: [number, number, number, number] } => {
  const img = new Raster(w, h, 3)
  const bgA = [rng.uniform(40, 200), rng.uniform(40, 200), rng.uniform(40, 200)], bgB = bgA.map((c) => c + rng.uniform(-60, 60))
  const ga = rng.uniform(0, 2 * Math.PI), gx = Math.cos(ga), gy = Math.sin(ga)
  // A linear background gradient from bgA to bgB in a random direction.
  img.fill(bgA)
  img.paint(0, 0, w, h, bgB, (x, y) => 0.5 + 0.5 * ((x / w - 0.5) * gx + (y / h - 0.5) * gy))
  const m = Math.min(w, h)
  let clutter = 0
  for (let l = Math.exp(-o.clutter), p = rng.next(); p > l; p *= rng.next()) clutter++
  for (let i = 0; i < clutter; i++) {
    const col = [rng.uniform(0, 255), rng.uniform(0, 255), rng.uniform(0, 255)]
    if (rng.bernoulli(0.5)) img.segment(rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0, w), rng.uniform(0, h), m * 0.03, m * 0.03, col, 0.7)
    else img.ellipse(rng.uniform(0, w), rng.uniform(0, h), m * rng.uniform(0.04, 0.12), m * rng.uniform(0.04, 0.12), rng.uniform(0, 3), col, 0.7)
  }
  const radius = m * rng.uniform(0.22, 0.38)
  const cx = rng.uniform(radius, w - radius), cy = rng.uniform(radius, h - radius)
  const ang = rng.uniform(0, 2 * Math.PI), cos = Math.cos(ang), sin = Math.sin(ang)
  const colour = cls.colour.map((c) => c + rng.normal(0, o.colourJitter))
  const dark = colour.map((c) => c * 0.45)
  const tex = (u: number, v: number) => {
    switch (cls.texture) {
      case "plain": return 0
      case "stripes": return Math.sin(u * 9) > 0 ? 1 : 0
      case "checks": return (Math.sin(u * 7) > 0) !== (Math.sin(v * 7) > 0) ? 1 : 0
      case "dots": return Math.sin(u * 10) * Math.sin(v * 10) > 0.5 ? 1 : 0
    }
  }
  img.paint(cx - radius - 1, cy - radius - 1, cx + radius + 1, cy + radius + 1, colour, (x, y) => {
    const u = ((x - cx) * cos + (y - cy) * sin) / radius, v = (-(x - cx) * sin + (y - cy) * cos) / radius
    const d = inside(cls.shape, u, v) * radius
    return d + 0.5
  })
  img.paint(cx - radius - 1, cy - radius - 1, cx + radius + 1, cy + radius + 1, dark, (x, y) => {
    const u = ((x - cx) * cos + (y - cy) * sin) / radius, v = (-(x - cx) * sin + (y - cy) * cos) / radius
    return inside(cls.shape, u, v) * radius + 0.5 > 0 ? 0.6 * tex(u, v) * Math.min(1, inside(cls.shape, u, v) * radius + 0.5) : 0
  })
  img.noise(rng, o.noise)
  const box: [number, number, number, number] = [Math.max(0, Math.round(cx - radius)), Math.max(0, Math.round(cy - radius)), Math.min(w, Math.round(cx + radius)), Math.min(h, Math.round(cy + radius))]
  return { image: img, box }
}

export const generateImagenet = async (root: string, options: ImagenetOptions): Promise<GeneratedSummary> => {
  const o = { ...imagenetDefaults, ...options }
  if (!(o.classes >= 2)) throw new RangeError(`generateImagenet: classes must be >= 2, got ${o.classes}`)
  const classes = imagenetClasses(o.classes)
  const rng = new Rng(`imagenet/${String(o.seed)}`)
  const items: { path: string; cls: number; valId?: string }[] = []
  for (const [c, cls] of classes.entries()) {
    await mkdir(join(root, "train", cls.synset), { recursive: true })
    for (let i = 0; i < o.trainPerClass; i++) items.push({ path: `train/${cls.synset}/${cls.synset}_${i + 1}.JPEG`, cls: c })
  }
  await mkdir(join(root, "val"), { recursive: true })
  // Validation images are numbered in a shuffled class order, as in ILSVRC.
  const valOrder = rng.fork("val-order").shuffle(classes.flatMap((_, c) => Array.from({ length: o.valPerClass }, () => c)))
  valOrder.forEach((c, i) => {
    const id = `ILSVRC2012_val_${String(i + 1).padStart(8, "0")}`
    items.push({ path: `val/${id}.JPEG`, cls: c, valId: id })
  })
  const boxes = await mapLimit(items.length, o.concurrency, async (i) => {
    const it = items[i]!, r = rng.fork(it.path)
    const w = Math.round(o.size * r.uniform(1 - o.sizeJitter, 1 + o.sizeJitter)), h = Math.round(o.size * r.uniform(1 - o.sizeJitter, 1 + o.sizeJitter))
    const { image, box } = drawObject(classes[it.cls]!, w, h, r, o)
    await writeFile(join(root, it.path), await encodeRaster(image, "jpeg", o.jpegQuality))
    return box
  })
  const solution = items.flatMap((it, i) => (it.valId ? [`${it.valId},${classes[it.cls]!.synset} ${boxes[i]!.join(" ")} \n`] : []))
  await writeFile(join(root, "LOC_val_solution.csv"), "ImageId,PredictionString\n" + solution.join(""))
  await writeFile(join(root, "LOC_synset_mapping.txt"), classes.map((c) => `${c.synset} ${c.name}\n`).join(""))
  const bySource: Record<string, Record<string, number>> = { train: {}, val: {} }
  for (const c of classes) { bySource.train![c.synset] = o.trainPerClass; bySource.val![c.synset] = o.valPerClass }
  const classCounts = Object.fromEntries(classes.map((c) => [c.synset, o.trainPerClass + o.valPerClass]))
  // Labels are the class each object was drawn from (no label noise) and classes differ in
  // shape, texture or colour, so the ceiling is 1 (top-1), recorded so every stand-in states one.
  const ceiling = { metric: "top1", value: 1, over: `all ${items.length} generated images`, how: "labels are noiseless (each is the class its object was drawn from, classes differ in shape, texture or colour)" }
  return { format: "imagenet", root, images: items.length, patients: items.length, classCounts, classCountsBySource: bySource, options: o, ceiling }
}
