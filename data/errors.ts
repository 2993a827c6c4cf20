// Problems a user's dataset can cause. By default ingest counts each one as a
// reported skip (file, CSV line, reason); with `strict: true` the first one throws
// an IngestError whose message names the place and the fix.
import * as Schema from "effect/Schema"

export const SkipKindSchema = Schema.Literal("missing-file", "corrupt-image", "malformed-row", "unknown-label", "duplicate-path", "bad-path")
export type SkipKind = typeof SkipKindSchema.Type

export const SkipSchema = Schema.Struct({
  kind: SkipKindSchema,
  /** The file at fault: the image, or the CSV whose row is at fault. */
  file: Schema.String,
  /** 1-based CSV line, when the problem came from a CSV row. */
  line: Schema.optional(Schema.Int),
  /** The CSV column at fault, when there is one. */
  field: Schema.optional(Schema.String),
  reason: Schema.String,
})
export type Skip = typeof SkipSchema.Type

const fixes: Record<SkipKind | "empty-dataset" | "bad-layout" | "bad-option", string> = {
  "missing-file": "restore the file, or delete its row from the CSV",
  "corrupt-image": "re-download or re-extract the image (it may be truncated), or delete its row from the CSV",
  "malformed-row": "fix the row so it has every column of the header, or delete it",
  "unknown-label": "correct the value (see the format's documented label values), or delete the row",
  "duplicate-path": "delete the repeated row; each image must be listed once",
  "bad-path": "the path must follow the dataset's layout; correct it or delete the row",
  "empty-dataset": "point `root` at the directory that holds the dataset's CSV and image folders",
  "bad-layout": "point `root` at the directory that holds the dataset's list files (CSV) and image folders, with their original headers",
  "bad-option": "correct the ingest option",
}

export class IngestError extends Error {
  constructor(
    readonly kind: SkipKind | "empty-dataset" | "bad-layout" | "bad-option",
    readonly file: string,
    readonly reason: string,
    readonly line?: number,
    readonly field?: string,
  ) {
    super(
      `${file}${line !== undefined ? `:${line}` : ""}${field !== undefined ? ` (column "${field}")` : ""}: ${reason}. Fix: ${fixes[kind]}` +
        (kind in fixes && !["empty-dataset", "bad-layout", "bad-option"].includes(kind) ? "; or run without strict to skip and report such entries" : ""),
    )
    this.name = "IngestError"
  }

  static fromSkip(skip: Skip): IngestError {
    return new IngestError(skip.kind, skip.file, skip.reason, skip.line, skip.field)
  }
}

/** Collects skips, or throws on the first one in strict mode. */
export class SkipLog {
  readonly skips: Skip[] = []
  constructor(readonly strict: boolean) {}
  add(skip: Skip): void {
    if (this.strict) throw IngestError.fromSkip(skip)
    this.skips.push(skip)
  }
}
