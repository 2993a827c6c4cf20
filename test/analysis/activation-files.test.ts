// `transfusion similarity` on the files researchers already have: .npy, .npz and pandas-style
// Parquet written from the CCA fixture give our own layout's numbers; bad files get errors
// that name the file and the column or index.
import { test } from "uvu"
import * as assert from "uvu/assert"
import { execFileSync, spawnSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { deflateRawSync } from "node:zlib"
import { DuckDBInstance } from "@duckdb/node-api"
import { compareActivationFiles, type FileComparison } from "../../analysis/compare.ts"
import { readActivationMatrix } from "../../analysis/activation-files.ts"
import { writeActivationTable } from "../../analysis/parquet.ts"
import { closeAnalysisWorkers } from "../../analysis/pool.ts"
import { fixtureDir } from "./helpers.ts"

const repo = resolve(import.meta.dirname, "../..")
const dir = mkdtempSync(join(tmpdir(), "transfusion-actfiles-"))
const fixture = fixtureDir("cca")
const shapes = JSON.parse(readFileSync(join(fixture, "shapes.json"), "utf8")) as Record<"acts1" | "acts2", { shape: [number, number] }>
const load = (name: "acts1" | "acts2") => {
  const buf = readFileSync(join(fixture, `${name}.f32`))
  const [neurons, datapoints] = shapes[name].shape
  return { data: new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength)), neurons, datapoints }
}
const x1 = load("acts1"), x2 = load("acts2")
const m = x1.datapoints

/** An NPY v1 file as numpy.save writes it (header padded to a multiple of 64 bytes). */
const npy = (values: ArrayLike<number>, shape: readonly number[], descr: string, fortranOrder = false): Buffer => {
  let header = `{'descr': '${descr}', 'fortran_order': ${fortranOrder ? "True" : "False"}, 'shape': (${shape.join(", ")}${shape.length === 1 ? "," : ""}), }`
  header += " ".repeat(63 - ((10 + header.length) % 64)) + "\n"
  const itemSize = descr.endsWith("8") ? 8 : 4
  const body = Buffer.alloc(values.length * itemSize)
  for (let i = 0; i < values.length; i++) {
    if (descr === "<f8") body.writeDoubleLE(values[i]!, i * 8)
    else if (descr === "<f4") body.writeFloatLE(values[i]!, i * 4)
    else if (descr === ">f4") body.writeFloatBE(values[i]!, i * 4)
    else body.writeInt32LE(values[i]!, i * 4)
  }
  const pre = Buffer.alloc(10)
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]).copy(pre)
  pre.writeUInt16LE(header.length, 8)
  return Buffer.concat([pre, Buffer.from(header, "latin1"), body])
}

const crcTable = Array.from({ length: 256 }, (_, n) => {
  let c = n
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
  return c >>> 0
})
const crc32 = (b: Buffer) => {
  let c = 0xffffffff
  for (const byte of b) c = crcTable[(c ^ byte) & 0xff]! ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}
/** A zip of .npy entries as numpy.savez (stored) or savez_compressed (deflated) writes it. */
const npz = (arrays: Record<string, Buffer>, deflate: boolean): Buffer => {
  const locals: Buffer[] = [], centrals: Buffer[] = []
  let offset = 0
  for (const [key, content] of Object.entries(arrays)) {
    const name = Buffer.from(`${key}.npy`), data = deflate ? deflateRawSync(content) : content
    const local = Buffer.alloc(30)
    local.writeUInt32LE(0x04034b50, 0); local.writeUInt16LE(20, 4); local.writeUInt16LE(deflate ? 8 : 0, 8)
    local.writeUInt32LE(crc32(content), 14); local.writeUInt32LE(data.length, 18); local.writeUInt32LE(content.length, 22); local.writeUInt16LE(name.length, 26)
    const central = Buffer.alloc(46)
    central.writeUInt32LE(0x02014b50, 0); central.writeUInt16LE(20, 4); central.writeUInt16LE(20, 6); central.writeUInt16LE(deflate ? 8 : 0, 10)
    central.writeUInt32LE(crc32(content), 16); central.writeUInt32LE(data.length, 20); central.writeUInt32LE(content.length, 24); central.writeUInt16LE(name.length, 28)
    central.writeUInt32LE(offset, 42)
    locals.push(local, name, data)
    centrals.push(central, name)
    offset += 30 + name.length + data.length
  }
  const cd = Buffer.concat(centrals), end = Buffer.alloc(22)
  end.writeUInt32LE(0x06054b50, 0); end.writeUInt16LE(Object.keys(arrays).length, 8); end.writeUInt16LE(Object.keys(arrays).length, 10)
  end.writeUInt32LE(cd.length, 12); end.writeUInt32LE(offset, 16)
  return Buffer.concat([...locals, cd, end])
}

const transpose = (x: { data: Float32Array; neurons: number; datapoints: number }) => {
  const t = new Float32Array(x.data.length)
  for (let n = 0; n < x.neurons; n++) for (let r = 0; r < x.datapoints; r++) t[r * x.neurons + n] = x.data[n * x.datapoints + r]!
  return t
}
const positions = () => ({ image: new Int32Array(m).map((_, r) => r), y: new Int32Array(m).fill(-1), x: new Int32Array(m).fill(-1) })
const at = (name: string) => join(dir, name)

const similarityJson = (a: string, b: string, ...flags: string[]): FileComparison => {
  const r = spawnSync(process.execPath, [join(repo, "bin", "transfusion.mjs"), "similarity", a, b, "--json", ...flags], { cwd: repo, encoding: "utf8" })
  assert.is(r.status, 0, `similarity ${a} ${b} ${flags.join(" ")}:\n${r.stdout}\n${r.stderr}`)
  return JSON.parse(r.stdout) as FileComparison
}
const assertSame = (got: FileComparison, want: FileComparison, what: string) => {
  for (const k of ["cca_mean", "svcca", "pwcca", "cka"] as const) assert.ok(Math.abs(got[k] - want[k]) < 1e-6, `${what}: ${k} ${got[k]} vs our layout's ${want[k]}`)
  assert.equal([got.neuronsA, got.neuronsB, got.rows], [want.neuronsA, want.neuronsB, want.rows], what)
}

let ours: FileComparison
test.before(async () => {
  await writeActivationTable(at("ours1.parquet"), { neurons: x1.neurons, rows: m, data: x1.data, ...positions(), metadata: {} })
  await writeActivationTable(at("ours2.parquet"), { neurons: x2.neurons, rows: m, data: x2.data, ...positions(), metadata: {} })
  ours = await compareActivationFiles(at("ours1.parquet"), at("ours2.parquet"))
  writeFileSync(at("c1.npy"), npy(x1.data, [x1.neurons, m], "<f4"))
  writeFileSync(at("c2.npy"), npy(x2.data, [x2.neurons, m], "<f4"))
  // Fortran order of a neurons x datapoints array is the datapoints x neurons array in C order.
  writeFileSync(at("f2.npy"), npy(transpose(x2), [x2.neurons, m], "<f8", true))
  writeFileSync(at("t1.npy"), npy(transpose(x1), [m, x1.neurons], "<f4"))
  writeFileSync(at("t2.npy"), npy(transpose(x2), [m, x2.neurons], "<f8"))
  writeFileSync(at("stored.npz"), npz({ acts: npy(x1.data, [x1.neurons, m], "<f4") }, false))
  writeFileSync(at("deflated.npz"), npz({ acts: npy(x2.data, [x2.neurons, m], "<f8"), labels: npy([1, 2], [2], "<i4") }, true))
  // pandas-style Parquet written by DuckDB: float64 columns with their own names, no image/y/x;
  // and float32 columns with int64 image/y/x, as pandas writes an int column.
  const instance = await DuckDBInstance.create(":memory:")
  const conn = await instance.connect()
  try {
    const cols = (n: number, cast: string, name: (i: number) => string) => Array.from({ length: n }, (_, i) => `n${String(i).padStart(4, "0")}::${cast} AS "${name(i)}"`).join(", ")
    await conn.run(`COPY (SELECT ${cols(x1.neurons, "DOUBLE", (i) => `conv1 unit ${i}`)} FROM read_parquet('${at("ours1.parquet")}')) TO '${at("pandas1.parquet")}' (FORMAT parquet)`)
    await conn.run(`COPY (SELECT ${cols(x2.neurons, "FLOAT", (i) => `f${i}`)}, image::BIGINT AS image, y::BIGINT AS y, x::BIGINT AS x FROM read_parquet('${at("ours2.parquet")}')) TO '${at("pandas2.parquet")}' (FORMAT parquet)`)
    await conn.run(`COPY (SELECT n0000::DOUBLE AS a, 'x' AS label FROM read_parquet('${at("ours2.parquet")}')) TO '${at("strings.parquet")}' (FORMAT parquet)`)
    await conn.run(`COPY (SELECT CASE WHEN image = 17 THEN 'Infinity'::DOUBLE ELSE n0001::DOUBLE END AS "unit 1", n0000::DOUBLE AS "unit 0" FROM read_parquet('${at("ours2.parquet")}')) TO '${at("inf.parquet")}' (FORMAT parquet)`)
    await conn.run(`COPY (SELECT n0000::DOUBLE AS a FROM read_parquet('${at("ours2.parquet")}') WHERE false) TO '${at("norows.parquet")}' (FORMAT parquet)`)
    await conn.run(`COPY (SELECT n0000 AS a, image, y, (x + (image = 5)::INT) AS x FROM read_parquet('${at("ours2.parquet")}')) TO '${at("moved.parquet")}' (FORMAT parquet)`)
  } finally {
    conn.closeSync()
    instance.closeSync()
  }
})

test("similarity --json on .npy (C and Fortran order, f4 and f8), .npz (stored, deflated) and pandas-style Parquet equals our layout's numbers to 1e-6", () => {
  assertSame(similarityJson(at("c1.npy"), at("c2.npy")), ours, "C-order <f4 .npy")
  assertSame(similarityJson(at("c1.npy"), at("f2.npy")), ours, "Fortran-order <f8 .npy")
  assertSame(similarityJson(at("t1.npy"), at("t2.npy"), "--datapoints-first"), ours, "datapoints x neurons .npy with --datapoints-first")
  assertSame(similarityJson(at("stored.npz"), at("deflated.npz"), "--npz-key", "acts"), ours, ".npz stored and deflated")
  assertSame(similarityJson(at("pandas1.parquet"), at("pandas2.parquet")), ours, "pandas-style Parquet")
  assertSame(similarityJson(at("pandas1.parquet"), at("c2.npy")), ours, "Parquet against .npy")
})

const rejects = async (a: string, b: string, pattern: RegExp, options = {}) =>
  compareActivationFiles(a, b, options).then(
    () => assert.unreachable(`${a} vs ${b} should be refused`),
    (e: Error) => assert.match(e.message, pattern),
  )

test("bad files are refused naming the file and the column or index", async () => {
  writeFileSync(at("int.npy"), npy([1, 2, 3, 4], [2, 2], "<i4"))
  writeFileSync(at("big.npy"), npy([1, 2, 3, 4], [2, 2], ">f4"))
  writeFileSync(at("empty.npy"), Buffer.alloc(0))
  writeFileSync(at("zero.npy"), npy([], [0, 5], "<f4"))
  writeFileSync(at("cube.npy"), npy(new Float32Array(8), [2, 2, 2], "<f4"))
  const nan = x2.data.slice()
  nan[3 * m + 42] = NaN
  writeFileSync(at("nan.npy"), npy(nan, [x2.neurons, m], "<f4"))
  writeFileSync(at("short.npy"), npy(x2.data.subarray(0, x2.neurons * 500), [x2.neurons, 500], "<f4"))
  await rejects(at("int.npy"), at("c2.npy"), /int\.npy: dtype '<i4' is not supported; save a little-endian float32 or float64/)
  await rejects(at("big.npy"), at("c2.npy"), /big\.npy: dtype '>f4'/)
  await rejects(at("empty.npy"), at("c2.npy"), /empty\.npy is empty \(0 bytes\)/)
  await rejects(at("zero.npy"), at("c2.npy"), /zero\.npy: the array is empty \(shape \(0, 5\)\)/)
  await rejects(at("cube.npy"), at("c2.npy"), /cube\.npy: the array has shape \(2, 2, 2\); similarity needs a 2-D/)
  await rejects(at("c1.npy"), at("nan.npy"), /nan\.npy: row 3 \(neuron 3\) has NaN at datapoint 42/)
  await rejects(at("c1.npy"), at("short.npy"), /c1\.npy \(64 neurons x 10000 datapoints\) with .*short\.npy \(48 neurons x 500 datapoints\).*--datapoints-first/)
  await rejects(at("deflated.npz"), at("c1.npy"), /deflated\.npz: the \.npz holds 2 arrays \(acts, labels\); pick one with --npz-key NAME/)
  await rejects(at("stored.npz"), at("c1.npy"), /stored\.npz: no array "nope" in the \.npz \(it holds acts\)/, { npzKey: "nope" })
  await rejects(at("c1.npy"), at("deflated.npz"), /deflated\.npz\[labels\]: dtype '<i4' is not supported/, { npzKey: "labels" })
  await rejects(at("c1.npy"), at("strings.parquet"), /strings\.parquet: column "label" has type Utf8; activation columns must be float32 or float64/)
  await rejects(at("c1.npy"), at("inf.parquet"), /inf\.parquet: column "unit 1" has Infinity at datapoint 17/)
  await rejects(at("c1.npy"), at("norows.parquet"), /norows\.parquet: the table has no rows/)
  await rejects(at("ours2.parquet"), at("moved.parquet"), /row 5 is \(image 5, y -1, x -1\) in the first but \(image 5, y -1, x 0\) in the second/)
  writeFileSync(at("acts.txt"), "1 2 3")
  await rejects(at("acts.txt"), at("c1.npy"), /acts\.txt: unknown activation file type; use \.parquet/)
})

const hasNumpy = spawnSync("python3", ["-c", "import numpy"]).status === 0
test("files that numpy itself writes (np.save, np.savez, np.savez_compressed, Fortran order) read as the fixture", async () => {
  if (!hasNumpy) return console.log("  skipped: python3 with numpy is not installed (the format tests above use files written to the NPY spec)")
  const py = `import numpy as np, sys
d = sys.argv[1]
a = np.fromfile(sys.argv[2], dtype="<f4").reshape(${x2.neurons}, ${m})
np.save(d + "/np.npy", np.asfortranarray(a.astype("<f8")))
np.savez(d + "/np.npz", acts=a)
np.savez_compressed(d + "/npc.npz", acts=a.T.copy())`
  execFileSync("python3", ["-c", py, dir, join(fixture, "acts2.f32")])
  for (const [file, options] of [["np.npy", {}], ["np.npz", {}], ["npc.npz", { datapointsFirst: true }]] as const) {
    const got = await readActivationMatrix(at(file), options)
    assert.equal([got.neurons, got.datapoints], [x2.neurons, m], file)
    for (let i = 0; i < got.data.length; i++) if (got.data[i] !== x2.data[i]) assert.unreachable(`${file}: value ${i} is ${got.data[i]}, the fixture's is ${x2.data[i]}`)
  }
})

test.after(async () => {
  await closeAnalysisWorkers()
  rmSync(dir, { recursive: true, force: true })
})

test.run()
