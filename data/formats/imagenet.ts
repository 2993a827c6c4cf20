// ImageNet ILSVRC2012 as Kaggle ships it: LOC_synset_mapping.txt fixes the class
// order (line k = class k), train/<synset>/*.JPEG, val/<ImageId>.JPEG labelled by
// the first synset of PredictionString in LOC_val_solution.csv. The image folders
// may sit at root or under ILSVRC/Data/CLS-LOC/. The train folders form the train
// split and val/ the validation split; there are no patients, so each image is its
// own group.
import { readdir, readFile } from "node:fs/promises"
import { join } from "node:path"
import { parseCsv, CsvSyntaxError } from "../csv.ts"
import { IngestError, type SkipLog } from "../errors.ts"
import { exists, type ParsedSource, type SourceRecord } from "./record.ts"

export const parseImagenet = async (root: string, log: SkipLog): Promise<ParsedSource> => {
  const mappingPath = join(root, "LOC_synset_mapping.txt")
  if (!(await exists(mappingPath))) throw new IngestError("bad-layout", mappingPath, "file not found")
  const synsets: string[] = [], names: string[] = []
  for (const [i, lineText] of (await readFile(mappingPath, "utf8")).split(/\r?\n/).entries()) {
    if (!lineText.trim()) continue
    const m = /^(n\d{8})\s+(.*)$/.exec(lineText.trim())
    if (!m) throw new IngestError("malformed-row", mappingPath, `"${lineText}" is not "<nXXXXXXXX> <names>"`, i + 1)
    synsets.push(m[1]!); names.push(m[2]!)
  }
  const classOf = new Map(synsets.map((s, i) => [s, i]))
  const images = (await exists(join(root, "train"))) ? root : join(root, "ILSVRC", "Data", "CLS-LOC")
  if (!(await exists(join(images, "train")))) throw new IngestError("bad-layout", root, "no train/ folder here nor in ILSVRC/Data/CLS-LOC/")
  const records: SourceRecord[] = []
  const trainDir = join(images, "train")
  let trainFiles = 0
  for (const dir of (await readdir(trainDir)).sort()) {
    const cls = classOf.get(dir)
    if (cls === undefined) {
      log.add({ kind: "unknown-label", file: join(trainDir, dir), reason: `folder "${dir}" is not a synset in LOC_synset_mapping.txt` })
      continue
    }
    for (const name of (await readdir(join(trainDir, dir))).sort()) {
      if (!/\.jpe?g$/i.test(name)) continue
      trainFiles++
      records.push({ file: join(trainDir, dir, name), path: `train/${dir}/${name}`, patient: name.replace(/\.[^.]+$/, ""), labels: Float32Array.of(cls), source: trainDir, fixedSplit: "train" })
    }
  }
  const sources = [{ file: "train/", rows: trainFiles }]
  const listFiles = [mappingPath]
  const solution = join(root, "LOC_val_solution.csv")
  if (await exists(solution)) {
    let table
    try { table = parseCsv(await readFile(solution, "utf8")) } catch (e) {
      if (e instanceof CsvSyntaxError) throw new IngestError("malformed-row", solution, e.message, e.line)
      throw e
    }
    const idCol = table.header.indexOf("ImageId"), predCol = table.header.indexOf("PredictionString")
    if (idCol < 0 || predCol < 0) throw new IngestError("bad-layout", solution, `the header must be ImageId,PredictionString (got ${table.header.join(",")})`, 1)
    sources.push({ file: "LOC_val_solution.csv", rows: table.rows.length })
    listFiles.push(solution)
    for (const row of table.rows) {
      const where = { file: solution, line: row.line }
      if (row.fields.length !== table.header.length) {
        log.add({ kind: "malformed-row", ...where, reason: `${row.fields.length} fields where the header has ${table.header.length}` })
        continue
      }
      const id = row.fields[idCol]!.trim(), synset = row.fields[predCol]!.trim().split(/\s+/)[0] ?? ""
      const cls = classOf.get(synset)
      if (cls === undefined) {
        log.add({ kind: "unknown-label", ...where, field: "PredictionString", reason: `"${synset}" is not a synset in LOC_synset_mapping.txt` })
        continue
      }
      if (!id || /[\\/]/.test(id)) {
        log.add({ kind: "bad-path", ...where, field: "ImageId", reason: `"${id}" is not an image id` })
        continue
      }
      records.push({ file: join(images, "val", `${id}.JPEG`), path: `val/${id}.JPEG`, patient: id, labels: Float32Array.of(cls), source: solution, line: row.line, fixedSplit: "validation" })
    }
  }
  return { labels: { kind: "class", classes: synsets.length, names }, records, sources, listFiles }
}
