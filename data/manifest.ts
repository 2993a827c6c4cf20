// dataset.json: what an ingest wrote and under which choices, so a run's report can
// show the policy, the split, and every image that was left out and why.
import type { LabelSpec } from "./imageset.ts"
import type { Skip, SkipKind } from "./errors.ts"
import type { ShardFile } from "./shards.ts"

export type Fit = "cover" | "contain" | "fill"

/** Per finding, over a split's images. positive/negative/ignored are AFTER the policy. */
export interface LabelCount {
  positive: number
  negative: number
  /** Stated -1.0 in the source, before the policy. */
  uncertain: number
  /** Stated blank in the source (read as negative). */
  blank: number
  /** NaN after the policy (U-Ignore on an uncertain value). */
  ignored: number
}

export interface SplitManifest {
  readonly count: number
  readonly patients: number
  /** Shard files in order; empty for a subset split. */
  readonly shards: readonly ShardFile[]
  /** A subset split reads through another split's shards at the listed indices. */
  readonly subsetOf?: string
  readonly indicesFile?: string
  /** Class sets: images per class index. */
  readonly classCounts?: readonly number[]
  /** Multilabel sets: per finding name. */
  readonly labelCounts?: Readonly<Record<string, LabelCount>>
}

export interface DatasetManifest {
  readonly version: 1
  readonly format: string
  readonly root: string
  readonly labels: LabelSpec
  readonly height: number
  readonly width: number
  readonly fit: Fit
  readonly batchRows: number
  readonly seed: number | string
  /** Fractions of patients sent to validation and test (the rest is train). */
  readonly splitFractions: { readonly validation: number; readonly test: number }
  readonly trainSubset?: number
  /** Format-specific label policy (CheXpert: per-finding uncertainty policy, blank convention). */
  readonly policy?: Readonly<Record<string, unknown>>
  readonly splits: Readonly<Record<string, SplitManifest>>
  readonly sources: readonly { file: string; rows: number }[]
  readonly skipped: readonly Skip[]
  readonly skippedByKind: Readonly<Partial<Record<SkipKind, number>>>
  readonly warnings: readonly string[]
}
