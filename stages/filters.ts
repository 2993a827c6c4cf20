// Figure 5: conv1 filters before and after training, random and pretrained init, as PNG grids.
import * as Schema from "effect/Schema"
import { join } from "node:path"
import { defineStage } from "../pipeline/stage.ts"
import { attempt, libraryVersions } from "./common.ts"
import { FINAL_WEIGHTS, INIT_WEIGHTS, type TrainedResult } from "./training.ts"

export const FiltersResultSchema = Schema.Struct({
  panels: Schema.Array(
    Schema.Struct({
      /** The trained run's stage id. */
      run: Schema.String,
      when: Schema.Literal("init", "trained"),
      /** The PNG grid, relative to the artifact. */
      file: Schema.String,
      layer: Schema.String,
      shape: Schema.Array(Schema.Int),
    }),
  ),
})
export type FiltersResult = typeof FiltersResultSchema.Type

export const conv1Filters = defineStage<{}, {}, FiltersResult, typeof FiltersResultSchema.Encoded, Record<string, TrainedResult>>({
  kind: "filters",
  module: import.meta.url,
  environment: () => libraryVersions("sharp"),
  isolation: "worker",
  params: Schema.Struct({}),
  result: FiltersResultSchema,
  run: (ctx) =>
    attempt(async () => {
      const { readTensorFile } = await import("../ml/checkpoint.ts")
      const { writeFilterGridPng } = await import("../analysis/filters.ts")
      const panels: FiltersResult["panels"][number][] = []
      for (const [name, run] of Object.entries(ctx.inputs)) {
        const conv1 = run.result.blocks[0]!
        for (const [when, file] of [["init", INIT_WEIGHTS], ["trained", FINAL_WEIGHTS]] as const) {
          const { tensors } = await readTensorFile(join(run.dir, file))
          // The first 4-D kernel in file order is conv1's (layers are saved input to output).
          const kernel = tensors.find((t) => t.shape.length === 4)
          if (!kernel) throw new Error(`${join(run.dir, file)} holds no conv kernel`)
          const out = `${name}-${when}.png`
          await writeFilterGridPng(join(ctx.outDir, out), kernel.data as Float32Array, kernel.shape, { scale: 4 })
          panels.push({ run: run.id, when, file: out, layer: kernel.name.replace(/^model\//, ""), shape: kernel.shape })
        }
        ctx.log(`${name}: conv1 (${conv1.output}) filters drawn`)
      }
      return { panels }
    }),
})
