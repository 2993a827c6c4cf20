import { test } from "uvu"
import * as assert from "uvu/assert"
import { mkdtemp, rename, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { isAbsolute, join } from "node:path"
import sharp from "sharp"
import { readFile } from "node:fs/promises"
import { readPrintedValuesFromHtml, readValuesFromHtml, renderReport, ReportDataError, writeReportFiles, type RenderedReport } from "../../report/render.ts"
import { mean, meanCI, sampleStd } from "../../report/stats.ts"
import { metricBySeed } from "../../report/select.ts"
import type { ReportData } from "../../report/types.ts"
import { fullReportData } from "./fixtures/full-report-data.ts"
import { data, seeds } from "./fixtures/report-data.ts"

let dir = ""
let input: ReportData
let out: RenderedReport

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), "transfusion-report-"))
  for (const model of ["resnet50", "cbr-small"]) {
    for (const init of ["random", "transfer"]) {
      for (const when of ["init", "trained"]) {
        await sharp({ create: { width: 16, height: 16, channels: 3, background: { r: 40, g: 120, b: 200 } } }).png().toFile(join(dir, `${model}-${init}-${when}.png`))
      }
    }
  }
  input = fullReportData(dir)
  out = await renderReport(input)
  await writeFile(join(dir, "report.html"), out.html)
})

test.after(async () => {
  await rm(dir, { recursive: true, force: true })
})

const section = (html: string, id: string): string => {
  const m = new RegExp(`<section id="${id}">([\\s\\S]*?)</section>`).exec(html)
  assert.ok(m, `section ${id} missing`)
  return m![1]!
}

test("Tables 1-3 exist, print our numbers beside the paper's, and equal the inputs", () => {
  const v = readValuesFromHtml(out.html)
  for (const id of ["table1", "table2", "table3"]) assert.match(section(out.html, id), /<table/)
  const r = metricBySeed(input, { model: "resnet50", init: "random", dataset: "retina", regime: "full" }, "referable-auc")
  assert.is(r.length, 3)
  assert.is(v["table1/resnet50/random/mean"], mean(r))
  assert.is(v["table1/resnet50/random/std"], sampleStd(r))
  // The table's interval is the seed-level t-interval (t_{0.975, 2} = 4.303 for three seeds).
  assert.is(v["table1/resnet50/random/ci-lo"], meanCI(r).lo)
  assert.ok(Math.abs(v["table1/resnet50/random/ci-hi"]! - (mean(r) + (4.302652729911275 * sampleStd(r)) / Math.sqrt(3))) < 1e-9)
  assert.is(v["paper/table1/resnet50/random"], 96.4)
  // The synthetic task's ceiling is printed beside Table 1.
  assert.is(v["ceiling/retina/referable-auc"], 0.9761)
  assert.match(section(out.html, "table1"), /Ceiling of the synthetic retina task \(referable-auc, %\): <span data-key="ceiling\/retina\/referable-auc" data-value="0.9761">97.61<\/span>/)
  assert.is(v["paper/table1/resnet50/imagenet-top5"], 92.0)
  assert.is(v["paper/table1/inception-v3/params"], 22881424)
  assert.is(v["table1/cbr-small/params/table1-convention"], 2108672)
  assert.is(v["table1/resnet50/imagenet-top5/mean"], 0.92)
  // Converged seeds per model and init: ResNet-50's curves all reach the threshold; Inception-v3's runs recorded none.
  assert.is(v["table1/resnet50/random/converged"], 3)
  assert.is(v["table1/resnet50/random/convergence-checked"], 3)
  assert.is(v["table1/inception-v3/random/converged"], undefined)
  assert.match(out.markdown.split("\n").find((l) => l.startsWith("| ResNet-50 |"))!, /\| 3\/3 \| 3\/3 \|/)
  assert.match(section(out.html, "table1"), /Converged seeds: runs whose validation AUC, averaged over 3 consecutive evaluations, reached 91% during training/)
  // Inception-v3's weights are imported (no top-5 of ours): the cell names the file and its hash, beside the paper's 93.9.
  const inceptionRow = out.markdown.split("\n").find((l) => l.startsWith("| Inception-v3 |"))!
  assert.match(inceptionRow, /\| imported weights \(inception_v3_weights_tf_dim_ordering_tf_kernels_notop\.h5, sha256 b5d5b6ffe8a1\) \| 93\.9 \| imported weights/)
  assert.is(v["table1/inception-v3/imagenet-top5/mean"], undefined)
  const ch = input.runs.filter((x) => x.model === "cbr-tiny" && x.init === "transfer" && x.dataset === "chexpert").map((x) => x.metrics.chexpertAuc!.edema!)
  assert.is(v["table2/cbr-tiny/transfer/edema/mean"], mean(ch))
  assert.is(v["paper/table2/cbr-tiny/transfer/edema"], 89.81)
  assert.is(v["paper/table2/cbr-tiny/transfer/edema/pm"], 1.08)
  const small = metricBySeed(input, { model: "cbr-largew", init: "transfer", dataset: "retina", regime: "small-data" }, "referable-auc")
  assert.is(v["table3/cbr-largew/transfer/mean"], mean(small))
  assert.is(v["paper/table3/resnet50/transfer"], 94.6)
  // The printed text is the value in percent with two decimals.
  assert.match(section(out.html, "table1"), `data-key="table1/resnet50/random/mean" data-value="${mean(r)}">${(100 * mean(r)).toFixed(2)}<`)
  assert.match(section(out.html, "table2"), /U-Ones/)
})

test("Figures 2-8 are present: inline SVGs with marks, and Figure 5 PNGs as data: URIs", () => {
  for (const n of [2, 3, 4, 6, 7, 8]) {
    const s = section(out.html, `figure${n}`)
    const svgs = s.match(/<svg[\s\S]*?<\/svg>/g) ?? []
    assert.ok(svgs.length > 0, `figure ${n} has no svg`)
    for (const svg of svgs) {
      assert.ok(svg.length > 1000, `figure ${n} svg is tiny`)
      assert.match(svg, /role-mark/, `figure ${n} svg has no marks`)
      assert.match(svg, /<path|<rect|<line|<circle/, `figure ${n} svg draws nothing`)
    }
    assert.not.match(s, /class="missing"/, `figure ${n} reports missing data`)
  }
  assert.match(section(out.html, "figure2"), /mark-rect/)
  assert.match(section(out.html, "figure4"), /mark-symbol/)
  const f5 = section(out.html, "figure5")
  const imgs = f5.match(/<img [^>]*src="data:image\/png;base64,[A-Za-z0-9+/=]+"/g) ?? []
  assert.is(imgs.length, 8)
})

test("the written report folder is portable: report.md links its own copies of the figures, no absolute paths", async () => {
  const written = await writeReportFiles(input, join(dir, "portable"))
  const moved = join(dir, "moved-report")
  await rename(join(dir, "portable"), moved)
  const md = await readFile(join(moved, "report.md"), "utf8")
  assert.not.ok(md.includes(dir), "report.md names no path outside the report folder")
  const links = [...md.matchAll(/!\[[^\]]*\]\(([^)]+)\)/g)].map((m) => m[1]!)
  assert.is(links.length, 8)
  for (const link of links) {
    assert.not.ok(isAbsolute(link), link)
    const bytes = await readFile(join(moved, link))
    const original = input.figure5!.find((p) => link.endsWith(`${p.model}-${p.dataset}-${p.init}-${p.when}.png`))!
    assert.ok(bytes.equals(await readFile(original.pngPath)), `${link} is the panel's PNG`)
  }
  assert.not.ok((await readFile(join(moved, "report.html"), "utf8")).includes(dir), "report.html embeds its figures")
  assert.ok(written.htmlPath.startsWith(join(dir, "portable")))
})

test("figure numbers read back equal the inputs", () => {
  const v = readValuesFromHtml(out.html)
  const f2 = input.similarity!.figure2[0]!
  assert.is(v["figure2/resnet50/retina/pretrained-vs-random/mean"], mean(f2.pretrainedVsRandom))
  const l = input.similarity!.figure3[0]!.layers[1]!
  assert.is(v["figure3/resnet50/retina/block1/difference"], mean(l.pretrainedInit) - mean(l.randomInit))
  // PWCCA beside the main measure, from the companion entries; absent companion rows print a dash.
  const c2 = input.similarity!.companion!.figure2[0]!
  assert.is(v["figure2/pwcca/resnet50/retina/random-vs-random/mean"], mean(c2.randomVsRandom))
  assert.ok(!("figure2/pwcca/cbr-small/retina/random-vs-random/mean" in v))
  const c3 = input.similarity!.companion!.figure3[0]!.layers[0]!
  assert.is(v["figure3/pwcca/resnet50/retina/block1/difference"], mean(c3.pretrainedInit) - mean(c3.randomInit))
  assert.match(section(out.html, "figure3"), /Pretrained - random \(pwcca\)/)
  assert.match(out.html, /pwcca beside it in Figures 2-3\. Our PWCCA centres/)
  const r2 = v["figure4/resnet50/retina/conv1/random-vs-random/r2"]!
  assert.ok(r2 > 0.8 && r2 <= 1, String(r2))
  assert.equal([v["paper/figure4/r2/0"], v["paper/figure4/r2/1"]], [0.75, 0.84])
  // Eight pairs: the correlation gets its Fisher interval, around r = sqrt(R^2) for a rising line.
  const f4 = "figure4/resnet50/retina/conv1/random-vs-random"
  assert.ok(Math.abs(v[`${f4}/r`]! - Math.sqrt(v[`${f4}/r2`]!)) < 1e-9 && v[`${f4}/r-ci-lo`]! < v[`${f4}/r`]! && v[`${f4}/r-ci-hi`]! <= 1)
  // Steps come from the curves: the fixture's random runs cross 0.91 at 2000..2200.
  const steps = v["figure7/retina/resnet50/random/steps/mean"]!
  assert.ok(steps >= 2000 && steps <= 2200, String(steps))
  assert.ok(v["figure6/chexpert/resnet50/mean-var/steps/mean"]! >= 1200)
  assert.ok("figure8/retina/resnet50-slim/transfusion-block2/steps/mean" in v)
  assert.ok("figure8/retina/cbr-largew/gabor-conv1/final-auc/mean" in v)
})

test("values: returned, embedded JSON, and data-key attributes all agree", () => {
  const json = readValuesFromHtml(out.html)
  const printed = readPrintedValuesFromHtml(out.html)
  assert.equal(json, out.values)
  assert.equal(printed, out.values)
  assert.ok(Object.keys(out.values).length > 300, String(Object.keys(out.values).length))
})

test("claims section has all eleven verdicts, with the synthetic note; provenance and banner present", () => {
  const c = section(out.html, "claims")
  const verdicts = [...c.matchAll(/data-verdict="([^"]+)"/g)].map((m) => m[1])
  assert.is(verdicts.length, 11)
  for (const x of verdicts) assert.ok(["supported", "not supported", "inconclusive"].includes(x!))
  assert.is((c.match(/SYNTHETIC stand-ins/g) ?? []).length, 11)
  assert.match(out.html, /id="synthetic-banner"/)
  const p = section(out.html, "provenance")
  assert.is((p.match(/<tr>/g) ?? []).length, input.runs.length + 1)
  assert.match(p, /U-Zeros/)
  assert.match(p, /Similarity \(svcca\): synthetic data; backend cpu; fingerprint fp-similarity/)
  assert.match(p, /Pretrained Inception-v3: imported weights \(inception_v3_weights_tf_dim_ordering_tf_kernels_notop\.h5, sha256 b5d5b6ffe8a1a0b3e8d1e4b2e5e3c6a1f9d8e7c6b5a4f3e2d1c0b9a8f7e6d5c4\)/)
  assert.match(out.html, /finetune\.lr/)
  assert.match(out.markdown, /SYNTHETIC DATA/)
  assert.match(out.markdown, /### Claim 11/)
  assert.match(out.markdown, /Checkpoint evaluated: best-validation \(each run's weights at its best validation AUC/)
  assert.equal(out.claims.map((x) => x.id), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11])
  assert.match(out.markdown, /\| ResNet-50 \| 96\.\d\d ± /)
})

test("the HTML is self-contained: no http(s) references, no external resources", () => {
  assert.not.match(out.html, /https?:/i)
  assert.not.match(out.html, /<link|<script(?! type="application\/json")|src="(?!data:)/i)
})

test("real data: no banner and no synthetic note", async () => {
  const real = await renderReport(data({ runs: seeds("resnet50", "random", [0.95, 0.96, 0.955]) }))
  assert.not.match(real.html, /synthetic-banner|SYNTHETIC/)
  assert.match(section(real.html, "figure2"), /class="missing"/)
  assert.is(real.values["table1/resnet50/random/n"], 3)
})

test("Tables 1 and 3 count the converged seeds of each model and init (3 consecutive validation points at the threshold)", async () => {
  const curve = (level: number) => [0.5, 0.7, level, level, level].map((value, i) => ({ step: 10 * (i + 1), value }))
  const r = await renderReport(
    data({
      runs: [
        ...seeds("resnet50", "random", [0.8, 0.81, 0.82]).map((x, i) => ({ ...x, curves: { "referable-auc": curve(i === 0 ? 0.95 : 0.85) } })),
        ...seeds("resnet50", "random", [0.8, 0.81, 0.82], { regime: "small-data" }).map((x, i) => ({ ...x, curves: { "referable-auc": curve(i < 2 ? 0.95 : 0.85) } })),
      ],
    }),
  )
  assert.is(r.values["table1/resnet50/random/converged"], 1)
  assert.is(r.values["table1/resnet50/random/convergence-checked"], 3)
  assert.is(r.values["table3/resnet50/random/converged"], 2)
  assert.is(r.values["table1/resnet50/transfer/converged"], undefined)
  assert.match(r.markdown.split("\n").find((l) => l.startsWith("| ResNet-50 |"))!, /\| 1\/3 \| — \|/)
})

test("same input, same report; writeReportFiles writes all three files", async () => {
  const d = data({ runs: [...seeds("cbr-small", "random", [0.95, 0.96, 0.955]), ...seeds("cbr-small", "transfer", [0.951, 0.962, 0.953])] })
  const a = await renderReport(d)
  const written = await writeReportFiles(d, join(dir, "out"))
  assert.is(await readFile(written.htmlPath, "utf8"), a.html)
  assert.is(await readFile(written.markdownPath, "utf8"), a.markdown)
  assert.equal(JSON.parse(await readFile(written.valuesPath, "utf8")), a.values)
  assert.equal(readValuesFromHtml(await readFile(written.htmlPath, "utf8")), a.values)
})

test("markup in a config value, the profile or a metric name is escaped in report.md and report.html", async () => {
  const evil = "/tmp/<img src=x onerror=alert(1)>"
  const r = await renderReport(
    { ...input, profile: "p<script>alert(2)</script>", overrides: { "data.root": evil, "a|b": "x\ny" } },
  )
  for (const [name, doc] of [["markdown", r.markdown], ["html", r.html]] as const) {
    assert.not.ok(doc.includes("<img src=x"), name)
    assert.not.ok(doc.includes("<script>alert"), name)
  }
  assert.match(r.markdown, "&lt;img src=x onerror=alert(1)&gt;")
  assert.match(r.html, "&lt;img src=x onerror=alert(1)&gt;")
  assert.match(r.markdown, "# Transfusion reproduction report (p&lt;script&gt;alert(2)&lt;/script&gt;)")
  // every tag left in the Markdown is one the renderer wrote (none: it writes no HTML)
  assert.equal(r.markdown.match(/<[a-z/!][^>]*>/gi) ?? [], [])
})

test("user errors name the run, the field and the fix", async () => {
  const bad = data({ runs: [...seeds("resnet50", "random", [96.4, 0.9])] })
  try {
    await renderReport(bad)
    assert.unreachable("should throw")
  } catch (e) {
    assert.instance(e, ReportDataError)
    assert.match((e as Error).message, /metrics\.referableAuc = 96\.4; AUCs are fractions in \[0, 1\] \(divide percentages by 100\)/)
  }
  const dup = data({ runs: [...seeds("resnet50", "random", [0.9]), ...seeds("resnet50", "random", [0.91])] })
  await renderReport(dup).then(() => assert.unreachable("should throw"), (e: Error) => assert.match(e.message, /both resnet50\/random\/retina\/full\/seed1/))
  const twice = data({ similarity: { measure: "pwcca", figure2: [], figure4: [], figure3: [
    { model: "resnet50", dataset: "retina", layers: [{ layer: "conv1", randomInit: [0.5], pretrainedInit: [NaN] }] },
    { model: "resnet50", dataset: "retina", layers: [] },
  ] } })
  await renderReport(twice).then(() => assert.unreachable("should throw"), (e: Error) => {
    assert.match(e.message, /2 problem/)
    assert.match(e.message, /similarity\.figure3: two entries for resnet50\/retina/)
    assert.match(e.message, /layer conv1: non-finite similarity/)
  })
  const missingPng = data({ figure5: [{ model: "resnet50", dataset: "retina", init: "random", when: "init", pngPath: join(dir, "nope.png") }] })
  await renderReport(missingPng).then(() => assert.unreachable("should throw"), (e: Error) => assert.match(e.message, /Figure 5 panel resnet50\/retina\/random\/init: cannot read .*nope\.png/))
})

test.run()
