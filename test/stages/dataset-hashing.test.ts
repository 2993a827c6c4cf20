// On a real-data config, the verbs that only report read no dataset file: the paper
// profile is fingerprinted from the stages' recorded file hashes, while `run`'s reading
// hasher walks the declared folders (pipeline/cli/session.ts, FileHashing).
import { test } from "uvu"
import * as assert from "uvu/assert"
import { appendFileSync, mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { resolveConfig } from "../../stages/config.ts"
import { expandGraph } from "../../stages/grid.ts"
import { buildGraph } from "../../pipeline/graph.ts"
import { CodeHasher, FileHasher, fingerprintAll, listReads, readFileHashes, recordedFileHashes } from "../../pipeline/fingerprint.ts"
import { Store } from "../../pipeline/store.ts"
import { chexpertColumns } from "../../data/generate/chexpert.ts"

const repo = resolve(import.meta.dirname, "../..")

test("paper profile on real data: fingerprints from recorded hashes touch no dataset; the reading hasher does", () => {
  const dir = mkdtempSync(join(tmpdir(), "transfusion-datasets-"))
  try {
    const data: Record<string, unknown> = {}
    for (const name of ["imagenet", "retina", "chexpert"]) {
      mkdirSync(join(dir, name))
      writeFileSync(join(dir, name, "image.bin"), name)
      data[name] = { source: { kind: "real", root: join(dir, name) } }
    }
    writeFileSync(join(dir, "config.json"), JSON.stringify({ paper: { data } }))
    const { config, experimentOverrides } = resolveConfig("paper", join(dir, "config.json"), dir)
    const graph = buildGraph(expandGraph(config, "paper", experimentOverrides, dir))
    const fileBacked = graph.nodes.filter((n) => Object.keys(n.files).length > 0)
    assert.ok(fileBacked.length >= 3, "the datasets are declared files")
    const code = new CodeHasher(repo, ["pipeline/"])
    // Present datasets are read by `run`'s hasher...
    fingerprintAll(graph.nodes, code, readFileHashes(new FileHasher(join(dir, "hashes.json"))))
    // ...and, once gone, a reading pass fails while the recorded-hash pass never looks.
    for (const name of ["imagenet", "retina", "chexpert"]) rmSync(join(dir, name), { recursive: true })
    assert.throws(() => fingerprintAll(graph.nodes, code, readFileHashes(new FileHasher(join(dir, "hashes.json")))), /does not exist/)
    const fps = fingerprintAll(graph.nodes, code, recordedFileHashes(new Store(join(dir, "store"))))
    assert.is(fps.size, graph.nodes.length)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

// Issue 18, finding 6: a dataset root was hashed as a whole tree, so a stray .DS_Store or
// EyePACS's unused test/ folder reran ingest and everything after it. Planning (as
// openSession does it for `run`) now hashes what each ingest reads: the CSV or synset
// mapping and the images they list.
test("a user's copy is fingerprinted by what its ingest reads: stray files and unused folders rerun nothing; a listed image, a CSV row or a new synset image does", async () => {
  const dir = mkdtempSync(join(tmpdir(), "transfusion-datasets-"))
  const put = (path: string, text = path) => {
    mkdirSync(join(path, ".."), { recursive: true })
    writeFileSync(path, text)
  }
  try {
    const retina = join(dir, "retina"), chexpert = join(dir, "chexpert"), imagenet = join(dir, "imagenet")
    put(join(retina, "trainLabels.csv"), "image,level\n1_left,0\n1_right,2\n")
    for (const n of ["1_left", "1_right"]) put(join(retina, "train", `${n}.jpeg`))
    const cx = (p: number) => `CheXpert-v1.0-small/train/patient0000${p}/study1/view1_frontal.jpg`
    put(join(chexpert, "CheXpert-v1.0-small", "train.csv"), [chexpertColumns.join(","), ...[1, 2].map((p) => [cx(p), "Male", "40", "Frontal", "AP", ...new Array(chexpertColumns.length - 5).fill("")].join(","))].join("\n") + "\n")
    for (const p of [1, 2]) put(join(chexpert, cx(p)))
    put(join(imagenet, "LOC_synset_mapping.txt"), "n00000001 thing\n")
    put(join(imagenet, "train", "n00000001", "n00000001_1.JPEG"))
    const data = { imagenet: { source: { kind: "real", root: imagenet } }, retina: { source: { kind: "real", root: retina } }, chexpert: { source: { kind: "real", root: chexpert } } }
    writeFileSync(join(dir, "config.json"), JSON.stringify({ paper: { data } }))
    const { config, experimentOverrides } = resolveConfig("paper", join(dir, "config.json"), dir)
    const graph = buildGraph(expandGraph(config, "paper", experimentOverrides, dir))
    const ingests = graph.nodes.filter((n) => n.kind.kind === "ingest")
    const rootOf = (id: string) => ingests.find((n) => n.id === id)!.files.root!
    /** The ingest nodes' fingerprints as `run` plans them, by dataset folder. */
    const plan = async () => {
      const code = new CodeHasher(repo, ["pipeline/"])
      const fps = fingerprintAll(graph.nodes, code, readFileHashes(new FileHasher(join(dir, "hashes.json")), await listReads(graph.nodes)))
      return Object.fromEntries(ingests.map((n) => [rootOf(n.id).slice(dir.length + 1), fps.get(n.id)!.fingerprint])) as Record<"retina" | "chexpert" | "imagenet", string>
    }
    const before = await plan()
    assert.equal(Object.keys(before).sort(), ["chexpert", "imagenet", "retina"])

    for (const root of [retina, chexpert, imagenet]) put(join(root, ".DS_Store"), "Finder")
    put(join(retina, "train", ".DS_Store"), "Finder")
    put(join(retina, "test", "5_left.jpeg"), "EyePACS's unlabelled test images")
    put(join(chexpert, "CheXpert-v1.0-small", "valid", "notes.txt"))
    put(join(imagenet, "train", "n00000001", "Thumbs.db"))
    put(join(imagenet, "ILSVRC2012_devkit", "readme.txt"))
    assert.equal(await plan(), before, "stray files and unused folders changed a fingerprint")

    writeFileSync(join(retina, "train", "1_left.jpeg"), "edited pixels")
    const edited = await plan()
    assert.is.not(edited.retina, before.retina, "a listed image changed, ingest must rerun")
    assert.is(edited.chexpert, before.chexpert)
    assert.is(edited.imagenet, before.imagenet)

    appendFileSync(join(retina, "trainLabels.csv"), "2_left,1\n") // listed, not there yet: a counted skip
    const listed = await plan()
    assert.is.not(listed.retina, edited.retina, "a new CSV row must rerun ingest")
    put(join(retina, "train", "2_left.jpeg"))
    assert.is.not((await plan()).retina, listed.retina, "the missing image arrived: ingest must rerun")

    put(join(imagenet, "train", "n00000001", "n00000001_2.JPEG"))
    assert.is.not((await plan()).imagenet, before.imagenet, "a new image in a synset folder is read")

    // A copy its reader cannot parse still plans (hashed whole); its ingest then fails with the reader's error.
    rmSync(join(chexpert, "CheXpert-v1.0-small", "train.csv"))
    assert.is.not((await plan()).chexpert, before.chexpert)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test.run()
