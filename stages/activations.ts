// Activation dumps: for every trained run of one model, each block's representation of a
// fixed, seeded probe set from the test split, at initialisation and after training, as
// Parquet files (one per layer) that pandas, DuckDB or `transfusion similarity` can open.
import * as Schema from "effect/Schema"
import { join } from "node:path"
import { defineStage } from "../pipeline/stage.ts"
import type { DatasetManifest } from "../data/manifest.ts"
import { attempt, BackendSchema, libraryVersions, plannedBackend, useBackend } from "./common.ts"
import { loadTrained, type TrainedResult } from "./training.ts"

const Params = Schema.Struct({
  backend: BackendSchema,
  probeImages: Schema.Int,
  datapointsPerNeuron: Schema.Int,
  /** Seeds the probe images and the subsampled positions (the same for every run compared). */
  seed: Schema.Int,
})

export interface DumpedRun {
  /** The run's input name in this stage (e.g. "random/seed1"). */
  readonly name: string
  readonly run: string
  /** block name -> Parquet file (relative to the artifact) at init and after training. */
  readonly init: Readonly<Record<string, string>>
  readonly final: Readonly<Record<string, string>>
}

export interface ActivationsResult {
  readonly blocks: readonly string[]
  readonly probe: readonly number[]
  readonly reduction: string
  readonly runs: readonly DumpedRun[]
}

export const dumpActivationsStage = defineStage<
  typeof Params.Type,
  typeof Params.Encoded,
  ActivationsResult,
  ActivationsResult,
  Record<string, TrainedResult | DatasetManifest>
>({
  kind: "activations",
  module: import.meta.url,
  isolation: "worker",
  params: Params,
  result: Schema.Unknown as unknown as Schema.Schema<ActivationsResult>,
  environment: (p) => ({ ...plannedBackend(p.backend), ...libraryVersions("apache-arrow", "parquet-wasm") }),
  run: (ctx) =>
    attempt(async () => {
      await useBackend(ctx.params.backend, ctx)
      const { dumpActivations } = await import("../analysis/activations.ts")
      const { openShards } = await import("../data/shards.ts")
      const { Rng } = await import("../lib/random.ts")
      const { data, ...runs } = ctx.inputs
      const probeSet = await openShards(data!.dir, "test")
      const probe = new Rng(ctx.params.seed).fork("probe").sample(probeSet.count, Math.min(ctx.params.probeImages, probeSet.count))
      const reduction = { kind: "subsample" as const, seed: ctx.params.seed, datapointsPerNeuron: ctx.params.datapointsPerNeuron }
      const out: DumpedRun[] = []
      let blocks: string[] = []
      const names = Object.keys(runs)
      for (const [i, name] of names.entries()) {
        const run = runs[name]! as { dir: string; id: string; result: TrainedResult }
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
