// Training checkpoints in Node without tfjs-node's file:// handler: one file holding a
// JSON header (tensor names, shapes, dtypes, byte offsets, and caller metadata such as
// step and optimiser hyper-parameters) followed by the raw little-endian tensor bytes.
// Values are stored bit for bit, so a resumed run continues exactly where the
// interrupted one stopped. Files are written atomically and flushed to disk
// (pipeline/atomic.ts), so a kill mid-write never leaves a truncated checkpoint under the
// final name.
//
// Layout: "TFCK" | u32 format version | u32 header byte length | header JSON (UTF-8),
// padded with spaces to a multiple of 8 | tensor data (each tensor 8-byte aligned).

import { mkdir, open, readdir, readFile, rm } from "node:fs/promises"
import { dirname, join } from "node:path"
import * as tf from "@tensorflow/tfjs-core"
import type { LayersModel } from "@tensorflow/tfjs-layers"
import { atomicTempOf, replaceFileAtomic } from "../pipeline/atomic.ts"

const MAGIC = "TFCK"
const FORMAT_VERSION = 1

export type RecordDType = "float32" | "int32"

/** One named tensor as plain data (no tfjs handle, so it can be written and compared). */
export interface TensorRecord {
  readonly name: string
  readonly shape: readonly number[]
  readonly dtype: RecordDType
  readonly data: Float32Array | Int32Array
}

interface HeaderEntry {
  name: string
  shape: number[]
  dtype: RecordDType
  offset: number
  byteLength: number
}

interface Header {
  format: "transfusion-checkpoint"
  tensors: HeaderEntry[]
  meta: unknown
}

const align8 = (n: number): number => (n + 7) & ~7

/** Writes tensors + JSON metadata to `path` atomically (temp file in the same directory, fsync, rename). */
export const writeTensorFile = async (path: string, tensors: readonly TensorRecord[], meta: unknown): Promise<void> => {
  const entries: HeaderEntry[] = []
  let offset = 0
  for (const t of tensors) {
    const size = t.shape.reduce((a, b) => a * b, 1)
    if (size !== t.data.length) throw new Error(`writeTensorFile: tensor "${t.name}" has shape [${t.shape.join(", ")}] but ${t.data.length} values`)
    entries.push({ name: t.name, shape: [...t.shape], dtype: t.dtype, offset, byteLength: t.data.byteLength })
    offset = align8(offset + t.data.byteLength)
  }
  const header: Header = { format: "transfusion-checkpoint", tensors: entries, meta }
  const json = Buffer.from(JSON.stringify(header), "utf8")
  const headerLength = align8(12 + json.length) - 12
  const prefix = Buffer.alloc(12 + headerLength, 0x20)
  prefix.write(MAGIC, 0, "latin1")
  prefix.writeUInt32LE(FORMAT_VERSION, 4)
  prefix.writeUInt32LE(headerLength, 8)
  json.copy(prefix, 12)
  await mkdir(dirname(path), { recursive: true })
  await replaceFileAtomic(
    path,
    async (tmp) => {
      const fh = await open(tmp, "w")
      try {
        await fh.write(prefix)
        let written = 0
        for (let i = 0; i < tensors.length; i++) {
          const d = tensors[i].data
          await fh.write(new Uint8Array(d.buffer, d.byteOffset, d.byteLength))
          written = entries[i].offset + d.byteLength
          const pad = align8(written) - written
          if (pad > 0) await fh.write(Buffer.alloc(pad))
        }
      } finally {
        await fh.close()
      }
    },
    { fsync: true },
  )
}

/** Reads a file written by writeTensorFile; errors name the file and what is wrong with it. */
export const readTensorFile = async (path: string): Promise<{ tensors: TensorRecord[]; meta: unknown }> => {
  const buf = await readFile(path)
  if (buf.length < 12 || buf.toString("latin1", 0, 4) !== MAGIC) throw new Error(`${path}: not a transfusion checkpoint (bad magic); was it written by ml/checkpoint.ts?`)
  const version = buf.readUInt32LE(4)
  if (version !== FORMAT_VERSION) throw new Error(`${path}: checkpoint format version ${version}, this code reads ${FORMAT_VERSION}`)
  const headerLength = buf.readUInt32LE(8)
  let header: Header
  try {
    header = JSON.parse(buf.toString("utf8", 12, 12 + headerLength)) as Header
  } catch (e) {
    throw new Error(`${path}: checkpoint header is not valid JSON (${(e as Error).message}); the file is damaged`)
  }
  const base = 12 + headerLength
  const tensors = header.tensors.map((e) => {
    if (base + e.offset + e.byteLength > buf.length) throw new Error(`${path}: tensor "${e.name}" runs past the end of the file (${buf.length} bytes); the file is truncated`)
    const start = buf.byteOffset + base + e.offset
    const length = e.byteLength / 4
    // Views into the file's bytes when 4-byte aligned (large reads are), else a copy.
    const source = start % 4 === 0 ? buf.buffer : buf.buffer.slice(start, start + e.byteLength)
    const at = start % 4 === 0 ? start : 0
    const data = e.dtype === "int32" ? new Int32Array(source, at, length) : new Float32Array(source, at, length)
    return { name: e.name, shape: e.shape, dtype: e.dtype, data }
  })
  return { tensors, meta: header.meta }
}

/** Plain copies of tensors, as records (read asynchronously: webgpu cannot read synchronously in Node). */
export const toRecords = (named: readonly { name: string; tensor: tf.Tensor }[]): Promise<TensorRecord[]> =>
  Promise.all(named.map(async ({ name, tensor }) => {
    if (tensor.dtype !== "float32" && tensor.dtype !== "int32") throw new Error(`checkpoint: tensor "${name}" has dtype ${tensor.dtype}; only float32 and int32 are stored`)
    const d = await tensor.data()
    // Typed-array constructors copy with memcpy; Float32Array.from would iterate.
    return { name, shape: tensor.shape, dtype: tensor.dtype, data: tensor.dtype === "int32" ? new Int32Array(d) : new Float32Array(d) }
  }))

/**
 * Every weight of the model (trainable and not, e.g. batch-norm moving statistics), named
 * by layer/weight ("conv1_conv/kernel"), which stays the same across processes and
 * across several models built in one process (tfjs's unique-name suffixes are dropped).
 */
export const modelWeightRecords = (model: LayersModel): Promise<TensorRecord[]> =>
  toRecords(model.weights.map((w) => ({ name: w.originalName, tensor: w.read() })))

/** Sets every model weight from records by name; throws naming the missing/mismatched weight. */
export const restoreModelWeights = (model: LayersModel, records: readonly TensorRecord[], source = "checkpoint"): void => {
  const byName = new Map(records.map((r) => [r.name, r]))
  const values = model.weights.map((w) => {
    const r = byName.get(w.originalName)
    if (!r) throw new Error(`${source}: no weight "${w.originalName}" (it holds ${records.length} weights, e.g. ${records.slice(0, 3).map((x) => x.name).join(", ")}); was it saved from a different architecture?`)
    if (r.shape.join("x") !== w.shape.join("x")) throw new Error(`${source}: weight "${w.originalName}" has shape [${r.shape.join("x")}] in the file but [${w.shape.join("x")}] in the model`)
    return tf.tensor(r.data, [...r.shape], r.dtype)
  })
  model.weights.forEach((w, i) => w.write(values[i]))
  tf.dispose(values)
}

/** Optimiser state as the training loop stores it (see ml/train.ts optimisers). */
export interface OptimizerState {
  readonly kind: string
  /** Updates applied so far (Adam's t). */
  readonly iterations: number
  readonly config: Readonly<Record<string, number | string>>
  /** Slot tensors, named e.g. "conv1_conv/kernel/m". */
  readonly slots: readonly TensorRecord[]
}

export interface Checkpoint<Meta> {
  readonly step: number
  readonly optimizer?: OptimizerState
  readonly meta: Meta
}

const MODEL_PREFIX = "model/"
const SLOT_PREFIX = "optimizer/"
const FILE_RE = /^checkpoint-(\d+)\.tfck$/

export const checkpointPath = (dir: string, step: number): string => join(dir, `checkpoint-${String(step).padStart(9, "0")}.tfck`)

/**
 * Saves model weights, optimiser state, step and metadata to dir/checkpoint-<step>.tfck
 * (atomically), then deletes all but the newest `keep` checkpoints. Returns the path.
 */
export const saveCheckpoint = async <Meta>(
  dir: string,
  args: { step: number; model: LayersModel; optimizer?: OptimizerState; meta: Meta; keep?: number },
): Promise<string> => {
  const records = [
    ...(await modelWeightRecords(args.model)).map((r) => ({ ...r, name: MODEL_PREFIX + r.name })),
    ...(args.optimizer?.slots ?? []).map((r) => ({ ...r, name: SLOT_PREFIX + r.name })),
  ]
  const optimizer = args.optimizer ? { kind: args.optimizer.kind, iterations: args.optimizer.iterations, config: args.optimizer.config } : undefined
  const path = checkpointPath(dir, args.step)
  await writeTensorFile(path, records, { step: args.step, optimizer, meta: args.meta })
  const keep = args.keep ?? 2
  const all = await listCheckpoints(dir)
  for (const old of all.slice(0, Math.max(0, all.length - keep))) await rm(old.path, { force: true })
  return path
}

/**
 * Writes only a model's weights (no optimiser state) in the checkpoint format, e.g. a
 * run's initial or final weights; readable by loadCheckpoint and pretrainedFromCheckpoint.
 */
export const saveModelWeights = async <Meta>(path: string, model: LayersModel, meta?: Meta, step = 0): Promise<void> => {
  const records = (await modelWeightRecords(model)).map((r) => ({ ...r, name: MODEL_PREFIX + r.name }))
  await writeTensorFile(path, records, { step, meta: meta ?? {} })
}

/** Checkpoints in dir, oldest first (temporary files of an interrupted write are ignored). */
export const listCheckpoints = async (dir: string): Promise<{ step: number; path: string }[]> => {
  let names: string[]
  try {
    names = await readdir(dir)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return []
    throw e
  }
  return names
    .map((n) => FILE_RE.exec(n))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ step: Number(m[1]), path: join(dir, m[0]) }))
    .sort((a, b) => a.step - b.step)
}

export const latestCheckpoint = async (dir: string): Promise<string | undefined> => (await listCheckpoints(dir)).at(-1)?.path

/** Temporary files of a tensor-file write (see writeTensorFile) by a process other than this one. */
const staleTempFile = (name: string): boolean => {
  const temp = atomicTempOf(name)
  return temp !== undefined && FILE_RE.test(temp.target) && temp.pid !== process.pid
}

/**
 * The newest checkpoint in dir that reads whole, for resuming: a damaged newest one (a
 * truncated file after a power loss) falls back to the older one kept beside it, and with
 * none readable training starts clean. Each damaged file is reported through `onDamaged`
 * and removed, as are temporaries left by a killed writer.
 */
export const newestReadableCheckpoint = async (
  dir: string,
  onDamaged: (path: string, problem: string) => void,
): Promise<{ path: string; file: { tensors: TensorRecord[]; meta: unknown } } | undefined> => {
  let names: string[] = []
  try {
    names = await readdir(dir)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e
  }
  for (const n of names) if (staleTempFile(n)) await rm(join(dir, n), { force: true })
  for (const { path } of (await listCheckpoints(dir)).reverse()) {
    try {
      return { path, file: await readTensorFile(path) }
    } catch (e) {
      onDamaged(path, (e as Error).message)
      await rm(path, { force: true })
    }
  }
  return undefined
}

/** Restores model weights from a checkpoint and returns step, optimiser state and metadata. */
export const loadCheckpoint = async <Meta>(path: string, model: LayersModel, file?: { tensors: TensorRecord[]; meta: unknown }): Promise<Checkpoint<Meta>> => {
  const { tensors, meta } = file ?? (await readTensorFile(path))
  const m = meta as { step: number; optimizer?: Omit<OptimizerState, "slots">; meta: Meta }
  restoreModelWeights(
    model,
    tensors.filter((t) => t.name.startsWith(MODEL_PREFIX)).map((t) => ({ ...t, name: t.name.slice(MODEL_PREFIX.length) })),
    path,
  )
  const slots = tensors.filter((t) => t.name.startsWith(SLOT_PREFIX)).map((t) => ({ ...t, name: t.name.slice(SLOT_PREFIX.length) }))
  return { step: m.step, meta: m.meta, optimizer: m.optimizer ? { ...m.optimizer, slots } : undefined }
}

/**
 * The model weights of a checkpoint (e.g. our ImageNet pretraining) as pretrained weights
 * by layer name for ml/inits.ts, in each layer's weight order as saved (Keras order).
 * The caller owns the returned tensors.
 */
export const pretrainedFromCheckpoint = async (path: string): Promise<Map<string, tf.Tensor[]>> => {
  const { tensors } = await readTensorFile(path)
  const out = new Map<string, tf.Tensor[]>()
  for (const t of tensors) {
    if (!t.name.startsWith(MODEL_PREFIX)) continue
    const name = t.name.slice(MODEL_PREFIX.length)
    const cut = name.lastIndexOf("/")
    const layer = cut > 0 ? name.slice(0, cut) : name
    const list = out.get(layer) ?? []
    list.push(tf.tensor(t.data, [...t.shape], t.dtype))
    out.set(layer, list)
  }
  return out
}
