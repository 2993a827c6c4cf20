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

for (const compression of ["uncompressed", "zstd"] as const) {
  test(`DuckDB reads the file (${compression}) with the same values and key-value metadata`, async () => {
    const t = sample(4, 50)
    const path = join(dir, `duckdb-${compression}.parquet`)
    await writeActivationTable(path, t, { compression, rowGroupRows: 20 })
    const instance = await DuckDBInstance.create(":memory:")
    const conn = await instance.connect()
    try {
      const quoted = path.replace(/'/g, "''")
      const rows = (await conn.runAndReadAll(`SELECT * FROM read_parquet('${quoted}')`)).getRowObjectsJS() as Record<string, number>[]
      assert.is(rows.length, 50)
      for (let r = 0; r < 50; r++) {
        for (let n = 0; n < 4; n++) assert.is(Math.fround(rows[r]![neuronColumn(n, 4)]!), t.data[n * 50 + r])
        assert.is(rows[r]!.image, t.image[r])
        assert.is(rows[r]!.x, t.x[r])
      }
      const types = (await conn.runAndReadAll(`SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet('${quoted}'))`)).getRowObjectsJS()
      assert.equal(types.map((c) => `${c.column_name}:${c.column_type}`), ["n0000:FLOAT", "n0001:FLOAT", "n0002:FLOAT", "n0003:FLOAT", "image:INTEGER", "y:INTEGER", "x:INTEGER"])
      const kv = (await conn.runAndReadAll(`SELECT decode(key) AS k, decode(value) AS v FROM parquet_kv_metadata('${quoted}')`)).getRowObjectsJS()
      const meta = Object.fromEntries(kv.map((e) => [String(e.k), String(e.v)]))
      assert.is(meta.layer, "conv1")
      assert.is(meta.seed, "3")
      const groups = (await conn.runAndReadAll(`SELECT count(DISTINCT row_group_id) AS g, min(compression) AS c FROM parquet_metadata('${quoted}')`)).getRowObjectsJS()
      assert.equal([Number(groups[0]!.g), groups[0]!.c], [3, compression.toUpperCase()])
    } finally {
      conn.closeSync()
      instance.closeSync()
    }
  })
}

test("the default writer's pages and row groups (1 MiB pages; 300,000 rows) read the same in DuckDB, hyparquet and our reader", async () => {
  const neurons = 2, rows = 300_000
  const t = { ...sample(neurons, 1), rows, data: new Float32Array(neurons * rows).map((_, i) => Math.fround(Math.sin(i) * 100)), image: new Int32Array(rows).map((_, r) => r >> 4), y: new Int32Array(rows).map((_, r) => (r >> 2) & 3), x: new Int32Array(rows).map((_, r) => r & 3) }
  for (const rowGroupRows of [1 << 20, 70_000]) {
    const path = join(dir, `pages-${rowGroupRows}.parquet`)
    await writeActivationTable(path, t, { rowGroupRows })
    const back = await readActivationTable(path)
    assert.equal(back.data, t.data)
    assert.equal(back.image, t.image)
    assert.equal(back.x, t.x)
    const instance = await DuckDBInstance.create(":memory:")
    const conn = await instance.connect()
    try {
      const got = (await conn.runAndReadAll(`SELECT count(*) AS n, sum(n0001) AS s, sum(image) AS i FROM read_parquet('${path}')`)).getRowObjectsJS()[0]!
      let s = 0, i = 0
      for (let r = 0; r < rows; r++) { s += t.data[rows + r]!; i += t.image[r]! }
      assert.is(Number(got.n), rows)
      assert.ok(Math.abs(Number(got.s) - s) < 1e-6 * rows, `sum ${got.s} vs ${s}`)
      assert.is(Number(got.i), i)
    } finally {
      conn.closeSync()
      instance.closeSync()
    }
    const buf = readFileSync(path)
    const file = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength)
    assert.is(parquetMetadata(file).row_groups.length, Math.ceil(rows / rowGroupRows))
    // Rows around the first page boundary (262,144 values).
    const part = (await parquetReadObjects({ file, rowStart: 262_140, rowEnd: 262_150, columns: ["n0001", "y"] })) as Record<string, number>[]
    part.forEach((row, k) => {
      assert.ok(Object.is(row.n0001, t.data[rows + 262_140 + k]), `row ${262_140 + k}`)
      assert.is(row.y, t.y[262_140 + k])
    })
  }
})

for (const compression of ["uncompressed", "snappy"] as const) {
  test(`columns passed as the same array are each written (${compression})`, async () => {
    // apache-arrow's IPC writer used to emit one body for y and x here, which parquet-wasm could not read.
    const t = sample(2, 10)
    const same = new Int32Array(10).fill(-1)
    const path = join(dir, `same-${compression}.parquet`)
    await writeActivationTable(path, { ...t, y: same, x: same }, { compression })
    const back = await readActivationTable(path)
    assert.equal(Array.from(back.y), Array.from(same))
    assert.equal(Array.from(back.x), Array.from(same))
  })
}

test("an empty table (no rows) round-trips", async () => {
  const path = join(dir, "empty.parquet")
  await writeActivationTable(path, { neurons: 3, rows: 0, data: new Float32Array(0), image: new Int32Array(0), y: new Int32Array(0), x: new Int32Array(0), metadata: { k: "v" } })
  const back = await readActivationTable(path)
  assert.equal([back.neurons, back.rows, back.metadata], [3, 0, { k: "v" }])
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
