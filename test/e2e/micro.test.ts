// The whole paper at toy scale (profile micro), end to end, in a copy of the project:
// the report holds Tables 1-3, Figures 2-8 and the claims, its numbers equal the
// artifacts', a second run reruns nothing, and an edit to the SVCCA code makes exactly
// the similarity stages and the report stale.
import { test } from "uvu"
import * as assert from "uvu/assert"
import { appendFileSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { DuckDBInstance } from "@duckdb/node-api"
import { readPrintedValuesFromHtml, readValuesFromHtml } from "../../report/render.ts"
import { cli as cliIn, localMicroWork as work, sharedLocalMicro } from "./project.ts"

// The run is shared with the other e2e suites (the Slurm one compares its artifacts to it).
const cli = (...args: string[]) => cliIn(work, ...args)
const manifestResult = (id: string): Record<string, unknown> => JSON.parse(cli("show", id, "--json", "--profile", "micro").out) as Record<string, unknown>

test("micro runs end to end and writes the report", () => {
  const r = sharedLocalMicro()
  assert.is(r.code, 0, r.out.slice(-4000))
  assert.match(r.out, /0 failed, 0 not run/)
  assert.match(r.out, /artifacts\/report\/index\.html/)
})

test("the report holds Tables 1-3, Figures 2-8 and the claims, with a synthetic-data banner", () => {
  const html = readFileSync(join(work, "artifacts", "report", "index.html"), "utf8")
  for (const t of ["Table 1", "Table 2", "Table 3"]) assert.ok(html.includes(t), t)
  for (let f = 2; f <= 8; f++) assert.match(html, new RegExp(`Figure ${f}\\b`), `Figure ${f}`)
  assert.ok(html.includes('id="synthetic-banner"'))
  const claims = [...html.matchAll(/data-verdict="([^"]+)"/g)].map((m) => m[1])
  assert.is(claims.length, 11)
  for (const v of claims) assert.ok(["supported", "not supported", "inconclusive"].includes(v!), v)
  assert.ok((html.match(/<svg/g) ?? []).length >= 6, "figures are inline SVG")
  assert.not.match(html, /https?:\/\//, "self-contained")
})

test("the report's numbers are the artifacts' numbers", () => {
  const html = readFileSync(join(work, "artifacts", "report", "index.html"), "utf8")
  const values = readValuesFromHtml(html)
  const printed = readPrintedValuesFromHtml(html)
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length
  for (const arch of ["cbr-tiny", "cbr-larget", "resnet50"] as const) {
    for (const init of ["random", "transfer"]) {
      const aucs = [1, 2].map((s) => (manifestResult(`finetune/retina/${arch}/${init}/seed${s}`).test as Record<string, number>).auc!)
      const k = `table1/${arch}/${init}/mean`
      assert.ok(Math.abs(values[k]! - mean(aucs)) < 1e-9, `${k}: report ${values[k]} vs artifacts ${mean(aucs)}`)
      assert.ok(k in printed, `${k} is printed in the HTML`)
    }
  }
  const top5 = (manifestResult("pretrain/cbr-small").test as Record<string, number>).top5!
  assert.ok(Math.abs(values["table1/cbr-small/imagenet-top5/mean"]! - top5) < 1e-9)
})

test("results --format csv/parquet: one row per training stage, and its test AUCs average to the report's values.json (DuckDB)", async () => {
  const csv = join(work, "results.csv"), parquet = join(work, "results.parquet")
  for (const [format, path] of [["csv", csv], ["parquet", parquet]]) {
    const r = cli("results", "--profile", "micro", "--format", format, "--output", path)
    assert.is(r.code, 0, r.out)
  }
  const stages = (JSON.parse(cli("status", "--profile", "micro", "--json").out) as { stages: { id: string; kind: string }[] }).stages
  const training = stages.filter((s) => s.kind === "finetune" || s.kind === "pretrain").map((s) => s.id).sort()
  const reportDir = join(work, "artifacts", "report", readFileSync(join(work, "artifacts", "report", "latest"), "utf8").trim())
  const values = JSON.parse(readFileSync(join(reportDir, "values.json"), "utf8")) as Record<string, number>
  const instance = await DuckDBInstance.create(":memory:")
  const conn = await instance.connect()
  try {
    for (const from of [`read_csv('${csv}')`, `read_parquet('${parquet}')`]) {
      const q = async (sql: string) => (await conn.runAndReadAll(sql.replaceAll("FROM t", `FROM ${from}`))).getRowObjectsJS() as Record<string, unknown>[]
      assert.equal((await q("SELECT stage FROM t ORDER BY stage")).map((r) => r.stage), training, `${from}: one row per training stage`)
      assert.equal(await q("SELECT count(*)::INT AS n FROM t WHERE state <> 'fresh'"), [{ n: 0 }])
      let checked = 0
      const near = (got: unknown, k: string) => {
        assert.ok(k in values, `${k} in values.json`)
        assert.ok(Math.abs(Number(got) - values[k]!) < 1e-9, `${from} ${k}: results ${got} vs report ${values[k]}`)
        checked++
      }
      // Table 1 (RETINA, full data) and Table 3 (small data): mean test AUC over seeds.
      for (const r of await q(`SELECT model, init, trainSplit, avg("test.auc") AS auc FROM t WHERE dataset = 'retina' AND init IN ('random', 'transfer') AND model <> 'resnet50-slim' GROUP BY ALL`))
        if (r.trainSplit === "train" || `table3/${String(r.model)}/${r.init}/mean` in values) near(r.auc, `${r.trainSplit === "train" ? "table1" : "table3"}/${String(r.model)}/${r.init}/mean`)
      // Table 2 (CheXpert): mean test AUC per pathology.
      for (const r of await q(`SELECT model, init, avg("test.auc/Atelectasis") AS a, avg("test.auc/Pleural Effusion") AS p FROM t WHERE dataset = 'chexpert' AND init IN ('random', 'transfer') GROUP BY ALL`)) {
        near(r.a, `table2/${String(r.model)}/${r.init}/atelectasis/mean`)
        near(r.p, `table2/${String(r.model)}/${r.init}/pleural-effusion/mean`)
      }
      for (const r of await q(`SELECT model, avg("imagenet.top5") AS top5 FROM t WHERE dataset = 'imagenet' GROUP BY ALL`)) near(r.top5, `table1/${String(r.model)}/imagenet-top5/mean`)
      assert.ok(checked >= 12 + 6 + 20, `${from}: ${checked} values compared`)
    }
  } finally {
    conn.closeSync()
    instance.closeSync()
  }
})

test("a second run reruns nothing", () => {
  const r = cli("run", "--profile", "micro")
  assert.is(r.code, 0, r.out)
  assert.match(r.out, /0 ran, \d+ fresh, 0 failed/)
})

test("editing the SVCCA code makes exactly the similarity stages and the report stale", () => {
  const cca = join(work, "analysis", "cca.ts")
  const original = readFileSync(cca, "utf8")
  appendFileSync(cca, "\n// an edit\n")
  const r = cli("status", "--profile", "micro", "--json")
  writeFileSync(cca, original) // the copy is shared: leave it as the run saw it
  const stale = (JSON.parse(r.out) as { stages: { id: string; state: string; reasons: string[] }[] }).stages.filter((s) => s.state !== "fresh")
  assert.equal(stale.map((s) => s.id).sort(), [...["cbr-larget", "cbr-largew", "cbr-small", "cbr-tiny", "inception-v3", "resnet50"].map((a) => `similarity/retina/${a}`), "report"].sort())
  assert.ok(stale.find((s) => s.id === "similarity/retina/cbr-tiny")!.reasons.includes("code analysis/cca.ts changed"))
})

test.run()
