// What a generator wrote, so tests and stages can check an ingest against it. The schemas
// are the generate stage's result: the engine checks a summary against them at commit.
import * as Schema from "effect/Schema"
import { JsonNumber } from "../../lib/json-number.ts"

/** Counts of how a CSV states one finding (mutable: generators tally into it). */
export const LabelTallySchema = Schema.mutable(
  Schema.Struct({
    positive: Schema.Int,
    negative: Schema.Int,
    /** -1.0 in the CSV, before any uncertainty policy. */
    uncertain: Schema.Int,
    blank: Schema.Int,
  }),
)
export type LabelTally = typeof LabelTallySchema.Type

export const emptyTally = (): LabelTally => ({ positive: 0, negative: 0, uncertain: 0, blank: 0 })

/** Recorded by each synthetic generator: the best test metric its labels allow. */
export const CeilingSchema = Schema.Struct({
  metric: Schema.String,
  value: JsonNumber,
  /** Which images it was computed over. */
  over: Schema.String,
  how: Schema.String,
})
export type Ceiling = typeof CeilingSchema.Type

const Counts = Schema.Record({ key: Schema.String, value: Schema.Int })

export const GeneratedSummarySchema = Schema.Struct({
  format: Schema.Literal("imagenet", "eyepacs", "chexpert"),
  /** The directory to pass to ingest as `root`. */
  root: Schema.String,
  /** Image files written (all views, all splits). */
  images: Schema.Int,
  patients: Schema.Int,
  /** Single-label sets: images per class name, in class order. */
  classCounts: Schema.optional(Counts),
  /** Per source list (e.g. "train.csv", "valid.csv", "train", "val"): images per class. */
  classCountsBySource: Schema.optional(Schema.Record({ key: Schema.String, value: Counts })),
  /** CheXpert: frontal images per CSV, and per CSV and finding how the CSV states it. */
  frontalBySource: Schema.optional(Counts),
  labelCountsBySource: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Record({ key: Schema.String, value: LabelTallySchema }) })),
  /** The generator's options after defaults, for the stage manifest (each generator's own option type). */
  options: Schema.Record({ key: Schema.String, value: Schema.Unknown }),
  /** The best test metric the generated labels allow, and how it was computed. */
  ceiling: Schema.optional(CeilingSchema),
})
export type GeneratedSummary = typeof GeneratedSummarySchema.Type
