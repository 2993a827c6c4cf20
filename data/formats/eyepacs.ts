// Kaggle EyePACS diabetic retinopathy: trainLabels.csv (image,level) and
// train/{patient}_{left|right}.jpeg. Level is the ICDR grade 0-4. Both eyes of a
// patient share the patient id, so the split keeps them together.
// APTOS 2019 (train.csv id_code,diagnosis + train_images/<id>.png) has no patient
// ids; each image is its own group there.
import { readFile } from "node:fs/promises"
import { join } from "node:path"
import { parseCsv, CsvSyntaxError } from "../csv.ts"
import { IngestError, type SkipLog } from "../errors.ts"
import { exists, type ParsedSource, type SourceRecord } from "./record.ts"

export const gradeNames = ["none", "mild", "moderate", "severe", "proliferative"] as const

const readTable = async (csvPath: string) => {
  if (!(await exists(csvPath))) throw new IngestError("bad-layout", csvPath, "file not found")
  try { return parseCsv(await readFile(csvPath, "utf8")) } catch (e) {
    if (e instanceof CsvSyntaxError) throw new IngestError("malformed-row", csvPath, e.message, e.line)
    throw e
  }
}

/** Shared by EyePACS and APTOS: an id column, a grade column, and a file name per id. */
const parseGradeCsv = async (
  csvPath: string, idName: string, gradeName: string,
  locate: (id: string) => { file: string; path: string; patient?: string; problem?: string },
  log: SkipLog,
): Promise<ParsedSource> => {
  const table = await readTable(csvPath)
  const idCol = table.header.indexOf(idName), gradeCol = table.header.indexOf(gradeName)
  if (idCol < 0 || gradeCol < 0)
    throw new IngestError("bad-layout", csvPath, `the header must have "${idName}" and "${gradeName}" columns (header: ${table.header.join(",")})`, 1)
  const records: SourceRecord[] = []
  for (const row of table.rows) {
    const where = { file: csvPath, line: row.line }
    if (row.fields.length !== table.header.length) {
      log.add({ kind: "malformed-row", ...where, reason: `${row.fields.length} fields where the header has ${table.header.length}` })
      continue
    }
    const id = row.fields[idCol]!.trim(), g = row.fields[gradeCol]!.trim()
    if (!/^[0-4]$/.test(g)) {
      log.add({ kind: "unknown-label", ...where, field: gradeName, reason: `"${g}" is not a grade 0, 1, 2, 3 or 4` })
      continue
    }
    const loc = locate(id)
    if (loc.problem || !id) {
      log.add({ kind: "bad-path", ...where, field: idName, reason: loc.problem ?? "empty image id" })
      continue
    }
    records.push({ file: loc.file, path: loc.path, patient: loc.patient ?? id, labels: Float32Array.of(Number(g)), source: csvPath, line: row.line })
  }
  return { labels: { kind: "class", classes: 5, names: [...gradeNames] }, records, sources: [{ file: csvPath, rows: table.rows.length }], listFiles: [csvPath] }
}

export interface EyepacsOptions {
  /** The labels CSV, relative to root. Default "trainLabels.csv". */
  readonly labelsCsv?: string
  /** The image folder, relative to root (e.g. "resized_train/resized_train" in Kaggle's resized mirror). Default "train". */
  readonly imageDir?: string
  /** Image file extension. Default ".jpeg". */
  readonly extension?: string
}

export const parseEyepacs = (root: string, options: EyepacsOptions, log: SkipLog): Promise<ParsedSource> => {
  const dir = (options.imageDir ?? "train").replace(/\/+$/, ""), ext = options.extension ?? ".jpeg"
  return parseGradeCsv(join(root, options.labelsCsv ?? "trainLabels.csv"), "image", "level", (id) => {
    // A separator would let a row read (and the cache miss changes to) an image outside the folder.
    if (/[\\/]/.test(id)) return { file: "", path: "", problem: `image "${id}" contains a path separator` }
    const m = /^(.+)_(left|right)$/.exec(id)
    if (!m) return { file: "", path: "", problem: `image "${id}" is not named <patient>_left or <patient>_right` }
    return { file: join(root, dir, `${id}${ext}`), path: `${dir}/${id}${ext}`, patient: m[1]! }
  }, log)
}

export const parseAptos = (root: string, log: SkipLog): Promise<ParsedSource> =>
  parseGradeCsv(join(root, "train.csv"), "id_code", "diagnosis", (id) =>
    /[\\/]/.test(id) ? { file: "", path: "", problem: `id_code "${id}" contains a path separator` }
      : { file: join(root, "train_images", `${id}.png`), path: `train_images/${id}.png` }, log)
