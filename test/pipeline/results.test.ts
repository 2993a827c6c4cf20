// `results` and `diff` on the toy graph: one row per artifact with the params that differ
// and every numeric result; a param change marks rows stale until rerun; `diff` shows the old
// and new param and the metric change; csv and parquet load in DuckDB with the same values.
import { test } from "uvu"
import * as assert from "uvu/assert"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { DuckDBInstance } from "@duckdb/node-api"
import { diffArtifacts, resultsTable, storedVersions, toCsv, toTextTable } from "../../pipeline/results.ts"
import { Workspace } from "./workspace.ts"

const w = new Workspace({ n: 3, scale: 1 })

const table = async () => {
  const s = await w.session()
  return resultsTable(s.store, s.graph.nodes.map((n) => s.fps.get(n.id)!), {})
}

const cli = async (args: string[]) => {
  const c = w.cli(args)
  const code = await c.done
  assert.is(code, 0, `${args.join(" ")}:\n${c.output()}`)
  return c.output()
}

test("results: one row per artifact, the params that differ, every numeric result; unrun stages are counted, not rows", async () => {
  let t = await table()
  assert.equal(t.rows, [])
  assert.equal(t.notRun, ["source", "square/0", "square/1", "square/2", "sum"])
  await w.run()
  t = await table()
  assert.equal(t.rows.map((r) => r.stage), ["source", "square/0", "square/1", "square/2", "sum"])
  // n (source only) and i differ between rows; scale, fail, slowMs are the same wherever present... but absent elsewhere.
  assert.ok(t.columns.includes("i") && t.columns.includes("n"), t.columns.join(","))
  assert.equal(t.columns.slice(0, 2), ["stage", "state"])
  assert.equal(t.columns.slice(-2), ["fingerprint", "wall_s"])
  const sq1 = t.rows.find((r) => r.stage === "square/1")!
  assert.is(sq1.state, "fresh")
  assert.is(sq1.value, 121)
  assert.is(sq1.i, 1)
  assert.is(t.rows.find((r) => r.stage === "sum")!.total, 100 + 121 + 144)
  assert.is(t.rows.find((r) => r.stage === "sum")!.value, null)
  assert.not.ok(t.columns.includes("values"), "arrays are not metrics")
  const text = toTextTable(t, 200)
  assert.match(text, /^stage +state/)
  assert.match(text, /square\/1 +fresh/)
  const narrow = toTextTable(t, 30)
  assert.ok(narrow.split("\n").slice(0, -1).every((l) => l.length <= 30 || l.startsWith("square") || l.startsWith("source")), narrow)
  assert.match(narrow, /more columns: .*--format csv\/json\/parquet has them all/)
})

test("a param change marks the rows stale (not hidden) until rerun; diff shows the param and metric change", async () => {
  w.setConfig({ n: 3, scale: 2, fail: [], slowMs: 0 })
  let t = await table()
  assert.equal(t.rows.filter((r) => r.state === "stale").map((r) => r.stage), ["square/0", "square/1", "square/2", "sum"])
  assert.is(t.rows.find((r) => r.stage === "square/1")!.value, 121, "a stale row shows the older artifact's numbers")
  await w.run()
  t = await table()
  assert.ok(t.rows.every((r) => r.state === "fresh"))
  assert.is(t.rows.find((r) => r.stage === "square/1")!.value, 242)
  const s = await w.session()
  const versions = storedVersions(s.store, "square/1")
  assert.is(versions.length, 2)
  const d = diffArtifacts({}, versions[1]!, versions[0]!)
  assert.equal(d.params, [{ name: "scale", old: 1, new: 2, change: 1 }])
  assert.equal(d.metrics, [{ name: "value", old: 121, new: 242, change: 121 }])
  assert.equal(d.code, [])
  const out = await cli(["diff", "square/1"])
  assert.match(out, /square\/1: [0-9a-f]{20} \(.*\) -> [0-9a-f]{20}/)
  assert.match(out, /scale +1 +2/)
  assert.match(out, /value +121 +242 +\+121/)
  const sumDiff = await cli(["diff", "sum", "--json"])
  assert.equal((JSON.parse(sumDiff) as { metrics: unknown }).metrics, [{ name: "total", old: 365, new: 730, change: 365 }])
  assert.match((JSON.parse(sumDiff) as { inputs: string[] }).inputs.join(","), /s0,s1,s2/)
  const back = await cli(["diff", "square/1", "--against", versions[0]!.fingerprint.slice(0, 8)])
  assert.match(back, /value +242 +242 +0/, "against itself: nothing changed")
  const none = w.cli(["diff", "source"])
  assert.is(await none.done, 1)
  assert.match(none.output(), /source has only one stored version .*: nothing to compare with/)
})

test("results --format csv and parquet load in DuckDB with the table's values", async () => {
  const csvPath = join(w.root, "results.csv"), pqPath = join(w.root, "results.parquet")
  const csv = await cli(["results", "--format", "csv"])
  assert.is(csv.split("\n")[0], (await table()).columns.join(","))
  await cli(["results", "--format", "csv", "--output", csvPath])
  await cli(["results", "--format", "parquet", "--output", pqPath])
  assert.is(toCsv(await table()).split("\n").length, 7, "header, five rows, final newline")
  const jsonPath = join(w.root, "results.json")
  await cli(["results", "--format", "json", "--output", jsonPath])
  const json = JSON.parse(readFileSync(jsonPath, "utf8")) as Record<string, unknown>[]
  assert.equal(json.map((r) => [r.stage, r.value ?? r.total ?? null]), [["source", null], ["square/0", 200], ["square/1", 242], ["square/2", 288], ["sum", 730]])
  const refused = w.cli(["results", "--format", "parquet"])
  assert.is(await refused.done, 1)
  assert.match(refused.output(), /--format parquet writes a binary file: name it with --output FILE/)
  const instance = await DuckDBInstance.create(":memory:")
  const conn = await instance.connect()
  try {
    for (const from of [`read_csv('${csvPath}')`, `read_parquet('${pqPath}')`]) {
      const rows = (await conn.runAndReadAll(`SELECT stage, state, "value", total, scale, wall_s FROM ${from} ORDER BY stage`)).getRowObjectsJS()
      assert.equal(rows.map((r) => r.stage), ["source", "square/0", "square/1", "square/2", "sum"], from)
      assert.equal(rows.map((r) => (r.value === null ? null : Number(r.value))), [null, 200, 242, 288, null], from)
      assert.is(Number(rows[4]!.total), 730, from)
      assert.ok(rows.every((r) => r.state === "fresh" && Number(r.wall_s) >= 0), from)
    }
  } finally {
    conn.closeSync()
    instance.closeSync()
  }
})

test.after(() => w.dispose())

test.run()
