// Ingest: parse a dataset in its real format, resize with sharp, split by patient
// (seeded) and write Arrow shards plus dataset.json (counts, policy, skipped files).
// The same stage reads a synthetic stand-in (its upstream) or a user's copy (a file).
import * as Schema from "effect/Schema"
import { defineStage } from "../pipeline/stage.ts"
import { DatasetManifestSchema, FitSchema, type DatasetManifest } from "../data/manifest.ts"
import type { GeneratedSummary } from "../data/generate/summary.ts"
import type { IngestSource } from "../data/ingest.ts"
import { attempt, libraryVersions, throttled } from "./common.ts"

const Params = Schema.Struct({
  format: Schema.Literal("chexpert", "eyepacs", "aptos", "imagenet"),
  size: Schema.Int,
  fit: FitSchema,
  seed: Schema.Int,
  trainSubset: Schema.optional(Schema.Int),
  strict: Schema.Boolean,
  policy: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Literal("U-Ignore", "U-Zeros", "U-Ones") })),
})
type IngestParams = typeof Params.Type

/**
 * The reader's options that decide which files it reads, for both the run and the
 * plan-time listing that fingerprints a user's copy. A real CheXpert's valid.csv
 * (radiologist consensus, no uncertain labels) is the test split, as the CheXpert authors
 * use it; the stand-in's valid.csv (1 patient in 50) is pooled.
 */
const sourceOf = (p: IngestParams, root: string, generated: boolean): IngestSource => ({
  format: p.format,
  root,
  ...(p.format === "chexpert" ? { chexpert: { ...(p.policy ? { policy: p.policy } : {}), validCsv: generated ? ("pool" as const) : ("test" as const) } } : {}),
})

export const ingestDataset = defineStage<IngestParams, typeof Params.Encoded, DatasetManifest, typeof DatasetManifestSchema.Encoded, { source?: GeneratedSummary }>({
  kind: "ingest",
  module: import.meta.url,
  environment: () => libraryVersions("sharp", "apache-arrow"),
  isolation: "worker",
  params: Params,
  result: DatasetManifestSchema,
  // A user's copy is fingerprinted by the CSV and the images it lists, not the whole folder.
  reads: async (p, files): Promise<Readonly<Record<string, readonly string[]>>> => {
    if (!files.root) return {}
    const { ingestInputs } = await import("../data/ingest.ts")
    return { root: await ingestInputs(sourceOf(p, files.root, false)) }
  },
  run: (ctx) =>
    attempt(async () => {
      const { ingest, } = await import("../data/ingest.ts")
      const { describeManifest } = await import("../data/manifest.ts")
      const root = ctx.inputs.source?.dir ?? ctx.files.root
      if (!root) throw new Error("ingest needs either a generated source or a declared dataset root")
      const p = ctx.params
      const manifest = await ingest(
        {
          ...sourceOf(p, root, ctx.inputs.source !== undefined),
          outDir: ctx.outDir,
          size: p.size,
          fit: p.fit,
          seed: p.seed,
          strict: p.strict,
          ...(p.trainSubset ? { trainSubset: p.trainSubset } : {}),
        },
        throttled((done, total) => ctx.progress(done, total, "images")),
      )
      // A synthetic source's options (label noise) and ceiling travel with the dataset it became.
      const generated = ctx.inputs.source?.result
      const recorded: DatasetManifest = generated ? { ...manifest, generator: { options: generated.options, ...(generated.ceiling ? { ceiling: generated.ceiling } : {}) } } : manifest
      for (const line of describeManifest(recorded)) ctx.log(line)
      return recorded
    }),
})
