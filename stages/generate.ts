// Synthetic stand-ins written in the real datasets' file layouts (CSV files, folder trees,
// JPEGs), so that ingest reads them exactly as it reads a user's own copy.
import * as Schema from "effect/Schema"
import { defineStage } from "../pipeline/stage.ts"
import { GeneratedSummarySchema } from "../data/generate/summary.ts"
import { attempt, libraryVersions } from "./common.ts"

export const generateDataset = defineStage({
  kind: "generate",
  module: import.meta.url,
  environment: () => libraryVersions("sharp"),
  isolation: "worker",
  params: Schema.Struct({
    dataset: Schema.Literal("imagenet", "eyepacs", "chexpert"),
    /** The generator's options (data/generate/*.ts), seed included. */
    options: Schema.Record({ key: Schema.String, value: Schema.Union(Schema.Number, Schema.String) }),
  }),
  result: GeneratedSummarySchema,
  run: (ctx) =>
    attempt(async () => {
      const o = ctx.params.options as never
      ctx.log(`generating ${ctx.params.dataset} with ${JSON.stringify(o)}`)
      const summary =
        ctx.params.dataset === "imagenet"
          ? await (await import("../data/generate/imagenet.ts")).generateImagenet(ctx.outDir, o)
          : ctx.params.dataset === "eyepacs"
            ? await (await import("../data/generate/eyepacs.ts")).generateEyepacs(ctx.outDir, o)
            : await (await import("../data/generate/chexpert.ts")).generateChexpert(ctx.outDir, o)
      ctx.log(`${summary.images} images of ${summary.patients} patients`)
      // The artifact moves into the store after this; record the root relative to it.
      return { ...summary, root: "." }
    }),
})
