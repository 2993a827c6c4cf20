// On a real-data config, the verbs that only report read no dataset file: the paper
// profile is fingerprinted from the stages' recorded file hashes, while `run`'s reading
// hasher walks the declared folders (pipeline/cli/session.ts, FileHashing).
import { test } from "uvu"
import * as assert from "uvu/assert"
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { resolveConfig } from "../../stages/config.ts"
import { expandGraph } from "../../stages/grid.ts"
import { buildGraph } from "../../pipeline/graph.ts"
import { CodeHasher, FileHasher, fingerprintAll, readFileHashes, recordedFileHashes } from "../../pipeline/fingerprint.ts"
import { Store } from "../../pipeline/store.ts"

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

test.run()
