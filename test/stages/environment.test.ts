// Fingerprint environments (issue 18, finding 11): a stage whose bytes depend on sharp
// and its libvips, or on apache-arrow / parquet-wasm, records their versions, so an
// upgrade that changes pixels or encodings reruns it. The libvips version read at plan
// time (without loading sharp) must be the one sharp reports once loaded.
import { test } from "uvu"
import * as assert from "uvu/assert"
import { readFileSync } from "node:fs"
import { join, resolve } from "node:path"
import sharp from "sharp"
import { generateDataset } from "../../stages/generate.ts"
import { ingestDataset } from "../../stages/ingest.ts"
import { conv1Filters } from "../../stages/filters.ts"
import { fineTune } from "../../stages/finetune.ts"
import { pretrain } from "../../stages/pretrain.ts"
import { dumpActivationsStage } from "../../stages/activations.ts"
import { similarityStage } from "../../stages/similarity.ts"

const version = (pkg: string) => (JSON.parse(readFileSync(join(resolve(import.meta.dirname, "../../node_modules"), pkg, "package.json"), "utf8")) as { version: string }).version

const cases: [string, { environment?: (p: never) => Record<string, string> }, string[]][] = [
  ["generate", generateDataset, ["sharp"]],
  ["ingest", ingestDataset, ["sharp", "apache-arrow"]],
  ["filters", conv1Filters, ["sharp"]],
  ["finetune", fineTune, ["apache-arrow"]],
  ["pretrain", pretrain, ["apache-arrow"]],
  ["activations", dumpActivationsStage, ["apache-arrow", "parquet-wasm"]],
  ["similarity", similarityStage, ["apache-arrow", "parquet-wasm"]],
]

for (const [name, kind, libs] of cases) {
  test(`${name}: its fingerprint environment names ${libs.join(", ")} with their installed versions`, () => {
    assert.type(kind.environment, "function")
    const env = kind.environment!({ backend: "cpu" } as never)
    for (const lib of libs) assert.is(env[lib], version(lib), lib)
    if (libs.includes("sharp")) assert.is(env.libvips, sharp.versions.vips)
  })
}

test.run()
