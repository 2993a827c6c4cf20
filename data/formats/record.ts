// What every format parser produces: one entry per usable image, labels already
// under the chosen policy, plus what the source said (for the manifest's counts).
import { access } from "node:fs/promises"
import type { LabelSpec } from "../imageset.ts"
import type { SkipLog } from "../errors.ts"

export type SplitName = "train" | "validation" | "test"

/** How a multilabel source stated one finding, before any policy. */
export const Stated = { Negative: 0, Positive: 1, Uncertain: 2, Blank: 3 } as const
export type Stated = (typeof Stated)[keyof typeof Stated]

export interface SourceRecord {
  /** Absolute path of the image file. */
  readonly file: string
  /** Dataset-relative path, stored in the shards and shown in reports. */
  readonly path: string
  readonly patient: string
  /** labelWidth values: a class index, or per finding 0/1/NaN (ignored) after the policy. */
  readonly labels: Float32Array
  /** Multilabel sources: how each finding was stated, before the policy. */
  readonly stated?: Uint8Array
  /** Where the record came from, for skips: the CSV (or folder) and its 1-based line. */
  readonly source: string
  readonly line?: number
  /** A split the dataset fixes itself (ImageNet's val folder); otherwise split by patient. */
  readonly fixedSplit?: SplitName
}

export interface ParsedSource {
  readonly labels: LabelSpec
  readonly records: SourceRecord[]
  /** The label policy actually applied, for the manifest. */
  readonly policy?: Readonly<Record<string, unknown>>
  /** Per list file: data rows (or files) read. */
  readonly sources: { file: string; rows: number }[]
  /**
   * Absolute paths of the list files parsed (CSVs, the synset mapping): with the records'
   * images, every file an ingest reads (the fingerprint hashes these, data/ingest.ts).
   */
  readonly listFiles: readonly string[]
}

export const exists = async (path: string): Promise<boolean> => {
  try { await access(path); return true } catch { return false }
}

/** Drops repeated dataset paths, reporting each repeat against the first occurrence. */
export const dropDuplicates = (records: SourceRecord[], log: SkipLog): SourceRecord[] => {
  const first = new Map<string, SourceRecord>()
  const out: SourceRecord[] = []
  for (const r of records) {
    const seen = first.get(r.path)
    if (seen) {
      log.add({
        kind: "duplicate-path", file: r.source, line: r.line, field: "path",
        reason: `${r.path} is listed again (first at ${seen.source}${seen.line !== undefined ? `:${seen.line}` : ""})`,
      })
      continue
    }
    first.set(r.path, r)
    out.push(r)
  }
  return out
}
