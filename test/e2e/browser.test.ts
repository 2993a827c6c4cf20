// The micro run's report.html in a real browser (headless Chromium, Debian's `chromium`,
// installed by .ci/run): no console error or exception, every chart figure has an SVG
// with marks, every image loaded, no table is empty, and the first screen is not blank.
import { test } from "uvu"
import * as assert from "uvu/assert"
import { realpathSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import sharp from "sharp"
import { findChromium, inspectPage } from "./chromium.ts"
import { localMicroWork as work, sharedLocalMicro } from "./project.ts"

// Evaluated in the page: what a reader would see missing.
const probe = `(() => {
  const sections = [...document.querySelectorAll("section[id^=figure]")]
  return {
    figures: sections.map((s) => ({
      id: s.id,
      svgs: s.querySelectorAll("svg").length,
      marks: s.querySelectorAll("svg path, svg rect, svg line, svg circle, svg text").length,
      svgArea: Math.max(0, ...[...s.querySelectorAll("svg")].map((g) => g.getBoundingClientRect().width * g.getBoundingClientRect().height)),
      images: [...s.querySelectorAll("img")].map((i) => i.complete && i.naturalWidth > 0),
    })),
    tables: [...document.querySelectorAll("table")].map((t, i) => ({
      name: t.id || t.closest("section")?.id || "table " + i,
      rows: t.querySelectorAll("tbody tr").length || Math.max(0, t.querySelectorAll("tr").length - 1),
      filled: [...t.querySelectorAll("td")].filter((c) => c.textContent.trim() !== "").length,
    })),
    title: document.title,
  }
})()`

const chromium = findChromium()
const skip = "  skipped: no Chromium found (set $CHROMIUM or install Debian's `chromium`; .ci/run installs it when run as root)"

test("the browser check sees console errors, exceptions and a blank page", async () => {
  if (!chromium) return console.log(skip)
  const page = join(work, "broken.html")
  writeFileSync(page, `<!DOCTYPE html><title>t</title><script>console.error("bad figure"); null.x</script>`)
  const r = await inspectPage(chromium, pathToFileURL(page).href, "document.title")
  assert.is(r.evaluated, "t")
  assert.is(r.errors.length, 2, r.errors.join("\n"))
  assert.match(r.errors[0]!, /console\.error: bad figure/)
  assert.match(r.errors[1]!, /exception: TypeError/)
  const { channels } = await sharp(r.screenshot).stats()
  assert.ok(Math.max(...channels.slice(0, 3).map((c) => c.stdev)) < 1, "an empty page screenshots flat")
})

test("report.html renders in headless Chromium: no console errors, every figure drawn, no empty table, a non-blank first screen", async () => {
  if (!chromium) return console.log(skip)
  const r = sharedLocalMicro()
  assert.is(r.code, 0, r.out.slice(-3000))
  const html = realpathSync(join(work, "artifacts", "report", "index.html"))
  const page = await inspectPage(chromium, pathToFileURL(html).href, probe)
  assert.equal(page.errors, [], `console errors:\n${page.errors.join("\n")}`)
  const seen = page.evaluated as {
    figures: { id: string; svgs: number; marks: number; svgArea: number; images: boolean[] }[]
    tables: { name: string; rows: number; filled: number }[]
    title: string
  }
  assert.match(seen.title, /Transfusion/)
  const ids = seen.figures.map((f) => f.id)
  for (let n = 2; n <= 8; n++) assert.ok(ids.includes(`figure${n}`), `figure${n} is in the page (found ${ids.join(", ")})`)
  for (const f of seen.figures) {
    // Figure 5 shows PNG filter panels; every other figure is a chart.
    if (f.id === "figure5") {
      assert.is(f.images.length, 8, "Figure 5 has its eight filter panels")
      assert.ok(f.images.every(Boolean), "every Figure 5 image decoded")
      continue
    }
    assert.ok(f.svgs >= 1, `${f.id} has no SVG`)
    assert.ok(f.marks > 10 && f.svgArea > 10_000, `${f.id}: the SVG draws nothing visible (${f.marks} marks, ${f.svgArea.toFixed(0)} px²)`)
    assert.ok(f.images.every(Boolean), `${f.id}: an image did not load`)
  }
  assert.ok(seen.tables.length >= 3, `${seen.tables.length} tables`)
  for (const t of seen.tables) assert.ok(t.rows > 0 && t.filled > 0, `table ${t.name} is empty`)
  // The first screen: not one flat colour (a blank or failed render).
  const shot = join(work, "report-first-screen.png")
  writeFileSync(shot, page.screenshot)
  const { channels } = await sharp(page.screenshot).stats()
  const { width, height } = await sharp(page.screenshot).metadata()
  assert.equal([width, height], [1280, 900], "the screenshot is the first screen")
  const spread = Math.max(...channels.slice(0, 3).map((c) => c.stdev))
  assert.ok(spread > 10, `the first screen looks blank (largest channel stdev ${spread.toFixed(2)}); screenshot ${shot}`)
  const { data } = await sharp(page.screenshot).removeAlpha().raw().toBuffer({ resolveWithObject: true })
  const colours = new Set<number>()
  for (let i = 0; i < data.length && colours.size < 50; i += 3) colours.add((data[i]! << 16) | (data[i + 1]! << 8) | data[i + 2]!)
  assert.ok(colours.size >= 10, `the first screen has only ${colours.size} colours; screenshot ${shot}`)
})

test.run()
