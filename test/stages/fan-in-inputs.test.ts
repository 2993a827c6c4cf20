// Fan-in stages read inputs of several kinds from one record: the report's are keyed by the
// upstream's stage id (its parameters name the ids each table cell reads), and each input
// is checked against the result it is read as, so a wiring mistake names the input and field.
import { test } from "uvu"
import * as assert from "uvu/assert"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { buildGraph } from "../../pipeline/graph.ts"
import { inputOf } from "../../stages/common.ts"
import { resolveConfig } from "../../stages/config.ts"
import { expandGraph } from "../../stages/grid.ts"
import { buildReport } from "../../stages/report.ts"
import { SimilarityResultSchema } from "../../stages/similarity.ts"
import { TrainedResultSchema, type TrainedResult } from "../../stages/training.ts"

test("the report's inputs are keyed by stage id, and every id its parameters name is an input of the right kind", () => {
  const dir = mkdtempSync(join(tmpdir(), "transfusion-fan-in-"))
  try {
    const { config, overrides } = resolveConfig("micro", undefined, dir)
    const report = buildGraph(expandGraph(config, "micro", overrides, dir)).nodes.find((n) => n.kind === buildReport)!
    for (const [key, up] of Object.entries(report.inputs)) assert.is(key, up.id, `input ${key} is keyed by its stage id`)
    const p = report.params as typeof buildReport.params.Type
    const kindOf = (stage: string) => report.inputs[stage]?.kind.kind
    for (const role of p.runs) assert.is(kindOf(role.stage), "finetune", role.stage)
    for (const role of p.pretrained) assert.ok(["pretrain", "import-weights"].includes(kindOf(role.stage)!), role.stage)
    for (const role of p.similarity) assert.is(kindOf(role.stage), "similarity", role.stage)
    for (const stage of Object.values(p.datasets)) assert.is(kindOf(stage), "ingest", stage)
    assert.is(kindOf(p.filters), "filters")
    assert.is(new Set(p.runs.map((r) => r.stage)).size, p.runs.length, "one role per run")
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test("a fan-in input read as the wrong kind is refused, naming the input and the field", () => {
  const trained: TrainedResult = {
    spec: { arch: "cbr-tiny", inputSize: 32, widthMultiplier: 1, outputs: 5, outputActivation: "softmax", seed: 1 },
    blocks: [{ name: "conv1", output: "conv1/relu" }],
    init: { scheme: "random", pretrained: 0, meanVar: 0, random: 4, gabor: 0 },
    test: { auc: 0.71 },
    curve: [],
    steps: 10,
    seconds: 2.5,
    backend: { name: "cpu", versions: {} },
    checkpoint: { choice: "last", step: 10 },
  }
  const id = "finetune/retina/cbr-tiny/random/seed1"
  const inputs = { [id]: { id, dir: "/nowhere", fingerprint: "f", result: trained } }
  assert.is(inputOf(inputs, id, TrainedResultSchema).result.test.auc, 0.71)
  assert.throws(
    () => inputOf(inputs, id, SimilarityResultSchema),
    (e: Error) => e.message.includes(`input ${id}`) && e.message.includes("result.pairs: is missing"),
  )
  assert.throws(() => inputOf(inputs, "similarity/retina/cbr-tiny", SimilarityResultSchema), /no input similarity\/retina\/cbr-tiny \(inputs: finetune/)
})

test.run()
