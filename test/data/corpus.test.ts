// The bad-input corpus for the readers bad-input.test.ts does not cover (issue 18): odd but
// valid images, the activation files `similarity` reads, Arrow shards, training checkpoints,
// config files, a full store filesystem and markup in report strings. Each case ends in one
// of three outcomes: decoded correctly, a counted skip naming file and line, or an error
// naming the file (or key path) and the fix. Anything else (a TypeError from deep inside a
// library, a silent NaN) is a crash and fails the case. The figure is printed at the end.
// One file (~500 lines) on purpose: the table and its one figure are the point, and the
// readers' sections share its fixtures and outcome check.
import { test } from "uvu"
import * as assert from "uvu/assert"
import { execFileSync, spawnSync } from "node:child_process"
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, statfsSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import sharp from "sharp"
import { ingest } from "../../data/ingest.ts"
import { openShards } from "../../data/shards.ts"
import { readActivationTable, writeActivationTable, type ActivationTable } from "../../analysis/parquet.ts"
import { readActivationMatrix } from "../../analysis/activation-files.ts"
import { checkpointPath, newestReadableCheckpoint, writeTensorFile } from "../../ml/checkpoint.ts"
import { resolveConfig } from "../../stages/config.ts"
import { Store } from "../../pipeline/store.ts"
import type { FingerprintParts } from "../../pipeline/fingerprint.ts"
import { renderReport } from "../../report/render.ts"
import { fullReportData } from "../report/fixtures/full-report-data.ts"

const repo = resolve(import.meta.dirname, "../..")
const tmp = mkdtempSync(join(tmpdir(), "transfusion-corpus-"))
let dirNo = 0
const freshDir = (label: string): string => {
  const d = join(tmp, `${label}-${dirNo++}`)
  mkdirSync(d, { recursive: true })
  return d
}

// ---- outcomes ----

/** "escaped": markup in data reaches the output as text. */
type Outcome = "decoded" | "skipped" | "error" | "escaped"
interface CorpusCase {
  readonly reader: string
  readonly name: string
  readonly outcome: Outcome
  /** Does the thing and asserts the outcome; resolves to a note when the case could not run here. */
  readonly run: () => Promise<void | { skippedBecause: string }>
}
const tally = { cases: 0, decoded: 0, skipped: 0, error: 0, escaped: 0, crashes: 0, notRun: 0 }

/** Awaits `action`, which must fail with an Error whose message matches every pattern. */
const refuses = async (action: () => Promise<unknown> | unknown, ...patterns: (RegExp | string)[]): Promise<string> => {
  let error: unknown
  try {
    await action()
  } catch (e) {
    error = e
  }
  if (error === undefined) assert.unreachable(`accepted; expected an error matching ${patterns.join(" and ")}`)
  assert.instance(error, Error)
  const message = (error as Error).message
  // A library's own TypeError or RangeError reaching the user is the crash this corpus hunts.
  assert.not.ok(error instanceof TypeError || error instanceof RangeError, `crash: ${(error as Error).name}: ${message}`)
  for (const p of patterns) assert.ok(typeof p === "string" ? message.includes(p) : p.test(message), `"${message}" does not match ${String(p)}`)
  return message
}

// ---- images: one extra listed image beside four good ones, ingested at 16x16 ----

const solid = (r: number, g: number, b: number, size = 16) => sharp({ create: { width: size, height: size, channels: 3, background: { r, g, b } } })
let goodJpeg: Buffer
let goodPng: Buffer

/** Ingests an EyePACS (.jpeg) or APTOS (.png) folder holding four good images and `extra`, listed on CSV line 6. */
const ingestWith = async (format: "eyepacs" | "aptos", extra: Buffer) => {
  const root = freshDir(`img-${format}`)
  const [csv, dir, ext, header] = format === "eyepacs" ? ["trainLabels.csv", "train", ".jpeg", "image,level"] : ["train.csv", "train_images", ".png", "id_code,diagnosis"]
  mkdirSync(join(root, dir))
  const ids = format === "eyepacs" ? ["1_left", "1_right", "2_left", "2_right", "9_left"] : ["a1", "a2", "a3", "a4", "x9"]
  ids.forEach((id, i) => writeFileSync(join(root, dir, `${id}${ext}`), i < 4 ? (format === "eyepacs" ? goodJpeg : goodPng) : extra))
  writeFileSync(join(root, csv), [header, ...ids.map((id, i) => `${id},${i % 3}`)].join("\n") + "\n")
  const manifest = await ingest({ format, root, outDir: join(root, "out"), size: 16, seed: 1, split: { validation: 0, test: 0 } })
  const set = await openShards(join(root, "out"), "train")
  const batch = await set.read(Array.from({ length: set.count }, (_, i) => i))
  await set.close()
  const at = batch.paths.findIndex((p) => p === `${dir}/${ids[4]}${ext}`)
  return { manifest, extraFile: join(root, dir, `${ids[4]}${ext}`), pixels: at < 0 ? undefined : batch.pixels.subarray(at * 16 * 16 * 3, (at + 1) * 16 * 16 * 3) }
}

/** The image was decoded: every pixel within `tolerance` of `expect(pixel index)` per channel. */
const decodedAs = async (format: "eyepacs" | "aptos", bytes: Buffer, expect: (i: number) => readonly [number, number, number], tolerance: number) => {
  const { manifest, pixels } = await ingestWith(format, bytes)
  assert.equal(manifest.skipped, [])
  assert.ok(pixels, "the image is not in the shards")
  let worst = 0
  for (let i = 0; i < 16 * 16; i++) {
    const want = expect(i)
    for (let c = 0; c < 3; c++) worst = Math.max(worst, Math.abs(pixels![i * 3 + c]! - want[c]!))
  }
  assert.ok(worst <= tolerance, `largest channel error ${worst} > ${tolerance}`)
}

/** The image was skipped, counted, and reported with its file, CSV line and why. */
const skippedAs = async (format: "eyepacs" | "aptos", bytes: Buffer, reason: RegExp) => {
  const { manifest, extraFile, pixels } = await ingestWith(format, bytes)
  assert.is(pixels, undefined)
  assert.equal(manifest.skippedByKind, { "corrupt-image": 1 })
  const s = manifest.skipped[0]!
  assert.is(s.file, extraFile)
  assert.is(s.line, 6)
  assert.match(s.reason, reason)
}

const grey16Png = (size: number, value: (i: number) => number) =>
  sharp(new Uint16Array(size * size).map((_, i) => value(i)), { raw: { width: size, height: size, channels: 1 } }).toColourspace("grey16").png().toBuffer()

const imageCases: CorpusCase[] = [
  {
    reader: "ingest (images)", name: "CMYK JPEG is converted to RGB", outcome: "decoded",
    run: async () => {
      const cmyk = await solid(200, 40, 90).toColourspace("cmyk").jpeg({ quality: 100 }).toBuffer()
      assert.is((await sharp(cmyk).metadata()).space, "cmyk", "fixture is not CMYK")
      // No ICC profile: libvips's default CMYK profile round-trips within ~20 levels; read
      // as raw channels instead, the first channel would be cyan (~0), not red (200).
      await decodedAs("eyepacs", cmyk, () => [200, 40, 90], 25)
    },
  },
  {
    reader: "ingest (images)", name: "CMYK JPEG at another size is converted and resized", outcome: "decoded",
    run: async () => decodedAs("eyepacs", await solid(30, 160, 220, 50).toColourspace("cmyk").jpeg({ quality: 100 }).toBuffer(), () => [30, 160, 220], 25),
  },
  {
    reader: "ingest (images)", name: "16-bit grey PNG is scaled to 8 bits exactly", outcome: "decoded",
    run: async () => {
      const png = await grey16Png(16, (i) => i * 257) // 8-bit level i, spread over 16 bits
      assert.is((await sharp(png).metadata()).depth, "ushort", "fixture is not 16-bit")
      await decodedAs("aptos", png, (i) => [i, i, i], 0)
    },
  },
  {
    reader: "ingest (images)", name: "16-bit grey PNG, full range, resized", outcome: "decoded",
    run: async () => decodedAs("aptos", await grey16Png(32, () => 65535), () => [255, 255, 255], 0),
  },
  {
    reader: "ingest (images)", name: "1x1 PNG is resized to the full image", outcome: "decoded",
    run: async () => decodedAs("aptos", await sharp(Buffer.from([200, 100, 50]), { raw: { width: 1, height: 1, channels: 3 } }).png().toBuffer(), () => [200, 100, 50], 0),
  },
  {
    reader: "ingest (images)", name: "1x1 JPEG is resized to the full image", outcome: "decoded",
    run: async () => decodedAs("eyepacs", await solid(90, 90, 90, 1).jpeg({ quality: 100 }).toBuffer(), () => [90, 90, 90], 3),
  },
  {
    reader: "ingest (images)", name: "truncated PNG (cut in its image data)", outcome: "skipped",
    run: async () => {
      const png = await sharp(new Uint8Array(40 * 40 * 3).map((_, i) => (i * 37) % 256), { raw: { width: 40, height: 40, channels: 3 } }).png().toBuffer()
      await skippedAs("aptos", png.subarray(0, png.length >> 1), /^truncated PNG \(\d+ bytes, no IEND chunk\) \(listed in .*train\.csv:6\)/)
    },
  },
  {
    reader: "ingest (images)", name: "PNG holding its signature and header only", outcome: "skipped",
    run: async () => skippedAs("aptos", goodPng.subarray(0, 33), /^truncated PNG \(33 bytes/),
  },
]

// ---- activation files: the similarity stage's reader and `transfusion similarity`'s ----

const neurons = 3, rows = 40
const table = (data: Float32Array): Omit<ActivationTable, "metadata"> => ({
  neurons, rows, data,
  image: Int32Array.from({ length: rows }, (_, i) => i), y: new Int32Array(rows).fill(-1), x: new Int32Array(rows).fill(-1),
})
const finite = () => new Float32Array(neurons * rows).map((_, i) => Math.sin(i))
/** Our layout's Parquet file (the activations stage's dump), with `edit` applied to its bytes. */
const dump = async (name: string, data: Float32Array, edit: (b: Buffer) => Buffer = (b) => b) => {
  const path = join(freshDir("acts"), name)
  await writeActivationTable(path, table(data))
  writeFileSync(path, edit(readFileSync(path)))
  return path
}
const withValue = (v: number) => {
  const d = finite()
  d[1 * rows + 7] = v // neuron 1 (n0001), row 7
  return d
}
/** A foreign Parquet file whose n0000 column is float64. */
const float64Dump = async () => {
  const arrow = await import("apache-arrow")
  const pw = await import("parquet-wasm")
  const t = table(finite())
  const arrowTable = arrow.tableFromArrays({ n0000: Float64Array.from(t.data.subarray(0, rows)), image: t.image, y: t.y, x: t.x })
  const path = join(freshDir("acts"), "f64.parquet")
  writeFileSync(path, pw.writeParquet(pw.Table.fromIPCStream(arrow.tableToIPC(arrowTable, "stream"))))
  return path
}
/** An NPY v1 file: header padded to 64 bytes, then little-endian data. */
const npy = (descr: string, shape: readonly number[], body: Uint8Array): Buffer => {
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(", ")}${shape.length === 1 ? "," : ""}), }`
  header += " ".repeat(63 - ((10 + header.length) % 64)) + "\n"
  const head = Buffer.alloc(10)
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]).copy(head)
  head.writeUInt16LE(header.length, 8)
  return Buffer.concat([head, Buffer.from(header, "latin1"), Buffer.from(body.buffer, body.byteOffset, body.byteLength)])
}
const npyFile = (name: string, bytes: Buffer) => {
  const path = join(freshDir("npy"), name)
  writeFileSync(path, bytes)
  return path
}
const f4 = (d: Float32Array) => new Uint8Array(d.buffer)
const REDUMP = /transfusion run --force <its activations id>/

const activationCases: CorpusCase[] = [
  {
    reader: "similarity stage (Parquet)", name: "truncated to half", outcome: "error",
    run: async () => { const p = await dump("half.parquet", finite(), (b) => b.subarray(0, b.length >> 1)); await refuses(() => readActivationTable(p), `${p} is not a readable Parquet file`, REDUMP) },
  },
  {
    reader: "similarity stage (Parquet)", name: "footer cut by 4 bytes", outcome: "error",
    run: async () => { const p = await dump("cut.parquet", finite(), (b) => b.subarray(0, b.length - 4)); await refuses(() => readActivationTable(p), `${p} is not a readable Parquet file`, REDUMP) },
  },
  {
    reader: "similarity stage (Parquet)", name: "a float64 neuron column (wrong dtype)", outcome: "error",
    run: async () => { const p = await float64Dump(); await refuses(() => readActivationTable(p), `${p}: column n0000 has type Float64, expected FLOAT (float32)`) },
  },
  {
    reader: "similarity stage (Parquet)", name: "NaN activation", outcome: "error",
    run: async () => { const p = await dump("nan.parquet", withValue(NaN)); await refuses(() => readActivationTable(p), `${p}: column n0001 has NaN at row 7`, /lower its learning rate/, REDUMP) },
  },
  {
    reader: "similarity stage (Parquet)", name: "Infinity activation", outcome: "error",
    run: async () => { const p = await dump("inf.parquet", withValue(-Infinity)); await refuses(() => readActivationTable(p), `${p}: column n0001 has -Infinity at row 7`) },
  },
  {
    reader: "transfusion similarity (Parquet)", name: "truncated to half", outcome: "error",
    run: async () => { const p = await dump("half.parquet", finite(), (b) => b.subarray(0, b.length >> 1)); await refuses(() => readActivationMatrix(p), `${p} is not a readable Parquet file`, /write it again/) },
  },
  {
    reader: "transfusion similarity (Parquet)", name: "NaN activation", outcome: "error",
    run: async () => { const p = await dump("nan.parquet", withValue(NaN)); await refuses(() => readActivationMatrix(p), `${p}: column "n0001" has NaN at datapoint 7`, /drop or impute/) },
  },
  {
    reader: "transfusion similarity (.npy)", name: "data truncated", outcome: "error",
    run: async () => { const p = npyFile("short.npy", npy("<f4", [neurons, rows], f4(finite())).subarray(0, -380)); await refuses(() => readActivationMatrix(p), `${p}: truncated: shape (3, 40) needs 480 data bytes, the file has 100`, /numpy\.save/) },
  },
  {
    reader: "transfusion similarity (.npy)", name: "header truncated", outcome: "error",
    run: async () => { const p = npyFile("head.npy", npy("<f4", [neurons, rows], f4(finite())).subarray(0, 30)); await refuses(() => readActivationMatrix(p), `${p}: truncated NPY header`) },
  },
  {
    reader: "transfusion similarity (.npy)", name: "int64 array (wrong dtype)", outcome: "error",
    run: async () => { const p = npyFile("int.npy", npy("<i8", [neurons, rows], new Uint8Array(neurons * rows * 8))); await refuses(() => readActivationMatrix(p), `${p}: dtype '<i8' is not supported`, /astype\("<f4"\)/) },
  },
  {
    reader: "transfusion similarity (.npy)", name: "NaN activation", outcome: "error",
    run: async () => { const p = npyFile("nan.npy", npy("<f4", [neurons, rows], f4(withValue(NaN)))); await refuses(() => readActivationMatrix(p), `${p}: row 1 (neuron 1) has NaN at datapoint 7`) },
  },
]

// ---- Arrow shards of an ingested split ----

/** An ingested split of 20 images in batches of 4 (one shard), for damaging. */
const ingestedSplit = async () => {
  const root = freshDir("shards")
  mkdirSync(join(root, "train"))
  const rowsCsv = ["image,level"]
  for (let p = 1; p <= 10; p++) for (const e of ["left", "right"]) {
    rowsCsv.push(`${p}_${e},${p % 5}`)
    writeFileSync(join(root, "train", `${p}_${e}.jpeg`), goodJpeg)
  }
  writeFileSync(join(root, "trainLabels.csv"), rowsCsv.join("\n") + "\n")
  const out = join(root, "out")
  await ingest({ format: "eyepacs", root, outDir: out, size: 16, seed: 1, split: { validation: 0, test: 0 }, batchBytes: 16 * 16 * 3 * 4 })
  const shard = join(out, readdirSync(out).find((f) => f.endsWith(".arrow"))!)
  return { out, shard, bytes: readFileSync(shard) }
}
const readAll = async (dir: string) => {
  const set = await openShards(dir, "train")
  try {
    await set.read(Array.from({ length: set.count }, (_, i) => i))
  } finally {
    await set.close()
  }
}
const REINGEST = /transfusion run --force <its ingest id>/
const shardCut = (name: string, cut: (n: number) => number, pattern: RegExp): CorpusCase => ({
  reader: "Arrow shards", name, outcome: "error",
  run: async () => {
    const s = await ingestedSplit()
    writeFileSync(s.shard, s.bytes.subarray(0, cut(s.bytes.length)))
    await refuses(() => readAll(s.out), s.shard, pattern, REINGEST)
  },
})
const manifestEdit = (name: string, text: string, pattern: RegExp): CorpusCase => ({
  reader: "Arrow shards", name, outcome: "error",
  run: async () => {
    const s = await ingestedSplit()
    writeFileSync(join(s.out, "dataset.json"), text)
    await refuses(() => readAll(s.out), join(s.out, "dataset.json"), pattern, REINGEST)
  },
})
const shardCases: CorpusCase[] = [
  shardCut("shard missing its last 10 bytes", (n) => n - 10, /truncated Arrow shard \(\d+ bytes, no ARROW1 magic at the end\)/),
  shardCut("shard cut in half", (n) => n >> 1, /truncated Arrow shard/),
  shardCut("shard cut to 100 bytes", () => 100, /truncated Arrow shard \(100 bytes/),
  shardCut("shard of zero bytes", () => 0, /not an Arrow IPC file \(0 bytes/),
  manifestEdit("dataset.json truncated", '{"splits": {"train": ', /not valid JSON/),
  manifestEdit("dataset.json edited to {}", "{}", /no "splits" object/),
]

// ---- training checkpoints ----

const checkpointWith = async (dir: string, step: number) => {
  await writeTensorFile(checkpointPath(dir, step), [{ name: "model/w", shape: [64], dtype: "float32", data: new Float32Array(64).fill(step) }], { step })
  return checkpointPath(dir, step)
}
/** Cuts a checkpoint inside its tensor data (its 64 floats are the last 256 bytes). */
const truncate = (path: string) => writeFileSync(path, readFileSync(path).subarray(0, -100))
const checkpointCases: CorpusCase[] = [
  {
    reader: "training checkpoint", name: "newest truncated mid-file: resume falls back to the older one", outcome: "skipped",
    run: async () => {
      const dir = freshDir("ck")
      const older = await checkpointWith(dir, 5)
      const newest = await checkpointWith(dir, 10)
      truncate(newest)
      const damaged: string[] = []
      const found = await newestReadableCheckpoint(dir, (p, problem) => damaged.push(`${p}: ${problem}`))
      assert.is(found?.path, older)
      assert.is(damaged.length, 1)
      assert.ok(damaged[0]!.startsWith(`${newest}: `), damaged[0])
      assert.match(damaged[0]!, /runs past the end .*truncated/)
      assert.equal(readdirSync(dir), [older.slice(dir.length + 1)])
    },
  },
  {
    reader: "training checkpoint", name: "the only checkpoint truncated: training starts clean", outcome: "skipped",
    run: async () => {
      const dir = freshDir("ck")
      truncate(await checkpointWith(dir, 10))
      const damaged: string[] = []
      assert.is(await newestReadableCheckpoint(dir, (p) => damaged.push(p)), undefined)
      assert.is(damaged.length, 1)
      assert.equal(readdirSync(dir), [])
    },
  },
]

// ---- config files ----

/** resolveConfig on a file holding `text` must fail with one line naming `where` and the fix. */
const configCase = (name: string, text: string, ...patterns: (RegExp | string)[]): CorpusCase => ({
  reader: "config", name, outcome: "error",
  run: async () => {
    const dir = freshDir("config")
    const file = join(dir, "transfusion.config.json")
    writeFileSync(file, text)
    const message = await refuses(() => resolveConfig("micro", file, dir), file, ...patterns)
    assert.not.match(message, "\n", `more than one line:\n${message}`)
  },
})
const configCases: CorpusCase[] = [
  configCase("a huge step count", JSON.stringify({ finetune: { steps: 1e300 } }), "finetune.steps = 1e+300 is not an integer", "remove it to keep profile micro's 10"),
  configCase("a step count past 2^53", JSON.stringify({ pretrain: { steps: 2 ** 60 } }), /pretrain\.steps = \d+ is not an integer/),
  configCase("a step count past the cap", JSON.stringify({ smallDataSteps: 1e12 }), "smallDataSteps = 1000000000000 is not a step count of at most 10,000,000", "remove it to keep profile micro's 6"),
  configCase("a negative step count", JSON.stringify({ pretrain: { steps: -5 } }), "pretrain.steps = -5 is not a positive number; set it to a positive number"),
  configCase("NaN (not JSON)", '{\n  "finetune": {\n    "learningRate": NaN\n  }\n}', ":3: NaN is not a JSON number; write a finite number there"),
  configCase("a NaN string for a number", JSON.stringify({ finetune: { learningRate: "NaN" } }), 'finetune.learningRate = "NaN" is not a number'),
  configCase("a wrong type deep in a nested key", JSON.stringify({ data: { retina: { source: { labelNoise: "high" } } } }), 'data.retina.source.labelNoise = "high" is not a number', "profile micro's 0.2"),
  configCase("an unknown choice deep in a nested key", JSON.stringify({ data: { chexpert: { uncertainty: { Edema: "U-Maybe" } } } }), 'data.chexpert.uncertainty.Edema = "U-Maybe" is not one of "U-Ignore", "U-Zeros", "U-Ones"'),
  configCase("a misspelt nested key", JSON.stringify({ finetune: { stepz: 3 } }), "finetune.stepz is not a setting of profile micro (known here: steps,", "correct its spelling"),
  configCase("a wrong array element", JSON.stringify({ models: { table1: ["resnet"] } }), 'models.table1[0] = "resnet" is not one of "resnet50"'),
  configCase("a syntax error", '{"seeds": 2,,}', /:1: not valid JSON \(.*position 12\)/),
  {
    reader: "config", name: "transfusion run --config F with a wrong type deep in a nested key: one line, no dump", outcome: "error",
    run: async () => {
      const dir = freshDir("config-cli")
      const file = join(dir, "bad.json")
      writeFileSync(file, JSON.stringify({ micro: { data: { retina: { fit: "stretch" } } } }))
      const r = spawnSync(process.execPath, [join(repo, "bin", "transfusion.mjs"), "run", "--profile", "micro", "--config", file, "--dry-run"], { cwd: dir, encoding: "utf8", timeout: 120_000 })
      const output = `${r.stdout}${r.stderr}`.trim()
      assert.is(r.status, 1, output)
      assert.equal(output.split("\n"), [`transfusion: ${file}: data.retina.fit = "stretch" is not one of "cover", "contain", "fill"; set it to one of "cover", "contain", "fill", or remove it to keep profile micro's "contain"`])
    },
  },
  {
    reader: "config", name: "an unknown profile", outcome: "error",
    run: async () => { await refuses(() => resolveConfig("tiny", undefined, freshDir("config")), 'unknown profile "tiny"; use --profile with one of micro, mini, paper') },
  },
]

// ---- a full store filesystem during a commit ----

const storeCases: CorpusCase[] = [
  {
    reader: "store commit", name: "ENOSPC while writing the manifest: a clear error, nothing committed", outcome: "error",
    run: async () => {
      const mount = freshDir("tmpfs")
      try {
        execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", mount], { stdio: "pipe" })
      } catch (e) {
        return { skippedBecause: `cannot mount a tmpfs here (${String((e as Error).message).split("\n")[0]}); run as root where mount works` }
      }
      try {
        const store = new Store(mount)
        const fp = "0123456789abcdef0123"
        const out = store.makeTempDir(fp)
        writeFileSync(join(out, "log.txt"), "# the stage's log\n")
        // The stage's output takes every block left, so the manifest is what finds no space.
        const { bavail, bsize } = statfsSync(mount)
        writeFileSync(join(out, "weights.bin"), Buffer.alloc(Number(bavail) * Number(bsize)))
        const parts: FingerprintParts = { id: "train/x", kind: "train", params: {}, code: {}, inputs: {}, files: {}, environment: {}, engine: "test" }
        const now = new Date().toISOString()
        const info = { stage: "train/x", kind: "train", fingerprint: fp, parts, result: {}, startedAt: now, finishedAt: now, durationMs: 0 }
        await refuses(() => store.commit(out, info), "cannot commit train/x", "(ENOSPC)", mount, "nothing was committed", "transfusion gc")
        assert.not.ok(store.isComplete("train/x", fp))
        assert.equal(store.artifacts(), [])
        assert.equal(store.verify(), [])
        // Space freed, the same commit goes through.
        rmSync(join(out, "weights.bin"))
        writeFileSync(join(out, "weights.bin"), "w")
        store.commit(out, info)
        assert.ok(store.isComplete("train/x", fp))
        assert.equal(store.verify(), [])
      } finally {
        execFileSync("umount", [mount])
      }
    },
  },
]

// ---- markup in report strings ----

/** Start tags of an HTML document outside its JSON data block, as [name, attributes]. */
const startTags = (html: string): [string, string][] =>
  [...html.replace(/<script type="application\/json" id="report-values">[\s\S]*?<\/script>/, "").matchAll(/<([a-zA-Z][\w-]*)((?:[^>"']|"[^"]*"|'[^']*')*)>/g)].map((m) => [m[1]!.toLowerCase(), m[2]!])

const reportCases: CorpusCase[] = [
  {
    reader: "report", name: "<script> and <img onerror> in a dataset path, a weights file name and a config value", outcome: "escaped",
    run: async () => {
      const pngDir = freshDir("report")
      for (const model of ["resnet50", "cbr-small"]) for (const init of ["random", "transfer"]) for (const when of ["init", "trained"])
        await solid(40, 120, 200).png().toFile(join(pngDir, `${model}-${init}-${when}.png`))
      const base = fullReportData(pngDir)
      const evil = { root: "/data/<script>alert(1)</script>", weights: "/w/<img src=x onerror=alert(2)>.h5", note: "</script><script>alert(3)</script>" }
      const [first, ...rest] = base.runs
      const input = { ...base, overrides: { "data.retina.source.root": evil.root }, runs: [{ ...first!, provenance: { ...first!.provenance, params: evil } }, ...rest] }
      const r = await renderReport(input)
      // Parsed: no element or event handler came from the data, only the renderer's own.
      const tags = startTags(r.html)
      assert.equal(tags.filter(([name]) => name === "script" || name === "iframe"), [], "a script element outside the data block")
      assert.equal(tags.filter(([name, attrs]) => name === "img" && /src="x"|src=x/.test(attrs)), [])
      assert.equal(tags.filter(([, attrs]) => /\son[a-z]+\s*=/i.test(attrs.replace(/"[^"]*"/g, '""'))), [], "an event-handler attribute")
      // The JSON block cannot be closed from inside.
      const block = /<script type="application\/json" id="report-values">([\s\S]*?)<\/script>/.exec(r.html)![1]!
      assert.not.match(block, "</")
      // The strings are shown as text.
      assert.match(r.html, "/data/&lt;script&gt;alert(1)&lt;/script&gt;")
      assert.match(r.html, "&lt;img src=x onerror=alert(2)&gt;")
      // Markdown viewers pass raw HTML through: report.md holds no tag at all (finding 14).
      assert.equal(r.markdown.match(/<[a-z/!][^>]*>/gi) ?? [], [])
      assert.match(r.markdown, "&lt;script&gt;alert(1)&lt;/script&gt;")
    },
  },
]

const corpus: CorpusCase[] = [...imageCases, ...activationCases, ...shardCases, ...checkpointCases, ...configCases, ...storeCases, ...reportCases]

test.before(async () => {
  const raw = new Uint8Array(48 * 48 * 3).map((_, i) => (i * 37) % 256)
  goodJpeg = await sharp(raw, { raw: { width: 48, height: 48, channels: 3 } }).jpeg().toBuffer()
  goodPng = await sharp(raw, { raw: { width: 48, height: 48, channels: 3 } }).png().toBuffer()
})

for (const c of corpus) {
  test(`${c.reader}: ${c.name} (${c.outcome})`, async () => {
    tally.cases++
    try {
      const r = await c.run()
      if (r) {
        tally.notRun++
        console.log(`  not run: ${r.skippedBecause}`)
        return
      }
      tally[c.outcome]++
    } catch (e) {
      tally.crashes++
      throw e
    }
  })
}

test.after(() => {
  rmSync(tmp, { recursive: true, force: true })
  const clear = tally.error + tally.skipped
  console.log(
    `\n  corpus: ${tally.cases} cases / ${clear} clear errors or counted skips (${tally.error} errors, ${tally.skipped} skips), ${tally.decoded} decoded correctly, ${tally.escaped} escaped / ${tally.crashes} crashes` +
      (tally.notRun ? ` (${tally.notRun} not run here)` : ""),
  )
})

test.run()
