// The CheXpert parser on hand-written rows: every policy, the blank convention,
// the frontal filter, and both path spellings and root locations.
import { test } from "uvu"
import * as assert from "uvu/assert"
import { mkdtemp, mkdir, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { parseChexpert, applyPolicy, defaultPolicy } from "../../data/formats/chexpert.ts"
import { SkipLog } from "../../data/errors.ts"
import { chexpertColumns } from "../../data/generate/chexpert.ts"
import { Stated } from "../../data/formats/record.ts"

const header = chexpertColumns.join(",")
// Column order: No Finding, Enlarged Cardiomediastinum, Cardiomegaly, Lung Opacity, Lung Lesion, Edema,
// Consolidation, Pneumonia, Atelectasis, Pneumothorax, Pleural Effusion, Pleural Other, Fracture, Support Devices
const row = (path: string, view: string, v: { card?: string; edema?: string; cons?: string; atel?: string; eff?: string }) =>
  [path, "Female", "50", view, view === "Frontal" ? "AP" : "", "", "", v.card ?? "", "", "", v.edema ?? "", v.cons ?? "", "", v.atel ?? "", "", v.eff ?? "", "", "", ""].join(",")

const withCsv = async (lines: string[], layout: "parent" | "self", fn: (root: string) => Promise<void>) => {
  const dir = await mkdtemp(join(tmpdir(), "chexpert-test-"))
  try {
    const base = layout === "parent" ? join(dir, "CheXpert-v1.0-small") : dir
    await mkdir(base, { recursive: true })
    await writeFile(join(base, "train.csv"), [header, ...lines].join("\n") + "\n")
    await fn(dir)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

const rows = [
  // Atelectasis -1 and Edema -1 (U-Ones by default), Cardiomegaly -1 (U-Zeros), Consolidation 1, Effusion blank
  row("CheXpert-v1.0-small/train/patient00001/study1/view1_frontal.jpg", "Frontal", { atel: "-1.0", edema: "-1.0", card: "-1.0", cons: "1.0", eff: "" }),
  row("CheXpert-v1.0-small/train/patient00001/study1/view2_lateral.jpg", "Lateral", { atel: "1.0" }),
  // Kaggle-mirror spelling without the prefix, integer spellings
  row("train/patient00002/study1/view1_frontal.jpg", "Frontal", { atel: "0", edema: "1", card: "1.0", cons: "-1", eff: "-1.0" }),
]

test("default policy: U-Ones for Atelectasis and Edema, U-Zeros for the rest; blank is negative", async () => {
  await withCsv(rows, "parent", async (root) => {
    const log = new SkipLog(false)
    const p = await parseChexpert(root, {}, log)
    assert.equal(log.skips, [])
    assert.equal(p.labels, { kind: "multilabel", names: ["Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Pleural Effusion"] })
    assert.is(p.records.length, 2, "lateral view filtered out")
    assert.equal(Array.from(p.records[0]!.labels), [1, 0, 1, 1, 0])
    assert.equal(Array.from(p.records[0]!.stated!), [Stated.Uncertain, Stated.Uncertain, Stated.Positive, Stated.Uncertain, Stated.Blank])
    assert.equal(Array.from(p.records[1]!.labels), [0, 1, 0, 1, 0])
    assert.equal(p.records.map((r) => r.patient), ["patient00001", "patient00002"])
    assert.equal(p.records.map((r) => r.path), ["train/patient00001/study1/view1_frontal.jpg", "train/patient00002/study1/view1_frontal.jpg"])
    assert.ok(p.records[1]!.file.endsWith(join("CheXpert-v1.0-small", "train", "patient00002", "study1", "view1_frontal.jpg")))
  })
})

test("U-Ignore gives NaN, U-Ones 1, U-Zeros 0 for uncertain values only", async () => {
  await withCsv(rows, "self", async (root) => {
    const p = await parseChexpert(root, { policy: { Atelectasis: "U-Ignore", Cardiomegaly: "U-Ones", Edema: "U-Zeros", "Pleural Effusion": "U-Ignore" } }, new SkipLog(true))
    const [a, b] = p.records.map((r) => Array.from(r.labels))
    assert.ok(Number.isNaN(a![0]!))
    assert.equal(a!.slice(1), [1, 1, 0, 0])
    assert.equal(b!.slice(0, 4), [0, 1, 0, 1])
    assert.ok(Number.isNaN(b![4]!))
    assert.equal((p.policy as { uncertain: Record<string, string> }).uncertain, { Atelectasis: "U-Ignore", Cardiomegaly: "U-Ones", Consolidation: "U-Zeros", Edema: "U-Zeros", "Pleural Effusion": "U-Ignore" })
  })
})

test("applyPolicy and defaultPolicy agree with spec.md", () => {
  assert.is(defaultPolicy("Atelectasis"), "U-Ones")
  assert.is(defaultPolicy("Edema"), "U-Ones")
  for (const f of ["Cardiomegaly", "Consolidation", "Pleural Effusion"]) assert.is(defaultPolicy(f), "U-Zeros")
  for (const p of ["U-Ignore", "U-Zeros", "U-Ones"] as const) {
    assert.is(applyPolicy(Stated.Positive, p), 1)
    assert.is(applyPolicy(Stated.Negative, p), 0)
    assert.is(applyPolicy(Stated.Blank, p), 0)
  }
})

test("lateral views kept when frontalOnly is false; valid.csv can be the test split", async () => {
  await withCsv(rows, "parent", async (root) => {
    await writeFile(join(root, "CheXpert-v1.0-small", "valid.csv"), header + "\n" + row("CheXpert-v1.0-small/valid/patient64541/study1/view1_frontal.jpg", "Frontal", { card: "1.0" }) + "\n")
    const p = await parseChexpert(root, { frontalOnly: false, validCsv: "test" }, new SkipLog(true))
    assert.is(p.records.length, 4)
    assert.equal(p.records.map((r) => r.fixedSplit), [undefined, undefined, undefined, "test"])
    assert.equal(p.sources, [{ file: "train.csv", rows: 3 }, { file: "valid.csv", rows: 1 }])
  })
})

test("a policy for an unknown finding or an unknown policy name is a clear error", async () => {
  await withCsv(rows, "parent", async (root) => {
    try { await parseChexpert(root, { policy: { Pneumonia: "U-Ones" } }, new SkipLog(false)); assert.unreachable() } catch (e) {
      assert.match((e as Error).message, /Pneumonia/)
    }
    try { await parseChexpert(root, { policy: { Edema: "U-Maybe" as "U-Ones" } }, new SkipLog(false)); assert.unreachable() } catch (e) {
      assert.match((e as Error).message, /U-Maybe/)
    }
  })
})

test.run()
