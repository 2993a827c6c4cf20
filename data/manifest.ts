// dataset.json: what an ingest wrote and under which choices, so a run's report can
// show the policy, the split, and every image that was left out and why.
import * as Schema from "effect/Schema"
import { LabelSpecSchema } from "./imageset.ts"
import { SkipKindSchema, SkipSchema } from "./errors.ts"
import { CeilingSchema } from "./generate/summary.ts"

export const FitSchema = Schema.Literal("cover", "contain", "fill")
export type Fit = typeof FitSchema.Type

/** One Arrow shard of a split (data/shards.ts writes and reads them). */
export const ShardFileSchema = Schema.Struct({
  /** File name inside the dataset directory. */
  file: Schema.String,
  count: Schema.Int,
})
export type ShardFile = typeof ShardFileSchema.Type

/** Per finding, over a split's images. positive/negative/ignored are AFTER the policy (mutable: ingest tallies into it). */
export const LabelCountSchema = Schema.mutable(
  Schema.Struct({
    positive: Schema.Int,
    negative: Schema.Int,
    /** Stated -1.0 in the source, before the policy. */
    uncertain: Schema.Int,
    /** Stated blank in the source (read as negative). */
    blank: Schema.Int,
    /** NaN after the policy (U-Ignore on an uncertain value). */
    ignored: Schema.Int,
  }),
)
export type LabelCount = typeof LabelCountSchema.Type

export const SplitManifestSchema = Schema.Struct({
  count: Schema.Int,
  patients: Schema.Int,
  /** Shard files in order; empty for a subset split. */
  shards: Schema.Array(ShardFileSchema),
  /** A subset split reads through another split's shards at the listed indices. */
  subsetOf: Schema.optional(Schema.String),
  indicesFile: Schema.optional(Schema.String),
  /** Class sets: images per class index. */
  classCounts: Schema.optional(Schema.Array(Schema.Int)),
  /** Multilabel sets: per finding name. */
  labelCounts: Schema.optional(Schema.Record({ key: Schema.String, value: LabelCountSchema })),
})
export type SplitManifest = typeof SplitManifestSchema.Type

/** dataset.json, and the ingest stage's result. */
export const DatasetManifestSchema = Schema.Struct({
  version: Schema.Literal(1),
  format: Schema.String,
  root: Schema.String,
  labels: LabelSpecSchema,
  height: Schema.Int,
  width: Schema.Int,
  fit: FitSchema,
  batchRows: Schema.Int,
  seed: Schema.Union(Schema.Number, Schema.String),
  /** "patient": seeded split of patients by splitFractions; "dataset": the dataset's own folders fix the splits (ImageNet). */
  splitBy: Schema.Literal("patient", "dataset"),
  /** Fractions of patients sent to validation and test (the rest is train). */
  splitFractions: Schema.Struct({ validation: Schema.Number, test: Schema.Number }),
  trainSubset: Schema.optional(Schema.Int),
  /** Format-specific label policy (CheXpert: per-finding uncertainty policy, blank convention). */
  policy: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Unknown })),
  splits: Schema.Record({ key: Schema.String, value: SplitManifestSchema }),
  sources: Schema.Array(Schema.Struct({ file: Schema.String, rows: Schema.Int })),
  skipped: Schema.Array(SkipSchema),
  skippedByKind: Schema.partial(Schema.Record({ key: SkipKindSchema, value: Schema.Int })),
  warnings: Schema.Array(Schema.String),
  /** A synthetic stand-in's generator options (label noise included) and the ceiling it recorded. */
  generator: Schema.optional(Schema.Struct({ options: Schema.Record({ key: Schema.String, value: Schema.Unknown }), ceiling: Schema.optional(CeilingSchema) })),
})
export type DatasetManifest = typeof DatasetManifestSchema.Type

/** Plain-text lines for reports and the CLI: sizes, split, per-split counts, policy, skips. */
export const describeManifest = (m: DatasetManifest): string[] => {
  const n = (x: number) => x.toLocaleString("en-US")
  const pct = (x: number) => `${Math.round(x * 1000) / 10}%`
  const lines = [
    `${m.format} at ${m.height}x${m.width} (${m.fit}), seed ${String(m.seed)}; ` +
      (m.splitBy === "patient"
        ? `patients split ${pct(1 - m.splitFractions.validation - m.splitFractions.test)} train / ${pct(m.splitFractions.validation)} validation / ${pct(m.splitFractions.test)} test`
        : "splits as the dataset's folders give them"),
  ]
  for (const [name, s] of Object.entries(m.splits)) {
    let detail = ""
    if (s.classCounts) {
      const names = m.labels.kind === "class" ? m.labels.names : undefined
      const shown = s.classCounts.slice(0, 10).map((c, i) => `${names?.[i] ?? i} ${n(c)}`)
      detail = shown.join(", ") + (s.classCounts.length > 10 ? `, ... (${s.classCounts.length} classes)` : "")
    } else if (s.labelCounts) {
      detail = Object.entries(s.labelCounts).map(([f, c]) => `${f} +${n(c.positive)}/-${n(c.negative)}${c.ignored ? `/?${n(c.ignored)}` : ""} (uncertain ${n(c.uncertain)})`).join("; ")
    }
    lines.push(`${name}: ${n(s.count)} images, ${n(s.patients)} patients${s.subsetOf ? ` (seeded subset of ${s.subsetOf})` : ""}${detail ? `; ${detail}` : ""}`)
  }
  const uncertain = (m.policy as { uncertain?: Record<string, string> } | undefined)?.uncertain
  if (uncertain) lines.push(`uncertain labels: ${Object.entries(uncertain).map(([f, p]) => `${f} ${p}`).join(", ")}; blank read as negative`)
  const kinds = Object.entries(m.skippedByKind)
  lines.push(kinds.length ? `skipped ${n(m.skipped.length)}: ${kinds.map(([k, c]) => `${k} ${n(c!)}`).join(", ")}` : "skipped none")
  for (const w of m.warnings) lines.push(`warning: ${w}`)
  const c = m.generator?.ceiling
  if (c) lines.push(`generator ceiling: ${c.metric} ${c.value.toFixed(4)} over ${c.over} (${c.how})`)
  return lines
}
