// A hand-built corpus of everything that goes wrong in downloaded datasets. By
// default each bad entry is skipped and reported with its file, CSV line and kind;
// with strict: true the same entry throws an IngestError naming the place and the fix.
import { test } from "uvu"
import * as assert from "uvu/assert"
import { mkdtemp, mkdir, readFile, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import sharp from "sharp"
import { ingest, type IngestOptions } from "../../data/ingest.ts"
import { IngestError, type SkipKind } from "../../data/errors.ts"
import { openShards } from "../../data/shards.ts"
import { chexpertColumns } from "../../data/generate/chexpert.ts"

let tmp = ""
let jpeg: Buffer, png: Buffer
test.before(async () => {
  tmp = await mkdtemp(join(tmpdir(), "bad-input-"))
  const raw = new Uint8Array(48 * 48 * 3).map((_, i) => (i * 37) % 256)
  jpeg = await sharp(raw, { raw: { width: 48, height: 48, channels: 3 } }).jpeg().toBuffer()
  png = await sharp(raw, { raw: { width: 48, height: 48, channels: 3 } }).png().toBuffer()
})
test.after(async () => { await rm(tmp, { recursive: true, force: true }) })

let corpusNo = 0
/** An EyePACS folder: `good` eye images plus the given extra CSV lines and files. */
const eyepacsCorpus = async (extraRows: string[], extraFiles: Record<string, Buffer> = {}) => {
  const root = join(tmp, `eye-${corpusNo++}`)
  await mkdir(join(root, "train"), { recursive: true })
  const rows = ["image,level"]
  for (const p of [1, 2, 3, 4]) for (const eye of ["left", "right"]) {
    rows.push(`${p}_${eye},${p % 3}`)
    await writeFile(join(root, "train", `${p}_${eye}.jpeg`), jpeg)
  }
  rows.push(...extraRows)
  for (const [name, bytes] of Object.entries(extraFiles)) await writeFile(join(root, "train", name), bytes)
  await writeFile(join(root, "trainLabels.csv"), rows.join("\n") + "\n")
  return root
}

// Each case: the extra CSV lines (the first lands on line 10), files, and the expected skip.
const cases: { name: string; rows: string[]; files?: Record<string, Buffer>; kind: SkipKind; line: number; field?: string; fileEnds: string }[] = [
  { name: "corrupt image", rows: ["9_left,1"], files: { "9_left.jpeg": Buffer.from("this is not a jpeg at all") }, kind: "corrupt-image", line: 10, fileEnds: "9_left.jpeg" },
  { name: "empty image file", rows: ["9_left,2"], files: { "9_left.jpeg": Buffer.alloc(0) }, kind: "corrupt-image", line: 10, fileEnds: "9_left.jpeg" },
  { name: "missing file", rows: ["9_right,0"], kind: "missing-file", line: 10, fileEnds: "9_right.jpeg" },
  { name: "malformed row", rows: ["9_left,1,extra"], files: { "9_left.jpeg": Buffer.alloc(0) }, kind: "malformed-row", line: 10, fileEnds: "trainLabels.csv" },
  { name: "unknown label value", rows: ["9_left,moderate"], kind: "unknown-label", line: 10, field: "level", fileEnds: "trainLabels.csv" },
  { name: "grade out of range", rows: ["9_left,7"], kind: "unknown-label", line: 10, field: "level", fileEnds: "trainLabels.csv" },
  { name: "duplicate path", rows: ["2_left,2"], kind: "duplicate-path", line: 10, fileEnds: "trainLabels.csv" },
  { name: "name without eye", rows: ["9,1"], kind: "bad-path", line: 10, field: "image", fileEnds: "trainLabels.csv" },
  // An id naming a file outside the image folder (issue 18, finding 7): the image exists, so only the id check refuses it.
  { name: "id climbing out of the image folder", rows: ["../outside/9_left,1"], kind: "bad-path", line: 10, field: "image", fileEnds: "trainLabels.csv" },
  { name: "id with a sub-folder", rows: ["sub/9_left,1"], kind: "bad-path", line: 10, field: "image", fileEnds: "trainLabels.csv" },
  { name: "id with a backslash", rows: ["..\\9_left,1"], kind: "bad-path", line: 10, field: "image", fileEnds: "trainLabels.csv" },
]

const opts = (root: string, outDir: string, strict = false): IngestOptions => ({ format: "eyepacs", root, outDir, size: 16, seed: 1, strict })

test("the truncated-image fixture really is a truncated JPEG", async () => {
  const half = jpeg.subarray(0, Math.floor(jpeg.length / 2))
  const root = await eyepacsCorpus(["9_left,1"], { "9_left.jpeg": half })
  const m = await ingest(opts(root, join(root, "out")))
  assert.is(m.skipped.length, 1)
  assert.is(m.skipped[0]!.kind, "corrupt-image")
  assert.match(m.skipped[0]!.reason, /^truncated JPEG \(\d+ bytes, no end-of-image marker\)/)
})

for (const c of cases) {
  test(`${c.name}: skipped and reported by default`, async () => {
    const root = await eyepacsCorpus(c.rows, c.files)
    const m = await ingest(opts(root, join(root, "out")))
    assert.is(m.skipped.length, 1, JSON.stringify(m.skipped))
    const s = m.skipped[0]!
    assert.is(s.kind, c.kind)
    assert.is(s.line, c.line)
    assert.ok(s.file.endsWith(c.fileEnds), s.file)
    if (c.field) assert.is(s.field, c.field)
    assert.equal(m.skippedByKind, { [c.kind]: 1 })
    // the 8 good images (and only those) made it, with their CSV labels
    const total = ["train", "validation", "test"].reduce((n, k) => n + m.splits[k]!.count, 0)
    assert.is(total, 8)
    for (const split of ["train", "validation", "test"]) {
      const set = await openShards(join(root, "out"), split)
      const b = await set.read(Array.from({ length: set.count }, (_, i) => i))
      b.paths.forEach((p, i) => assert.is(b.labels[i], Number(/train\/(\d)_/.exec(p)![1]) % 3, p))
      await set.close()
    }
  })
  test(`${c.name}: an IngestError naming file, line and fix in strict mode`, async () => {
    const root = await eyepacsCorpus(c.rows, c.files)
    try {
      await ingest(opts(root, join(root, "out"), true))
      assert.unreachable("strict ingest accepted a bad entry")
    } catch (e) {
      assert.instance(e, IngestError)
      const err = e as IngestError
      assert.is(err.kind, c.kind)
      assert.is(err.line, c.line)
      assert.ok(err.file.endsWith(c.fileEnds), err.file)
      assert.match(err.message, `:${c.line}`)
      assert.match(err.message, "Fix:")
    }
  })
}

test("many bad images at once: skips listed in CSV order, deterministic manifest, strict names the first", async () => {
  const bad = Buffer.from("not an image")
  // lines 10..15; 5_right and 7_left have no file
  const rows = ["5_left,1", "5_right,1", "6_left,0", "6_right,0", "7_left,2", "7_right,2"]
  const files = { "5_left.jpeg": bad, "6_left.jpeg": bad, "6_right.jpeg": jpeg.subarray(0, 100), "7_right.jpeg": bad }
  const root = await eyepacsCorpus(rows, files)
  // one split, so processing order is CSV order
  const one = { split: { validation: 0, test: 0 } }
  const a = await ingest({ ...opts(root, join(root, "a")), ...one, concurrency: 4 })
  await ingest({ ...opts(root, join(root, "b")), ...one, concurrency: 3 })
  assert.equal(a.skipped.map((s) => [s.kind, s.line]), [
    ["corrupt-image", 10], ["missing-file", 11], ["corrupt-image", 12], ["corrupt-image", 13], ["missing-file", 14], ["corrupt-image", 15],
  ])
  assert.equal(a.skippedByKind, { "corrupt-image": 4, "missing-file": 2 })
  assert.match(a.skipped[0]!.reason, /^not an image file \(starts with bytes 6e 6f 74 20; expected JPEG or PNG\)/)
  assert.match(a.skipped[3]!.reason, /^truncated JPEG \(100 bytes/)
  assert.match(a.skipped[1]!.reason, /^image not found/)
  assert.is(a.splits.train!.count, 8)
  const [ma, mb] = await Promise.all([readFile(join(root, "a", "dataset.json")), readFile(join(root, "b", "dataset.json"))])
  assert.is(ma.toString(), mb.toString(), "dataset.json differs between runs with different concurrency")
  try { await ingest({ ...opts(root, join(root, "c"), true), ...one, concurrency: 4 }); assert.unreachable() } catch (e) {
    assert.instance(e, IngestError)
    assert.is((e as IngestError).line, 10)
    assert.is((e as IngestError).kind, "corrupt-image")
  }
})

test("an empty dataset is a clear error in both modes", async () => {
  const root = join(tmp, "empty")
  await mkdir(join(root, "train"), { recursive: true })
  await writeFile(join(root, "trainLabels.csv"), "image,level\n")
  for (const strict of [false, true]) {
    try { await ingest(opts(root, join(root, "out"), strict)); assert.unreachable() } catch (e) {
      assert.instance(e, IngestError)
      assert.is((e as IngestError).kind, "empty-dataset")
      assert.match((e as Error).message, /no usable eyepacs images/)
    }
  }
  // every row bad: still an error by default, reporting the first skip
  await writeFile(join(root, "trainLabels.csv"), "image,level\n1_left,0\n")
  try { await ingest(opts(root, join(root, "out2"))); assert.unreachable() } catch (e) {
    assert.is((e as IngestError).kind, "empty-dataset")
    assert.match((e as Error).message, /1_left\.jpeg/)
  }
})

// The same CSV damage for each CSV-listed dataset: how the file is spelled (BOM, CRLF,
// quotes), its columns, and files with no rows. Each ends in a parse, a counted skip or an
// IngestError of the named kind whose message names the file; none may crash.
type CsvFormat = "eyepacs" | "aptos" | "chexpert"
// `required`: a column the reader cannot do without; `oddId`: the skip for a row whose id is "x,y".
const csvDatasets: Record<CsvFormat, { csv: string; header: string; rows: string[]; files: string[]; required: number; oddId: SkipKind }> = {
  eyepacs: { csv: "trainLabels.csv", header: "image,level", rows: ["1_left,0", "1_right,1", "2_left,2"], files: ["train/1_left.jpeg", "train/1_right.jpeg", "train/2_left.jpeg"], required: 1, oddId: "bad-path" },
  aptos: { csv: "train.csv", header: "id_code,diagnosis", rows: ["a1,0", "a2,1", "a3,4"], files: ["train_images/a1.png", "train_images/a2.png", "train_images/a3.png"], required: 1, oddId: "missing-file" },
  chexpert: {
    required: 0,
    // the row's second cell (Sex) lands in Frontal/Lateral's place once "x,y" is one cell
    oddId: "unknown-label",
    csv: "CheXpert-v1.0-small/train.csv",
    header: chexpertColumns.join(","),
    rows: [1, 2, 3].map((p) => [`CheXpert-v1.0-small/train/patient0000${p}/study1/view1_frontal.jpg`, "Male", "40", "Frontal", "AP", "", "", "", "", "", "1.0", "", "", "", "", "", "", "", ""].join(",")),
    files: [1, 2, 3].map((p) => `CheXpert-v1.0-small/train/patient0000${p}/study1/view1_frontal.jpg`),
  },
}
type CsvOutcome = { records: number; skipped?: "oddId" | "malformed-row" } | { error: string }
const csvCases: { name: string; text: (d: (typeof csvDatasets)[CsvFormat]) => string; expect: CsvOutcome }[] = [
  { name: "BOM", text: (d) => `\ufeff${[d.header, ...d.rows].join("\n")}\n`, expect: { records: 3 } },
  { name: "CRLF", text: (d) => `${[d.header, ...d.rows].join("\r\n")}\r\n`, expect: { records: 3 } },
  { name: "quoted fields", text: (d) => `${[d.header, ...d.rows.map((r) => r.split(",").map((c) => `"${c}"`).join(","))].join("\n")}\n`, expect: { records: 3 } },
  { name: "a quoted comma in the id", text: (d) => `${[d.header, ...d.rows, `"x,y",1${",".repeat(d.header.split(",").length - 2)}`].join("\n")}\n`, expect: { records: 3, skipped: "oddId" } },
  { name: "an extra column", text: (d) => `${[d.header, ...d.rows, `${d.rows[0]},extra`].join("\n")}\n`, expect: { records: 3, skipped: "malformed-row" } },
  { name: "a missing column", text: (d) => `${[d.header, ...d.rows].map((r) => r.split(",").filter((_, i) => i !== d.required).join(",")).join("\n")}\n`, expect: { error: "bad-layout" } },
  { name: "an empty file", text: () => "", expect: { error: "bad-layout" } },
  { name: "the header only", text: (d) => `${d.header}\n`, expect: { error: "empty-dataset" } },
]
for (const format of ["eyepacs", "aptos", "chexpert"] as const) {
  for (const c of csvCases) {
    test(`CSV corpus, ${format}: ${c.name}`, async () => {
      const d = csvDatasets[format]
      const root = join(tmp, `csv-${format}-${corpusNo++}`)
      for (const f of d.files) {
        await mkdir(join(root, f, ".."), { recursive: true })
        await writeFile(join(root, f), f.endsWith(".png") ? png : jpeg)
      }
      await mkdir(join(root, d.csv, ".."), { recursive: true })
      await writeFile(join(root, d.csv), c.text(d))
      const o = { format, root, outDir: join(root, "out"), size: 16, seed: 1, split: { validation: 0, test: 0 } } as IngestOptions
      if ("error" in c.expect) {
        try { await ingest(o); assert.unreachable("no error") } catch (e) {
          assert.instance(e, IngestError, String(e))
          assert.is((e as IngestError).kind, c.expect.error, (e as Error).message)
          // a layout error names the CSV; "nothing usable" names the root it looked in
          assert.ok((e as Error).message.includes(c.expect.error === "empty-dataset" ? root : d.csv), (e as Error).message)
        }
        return
      }
      const m = await ingest(o)
      assert.is(m.splits.train!.count, c.expect.records)
      const skip = c.expect.skipped === "oddId" ? d.oddId : c.expect.skipped
      assert.equal(m.skipped.map((x) => [x.kind, x.line]), skip ? [[skip, 5]] : [])
    })
  }
}

test("a missing list file or column is a layout error whatever the mode", async () => {
  const root = join(tmp, "nolist")
  await mkdir(root, { recursive: true })
  try { await ingest(opts(root, join(root, "out"))); assert.unreachable() } catch (e) {
    assert.is((e as IngestError).kind, "bad-layout")
    assert.match((e as Error).message, /trainLabels\.csv/)
  }
  await writeFile(join(root, "trainLabels.csv"), "image,grade\n1_left,0\n")
  try { await ingest(opts(root, join(root, "out"))); assert.unreachable() } catch (e) {
    assert.match((e as Error).message, /"level"/)
  }
})

test("CheXpert: unknown value, bad view, bad path and uncertain-only rows", async () => {
  const root = join(tmp, "cx")
  const base = join(root, "CheXpert-v1.0-small")
  const img = (p: number) => `CheXpert-v1.0-small/train/patient0000${p}/study1/view1_frontal.jpg`
  for (const p of [1, 2, 3]) {
    await mkdir(join(root, `CheXpert-v1.0-small/train/patient0000${p}/study1`), { recursive: true })
    await writeFile(join(root, img(p)), jpeg)
  }
  const cells = (path: string, view: string, edema: string) => [path, "Male", "40", view, "AP", "", "", "", "", "", edema, "", "", "", "", "", "", "", ""].join(",")
  await writeFile(join(base, "train.csv"), [
    chexpertColumns.join(","),
    cells(img(1), "Frontal", "-1.0"),
    cells(img(2), "Frontal", "2.0"), // line 3: unknown value
    cells(img(3), "Oblique", "1.0"), // line 4: bad view
    cells("CheXpert-v1.0-small/train/p3/x.jpg", "Frontal", "1.0"), // line 5: bad path
  ].join("\n") + "\n")
  const m = await ingest({ format: "chexpert", root, outDir: join(root, "out"), size: 16, seed: 1, split: { validation: 0, test: 0 }, chexpert: { policy: { Edema: "U-Ignore" } } })
  assert.equal(m.skipped.map((s) => [s.kind, s.line, s.field]), [["unknown-label", 3, "Edema"], ["unknown-label", 4, "Frontal/Lateral"], ["bad-path", 5, "Path"]])
  assert.equal(m.splits.train!.labelCounts!.Edema, { positive: 0, negative: 0, uncertain: 1, blank: 0, ignored: 1 })
  const set = await openShards(join(root, "out"), "train")
  const b = await set.read([0])
  assert.ok(Number.isNaN(b.labels[3]!), "U-Ignore stores NaN")
  assert.is(b.labels[0], 0)
  await set.close()
  try { await ingest({ format: "chexpert", root, outDir: join(root, "out2"), size: 16, seed: 1, strict: true }); assert.unreachable() } catch (e) {
    assert.instance(e, IngestError)
    assert.match((e as Error).message, /train\.csv:3 \(column "Edema"\): "2\.0" is not one of 1\.0, 0\.0, -1\.0 or blank/)
  }
})

test("CheXpert full resolution: CheXpert-v1.0/ paths and root are read as the -small ones; .. and absolute paths stay refused", async () => {
  const root = join(tmp, "cx-full")
  const base = join(root, "CheXpert-v1.0")
  const img = (p: number) => `CheXpert-v1.0/train/patient0000${p}/study1/view1_frontal.jpg`
  for (const p of [1, 2]) {
    await mkdir(join(root, `CheXpert-v1.0/train/patient0000${p}/study1`), { recursive: true })
    await writeFile(join(root, img(p)), jpeg)
  }
  await mkdir(join(root, "CheXpert-v1.0/train/patient00001/study1/../../x"), { recursive: true })
  const cells = (path: string) => [path, "Male", "40", "Frontal", "AP", "", "", "", "", "", "1.0", "", "", "", "", "", "", "", ""].join(",")
  await writeFile(join(base, "train.csv"), [
    chexpertColumns.join(","),
    cells(img(1)),
    cells(img(2)),
    cells("CheXpert-v1.0/train/patient00001/study1/../../x/view1_frontal.jpg"), // line 4
    cells(`${base}/train/patient00001/study1/view1_frontal.jpg`), // line 5: absolute
    cells("/CheXpert-v1.0/train/patient00002/study1/view1_frontal.jpg"), // line 6: absolute
  ].join("\n") + "\n")
  const m = await ingest({ format: "chexpert", root, outDir: join(root, "out"), size: 16, seed: 1, split: { validation: 0, test: 0 } })
  assert.equal(m.skipped.map((s) => [s.kind, s.line, s.field]), [["bad-path", 4, "Path"], ["bad-path", 5, "Path"], ["bad-path", 6, "Path"]])
  assert.is(m.splits.train!.count, 2)
  const set = await openShards(join(root, "out"), "train")
  assert.equal([...(await set.read([0, 1])).paths].sort(), ["train/patient00001/study1/view1_frontal.jpg", "train/patient00002/study1/view1_frontal.jpg"])
  await set.close()
})

test("EyePACS mirrors: another labels file, image folder and extension", async () => {
  const root = join(tmp, "eye-resized")
  await mkdir(join(root, "resized_train", "resized_train"), { recursive: true })
  await writeFile(join(root, "labels.csv"), "image,level\n10_left,4\n10_right,3\n")
  for (const n of ["10_left", "10_right"]) await writeFile(join(root, "resized_train", "resized_train", `${n}.png`), png)
  const m = await ingest({ format: "eyepacs", root, outDir: join(root, "out"), size: 16, seed: 1, split: { validation: 0, test: 0 }, eyepacs: { labelsCsv: "labels.csv", imageDir: "resized_train/resized_train", extension: ".png" } })
  assert.equal(m.skipped, [])
  assert.equal(m.splits.train!.classCounts, [0, 0, 0, 1, 1])
  const set = await openShards(join(root, "out"), "train")
  assert.equal((await set.read([0, 1])).paths, ["resized_train/resized_train/10_left.png", "resized_train/resized_train/10_right.png"])
  await set.close()
})

test("APTOS: train.csv + train_images/<id>.png, with a corrupt PNG skipped", async () => {
  const root = join(tmp, "aptos")
  await mkdir(join(root, "train_images"), { recursive: true })
  const ids = ["000c1434d8d7", "001639a390f0", "0024cdab0c1e", "002c21358ce6", "005b95c28852"]
  const rows = ["id_code,diagnosis"]
  ids.forEach((id, i) => rows.push(`${id},${i}`))
  for (const id of ids.slice(0, 4)) await writeFile(join(root, "train_images", `${id}.png`), png)
  await writeFile(join(root, "train_images", `${ids[4]}.png`), png.subarray(0, 40))
  await writeFile(join(root, "train.csv"), rows.join("\n") + "\n")
  const m = await ingest({ format: "aptos", root, outDir: join(root, "out"), size: 24, seed: 1, split: { validation: 0.25, test: 0 } })
  assert.equal(m.skipped.map((s) => [s.kind, s.line]), [["corrupt-image", 6]])
  assert.match(m.skipped[0]!.reason, /^truncated PNG \(40 bytes/)
  assert.is(m.splits.train!.count + m.splits.validation!.count, 4)
  // one of the five patients goes to validation before decoding; it may be the corrupt one
  assert.ok(m.splits.validation!.count <= 1)
  assert.equal(m.labels, { kind: "class", classes: 5, names: ["none", "mild", "moderate", "severe", "proliferative"] })
  const set = await openShards(join(root, "out"), "train")
  const b = await set.read(Array.from({ length: set.count }, (_, i) => i))
  b.paths.forEach((p, i) => assert.is(b.labels[i], ids.indexOf(p.slice("train_images/".length, -4)), p))
  const ref = await sharp(png).resize(24, 24).raw().toBuffer()
  assert.ok(Buffer.from(b.pixels.subarray(0, ref.length)).equals(ref))
  await set.close()
})

test("ImageNet: an unknown synset folder and an unknown val synset are reported", async () => {
  const root = join(tmp, "inet")
  for (const d of ["train/n00000001", "train/n99999999", "val"]) await mkdir(join(root, d), { recursive: true })
  await writeFile(join(root, "LOC_synset_mapping.txt"), "n00000001 thing, object\nn00000002 other\n")
  await writeFile(join(root, "train/n00000001/n00000001_1.JPEG"), jpeg)
  await writeFile(join(root, "train/n99999999/n99999999_1.JPEG"), jpeg)
  await writeFile(join(root, "val/ILSVRC2012_val_00000001.JPEG"), jpeg)
  await writeFile(join(root, "val/ILSVRC2012_val_00000002.JPEG"), jpeg)
  await writeFile(join(root, "LOC_val_solution.csv"), "ImageId,PredictionString\nILSVRC2012_val_00000001,n00000002 1 2 3 4 \nILSVRC2012_val_00000002,n12345678 1 2 3 4 \n")
  const m = await ingest({ format: "imagenet", root, outDir: join(root, "out"), size: 16, seed: 1 })
  assert.equal(m.skipped.map((s) => [s.kind, s.line ?? null, s.file.slice(root.length + 1)]), [["unknown-label", null, "train/n99999999"], ["unknown-label", 3, "LOC_val_solution.csv"]])
  assert.equal(m.splits.train!.classCounts, [1, 0])
  assert.equal(m.splits.validation!.classCounts, [0, 1])
})

test.run()
