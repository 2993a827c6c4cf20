// CheXpert (v1.0 and v1.0-small, Stanford's download or Kaggle mirrors).
// Paths in train.csv/valid.csv may or may not start with "CheXpert-v1.0-small/";
// `root` may be the folder holding CheXpert-v1.0-small/ or that folder itself.
// Label values: 1.0 positive, 0.0 negative, -1.0 uncertain, blank = not mentioned
// in the report, which we read as NEGATIVE (the convention of the CheXpert paper's
// baselines and most public code). Uncertain values follow a per-finding policy:
//   U-Ignore -> NaN (masked out of loss and metrics), U-Zeros -> 0, U-Ones -> 1.
// Default (spec.md): U-Ones for Atelectasis and Edema, U-Zeros for every other finding.
import { readFile } from "node:fs/promises"
import { CHEXPERT_FINDINGS } from "../findings.ts"
import { join } from "node:path"
import { parseCsv, CsvSyntaxError } from "../csv.ts"
import { IngestError, type SkipLog } from "../errors.ts"
import { Stated, exists, type ParsedSource, type SourceRecord } from "./record.ts"

export type UncertaintyPolicy = "U-Ignore" | "U-Zeros" | "U-Ones"

export { CHEXPERT_FINDINGS as chexpertFindings } from "../findings.ts"

export const defaultPolicy = (finding: string): UncertaintyPolicy =>
  finding === "Atelectasis" || finding === "Edema" ? "U-Ones" : "U-Zeros"

export interface ChexpertOptions {
  /** Findings to label, in head order; default the five competition findings. */
  readonly findings?: readonly string[]
  /** Per-finding policy overrides; unnamed findings get the default above. */
  readonly policy?: Readonly<Record<string, UncertaintyPolicy>>
  /** Keep only frontal views (the usual setup). Default true. */
  readonly frontalOnly?: boolean
  /** "pool": valid.csv patients join the pool split by patient (default); "test": valid.csv is the test split. */
  readonly validCsv?: "pool" | "test"
}

const prefix = "CheXpert-v1.0-small/"
const pathPattern = /^(train|valid)\/(patient\d+)\/study\d+\/view\d+_(frontal|lateral)\.jpg$/

/** Parses one label cell; undefined for a value CheXpert never uses. */
export const parseStated = (cell: string): Stated | undefined => {
  switch (cell.trim()) {
    case "1.0": case "1": return Stated.Positive
    case "0.0": case "0": return Stated.Negative
    case "-1.0": case "-1": return Stated.Uncertain
    case "": return Stated.Blank
    default: return undefined
  }
}

export const applyPolicy = (stated: Stated, policy: UncertaintyPolicy): number => {
  switch (stated) {
    case Stated.Positive: return 1
    case Stated.Negative: case Stated.Blank: return 0
    case Stated.Uncertain: return policy === "U-Ones" ? 1 : policy === "U-Zeros" ? 0 : Number.NaN
  }
}

/** Finds the folder holding train.csv: root itself or root/CheXpert-v1.0-small. */
export const chexpertBase = async (root: string): Promise<string> => {
  if (await exists(join(root, "train.csv"))) return root
  if (await exists(join(root, "CheXpert-v1.0-small", "train.csv"))) return join(root, "CheXpert-v1.0-small")
  if (await exists(join(root, "CheXpert-v1.0", "train.csv"))) return join(root, "CheXpert-v1.0")
  throw new IngestError("bad-layout", root, "no train.csv here nor in CheXpert-v1.0-small/ below it")
}

export const parseChexpert = async (root: string, options: ChexpertOptions, log: SkipLog): Promise<ParsedSource> => {
  const findings = options.findings ?? CHEXPERT_FINDINGS
  const policy = Object.fromEntries(findings.map((f) => [f, options.policy?.[f] ?? defaultPolicy(f)])) as Record<string, UncertaintyPolicy>
  for (const [f, p] of Object.entries(options.policy ?? {})) {
    if (!findings.includes(f)) throw new IngestError("bad-option", "chexpert.policy", `policy given for "${f}", which is not among the findings ${JSON.stringify(findings)}`)
    if (!["U-Ignore", "U-Zeros", "U-Ones"].includes(p)) throw new IngestError("bad-option", "chexpert.policy", `policy "${p}" for "${f}" is not one of U-Ignore, U-Zeros, U-Ones`)
  }
  const frontalOnly = options.frontalOnly ?? true
  const base = await chexpertBase(root)
  const records: SourceRecord[] = []
  const sources: { file: string; rows: number }[] = []
  const listFiles: string[] = []
  for (const csvName of ["train.csv", "valid.csv"]) {
    const csvPath = join(base, csvName)
    if (!(await exists(csvPath))) continue
    let table
    try { table = parseCsv(await readFile(csvPath, "utf8")) } catch (e) {
      if (e instanceof CsvSyntaxError) throw new IngestError("malformed-row", csvPath, e.message, e.line)
      throw e
    }
    sources.push({ file: csvName, rows: table.rows.length })
    listFiles.push(csvPath)
    const col = (name: string) => {
      const i = table.header.indexOf(name)
      if (i < 0) throw new IngestError("bad-layout", csvPath, `the header has no "${name}" column (header: ${table.header.join(",")})`, 1, name)
      return i
    }
    const pathCol = col("Path"), viewCol = col("Frontal/Lateral")
    const findingCols = findings.map(col)
    for (const row of table.rows) {
      const where = { file: csvPath, line: row.line }
      if (row.fields.length !== table.header.length) {
        log.add({ kind: "malformed-row", ...where, reason: `${row.fields.length} fields where the header has ${table.header.length}` })
        continue
      }
      const view = row.fields[viewCol]!.trim()
      if (view !== "Frontal" && view !== "Lateral") {
        log.add({ kind: "unknown-label", ...where, field: "Frontal/Lateral", reason: `"${view}" is neither Frontal nor Lateral` })
        continue
      }
      if (frontalOnly && view !== "Frontal") continue
      const raw = row.fields[pathCol]!.trim()
      const path = raw.startsWith(prefix) ? raw.slice(prefix.length) : raw.startsWith("CheXpert-v1.0/") ? raw.slice("CheXpert-v1.0/".length) : raw
      const m = pathPattern.exec(path)
      if (!m) {
        log.add({ kind: "bad-path", ...where, field: "Path", reason: `"${raw}" is not [CheXpert-v1.0-small/]{train|valid}/patientN/studyN/viewN_{frontal|lateral}.jpg` })
        continue
      }
      const stated = new Uint8Array(findings.length)
      const labels = new Float32Array(findings.length)
      let bad = false
      for (const [k, f] of findings.entries()) {
        const s = parseStated(row.fields[findingCols[k]!]!)
        if (s === undefined) {
          log.add({ kind: "unknown-label", ...where, field: f, reason: `"${row.fields[findingCols[k]!]}" is not one of 1.0, 0.0, -1.0 or blank` })
          bad = true
          break
        }
        stated[k] = s
        labels[k] = applyPolicy(s, policy[f]!)
      }
      if (bad) continue
      records.push({
        file: join(base, path), path, patient: m[2]!, labels, stated, source: csvPath, line: row.line,
        fixedSplit: csvName === "valid.csv" && options.validCsv === "test" ? "test" : undefined,
      })
    }
  }
  return {
    labels: { kind: "multilabel", names: [...findings] },
    records,
    policy: { uncertain: policy, blank: "negative (0)", frontalOnly, validCsv: options.validCsv ?? "pool" },
    sources,
    listFiles,
  }
}
