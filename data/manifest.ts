// dataset.json: what an ingest wrote and under which choices, so a run's report can
// show the policy, the split, and every image that was left out and why.
import type { LabelSpec } from "./imageset.ts"
import type { Skip, SkipKind } from "./errors.ts"
import type { Ceiling } from "./generate/summary.ts"

export type Fit = "cover" | "contain" | "fill"

/** One Arrow shard of a split (data/shards.ts writes and reads them). */
export interface ShardFile {
  /** File name inside the dataset directory. */
  readonly file: string
  readonly count: number
}

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
  /** "patient": seeded split of patients by splitFractions; "dataset": the dataset's own folders fix the splits (ImageNet). */
  readonly splitBy: "patient" | "dataset"
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
  /** A synthetic stand-in's generator options (label noise included) and the ceiling it recorded. */
  readonly generator?: { readonly options: Readonly<Record<string, unknown>>; readonly ceiling?: Ceiling }
}

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
