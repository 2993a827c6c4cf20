import { test } from "uvu"
import * as assert from "uvu/assert"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { parquetMetadata, parquetReadObjects } from "hyparquet"
import { DuckDBInstance } from "@duckdb/node-api"
import { Rng } from "../../lib/random.ts"
import { neuronColumn, readActivationTable, writeActivationTable } from "../../analysis/parquet.ts"

const dir = mkdtempSync(join(tmpdir(), "transfusion-parquet-"))

const sample = (neurons: number, rows: number) => {
  const rng = new Rng(`parquet-${neurons}-${rows}`)
  const data = new Float32Array(neurons * rows).map(() => rng.normal())
  data[0] = -0 // edge values survive the trip
  data[1] = 3.4028234663852886e38
  data[2] = 1.401298464324817e-45
  const image = new Int32Array(rows).map((_, r) => Math.floor(r / 7))
  const y = new Int32Array(rows).map((_, r) => r % 7)
  const x = new Int32Array(rows).map((_, r) => (r * 3) % 5)
  return { neurons, rows, data, image, y, x, metadata: { model: "cbr-tiny", init: "random", seed: 3, step: 1200, layer: "conv1", reduction: "subsample" } }
}

test("an activation table round-trips through our reader bit for bit", async () => {
  const t = sample(12, 300)
  const path = join(dir, "roundtrip.parquet")
  const { bytes } = await writeActivationTable(path, t)
  assert.ok(bytes > 12 * 300 * 4 * 0.5)
  const back = await readActivationTable(path)
  assert.is(back.neurons, 12)
  assert.is(back.rows, 300)
  assert.equal(Array.from(back.data), Array.from(t.data))
  assert.ok(Object.is(back.data[0], -0))
  assert.equal(Array.from(back.image), Array.from(t.image))
  assert.equal(Array.from(back.y), Array.from(t.y))
  assert.equal(Array.from(back.x), Array.from(t.x))
  assert.equal(back.metadata, { model: "cbr-tiny", init: "random", seed: "3", step: "1200", layer: "conv1", reduction: "subsample" })
})

for (const compression of ["uncompressed", "snappy"] as const) {
  test(`hyparquet (an independent reader) sees the same columns, types, values and metadata (${compression})`, async () => {
    const t = sample(5, 64)
    const path = join(dir, `hyparquet-${compression}.parquet`)
    await writeActivationTable(path, t, { compression, rowGroupRows: 25 }) // several row groups
    const buf = readFileSync(path)
    const file = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength)
    const meta = parquetMetadata(file)
    const kv = Object.fromEntries((meta.key_value_metadata ?? []).map((e) => [e.key, e.value]))
    assert.is(kv.model, "cbr-tiny")
    assert.is(kv.step, "1200")
    const types = Object.fromEntries(meta.schema.slice(1).map((s) => [s.name, s.type]))
    assert.equal(types, { n0000: "FLOAT", n0001: "FLOAT", n0002: "FLOAT", n0003: "FLOAT", n0004: "FLOAT", image: "INT32", y: "INT32", x: "INT32" })
    assert.is(meta.row_groups.length, 3)
    const rows = (await parquetReadObjects({ file })) as Record<string, number>[]
    assert.is(rows.length, 64)
    for (let r = 0; r < 64; r++) {
      for (let n = 0; n < 5; n++) assert.ok(Object.is(rows[r]![neuronColumn(n, 5)], t.data[n * 64 + r]), `row ${r} neuron ${n}`)
      assert.is(rows[r]!.image, t.image[r])
      assert.is(rows[r]!.y, t.y[r])
      assert.is(rows[r]!.x, t.x[r])
    }
  })
}

test("DuckDB reads the file (zstd-compressed) with the same values and key-value metadata", async () => {
  const t = sample(4, 50)
  const path = join(dir, "duckdb.parquet")
  await writeActivationTable(path, t, { compression: "zstd" })
  const instance = await DuckDBInstance.create(":memory:")
  const conn = await instance.connect()
  try {
    const quoted = path.replace(/'/g, "''")
    const rows = (await conn.runAndReadAll(`SELECT * FROM read_parquet('${quoted}')`)).getRowObjectsJS() as Record<string, number>[]
    assert.is(rows.length, 50)
    for (let r = 0; r < 50; r++) {
      for (let n = 0; n < 4; n++) assert.is(Math.fround(rows[r]![neuronColumn(n, 4)]!), t.data[n * 50 + r])
      assert.is(rows[r]!.image, t.image[r])
    }
    const types = (await conn.runAndReadAll(`SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet('${quoted}'))`)).getRowObjectsJS()
    assert.equal(types.map((c) => `${c.column_name}:${c.column_type}`), ["n0000:FLOAT", "n0001:FLOAT", "n0002:FLOAT", "n0003:FLOAT", "image:INTEGER", "y:INTEGER", "x:INTEGER"])
    const kv = (await conn.runAndReadAll(`SELECT decode(key) AS k, decode(value) AS v FROM parquet_kv_metadata('${quoted}')`)).getRowObjectsJS()
    const meta = Object.fromEntries(kv.map((e) => [String(e.k), String(e.v)]))
    assert.is(meta.layer, "conv1")
    assert.is(meta.seed, "3")
  } finally {
    conn.closeSync()
    instance.closeSync()
  }
})

test("readActivationTable names the file and the problem for foreign files", async () => {
  const notParquet = join(dir, "bad.parquet")
  writeFileSync(notParquet, "hello")
  await readActivationTable(notParquet).then(
    () => assert.unreachable("should have failed"),
    (e: Error) => assert.match(e.message, /bad\.parquet is not a readable Parquet file/),
  )
  await readActivationTable(join(dir, "missing.parquet")).then(
    () => assert.unreachable("should have failed"),
    (e: Error) => assert.match(e.message, /cannot read activation table .*missing\.parquet/),
  )
  await writeActivationTable(join(dir, "short.parquet"), { ...sample(2, 3), y: new Int32Array(2) }).then(
    () => assert.unreachable("should have failed"),
    (e: Error) => assert.match(e.message, /column y has 2 values, expected one per row \(3\)/),
  )
})

test.after(() => rmSync(dir, { recursive: true, force: true }))

test.run()
