// Activation dumps: for every trained run of one model, each block's representation of a
// fixed, seeded probe set from the test split, at initialisation and after training, as
// Parquet files (one per layer) that pandas, DuckDB or `transfusion similarity` can open.
import * as Schema from "effect/Schema"
import { join } from "node:path"
import { defineStage } from "../pipeline/stage.ts"
import { DatasetManifestSchema, type DatasetManifest } from "../data/manifest.ts"
import { attempt, BackendSchema, inputOf, libraryVersions, plannedBackend, useBackend } from "./common.ts"
import { loadTrained, TrainedResultSchema, type TrainedResult } from "./training.ts"

const Params = Schema.Struct({
  backend: BackendSchema,
  probeImages: Schema.Int,
  datapointsPerNeuron: Schema.Int,
  /** Seeds the probe images and the subsampled positions (the same for every run compared). */
  seed: Schema.Int,
})

const DumpedRunSchema = Schema.Struct({
  /** The run's input name in this stage (e.g. "random/seed1"). */
  name: Schema.String,
  /** The run's stage id. */
  run: Schema.String,
  /** block name -> Parquet file (relative to the artifact) at init and after training. */
  init: Schema.Record({ key: Schema.String, value: Schema.String }),
  final: Schema.Record({ key: Schema.String, value: Schema.String }),
})
export type DumpedRun = typeof DumpedRunSchema.Type

export const ActivationsResultSchema = Schema.Struct({
  blocks: Schema.Array(Schema.String),
  /** Test-split indices of the probe images. */
  probe: Schema.Array(Schema.Int),
  reduction: Schema.String,
  runs: Schema.Array(DumpedRunSchema),
})
export type ActivationsResult = typeof ActivationsResultSchema.Type

/** The probe images' dataset; every other input is a trained run, named "<init>/seed<n>". */
const DATA = "data"

export const dumpActivationsStage = defineStage<
  typeof Params.Type,
  typeof Params.Encoded,
  ActivationsResult,
  typeof ActivationsResultSchema.Encoded,
  Record<string, TrainedResult | DatasetManifest>
>({
  kind: "activations",
  module: import.meta.url,
  isolation: "worker",
  params: Params,
  result: ActivationsResultSchema,
  environment: (p) => ({ ...plannedBackend(p.backend), ...libraryVersions("apache-arrow", "parquet-wasm") }),
  run: (ctx) =>
    attempt(async () => {
      await useBackend(ctx.params.backend, ctx)
      const { dumpActivations } = await import("../analysis/activations.ts")
      const { openShards } = await import("../data/shards.ts")
      const { Rng } = await import("../lib/random.ts")
      const probeSet = await openShards(inputOf(ctx.inputs, DATA, DatasetManifestSchema).dir, "test")
      const probe = new Rng(ctx.params.seed).fork("probe").sample(probeSet.count, Math.min(ctx.params.probeImages, probeSet.count))
      const reduction = { kind: "subsample" as const, seed: ctx.params.seed, datapointsPerNeuron: ctx.params.datapointsPerNeuron }
      const out: DumpedRun[] = []
      let blocks: string[] = []
      const names = Object.keys(ctx.inputs).filter((name) => name !== DATA)
      for (const [i, name] of names.entries()) {
        const run = inputOf(ctx.inputs, name, TrainedResultSchema)
        blocks = run.result.blocks.filter((b) => b.name !== "head").map((b) => b.name)
        const byBlock = new Map(run.result.blocks.map((b) => [b.output, b.name]))
        const files = { init: {} as Record<string, string>, final: {} as Record<string, string> }
        for (const which of ["init", "final"] as const) {
          const built = await loadTrained(run.dir, run.result, which)
          const layers = run.result.blocks.filter((b) => b.name !== "head").map((b) => b.output)
          const dumped = await dumpActivations({
            model: built.model,
            layers,
            probe: probeSet,
            indices: probe,
            reduction,
            outDir: join(ctx.outDir, name, which),
            metadata: { model: run.result.spec.arch, init: run.result.init.scheme, seed: run.result.spec.seed, step: which === "init" ? 0 : run.result.steps, run: run.id },
          })
          for (const d of dumped) files[which][byBlock.get(d.layer)!] = join(name, which, d.path.slice(d.path.lastIndexOf("/") + 1))
          built.model.dispose()
        }
        out.push({ name, run: run.id, ...files })
        ctx.progress(i + 1, names.length, "runs")
      }
      await probeSet.close()
      return { blocks, probe, reduction: `subsample ${ctx.params.datapointsPerNeuron} datapoints/neuron, seed ${ctx.params.seed}`, runs: out }
    }),
})
