// End to end: generate small stand-ins of all three kinds, ingest them, and check the
// manifest and shards against the generator's report and against the source files
// read independently (CSV text, sharp decoding).
import { test } from "uvu"
import * as assert from "uvu/assert"
import { mkdtemp, mkdir, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import sharp from "sharp"
import { generateEyepacs, gradeNames as generatedGrades } from "../../data/generate/eyepacs.ts"
import { generateChexpert } from "../../data/generate/chexpert.ts"
import { generateImagenet } from "../../data/generate/imagenet.ts"
import type { GeneratedSummary } from "../../data/generate/summary.ts"
import { ingest, decodeResize } from "../../data/ingest.ts"
import { openShards, readManifest } from "../../data/shards.ts"
import { describeManifest } from "../../data/manifest.ts"
import type { ImageSet } from "../../data/imageset.ts"

let tmp = ""
let eye: GeneratedSummary, cx: GeneratedSummary, inet: GeneratedSummary

test.before(async () => {
  tmp = await mkdtemp(join(tmpdir(), "ingest-test-"))
  ;[eye, cx, inet] = await Promise.all([
    generateEyepacs(join(tmp, "eyepacs"), { patients: 30, seed: 5, size: 64 }),
    generateChexpert(join(tmp, "chexpert"), { patients: 24, validPatients: 4, seed: 5, width: 64 }),
    generateImagenet(join(tmp, "imagenet"), { classes: 4, trainPerClass: 5, valPerClass: 2, seed: 5, size: 40 }),
  ])
})
test.after(async () => { await rm(tmp, { recursive: true, force: true }) })

const readAll = async (set: ImageSet) => set.read(Array.from({ length: set.count }, (_, i) => i))
const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0)

test("EyePACS: counts per grade match the generator; labels match trainLabels.csv; no patient in two splits", async () => {
  const out = join(tmp, "eye-out")
  const m = await ingest({ format: "eyepacs", root: eye.root, outDir: out, size: 48, fit: "contain", seed: 1, split: { validation: 0.2, test: 0.2 } })
  assert.equal(m.skipped, [])
  const perGrade = [0, 1, 2, 3, 4].map((g) => sum(["train", "validation", "test"].map((s) => m.splits[s]!.classCounts![g]!)))
  assert.equal(perGrade, generatedGrades.map((n) => eye.classCounts![n]!))
  const csv = new Map((await readFile(join(eye.root, "trainLabels.csv"), "utf8")).trim().split("\n").slice(1).map((l) => { const [a, b] = l.split(","); return [`train/${a}.jpeg`, Number(b)] }))
  const owner = new Map<string, string>()
  for (const split of ["train", "validation", "test"]) {
    const set = await openShards(out, split)
    assert.is(set.count, m.splits[split]!.count)
    const b = await readAll(set)
    b.paths.forEach((p, i) => assert.is(b.labels[i], csv.get(p), p))
    for (const p of b.patients) {
      assert.ok(!owner.has(p) || owner.get(p) === split, `patient ${p} in ${owner.get(p)} and ${split}`)
      owner.set(p, split)
    }
    assert.is(new Set(b.patients).size, m.splits[split]!.patients)
    await set.close()
  }
  assert.is(owner.size, 30)
  // 30 patients, 20% each for validation and test: 6 patients (12 eyes) in each
  assert.is(m.splits.validation!.patients, 6)
  assert.is(m.splits.test!.count, 12)
})

test("EyePACS: shard pixels equal sharp's own decode+resize of the source file", async () => {
  const out = join(tmp, "eye-px")
  await ingest({ format: "eyepacs", root: eye.root, outDir: out, size: { height: 40, width: 56 }, fit: "cover", seed: 1 })
  const set = await openShards(out, "train")
  const b = await set.read([2, 0])
  for (const [k, path] of b.paths.entries()) {
    const ref = await sharp(join(eye.root, path)).resize(56, 40, { fit: "cover" }).removeAlpha().raw().toBuffer()
    assert.is(ref.length, 40 * 56 * 3)
    assert.ok(Buffer.compare(ref, Buffer.from(b.pixels.subarray(k * ref.length, (k + 1) * ref.length))) === 0, path)
  }
  await set.close()
})

test("CheXpert with valid.csv held out: the test split is exactly valid.csv's frontal images", async () => {
  const m = await ingest({ format: "chexpert", root: cx.root, outDir: join(tmp, "cx-heldout"), size: 32, seed: 2, chexpert: { validCsv: "test" } })
  assert.is(m.splits.test!.count, cx.frontalBySource!["valid.csv"]!)
  assert.is(m.splits.train!.count + m.splits.validation!.count, cx.frontalBySource!["train.csv"]!)
  assert.equal(m.splitFractions, { validation: 0.1, test: 0 })
})

test("CheXpert: frontal images and stated values per finding match the generator; the policy is applied", async () => {
  const out = join(tmp, "cx-out")
  const m = await ingest({ format: "chexpert", root: cx.root, outDir: out, size: 32, seed: 2 })
  const splits = ["train", "validation", "test"].map((s) => m.splits[s]!)
  assert.is(sum(splits.map((s) => s.count)), cx.frontalBySource!["train.csv"]! + cx.frontalBySource!["valid.csv"]!)
  for (const f of ["Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Pleural Effusion"]) {
    const g = ["train.csv", "valid.csv"].map((s) => cx.labelCountsBySource![s]![f]!)
    const got = (k: "positive" | "negative" | "uncertain" | "blank" | "ignored") => sum(splits.map((s) => s.labelCounts![f]![k]))
    const stated = (k: "positive" | "negative" | "uncertain" | "blank") => g[0]![k] + g[1]![k]
    assert.is(got("uncertain"), stated("uncertain"), f)
    assert.is(got("blank"), stated("blank"), f)
    const ones = f === "Atelectasis" || f === "Edema"
    assert.is(got("positive"), stated("positive") + (ones ? stated("uncertain") : 0), f)
    assert.is(got("negative"), stated("negative") + stated("blank") + (ones ? 0 : stated("uncertain")), f)
    assert.is(got("ignored"), 0)
  }
  assert.equal((m.policy as { uncertain: Record<string, string> }).uncertain.Edema, "U-Ones")
  const text = describeManifest(m).join("\n")
  assert.match(text, "chexpert at 32x32 (cover), seed 2; patients split 80% train / 10% validation / 10% test")
  assert.match(text, `train: ${m.splits.train!.count} images, ${m.splits.train!.patients} patients; Atelectasis +${m.splits.train!.labelCounts!.Atelectasis!.positive}/-`)
  assert.match(text, "uncertain labels: Atelectasis U-Ones, Cardiomegaly U-Zeros, Consolidation U-Zeros, Edema U-Ones, Pleural Effusion U-Zeros; blank read as negative")
  assert.match(text, "skipped none")
  // patients with several studies stay within one split
  const owner = new Map<string, string>()
  for (const split of ["train", "validation", "test"]) {
    const s = await openShards(out, split)
    for (const p of (await readAll(s)).patients) {
      assert.ok(!owner.has(p) || owner.get(p) === split, `patient ${p} in ${owner.get(p)} and ${split}`)
      owner.set(p, split)
    }
    await s.close()
  }
  assert.is(owner.size, 28)
  // grayscale films become three equal channels
  const set = await openShards(out, "train")
  const b = await set.read([0])
  for (let i = 0; i < b.pixels.length; i += 3) if (b.pixels[i] !== b.pixels[i + 1] || b.pixels[i] !== b.pixels[i + 2]) assert.unreachable(`pixel ${i / 3} not gray`)
  assert.ok(b.pixels.some((v) => v > 60), "image is not blank")
  await set.close()
})

test("CheXpert: CSV paths with or without CheXpert-v1.0-small/, root at the folder or its parent, give identical shards", async () => {
  const a = join(tmp, "cx-a"), b = join(tmp, "cx-b")
  await ingest({ format: "chexpert", root: cx.root, outDir: a, size: 32, seed: 3 })
  // A Kaggle-style copy: root is the dataset folder itself and the paths lack the prefix.
  const mirror = join(tmp, "cx-mirror")
  await mkdir(mirror)
  for (const d of ["train", "valid"]) await symlink(join(cx.root, "CheXpert-v1.0-small", d), join(mirror, d))
  for (const f of ["train.csv", "valid.csv"])
    await writeFile(join(mirror, f), (await readFile(join(cx.root, "CheXpert-v1.0-small", f), "utf8")).replaceAll("CheXpert-v1.0-small/", ""))
  const m = await ingest({ format: "chexpert", root: mirror, outDir: b, size: 32, seed: 3 })
  assert.equal(m.skipped, [])
  const files = (await readdir(a)).filter((f) => f.endsWith(".arrow")).sort()
  assert.equal((await readdir(b)).filter((f) => f.endsWith(".arrow")).sort(), files)
  for (const f of files) assert.ok((await readFile(join(a, f))).equals(await readFile(join(b, f))), f)
})

test("ImageNet: train folders and the val CSV give train and validation splits with the right classes", async () => {
  const out = join(tmp, "in-out")
  const m = await ingest({ format: "imagenet", root: inet.root, outDir: out, size: 32, seed: 1 })
  assert.equal(m.splits.train!.classCounts, [5, 5, 5, 5])
  assert.equal(m.splits.validation!.classCounts, [2, 2, 2, 2])
  assert.is(m.splits.test!.count, 0)
  assert.equal(m.warnings, [])
  assert.is(m.splitBy, "dataset")
  assert.match(describeManifest(m)[0]!, "splits as the dataset's folders give them")
  const synsets = (await readFile(join(inet.root, "LOC_synset_mapping.txt"), "utf8")).trim().split("\n").map((l) => l.split(" ")[0]!)
  const truth = new Map((await readFile(join(inet.root, "LOC_val_solution.csv"), "utf8")).trim().split("\n").slice(1).map((l) => { const [id, pred] = l.split(","); return [`val/${id}.JPEG`, synsets.indexOf(pred!.split(" ")[0]!)] }))
  const set = await openShards(out, "validation")
  const b = await readAll(set)
  b.paths.forEach((p, i) => assert.is(b.labels[i], truth.get(p), p))
  await set.close()
  const train = await openShards(out, "train")
  const t = await readAll(train)
  t.paths.forEach((p, i) => assert.is(synsets[t.labels[i]!], p.split("/")[1]))
  await train.close()
})

test("same seed gives byte-identical shards and manifest; a different seed splits differently", async () => {
  const run = (dir: string, seed: number) => ingest({ format: "eyepacs", root: eye.root, outDir: join(tmp, dir), size: 24, seed, trainSubset: 10 })
  await run("det-1", 9); await run("det-2", 9); await run("det-3", 10)
  const files = (await readdir(join(tmp, "det-1"))).sort()
  assert.ok(files.includes("dataset.json") && files.includes("train-00000.arrow") && files.includes("train-small.indices.json"))
  for (const f of files) assert.ok((await readFile(join(tmp, "det-1", f))).equals(await readFile(join(tmp, "det-2", f))), f)
  assert.not.ok((await readFile(join(tmp, "det-1", "train-00000.arrow"))).equals(await readFile(join(tmp, "det-3", "train-00000.arrow"))))
})

test("train-small is a seeded subset of train: same images as train at its indices, counts in the manifest", async () => {
  const dir = join(tmp, "det-1")
  const m = await readManifest(dir)
  const small = await openShards(dir, "train-small"), train = await openShards(dir, "train")
  assert.is(small.count, 10)
  const idx = JSON.parse(await readFile(join(dir, m.splits["train-small"]!.indicesFile!), "utf8")) as number[]
  assert.is(new Set(idx).size, 10)
  const a = await readAll(small), b = await train.read(idx)
  assert.equal(a.paths, b.paths)
  assert.ok(Buffer.from(a.pixels).equals(Buffer.from(b.pixels)))
  assert.is(sum(m.splits["train-small"]!.classCounts!), 10)
  for (let g = 0; g < 5; g++) assert.is(m.splits["train-small"]!.classCounts![g], Array.from(a.labels).filter((x) => x === g).length)
  await small.close(); await train.close()
})

test("many small shards and batches read the same images as one shard, in any index order", async () => {
  const one = join(tmp, "shard-one"), many = join(tmp, "shard-many")
  const base = { format: "eyepacs" as const, root: eye.root, size: 16, seed: 4 }
  await ingest({ ...base, outDir: one })
  const m = await ingest({ ...base, outDir: many, batchBytes: 3 * 16 * 16 * 3, shardBytes: 7 * 16 * 16 * 3 })
  assert.is(m.batchRows, 3)
  assert.ok(m.splits.train!.shards.length >= 6, `${m.splits.train!.shards.length} shards`)
  const a = await openShards(one, "train"), b = await openShards(many, "train", { cacheBytes: 2 * 16 * 16 * 3 })
  const order = [a.count - 1, 0, 7, 3, 20, 6, 5, 19, 2, a.count - 2]
  const x = await a.read(order), y = await b.read(order)
  assert.equal(y.paths, x.paths)
  assert.ok(Buffer.from(y.pixels).equals(Buffer.from(x.pixels)))
  assert.equal(Array.from(y.labels), Array.from(x.labels))
  try { await b.read([a.count]); assert.unreachable() } catch (e) { assert.match((e as Error).message, /outside/) }
  await a.close(); await b.close()
})

test("a shard is a plain Arrow IPC file: whole-file read agrees with openShards, schema as documented", async () => {
  const { tableFromIPC, Type } = await import("apache-arrow")
  const dir = join(tmp, "cx-out")
  const m = await readManifest(dir)
  const table = tableFromIPC(await readFile(join(dir, m.splits.train!.shards[0]!.file)))
  assert.equal(table.schema.fields.map((f) => f.name), ["pixels", "label:Atelectasis", "label:Cardiomegaly", "label:Consolidation", "label:Edema", "label:Pleural Effusion", "patient", "path"])
  assert.equal(table.schema.fields.map((f) => f.typeId), [Type.FixedSizeBinary, Type.Float, Type.Float, Type.Float, Type.Float, Type.Float, Type.Utf8, Type.Utf8])
  assert.is(table.schema.metadata.get("transfusion.height"), "32")
  assert.is(table.numRows, m.splits.train!.shards[0]!.count)
  const set = await openShards(dir, "train")
  const k = table.numRows - 1
  const b = await set.read([k])
  assert.is(table.getChild("path")!.get(k), b.paths[0])
  assert.is(table.getChild("label:Edema")!.get(k), b.labels[3])
  assert.ok(Buffer.from(table.getChild("pixels")!.get(k) as Uint8Array).equals(Buffer.from(b.pixels)))
  await set.close()
})

test("decodeResize: cover crops, contain pads with black, fill stretches", async () => {
  // 40x20 white image with a red left half
  const raw = new Uint8Array(40 * 20 * 3).fill(255)
  for (let y = 0; y < 20; y++) for (let x = 0; x < 20; x++) { raw[(y * 40 + x) * 3 + 1] = 0; raw[(y * 40 + x) * 3 + 2] = 0 }
  const png = await sharp(raw, { raw: { width: 40, height: 20, channels: 3 } }).png().toBuffer()
  const at = (px: Uint8Array, w: number, x: number, y: number) => Array.from(px.subarray((y * w + x) * 3, (y * w + x) * 3 + 3))
  const contain = await decodeResize(sharp, png, 20, 20, "contain")
  assert.equal(at(contain, 20, 10, 1), [0, 0, 0])
  assert.equal(at(contain, 20, 2, 10), [255, 0, 0])
  assert.equal(at(contain, 20, 17, 10), [255, 255, 255])
  const cover = await decodeResize(sharp, png, 20, 20, "cover")
  assert.equal(at(cover, 20, 10, 1).slice(0, 1), [255])
  assert.equal(at(cover, 20, 2, 2), [255, 0, 0])
  assert.equal(at(cover, 20, 17, 2), [255, 255, 255])
  const fill = await decodeResize(sharp, png, 10, 20, "fill")
  assert.equal(at(fill, 20, 2, 1), [255, 0, 0])
  assert.equal(at(fill, 20, 17, 8), [255, 255, 255])
})

test.run()
