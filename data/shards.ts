// Arrow IPC shards: the on-disk form of an ingested split. Each shard file holds
// record batches of `batchRows` images (all full except a file's last), with columns
//   pixels   FixedSizeBinary(H*W*3)  row-major HWC uint8
//   label:<name>  Float32           one column per label (NaN = ignored)
//   patient, path  Utf8
// Batches are sized to about `batchBytes` so that reading one image at random costs at
// most one small batch; the Arrow footer lets a reader seek straight to a batch, so a
// split larger than memory is read with a bounded cache.
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { createWriteStream } from "node:fs"
import { open, readFile, type FileHandle } from "node:fs/promises"
import { join } from "node:path"
import type { Batch, ImageSet, LabelSpec } from "./imageset.ts"
import { labelWidth } from "./imageset.ts"
import { describeParseError } from "../pipeline/schema-errors.ts"
import { DatasetManifestSchema, type DatasetManifest, type ShardFile } from "./manifest.ts"

type Arrow = typeof import("apache-arrow")

export const labelColumns = (spec: LabelSpec): string[] =>
  spec.kind === "class" ? ["label:class"] : spec.names.map((n) => `label:${n}`)

/** Rows per record batch: about `batchBytes` of pixels, at least 1. */
export const rowsPerBatch = (stride: number, batchBytes: number): number => Math.max(1, Math.floor(batchBytes / stride))

/** Streams images into numbered shard files `<prefix>-NNNNN.arrow`. */
export class ShardWriter {
  private arrow: Arrow | undefined
  private pixels: Uint8Array
  private labels: Float32Array
  private patients: string[] = []
  private paths: string[] = []
  private rows = 0
  private fileRows = 0
  private writer: import("apache-arrow").RecordBatchFileWriter | undefined
  private done: Promise<void> | undefined
  private out: import("node:fs").WriteStream | undefined
  readonly files: ShardFile[] = []
  private readonly stride: number
  private readonly labelCount: number

  constructor(
    private readonly dir: string,
    private readonly prefix: string,
    private readonly spec: LabelSpec,
    readonly height: number,
    readonly imageWidth: number,
    readonly batchRows: number,
    /** Images per shard file; a multiple of batchRows. */
    readonly shardRows: number,
    private readonly metadata: Record<string, string>,
  ) {
    this.stride = height * imageWidth * 3
    this.labelCount = labelWidth(spec)
    this.pixels = new Uint8Array(batchRows * this.stride)
    this.labels = new Float32Array(batchRows * this.labelCount)
  }

  async add(pixels: Uint8Array, labels: Float32Array, patient: string, path: string): Promise<void> {
    if (pixels.length !== this.stride) throw new Error(`ShardWriter: image ${path} has ${pixels.length} bytes, expected ${this.stride}`)
    this.pixels.set(pixels, this.rows * this.stride)
    this.labels.set(labels, this.rows * this.labelCount)
    this.patients.push(patient)
    this.paths.push(path)
    if (++this.rows === this.batchRows) await this.flush()
  }

  private async flush(): Promise<void> {
    if (this.rows === 0) return
    const A = (this.arrow ??= await import("apache-arrow"))
    if (!this.writer) {
      const file = `${this.prefix}-${String(this.files.length).padStart(5, "0")}.arrow`
      this.files.push({ file, count: 0 })
      this.writer = new A.RecordBatchFileWriter()
      // A deep write buffer lets decoding run on while the disk catches up.
      this.out = createWriteStream(join(this.dir, file), { highWaterMark: 8 << 20 })
      const out = this.out
      const src = this.writer.toNodeStream()
      this.done = new Promise<void>((resolve, reject) => {
        src.on("error", reject)
        out.on("error", reject)
        out.on("finish", () => resolve())
        src.pipe(out)
      })
    }
    const n = this.rows
    const names = labelColumns(this.spec)
    const fields = [
      new A.Field("pixels", new A.FixedSizeBinary(this.stride), false),
      ...names.map((name) => new A.Field(name, new A.Float32(), false)),
      new A.Field("patient", new A.Utf8(), false),
      new A.Field("path", new A.Utf8(), false),
    ]
    const schema = new A.Schema(fields, new Map(Object.entries(this.metadata)))
    const labelData = names.map((_, k) => {
      const col = new Float32Array(n)
      for (let i = 0; i < n; i++) col[i] = this.labels[i * this.labelCount + k]!
      return A.makeData({ type: new A.Float32(), length: n, nullCount: 0, data: col })
    })
    const children = [
      A.makeData({ type: new A.FixedSizeBinary(this.stride), length: n, nullCount: 0, data: this.pixels.slice(0, n * this.stride) }),
      ...labelData,
      A.vectorFromArray(this.patients, new A.Utf8()).data[0]!,
      A.vectorFromArray(this.paths, new A.Utf8()).data[0]!,
    ]
    const batch = new A.RecordBatch(schema, A.makeData({ type: new A.Struct(fields), length: n, nullCount: 0, children }))
    this.writer.write(batch)
    this.files[this.files.length - 1] = { file: this.files[this.files.length - 1]!.file, count: this.fileRows + n }
    this.fileRows += n
    this.rows = 0
    this.patients = []
    this.paths = []
    // Let the file stream take the bytes before the next batch, so memory stays bounded.
    await new Promise<void>((resolve) => setImmediate(resolve))
    if (this.out && this.out.writableNeedDrain) await new Promise<void>((resolve) => this.out!.once("drain", () => resolve()))
    if (this.fileRows >= this.shardRows) await this.closeFile()
  }

  private async closeFile(): Promise<void> {
    if (!this.writer) return
    this.writer.finish()
    await this.done
    this.writer = undefined
    this.out = undefined
    this.fileRows = 0
  }

  /** Writes the last partial batch and closes the open file; returns the shard list. */
  async finish(): Promise<ShardFile[]> {
    await this.flush()
    await this.closeFile()
    return this.files
  }
}

export interface OpenShardsOptions {
  /** Most decoded batch bytes kept in memory. Default 64 MiB. */
  readonly cacheBytes?: number
}

export type ShardImageSet = ImageSet & {
  /** Releases the open shard files. */
  close(): Promise<void>
}

/** How to repair an ingest's output: what the store offers, in the words of its CLI. */
const REINGEST = "`transfusion verify` names the damaged artifact and `transfusion run --force <its ingest id>` rebuilds it"

export const readManifest = async (dir: string): Promise<DatasetManifest> => {
  const file = join(dir, "dataset.json")
  let text: string
  try { text = await readFile(file, "utf8") } catch {
    throw new Error(`${file}: not found; openShards needs the directory an ingest wrote (it holds dataset.json and the .arrow shards)`)
  }
  let parsed: unknown
  try { parsed = JSON.parse(text) } catch (e) {
    throw new Error(`${file}: not valid JSON (${(e as Error).message}); ${REINGEST}`)
  }
  const splits = (parsed as { splits?: unknown } | null)?.splits
  if (typeof splits !== "object" || splits === null) throw new Error(`${file}: no "splits" object, so it is not an ingest's manifest; ${REINGEST}`)
  const decoded = Schema.decodeUnknownEither(DatasetManifestSchema)(parsed)
  if (Either.isLeft(decoded)) throw new Error(`${file}: ${describeParseError(decoded.left, "dataset")}; ${REINGEST}`)
  return decoded.right
}

// An Arrow IPC file starts with "ARROW1\0\0" and ends with its footer and "ARROW1"; a file
// cut short loses the end magic, which apache-arrow reports only as a TypeError deep inside.
const ARROW_MAGIC = Buffer.from("ARROW1")
const checkArrowFile = async (fh: FileHandle, path: string): Promise<void> => {
  const { size } = await fh.stat()
  const head = Buffer.alloc(6), tail = Buffer.alloc(6)
  if (size >= 12) {
    await fh.read(head, 0, 6, 0)
    await fh.read(tail, 0, 6, size - 6)
  }
  if (!head.equals(ARROW_MAGIC)) throw new Error(`${path}: not an Arrow IPC file (${size} bytes, no ARROW1 magic at the start); ${REINGEST}`)
  if (!tail.equals(ARROW_MAGIC)) throw new Error(`${path}: truncated Arrow shard (${size} bytes, no ARROW1 magic at the end); ${REINGEST}`)
}

interface LoadedBatch { pixels: Uint8Array; labels: Float32Array[]; patients: string[]; paths: string[]; bytes: number }

/**
 * Opens one split of an ingested dataset as an ImageSet. `split` is "train",
 * "validation", "test", or "train-small" (the seeded small-data subset of train,
 * read through train's shards). Memory is bounded by the batch cache, not the set.
 */
export const openShards = async (dir: string, split: string, options: OpenShardsOptions = {}): Promise<ShardImageSet> => {
  const manifest = await readManifest(dir)
  const info = manifest.splits[split]
  if (!info) throw new Error(`${join(dir, "dataset.json")}: no split "${split}"; it has ${Object.keys(manifest.splits).join(", ")}`)
  const source = info.subsetOf ? manifest.splits[info.subsetOf]! : info
  const subset = info.subsetOf ? (JSON.parse(await readFile(join(dir, info.indicesFile!), "utf8")) as number[]) : undefined
  const A = await import("apache-arrow")
  const { height, width, batchRows } = manifest
  const stride = height * width * 3
  const spec = manifest.labels
  const lw = labelWidth(spec)
  const names = labelColumns(spec)
  const starts: number[] = []
  let total = 0
  for (const s of source.shards) { starts.push(total); total += s.count }
  const handles = new Map<number, { fh: FileHandle; reader: Promise<import("apache-arrow").AsyncRecordBatchFileReader>; queue: Promise<unknown> }>()
  const cache = new Map<string, LoadedBatch>()
  let cached = 0
  const cacheBytes = options.cacheBytes ?? 64 * 1024 * 1024

  const fileOf = (i: number) => {
    let h = handles.get(i)
    if (!h) {
      const path = join(dir, source.shards[i]!.file)
      const fhP = open(path)
      const reader = fhP.then(async (fh) => {
        h!.fh = fh
        await checkArrowFile(fh, path)
        try {
          const r = await A.RecordBatchReader.from(fh)
          await r.open()
          if (!r.isFile()) throw new Error("no file footer")
          return r as unknown as import("apache-arrow").AsyncRecordBatchFileReader
        } catch (e) {
          throw new Error(`${path}: damaged Arrow shard (${(e as Error).message}); ${REINGEST}`)
        }
      })
      h = { fh: undefined as unknown as FileHandle, reader, queue: reader }
      handles.set(i, h)
    }
    return h
  }

  const loadBatch = async (shard: number, batch: number): Promise<LoadedBatch> => {
    const key = `${shard}/${batch}`
    const hit = cache.get(key)
    if (hit) { cache.delete(key); cache.set(key, hit); return hit } // refresh LRU position
    const h = fileOf(shard)
    // One reader per file is not safe to use concurrently: queue its reads.
    const job = h.queue.then(async () => (await h.reader).readRecordBatch(batch))
    h.queue = job.catch(() => undefined)
    const shardPath = join(dir, source.shards[shard]!.file)
    const rb = await job.catch((e: Error) => {
      // The checks in fileOf name the shard already; arrow's own errors do not.
      throw e.message.startsWith(shardPath) ? e : new Error(`${shardPath}: damaged Arrow shard, record batch ${batch} unreadable (${e.message}); ${REINGEST}`)
    })
    if (!rb) throw new Error(`${shardPath}: record batch ${batch} missing (file truncated?); ${REINGEST}`)
    const pixData = rb.getChild("pixels")!.data[0]!
    const pixels = pixData.values.subarray(pixData.offset * stride, (pixData.offset + rb.numRows) * stride)
    const labels = names.map((n) => {
      const d = rb.getChild(n)!.data[0]!
      return (d.values as Float32Array).subarray(d.offset, d.offset + rb.numRows)
    })
    const loaded: LoadedBatch = {
      pixels, labels,
      patients: rb.getChild("patient")!.toArray() as string[],
      paths: rb.getChild("path")!.toArray() as string[],
      bytes: pixels.byteLength,
    }
    if (!cache.has(key)) {
      cache.set(key, loaded)
      cached += loaded.bytes
      for (const [k, v] of cache) {
        if (cached <= cacheBytes || cache.size <= 1) break
        cache.delete(k)
        cached -= v.bytes
      }
    }
    return loaded
  }

  const locate = (index: number): [number, number, number] => {
    // Binary search the shard, then the batch within it (fixed batchRows).
    let lo = 0, hi = starts.length - 1
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1
      if (starts[mid]! <= index) lo = mid; else hi = mid - 1
    }
    const within = index - starts[lo]!
    return [lo, Math.floor(within / batchRows), within % batchRows]
  }

  const count = subset ? subset.length : total
  return {
    count, height, width, labels: spec,
    async read(indices) {
      const out = new Uint8Array(indices.length * stride)
      const lab = new Float32Array(indices.length * lw)
      const patients = new Array<string>(indices.length), paths = new Array<string>(indices.length)
      const where = indices.map((idx) => {
        if (!(Number.isInteger(idx) && idx >= 0 && idx < count)) throw new RangeError(`openShards(${split}): index ${idx} outside 0..${count - 1}`)
        return locate(subset ? subset[idx]! : idx)
      })
      // Visit each needed batch once, in file order, whatever order the indices came in.
      const order = where.map((_, k) => k).sort((a, b) => where[a]![0] - where[b]![0] || where[a]![1] - where[b]![1])
      for (const k of order) {
        const [shard, batch, row] = where[k]!
        const b = await loadBatch(shard, batch)
        out.set(b.pixels.subarray(row * stride, (row + 1) * stride), k * stride)
        for (let j = 0; j < lw; j++) lab[k * lw + j] = b.labels[j]![row]!
        patients[k] = b.patients[row]!
        paths[k] = b.paths[row]!
      }
      return { pixels: out, labels: lab, patients, paths } satisfies Batch
    },
    async close() {
      for (const h of handles.values()) {
        await h.reader.catch(() => undefined)
        await h.fh?.close()
      }
      handles.clear()
      cache.clear()
    },
  }
}
