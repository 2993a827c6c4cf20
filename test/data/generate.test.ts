// The stand-ins' scientific properties: determinism, the real sets' label statistics,
// and that medical labels live in LOCAL image changes (what the paper's argument rests on).
import { test } from "uvu"
import * as assert from "uvu/assert"
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Rng } from "../../lib/random.ts"
import { drawFundus, eyepacsDefaults, eyepacsLabels, generateEyepacs } from "../../data/generate/eyepacs.ts"
import { chexpertObservations, drawFrontal, drawTruth, stateLabel, type Truth } from "../../data/generate/chexpert.ts"
import { drawObject, imagenetClasses } from "../../data/generate/imagenet.ts"
import type { Raster } from "../../data/raster.ts"

const listFiles = async (dir: string): Promise<string[]> =>
  (await readdir(dir, { recursive: true, withFileTypes: true })).filter((d) => d.isFile()).map((d) => join(d.parentPath, d.name).slice(dir.length)).sort()

test("a generator is a function of its seed: same seed, same bytes; other seed, other images", async () => {
  const tmp = await mkdtemp(join(tmpdir(), "gen-test-"))
  try {
    const opts = { patients: 3, size: 48 }
    await generateEyepacs(join(tmp, "a"), { ...opts, seed: 1 })
    await generateEyepacs(join(tmp, "b"), { ...opts, seed: 1, concurrency: 1 })
    await generateEyepacs(join(tmp, "c"), { ...opts, seed: 2 })
    const files = await listFiles(join(tmp, "a"))
    assert.is(files.length, 7)
    assert.equal(await listFiles(join(tmp, "b")), files)
    for (const f of files) assert.ok((await readFile(join(tmp, "a", f))).equals(await readFile(join(tmp, "b", f))), f)
    const img = files.find((f) => f.endsWith(".jpeg"))!
    const other = (await listFiles(join(tmp, "c"))).find((f) => f.endsWith(".jpeg"))!
    assert.not.ok((await readFile(join(tmp, "a", img))).equals(await readFile(join(tmp, "c", other))))
  } finally {
    await rm(tmp, { recursive: true, force: true })
  }
})

test("EyePACS grades follow the real imbalance and both eyes mostly agree", () => {
  const items = eyepacsLabels(new Rng("imbalance"), 20_000, eyepacsDefaults.gradeWeights, 0.8)
  const counts = [0, 0, 0, 0, 0]
  for (const it of items) counts[it.grade]!++
  const target = [0.73, 0.07, 0.15, 0.025, 0.025]
  counts.forEach((c, g) => assert.ok(Math.abs(c / items.length - target[g]!) < 0.01, `grade ${g}: ${c / items.length}`))
  let same = 0
  for (let i = 0; i < items.length; i += 2) if (items[i]!.grade === items[i + 1]!.grade) same++
  // P(same) = 0.8 + 0.2 * sum(w^2)
  const expected = 0.8 + 0.2 * target.reduce((s, w) => s + w * w, 0)
  assert.ok(Math.abs(same / 20_000 - expected) < 0.015, `${same / 20_000} vs ${expected}`)
  assert.ok(items.every((it, i) => it.image.endsWith(i % 2 ? "_right" : "_left")))
})

/** Fraction of pixels whose value moved by more than `by` between two rasters. */
const changed = (a: Raster, b: Raster, by = 12) => {
  let n = 0
  for (let i = 0; i < a.data.length; i++) if (Math.abs(a.data[i]! - b.data[i]!) > by) n++
  return n / a.data.length
}

test("retinal grade is carried by small local lesions that grow with the grade", () => {
  const knobs = { ...eyepacsDefaults, size: 128, noise: 0, distractors: 0 }
  const fractions = [1, 2, 3, 4].map((g) => {
    let f = 0
    for (let s = 0; s < 4; s++) f += changed(drawFundus(0, 1, new Rng(`eye${s}`), knobs), drawFundus(g, 1, new Rng(`eye${s}`), knobs))
    return f / 4
  })
  assert.ok(fractions[0]! > 0.0005, `grade 1 changes ${fractions[0]}`)
  assert.ok(fractions.every((f) => f < 0.12), `lesions are local: ${fractions}`)
  assert.ok(fractions[0]! < fractions[1]! && fractions[1]! < fractions[2]!, `more lesions with grade: ${fractions}`)
  // lower lesion contrast means a smaller change
  const faint = changed(drawFundus(0, 1, new Rng("eye0"), knobs), drawFundus(2, 1, new Rng("eye0"), { ...knobs, lesionContrast: 0.2 }))
  assert.ok(faint < changed(drawFundus(0, 1, new Rng("eye0"), knobs), drawFundus(2, 1, new Rng("eye0"), knobs), 12) * 0.9)
})

test("a wide fundus photo (aspect 1.5) has black side bands around the round fundus", () => {
  const img = drawFundus(2, 1, new Rng("wide"), { ...eyepacsDefaults, size: 64, aspect: 1.5 })
  assert.is(img.width, 96)
  assert.is(img.height, 64)
  const column = (x: number) => { let m = 0; for (let y = 0; y < 64; y++) m = Math.max(m, img.data[(y * 96 + x) * 3]!); return m }
  assert.ok(column(2) < 12 && column(93) < 12, `side bands ${column(2)} ${column(93)}`)
  assert.ok(column(48) > 100)
})

test("chest findings appear where they belong: effusion low, cardiomegaly centre, edema on both sides", () => {
  const none = Object.fromEntries(chexpertObservations.map((o) => [o, false])) as Truth
  const knobs = { findingContrast: 1, findingScale: 1, noise: 0 }
  const w = 96, h = 116
  const diffMap = (t: Partial<Truth>) => {
    const a = drawFrontal(w, h, none, new Rng("film"), knobs), b = drawFrontal(w, h, { ...none, ...t }, new Rng("film"), knobs)
    let top = 0, bottom = 0, left = 0, right = 0, centre = 0, total = 0
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
      const d = Math.abs(a.data[y * w + x]! - b.data[y * w + x]!)
      if (d < 6) continue
      total++
      if (y < h * 0.5) top++; else bottom++
      if (x < w * 0.45) left++; else if (x > w * 0.55) right++
      if (x > w * 0.3 && x < w * 0.75 && y > h * 0.45 && y < h * 0.85) centre++
    }
    return { top, bottom, left, right, centre, total }
  }
  const eff = diffMap({ "Pleural Effusion": true })
  assert.ok(eff.total > 20 && eff.bottom > 3 * eff.top, JSON.stringify(eff))
  const card = diffMap({ Cardiomegaly: true })
  assert.ok(card.total > 20 && card.centre > 0.7 * card.total, JSON.stringify(card))
  const edema = diffMap({ Edema: true })
  assert.ok(edema.left > 0.25 * edema.total && edema.right > 0.25 * edema.total, JSON.stringify(edema))
  assert.ok(edema.total > card.total, "edema is diffuse")
})

test("chest labels co-occur through shared causes, and uncertain labels are mostly real positives for Atelectasis and Edema", () => {
  const rng = new Rng("cooccur")
  let ce = 0, c = 0, e = 0, n = 0, uncPos = 0, unc = 0
  for (let i = 0; i < 20_000; i++) {
    const t = drawTruth(rng, rng.bernoulli(0.2))
    n++
    if (t.Cardiomegaly) c++
    if (t.Edema) e++
    if (t.Cardiomegaly && t.Edema) ce++
    assert.is(t["No Finding"], !chexpertObservations.some((o) => o !== "No Finding" && o !== "Support Devices" && t[o]))
    if (stateLabel(rng, "Edema", t.Edema) === "-1.0") { unc++; if (t.Edema) uncPos++ }
  }
  assert.ok(ce / n > 2 * (c / n) * (e / n), "cardiomegaly and edema co-occur")
  assert.ok(uncPos / unc > 0.5, `uncertain edema truly positive ${uncPos / unc}`)
})

test("ImageNet stand-in: classes differ in shape, colour or texture; the object box lies in the image", () => {
  const cls = imagenetClasses(256)
  assert.is(new Set(cls.map((c) => c.name)).size, 256)
  assert.is(new Set(cls.map((c) => c.synset)).size, 256)
  assert.ok(cls.every((c) => /^n\d{8}$/.test(c.synset)))
  assert.throws(() => imagenetClasses(257))
  const { image, box } = drawObject(cls[3]!, 70, 50, new Rng(1), { clutter: 2, colourJitter: 10, noise: 2 })
  assert.is(image.width, 70)
  assert.ok(box[0] >= 0 && box[1] >= 0 && box[2] <= 70 && box[3] <= 50 && box[2] > box[0] && box[3] > box[1])
})

test.run()
