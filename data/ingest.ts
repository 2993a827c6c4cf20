// One ingest path for real datasets and their synthetic stand-ins: parse the
// format's lists, drop and report bad entries, split by patient (seeded), decode and
// resize with sharp on all cores, and stream each split into Arrow shards plus a
// dataset.json manifest. Heavy modules (sharp, apache-arrow) load lazily.
import { mkdir, readFile, writeFile } from "node:fs/promises"
import { availableParallelism } from "node:os"
import { join } from "node:path"
import { Rng } from "../lib/random.ts"
import { IngestError, SkipLog, type Skip, type SkipKind } from "./errors.ts"
import type { LabelSpec } from "./imageset.ts"
import type { DatasetManifest, Fit, LabelCount, SplitManifest } from "./manifest.ts"
import { Stated, type ParsedSource, type SourceRecord, type SplitName, dropDuplicates } from "./formats/record.ts"
import { parseChexpert, type ChexpertOptions } from "./formats/chexpert.ts"
import { parseAptos, parseEyepacs, type EyepacsOptions } from "./formats/eyepacs.ts"
import { parseImagenet } from "./formats/imagenet.ts"
import { ShardWriter, rowsPerBatch } from "./shards.ts"

export type DatasetFormat = "chexpert" | "eyepacs" | "aptos" | "imagenet"

export interface IngestOptions {
  readonly format: DatasetFormat
  /** The dataset as downloaded (see each format's module for the accepted layouts). */
  readonly root: string
  /** Where shards and dataset.json go; created if missing; should be empty. */
  readonly outDir: string
  /** Output side in pixels (square), or both sides. RETINA 587, CheXpert 224 in the paper. */
  readonly size: number | { readonly height: number; readonly width: number }
  /**
   * How an image of another aspect ratio becomes the output size:
   * "cover" scales to fill and crops the centre (default), "contain" scales to fit and
   * pads with black (keeps a whole fundus), "fill" stretches (torchvision Resize((h, w))).
   */
  readonly fit?: Fit
  readonly seed: number | string
  /** Fractions of PATIENTS for validation and test; the rest is train. Default 0.1 / 0.1. Ignored for fixed splits (ImageNet). */
  readonly split?: { readonly validation: number; readonly test: number }
  /** Small-data regime: also record a seeded subset of N train images as split "train-small". */
  readonly trainSubset?: number
  /** Throw an IngestError on the first bad entry instead of skipping and reporting it. */
  readonly strict?: boolean
  readonly chexpert?: ChexpertOptions
  /** Where a mirror keeps the EyePACS labels and images (defaults: the Kaggle download). */
  readonly eyepacs?: EyepacsOptions
  /** Images decoded at once; default 2 x cores (sharp works on libuv's pool). */
  readonly concurrency?: number
  /** Target pixel bytes per Arrow record batch (random-read granularity). Default 1 MiB. */
  readonly batchBytes?: number
  /** Target pixel bytes per shard file. Default 1 GiB. */
  readonly shardBytes?: number
}

type Sharp = (typeof import("sharp"))["default"]

/** Decodes, resizes and returns HxWx3 RGB bytes; grayscale is replicated to 3 channels. */
export const decodeResize = async (sharp: Sharp, input: Buffer | string, height: number, width: number, fit: Fit): Promise<Uint8Array> => {
  const { data, info } = await sharp(input, { failOn: "warning" })
    .resize(width, height, { fit, position: "centre", background: { r: 0, g: 0, b: 0, alpha: 1 } })
    .removeAlpha()
    .toColourspace("srgb")
    .raw()
    .toBuffer({ resolveWithObject: true })
  if (info.width !== width || info.height !== height) throw new Error(`resized to ${info.width}x${info.height}, expected ${width}x${height}`)
  if (info.channels === 3) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
  const out = new Uint8Array(height * width * 3)
  for (let i = 0, n = height * width; i < n; i++) {
    const v = data[i * info.channels]!
    out[i * 3] = v; out[i * 3 + 1] = v; out[i * 3 + 2] = v
  }
  return out
}

/**
 * Why an image failed to decode, from its bytes where possible: libvips keeps one
 * error buffer per process, so under concurrency sharp's message can carry other
 * images' errors, and the manifest must not depend on timing.
 */
export const describeDecodeFailure = (bytes: Uint8Array, error: Error): string => {
  if (bytes.length === 0) return "empty file (0 bytes)"
  const jpeg = bytes[0] === 0xff && bytes[1] === 0xd8
  const png = bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47
  if (jpeg) {
    // A complete JPEG ends with the EOI marker (FF D9), possibly followed by padding.
    const tail = bytes.subarray(Math.max(0, bytes.length - 64))
    let eoi = false
    for (let i = 0; i + 1 < tail.length; i++) if (tail[i] === 0xff && tail[i + 1] === 0xd9) eoi = true
    if (!eoi) return `truncated JPEG (${bytes.length} bytes, no end-of-image marker)`
  }
  if (png && !Buffer.from(bytes.subarray(Math.max(0, bytes.length - 12))).includes("IEND")) return `truncated PNG (${bytes.length} bytes, no IEND chunk)`
  if (!jpeg && !png) {
    const head = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, "0")).join(" ")
    const known = bytes[0] === 0x47 && bytes[1] === 0x49 ? "GIF" : bytes[0] === 0x42 && bytes[1] === 0x4d ? "BMP" : (bytes[0] === 0x49 || bytes[0] === 0x4d) && bytes[1] === bytes[0] ? "TIFF" : undefined
    if (!known) return `not an image file (starts with bytes ${head}; expected JPEG or PNG)`
  }
  return `cannot decode ${jpeg ? "JPEG" : png ? "PNG" : "image"}: ${error.message.split("\n")[0]!.replace(/^Input buffer has corrupt header: /, "")}`
}

/** What decides which files an ingest reads (the rest of IngestOptions decides only what it makes of them). */
export type IngestSource = Pick<IngestOptions, "format" | "root" | "chexpert" | "eyepacs">

/**
 * Every path an ingest of `source` reads, absolute and sorted: the list files it parses,
 * each listed image (present or not: a missing one is a counted skip that its arrival must
 * undo) and the places its parse-time skips name (a folder that is not a synset). The
 * dataset's fingerprint hashes exactly these, so a stray .DS_Store or an unused test/
 * folder reruns nothing. Parse errors throw as in `ingest`.
 */
export const ingestInputs = async (source: IngestSource): Promise<string[]> => {
  const log = new SkipLog(false)
  const parsed = await parse(source, log)
  return [...new Set([...parsed.listFiles, ...parsed.records.map((r) => r.file), ...log.skips.map((s) => s.file)])].sort()
}

const parse = (o: IngestSource, log: SkipLog): Promise<ParsedSource> => {
  switch (o.format) {
    case "chexpert": return parseChexpert(o.root, o.chexpert ?? {}, log)
    case "eyepacs": return parseEyepacs(o.root, o.eyepacs ?? {}, log)
    case "aptos": return parseAptos(o.root, log)
    case "imagenet": return parseImagenet(o.root, log)
    default: throw new IngestError("bad-option", "format", `unknown format "${String(o.format)}"; use chexpert, eyepacs, aptos or imagenet`)
  }
}

/** Assigns every patient to one split: seeded shuffle of the sorted patient ids, test first, then validation. */
export const splitByPatient = (patients: readonly string[], fractions: { validation: number; test: number }, seed: number | string): Map<string, SplitName> => {
  const unique = [...new Set(patients)].sort()
  new Rng(`${String(seed)}/split-by-patient`).shuffle(unique)
  const nTest = Math.round(unique.length * fractions.test), nVal = Math.round(unique.length * fractions.validation)
  const out = new Map<string, SplitName>()
  unique.forEach((p, i) => out.set(p, i < nTest ? "test" : i < nTest + nVal ? "validation" : "train"))
  return out
}

const emptyCount = (): LabelCount => ({ positive: 0, negative: 0, uncertain: 0, blank: 0, ignored: 0 })

/** A split's counts: images, patients, and per class or per finding (before and after the policy). */
const tally = (spec: LabelSpec, written: readonly SourceRecord[]): Omit<SplitManifest, "shards"> => {
  const patients = new Set(written.map((r) => r.patient)).size
  if (spec.kind === "class") {
    const classCounts = new Array<number>(spec.classes).fill(0)
    for (const r of written) classCounts[r.labels[0]!]!++
    return { count: written.length, patients, classCounts }
  }
  const labelCounts = Object.fromEntries(spec.names.map((n) => [n, emptyCount()]))
  for (const r of written) {
    spec.names.forEach((n, k) => {
      const c = labelCounts[n]!, v = r.labels[k]!, s = r.stated?.[k]
      if (Number.isNaN(v)) c.ignored++; else if (v === 1) c.positive++; else c.negative++
      if (s === Stated.Uncertain) c.uncertain++
      if (s === Stated.Blank) c.blank++
    })
  }
  return { count: written.length, patients, labelCounts }
}

export const ingest = async (options: IngestOptions, onProgress?: (done: number, total: number) => void): Promise<DatasetManifest> => {
  const o = options
  const { height, width } = typeof o.size === "number" ? { height: o.size, width: o.size } : o.size
  if (!(Number.isInteger(height) && Number.isInteger(width) && height >= 8 && width >= 8))
    throw new IngestError("bad-option", "size", `size must be whole pixels >= 8, got ${JSON.stringify(o.size)}`)
  const fit: Fit = o.fit ?? "cover"
  if (!["cover", "contain", "fill"].includes(fit)) throw new IngestError("bad-option", "fit", `fit "${fit}" is not cover, contain or fill`)
  const fractions = o.split ?? { validation: 0.1, test: 0.1 }
  if (!(fractions.validation >= 0 && fractions.test >= 0 && fractions.validation + fractions.test < 1))
    throw new IngestError("bad-option", "split", `validation and test fractions must be >= 0 and sum below 1, got ${JSON.stringify(fractions)}`)
  const log = new SkipLog(o.strict ?? false)
  const parsed = await parse(o, log)
  const records = dropDuplicates(parsed.records, log)
  if (records.length === 0)
    throw new IngestError("empty-dataset", o.root, `no usable ${o.format} images listed (${log.skips.length} entries skipped${log.skips[0] ? `, e.g. ${log.skips[0].file}${log.skips[0].line ? `:${log.skips[0].line}` : ""}: ${log.skips[0].reason}` : ""})`)

  // A dataset that names its own test set (CheXpert's valid.csv) keeps the pooled patients out of test.
  const pooledFractions = records.some((r) => r.fixedSplit === "test") ? { validation: fractions.validation, test: 0 } : fractions
  const assignment = splitByPatient(records.filter((r) => !r.fixedSplit).map((r) => r.patient), pooledFractions, o.seed)
  const bySplit: Record<SplitName, SourceRecord[]> = { train: [], validation: [], test: [] }
  for (const r of records) bySplit[r.fixedSplit ?? assignment.get(r.patient)!].push(r)

  if (o.trainSubset !== undefined && !(Number.isInteger(o.trainSubset) && o.trainSubset >= 1 && o.trainSubset <= bySplit.train.length))
    throw new IngestError("bad-option", "trainSubset", `asked for ${o.trainSubset} training images but at most ${bySplit.train.length} are listed for the train split`)
  await mkdir(o.outDir, { recursive: true })
  const { default: sharp } = await import("sharp")
  const stride = height * width * 3
  const batchRows = rowsPerBatch(stride, o.batchBytes ?? 1 << 20)
  const shardRows = Math.max(1, Math.floor((o.shardBytes ?? 1 << 30) / stride / batchRows)) * batchRows
  const concurrency = o.concurrency ?? 2 * availableParallelism()
  const spec = parsed.labels
  const metadata = { "transfusion.labels": JSON.stringify(spec), "transfusion.height": String(height), "transfusion.width": String(width), "transfusion.fit": fit }
  const total = records.length
  let done = 0
  onProgress?.(0, total)
  const splits: Record<string, SplitManifest> = {}
  const warnings: string[] = []
  let trainWritten: SourceRecord[] = []

  for (const split of ["train", "validation", "test"] as const) {
    const list = bySplit[split]
    const writer = new ShardWriter(o.outDir, split, spec, height, width, batchRows, shardRows, metadata)
    const written: SourceRecord[] = []
    // Decode up to `concurrency` ahead, but write and report strictly in list order, so
    // shards and the skip list are deterministic (and strict mode throws for the FIRST
    // bad entry, never leaving a rejected promise behind).
    const pending: Promise<Uint8Array | Skip>[] = []
    const decodeOne = async (r: SourceRecord): Promise<Uint8Array | Skip> => {
      let bytes: Buffer
      try { bytes = await readFile(r.file) } catch (e) {
        const code = (e as NodeJS.ErrnoException).code
        return { kind: "missing-file", file: r.file, line: r.line, reason: code === "ENOENT" ? `image not found (listed in ${r.source})` : `cannot read image: ${(e as Error).message}` }
      }
      try { return await decodeResize(sharp, bytes, height, width, fit) } catch (e) {
        return { kind: "corrupt-image", file: r.file, line: r.line, reason: `${describeDecodeFailure(bytes, e as Error)} (listed in ${r.source}${r.line ? `:${r.line}` : ""})` }
      }
    }
    let next = 0
    const fill = () => { while (next < list.length && pending.length < concurrency) pending.push(decodeOne(list[next++]!)) }
    fill()
    for (let i = 0; i < list.length; i++) {
      const r = list[i]!
      const result = await pending.shift()!
      fill()
      onProgress?.(++done, total)
      if (!(result instanceof Uint8Array)) {
        if (log.strict) await Promise.allSettled(pending) // let in-flight decodes finish before throwing
        log.add(result)
        continue
      }
      await writer.add(result, r.labels, r.patient, r.path)
      written.push(r)
    }
    const shards = await writer.finish()
    if (written.length === 0 && (split === "train" || list.length > 0 || (assignment.size > 0 && (split === "validation" ? fractions.validation : fractions.test) > 0)))
      warnings.push(`split "${split}" is empty (${assignment.size} patients in total); use more data or change the split fractions`)
    splits[split] = { ...tally(spec, written), shards }
    if (split === "train") trainWritten = written
  }
  const usable = Object.values(splits).reduce((s, x) => s + x.count, 0)
  if (usable === 0) throw new IngestError("empty-dataset", o.root, `every listed image was skipped (${log.skips.length} skips, first: ${log.skips[0]?.file}: ${log.skips[0]?.reason})`)

  if (o.trainSubset !== undefined) {
    const train = splits.train!
    if (!(Number.isInteger(o.trainSubset) && o.trainSubset >= 1 && o.trainSubset <= train.count))
      throw new IngestError("bad-option", "trainSubset", `asked for ${o.trainSubset} training images but the train split has ${train.count}`)
    const indices = new Rng(`${String(o.seed)}/train-small`).sample(train.count, o.trainSubset)
    const indicesFile = "train-small.indices.json"
    await writeFile(join(o.outDir, indicesFile), JSON.stringify(indices))
    splits["train-small"] = { ...tally(spec, indices.map((i) => trainWritten[i]!)), shards: [], subsetOf: "train", indicesFile }
  }

  const skippedByKind: Partial<Record<SkipKind, number>> = {}
  for (const s of log.skips) skippedByKind[s.kind] = (skippedByKind[s.kind] ?? 0) + 1
  const manifest: DatasetManifest = {
    version: 1, format: o.format, root: o.root, labels: spec, height, width, fit, batchRows, seed: o.seed,
    splitBy: assignment.size > 0 ? "patient" : "dataset", splitFractions: pooledFractions, trainSubset: o.trainSubset, policy: parsed.policy, splits,
    sources: parsed.sources, skipped: log.skips, skippedByKind, warnings,
  }
  await writeFile(join(o.outDir, "dataset.json"), JSON.stringify(manifest, null, 1))
  return manifest
}
