// Profiles are typed values; a user's config file overrides them, and mistakes are
// errors that name the key and the file.
import { test } from "uvu"
import * as assert from "uvu/assert"
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { ConfigProblem, profiles, resolveConfig, type ResolvedConfig } from "../../stages/config.ts"
import { expandGraph } from "../../stages/grid.ts"
import { buildGraph } from "../../pipeline/graph.ts"

const withDir = (f: (dir: string) => void) => {
  const dir = mkdtempSync(join(tmpdir(), "transfusion-config-"))
  try {
    f(dir)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

test("every synthetic profile resolves without a config file and expands into the paper's grid", () => {
  withDir((dir) => {
    for (const name of ["micro", "mini"]) {
      const { config, overrides } = resolveConfig(name, undefined, dir)
      assert.equal(overrides, [])
      const graph = buildGraph(expandGraph(config, name, overrides, dir))
      const ids = graph.nodes.map((n) => n.id)
      const count = (prefix: string) => ids.filter((i) => i.startsWith(prefix)).length
      const s = config.seeds, f = config.figureSeeds
      // Table 1: 6 models x {random, transfer} on RETINA; Figure 6 Mean Var; Figures 7-8 extras
      assert.is(count("finetune/retina/cbr-tiny/"), 2 * s + f, `${name} cbr-tiny`)
      assert.is(count("finetune/retina/resnet50/"), 2 * s + (1 + 5 + 1) * f, `${name} resnet50: random, transfer; mean-var, 5 transfusions (conv1 shared with Figure 8), gabor`)
      assert.is(count("finetune/chexpert/"), 5 * 2 * s + f, `${name} Table 2 + ResNet-50 Mean Var`)
      assert.is(count("finetune/retina-small/"), 3 * 2 * s, `${name} Table 3`)
      assert.is(count("finetune/retina/resnet50-slim/"), f)
      assert.is(count("pretrain/"), 6)
      assert.is(count("similarity/retina/"), 6)
      assert.ok(ids.includes("report") && ids.includes("figures/conv1-filters"))
      assert.is(ids.at(-1), "report", "the report depends on everything")
    }
  })
})

test("stepsByModel gives a model its own step count (pretrain, fine-tune, small data scaled alike); stage params hold only the resolved count", () => {
  withDir((dir) => {
    const { config } = resolveConfig("mini", undefined, dir)
    const graph = buildGraph(expandGraph({ ...config, pretrain: { ...config.pretrain, stepsByModel: { resnet50: 300 } }, finetune: { ...config.finetune, steps: 100, stepsByModel: { resnet50: 250 } }, smallDataSteps: 40 }, "mini", [], dir))
    const training = (id: string) => {
      const node = graph.nodes.find((n) => n.id === id)
      assert.ok(node, id)
      return (node!.params as { training: Record<string, unknown> }).training
    }
    assert.is(training("pretrain/resnet50").steps, 300)
    assert.is(training("pretrain/cbr-small").steps, config.pretrain.steps)
    assert.is(training("finetune/retina/resnet50/random/seed1").steps, 250)
    assert.is(training("finetune/retina/resnet50-slim/transfusion-block2/seed1").steps, 250, "slim ResNet-50 trains as long as ResNet-50")
    assert.is(training("finetune/retina/cbr-small/random/seed1").steps, 100)
    assert.is(training("finetune/retina-small/resnet50/random/seed1").steps, 100, "40 small-data steps x 250/100")
    assert.is(training("finetune/retina-small/cbr-larget/random/seed1").steps, 40)
    assert.not.ok("stepsByModel" in training("finetune/retina/resnet50/random/seed1"))
    assert.is(training("finetune/retina/resnet50/random/seed1").batchNormMomentum, config.finetune.batchNormMomentum)
  })
})

test("the executor set in the file is listed but is not an experiment setting: every stage's params stay the same", () => {
  withDir((dir) => {
    writeFileSync(join(dir, "transfusion.config.json"), JSON.stringify({ executor: { type: "slurm", pollSeconds: 1 }, seeds: 3 }))
    const slurm = resolveConfig("micro", undefined, dir)
    assert.ok(slurm.overrides.some((o) => o.startsWith("executor")), slurm.overrides.join("; "))
    assert.equal(slurm.experimentOverrides, ["seeds = 3"])
    writeFileSync(join(dir, "transfusion.config.json"), JSON.stringify({ seeds: 3 }))
    const local = resolveConfig("micro", undefined, dir)
    const params = (r: ResolvedConfig) => buildGraph(expandGraph(r.config, "micro", r.experimentOverrides, dir)).nodes.map((n) => [n.id, n.params])
    assert.equal(params(slurm), params(local))
  })
})

test("a user file overrides fields, per profile or flat, and the overrides are listed", () => {
  withDir((dir) => {
    writeFileSync(join(dir, "transfusion.config.json"), JSON.stringify({ mini: { seeds: 2, finetune: { learningRate: 0.01 } } }))
    const r = resolveConfig("mini", undefined, dir)
    assert.is(r.config.seeds, 2)
    assert.is(r.config.finetune.learningRate, 0.01)
    assert.is(r.config.finetune.steps, profiles.mini!.finetune.steps)
    assert.equal([...r.overrides].sort(), ["finetune.learningRate = 0.01", "seeds = 2"])
    const micro = resolveConfig("micro", undefined, dir)
    assert.equal(micro.overrides, [], "a section for another profile does not apply")
    writeFileSync(join(dir, "flat.json"), JSON.stringify({ seeds: 1 }))
    assert.equal(resolveConfig("micro", join(dir, "flat.json"), dir).overrides, ["seeds = 1"])
  })
})

test("the executor is a config setting: local by default, slurm with its settings", () => {
  withDir((dir) => {
    assert.equal(resolveConfig("mini", undefined, dir).config.executor, { type: "local" })
    writeFileSync(join(dir, "transfusion.config.json"), JSON.stringify({ executor: { type: "slurm", partition: "gpu", extraFlags: ["--qos=normal"] } }))
    const r = resolveConfig("micro", undefined, dir)
    assert.equal(r.config.executor, { type: "slurm", partition: "gpu", extraFlags: ["--qos=normal"] })
    writeFileSync(join(dir, "transfusion.config.json"), JSON.stringify({ executor: { type: "slurm", partiton: "gpu" } }))
    assert.throws(() => resolveConfig("micro", undefined, dir), (e: Error) => /partiton/.test(e.message))
  })
})

test("unknown keys, wrong types and missing dataset roots are errors naming the key", () => {
  withDir((dir) => {
    const file = join(dir, "c.json")
    writeFileSync(file, JSON.stringify({ finetune: { learningrate: 0.01 } }))
    assert.throws(() => resolveConfig("mini", file, dir), (e: Error) => e instanceof ConfigProblem && /learningrate/.test(e.message) && e.message.includes(file))
    writeFileSync(file, JSON.stringify({ seeds: "three" }))
    assert.throws(() => resolveConfig("mini", file, dir), (e: Error) => /seeds/.test(e.message))
    assert.throws(() => resolveConfig("paper", undefined, dir), (e: Error) => /data\.imagenet\.source\.root is not set/.test(e.message))
    writeFileSync(file, JSON.stringify({ paper: { data: { imagenet: { source: { kind: "real", root: join(dir, "nowhere") } } } } }))
    assert.throws(() => resolveConfig("paper", file, dir), (e: Error) => /data\.imagenet\.source\.root .* is not a directory/.test(e.message))
    assert.throws(() => resolveConfig("nope", undefined, dir), (e: Error) => /unknown profile "nope"/.test(e.message))
  })
})

test("pretraining recipe settings: the paper pretrains with SGD-momentum, a stepped decay and random-resized crops; bad settings name the field", () => {
  const pre = profiles.paper!.pretrain
  assert.is(pre.optimizer, "sgd-momentum")
  assert.equal(pre.learningRateSchedule, { kind: "step", every: 150_000, factor: 0.1 })
  assert.equal(pre.randomResizedCrop, { scale: [0.08, 1], ratio: [3 / 4, 4 / 3] })
  // Fine-tuning keeps spec.md's defaults.
  assert.equal([profiles.paper!.finetune.learningRateSchedule, profiles.paper!.finetune.randomResizedCrop], [{ kind: "constant" }, null])
  withDir((dir) => {
    const file = join(dir, "c.json")
    const bad = (pretrain: unknown, field: RegExp) => {
      writeFileSync(file, JSON.stringify({ pretrain }))
      assert.throws(() => resolveConfig("mini", file, dir), (e: Error) => e instanceof ConfigProblem && field.test(e.message) && e.message.includes(file), String(field))
    }
    bad({ randomResizedCrop: { scale: [0.9, 0.5], ratio: [0.75, 1.33] } }, /randomResizedCrop\.scale \[0\.9, 0\.5\] must have 0 < lo <= hi <= 1/)
    bad({ randomResizedCrop: { scale: [0.08, 1.5], ratio: [0.75, 1.33] } }, /randomResizedCrop\.scale \[0\.08, 1\.5\] must have 0 < lo <= hi <= 1/)
    bad({ learningRateSchedule: { kind: "step", every: 100, factor: 1.5 } }, /factor/)
    bad({ learningRateSchedule: { kind: "cosine", warmupSteps: -1, finalFraction: 0 } }, /warmupSteps/)
    bad({ learningRateSchedule: { kind: "linear" } }, /learningRateSchedule/)
    writeFileSync(file, JSON.stringify({ pretrain: { optimizer: "sgd-momentum", learningRate: 0.05, learningRateSchedule: { kind: "cosine", warmupSteps: 10, finalFraction: 0 }, randomResizedCrop: { scale: [0.25, 1], ratio: [0.75, 1.333] } } }))
    const { config } = resolveConfig("mini", file, dir)
    assert.equal(config.pretrain.randomResizedCrop, { scale: [0.25, 1], ratio: [0.75, 1.333] })
  })
})

test("the paper profile with real roots lists the whole graph at paper resolution", () => {
  withDir((dir) => {
    for (const d of ["imagenet", "eyepacs", "chexpert"]) mkdirSync(join(dir, d))
    writeFileSync(
      join(dir, "transfusion.config.json"),
      JSON.stringify({ paper: { data: { imagenet: { source: { kind: "real", root: "imagenet" } }, retina: { source: { kind: "real", root: "eyepacs" } }, chexpert: { source: { kind: "real", root: "chexpert" } } } } }),
    )
    const { config, overrides } = resolveConfig("paper", undefined, dir)
    const graph = buildGraph(expandGraph(config, "paper", overrides, dir))
    const ids = graph.nodes.map((n) => n.id)
    assert.ok(ids.includes("ingest/retina/587px") && ids.includes("ingest/chexpert/224px") && ids.includes("ingest/imagenet/224px"))
    assert.not.ok(ids.some((i) => i.startsWith("generate/")), "real data are not generated")
    const ingest = graph.byId.get("ingest/retina/587px")!
    assert.equal(ingest.files, { root: join(dir, "eyepacs") })
    assert.ok(graph.nodes.filter((n) => n.kind.kind === "finetune").every((n) => n.resources.gpu === 1))
  })
})

test("backend webgpu in the config file: training and activation stages hold a GPU slot, the data stages do not", () => {
  withDir((dir) => {
    writeFileSync(join(dir, "transfusion.config.json"), JSON.stringify({ micro: { backend: "webgpu" } }))
    const { config, overrides } = resolveConfig("micro", undefined, dir)
    assert.is(config.backend, "webgpu")
    const nodes = buildGraph(expandGraph(config, "micro", overrides, dir)).nodes
    const gpu = (kind: string) => nodes.filter((n) => n.kind.kind === kind).map((n) => n.resources.gpu)
    for (const kind of ["pretrain", "finetune", "activations"]) assert.ok(gpu(kind).length > 0 && gpu(kind).every((g) => g === 1), kind)
    for (const kind of ["generate", "ingest", "similarity"]) assert.ok(gpu(kind).every((g) => g === 0), kind)
    writeFileSync(join(dir, "transfusion.config.json"), JSON.stringify({ micro: { backend: "wasm" } }))
    const wasm = resolveConfig("micro", undefined, dir)
    assert.ok(buildGraph(expandGraph(wasm.config, "micro", wasm.overrides, dir)).nodes.every((n) => n.resources.gpu === 0))
    writeFileSync(join(dir, "transfusion.config.json"), JSON.stringify({ micro: { backend: "metal" } }))
    assert.throws(() => resolveConfig("micro", undefined, dir), /backend/)
  })
})

test("importedWeights in the paper profile: the model's pretrained weights come from the Keras file (hashed as an input), not in-house pretraining", () => {
  withDir((dir) => {
    for (const d of ["imagenet", "eyepacs", "chexpert"]) mkdirSync(join(dir, d))
    writeFileSync(join(dir, "resnet50_notop.h5"), "stands in for the weights file")
    writeFileSync(
      join(dir, "transfusion.config.json"),
      JSON.stringify({ paper: { importedWeights: { resnet50: "resnet50_notop.h5" }, data: { imagenet: { source: { kind: "real", root: "imagenet" } }, retina: { source: { kind: "real", root: "eyepacs" } }, chexpert: { source: { kind: "real", root: "chexpert" } } } } }),
    )
    const { config, overrides } = resolveConfig("paper", undefined, dir)
    const graph = buildGraph(expandGraph(config, "paper", overrides, dir))
    const ids = graph.nodes.map((n) => n.id)
    assert.ok(ids.includes("import-weights/resnet50"))
    assert.not.ok(ids.includes("pretrain/resnet50"), "no in-house pretraining for an imported model")
    assert.ok(ids.includes("pretrain/inception-v3"), "a model without a file is still pretrained in-house")
    const imported = graph.byId.get("import-weights/resnet50")!
    assert.equal(imported.files, { weights: join(dir, "resnet50_notop.h5") })
    const transfer = graph.byId.get("finetune/retina/resnet50/transfer/seed1")!
    assert.ok(Object.values(transfer.inputs).some((n) => n.id === "import-weights/resnet50"), "fine-tuning reads the imported weights")
    writeFileSync(join(dir, "transfusion.config.json"), JSON.stringify({ paper: { importedWeights: { "cbr-small": "x.h5" } } }))
    assert.throws(() => resolveConfig("paper", undefined, dir), /cbr-small/)
  })
})

test.run()
