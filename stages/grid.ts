// The paper as a graph: which stages a config expands into. Grids (model x init x seed)
// are plain loops; ids name what each stage is, e.g. finetune/retina/cbr-small/transfer/seed1.
import { resolve } from "node:path"
import type { AnyNode, StageNode } from "../pipeline/stage.ts"
import type { DatasetManifest } from "../data/manifest.ts"
import type { GeneratedSummary } from "../data/generate/summary.ts"
import type { Arch, Config } from "./config.ts"
import { generateDataset } from "./generate.ts"
import { ingestDataset } from "./ingest.ts"
import { pretrain } from "./pretrain.ts"
import { importKerasWeights } from "./import-weights.ts"
import { fineTune } from "./finetune.ts"
import { dumpActivationsStage } from "./activations.ts"
import { similarityStage } from "./similarity.ts"
import { conv1Filters } from "./filters.ts"
import { buildReport, type ReportRunRole } from "./report.ts"
import type { Init, TrainedResult, TrainingSchema } from "./training.ts"
import { plannedBackend } from "./common.ts"
import { GPU_BACKENDS } from "../ml/backend-names.ts"

type TrainingParams = typeof TrainingSchema.Type

/** Inception-v3's stem needs 75 px; smaller profiles ingest a second copy at that size for it. */
const INCEPTION_MIN = 75
const sizeFor = (arch: string, size: number) => (arch === "inception-v3" ? Math.max(size, INCEPTION_MIN) : size)

/** Init names as the report and the paper use them. */
const initName = (init: Init): string =>
  init.kind === "meanvar" ? "mean-var" : init.kind === "transfusion" ? `transfusion-${init.upTo}` : init.kind === "gabor" ? "gabor-conv1" : init.kind === "slim" ? "transfusion-block2" : init.kind

export const expandGraph = (config: Config, profile: string, overrides: readonly string[], cwd: string): AnyNode[] => {
  const memo = new Map<string, AnyNode>()
  const once = <N extends AnyNode>(node: () => N, id: string): N => {
    const hit = memo.get(id)
    if (hit) return hit as N
    const made = node()
    memo.set(id, made)
    return made
  }
  const seeds = Array.from({ length: config.seeds }, (_, i) => i + 1)
  const width = config.widthMultiplier

  // ---- data: generate (synthetic) or point at the user's copy, then ingest at each size needed
  type Name = "imagenet" | "retina" | "chexpert"
  const format = { imagenet: "imagenet", retina: "eyepacs", chexpert: "chexpert" } as const
  const source = (name: Name): { node?: StageNode<GeneratedSummary>; root?: string } => {
    const src = config.data[name].source
    if (src.kind === "real") return { root: resolve(cwd, src.root) }
    const { kind: _k, ...options } = src
    const id = `generate/${name}`
    return {
      node: once(
        () => generateDataset.make({ id, params: { dataset: format[name], options: { ...options, concurrency: 4 } }, inputs: {}, links: { [`data/synthetic/${name}`]: "." } }),
        id,
      ),
    }
  }
  const ingest = (name: Name, size: number): StageNode<DatasetManifest> => {
    const id = `ingest/${name}/${size}px`
    return once(() => {
      const { node, root } = source(name)
      const d = config.data[name]
      return ingestDataset.make({
        id,
        params: {
          format: format[name],
          size,
          fit: d.fit,
          seed: 7,
          strict: false,
          ...(name === "retina" ? { trainSubset: config.data.retina.smallData } : {}),
          ...(name === "chexpert" ? { policy: config.data.chexpert.uncertainty } : {}),
        },
        inputs: node ? { source: node } : {},
        files: root ? { root } : {},
        resources: { cpu: 2, gpu: 0 },
      })
    }, id)
  }

  // Training and activation stages hold a GPU slot when their backend computes on one.
  const gpu = GPU_BACKENDS.includes(plannedBackend(config.backend).backend!) ? 1 : 0
  const model = (arch: string, size: number, seed: number) => ({ arch: arch as "cbr-tiny", widthMultiplier: width, inputSize: sizeFor(arch, size), seed, backend: config.backend })

  // Slim ResNet-50 is ResNet-50 pruned after initialisation: its weights and step count are ResNet-50's.
  const baseArch = (arch: string): Arch => (arch === "resnet50-slim" ? "resnet50" : arch) as Arch

  // A run's training settings: the section's, with the model's own step count (stepsByModel).
  const trainingFor = (section: Config["finetune"], arch: string, regimeSteps = section.steps): TrainingParams => {
    const { stepsByModel, ...training } = section
    const steps = stepsByModel?.[baseArch(arch)]
    return { ...training, steps: steps === undefined ? regimeSteps : Math.max(1, Math.round((regimeSteps * steps) / section.steps)) }
  }

  // ---- ImageNet pretraining: one fixed set of weights per model (transfer runs fine-tune it three times)
  // or, where importedWeights names a Keras file for the model, those weights imported.
  const importedFile = (arch: Arch): string | undefined => (config.importedWeights as Partial<Record<Arch, string>> | undefined)?.[arch]
  const pretrained = (arch: Arch): StageNode<TrainedResult> =>
    once(() => {
      const size = sizeFor(arch, config.data.imagenet.size)
      const file = importedFile(arch)
      if (file !== undefined) {
        return importKerasWeights.make({
          id: `import-weights/${arch}`,
          params: { arch, widthMultiplier: width, inputSize: size, backend: config.backend },
          inputs: {},
          files: { weights: resolve(cwd, file) },
          resources: { cpu: 1, gpu: 0 },
        })
      }
      return pretrain.make({
        id: `pretrain/${arch}`,
        params: { ...model(arch, size, 1000), training: trainingFor(config.pretrain, arch) },
        inputs: { data: ingest("imagenet", size) },
        resources: { cpu: 1, gpu },
      })
    }, `pretrain/${arch}`)

  // ---- fine-tuning runs; the report learns each run's role from `roles` (keyed by stage id)
  const roles: ReportRunRole[] = []
  const runs = new Map<string, StageNode<TrainedResult>>()
  const finetune = (task: "retina" | "chexpert", arch: string, init: Init, seed: number, regime: "full" | "small-data" = "full"): StageNode<TrainedResult> => {
    const size = sizeFor(arch, config.data[task].size)
    const dataset = regime === "small-data" ? "retina-small" : task
    const id = `finetune/${dataset}/${arch}/${initName(init)}/seed${seed}`
    return once(() => {
      const pre = init.kind === "random" || init.kind === "gabor" ? undefined : pretrained(baseArch(arch))
      const node = fineTune.make({
        id,
        params: {
          ...model(arch, size, seed),
          task,
          init,
          trainSplit: regime === "small-data" ? "train-small" : "train",
          training: trainingFor(config.finetune, arch, regime === "small-data" ? config.smallDataSteps : config.finetune.steps),
        },
        inputs: { data: ingest(task, size), ...(pre ? { pretrained: pre } : {}) },
        resources: { cpu: 1, gpu },
      })
      roles.push({ stage: id, model: arch, init: initName(init), dataset: task, regime, seed })
      runs.set(id, node)
      return node
    }, id)
  }
  const random: Init = { kind: "random" }, transfer: Init = { kind: "transfer" }

  // Table 1 (RETINA), Table 2 (CheXpert), Table 3 (small data): random vs transfer
  for (const arch of config.models.table1) for (const s of seeds) for (const init of [random, transfer]) finetune("retina", arch, init, s)
  for (const arch of config.models.table2) for (const s of seeds) for (const init of [random, transfer]) finetune("chexpert", arch, init, s)
  for (const arch of config.models.table3) for (const s of seeds) for (const init of [random, transfer]) finetune("retina", arch, init, s, "small-data")
  // Figure 6: Mean Var on RETINA per model; ResNet-50 on CheXpert (Consolidation)
  const figureSeeds = seeds.slice(0, config.figureSeeds)
  for (const arch of config.models.table1) for (const s of figureSeeds) finetune("retina", arch, { kind: "meanvar" }, s)
  for (const s of figureSeeds) for (const init of [random, transfer, { kind: "meanvar" } as Init]) finetune("chexpert", "resnet50", init, s)
  // Figure 7: ResNet-50 weight transfusion up to conv1, block1..block4
  for (const upTo of ["conv1", "block1", "block2", "block3", "block4"]) for (const s of figureSeeds) finetune("retina", "resnet50", { kind: "transfusion", upTo }, s)
  // Figure 8: Slim ResNet-50 (pretrained to block2, halved blocks 3-4); Gabor vs pretrained conv1
  for (const s of figureSeeds) finetune("retina", "resnet50-slim", { kind: "slim" }, s)
  for (const arch of ["resnet50", "cbr-largew"]) for (const s of figureSeeds) {
    finetune("retina", arch, { kind: "gabor" }, s)
    finetune("retina", arch, { kind: "transfusion", upTo: "conv1" }, s)
  }

  // ---- Figures 2-4: activations of every Table 1 RETINA run, then similarities per model
  const similarity: { stage: string; model: string }[] = []
  const simNodes: Record<string, AnyNode> = {}
  const retinaProbe = (arch: string) => ingest("retina", sizeFor(arch, config.data.retina.size))
  for (const arch of config.models.table1) {
    const inputs: Record<string, AnyNode> = { data: retinaProbe(arch) }
    for (const s of seeds) {
      inputs[`random/seed${s}`] = finetune("retina", arch, random, s)
      inputs[`transfer/seed${s}`] = finetune("retina", arch, transfer, s)
    }
    const acts = dumpActivationsStage.make({
      id: `activations/retina/${arch}`,
      params: { backend: config.backend, probeImages: config.analysis.probeImages, datapointsPerNeuron: config.analysis.datapointsPerNeuron, seed: 11 },
      inputs: inputs as never,
      resources: { cpu: 1, gpu },
    })
    const pairs: [string, string, "pretrained-vs-random" | "random-vs-random"][] = []
    for (const s of seeds) pairs.push([`transfer/seed${s}`, `random/seed${s}`, "pretrained-vs-random"])
    // Random vs random over distinct seed pairs (a ring, so n seeds give n pairs; 2 seeds give 1).
    for (let i = 0; i < seeds.length && seeds.length > 1; i++) {
      const j = (i + 1) % seeds.length
      if (seeds.length === 2 && i === 1) break
      pairs.push([`random/seed${seeds[i]}`, `random/seed${seeds[j]}`, "random-vs-random"])
    }
    const toInit: [string, "random" | "transfer"][] = seeds.flatMap((s) => [[`random/seed${s}`, "random"], [`transfer/seed${s}`, "transfer"]] as [string, "random" | "transfer"][])
    const sim = similarityStage.make({ id: `similarity/retina/${arch}`, params: { pairs, toInit, epsilon: 1e-10 }, inputs: { activations: acts } })
    simNodes[sim.id] = sim
    similarity.push({ stage: sim.id, model: arch })
  }

  // ---- Figure 5: conv1 filters of ResNet-50 and CBR-Small, random and transfer, seed 1
  const filterInputs: Record<string, StageNode<TrainedResult>> = {}
  for (const arch of ["resnet50", "cbr-small"]) for (const init of [random, transfer]) filterInputs[`${arch}-${init.kind}`] = finetune("retina", arch, init, 1)
  const filters = conv1Filters.make({ id: "figures/conv1-filters", params: {}, inputs: filterInputs })

  // ---- the report reads every artifact above, each input keyed by its stage id
  const pretrainedNodes = config.models.table1.map((arch) => ({ node: pretrained(arch), model: arch }))
  const datasetNodes = {
    retina: ingest("retina", config.data.retina.size),
    chexpert: ingest("chexpert", config.data.chexpert.size),
    imagenet: ingest("imagenet", config.data.imagenet.size),
  }
  const report = buildReport.make({
    id: "report",
    params: {
      profile,
      overrides,
      runs: roles,
      pretrained: pretrainedNodes.map(({ node, model }) => ({ stage: node.id, model })),
      similarity,
      datasets: { retina: datasetNodes.retina.id, chexpert: datasetNodes.chexpert.id, imagenet: datasetNodes.imagenet.id },
      synthetic: {
        retina: config.data.retina.source.kind === "synthetic",
        chexpert: config.data.chexpert.source.kind === "synthetic",
        imagenet: config.data.imagenet.source.kind === "synthetic",
      },
      filters: filters.id,
      measure: config.analysis.measure,
      convergence: config.convergence,
    },
    inputs: {
      ...Object.fromEntries(runs),
      ...Object.fromEntries(pretrainedNodes.map(({ node }) => [node.id, node])),
      ...simNodes,
      [filters.id]: filters,
      ...Object.fromEntries(Object.values(datasetNodes).map((node) => [node.id, node])),
    },
    links: { "artifacts/report/index.html": "report.html", "artifacts/report/report.md": "report.md" },
  })
  return [report]
}
