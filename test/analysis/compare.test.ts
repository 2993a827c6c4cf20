import { test } from "uvu"
import * as assert from "uvu/assert"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Rng } from "../../lib/random.ts"
import { compareActivationFiles, formatFileComparison } from "../../analysis/compare.ts"
import { similarities } from "../../analysis/cca.ts"
import { writeActivationTable } from "../../analysis/parquet.ts"

const dir = mkdtempSync(join(tmpdir(), "transfusion-compare-"))

const layer = (rng: Rng, shared: Float32Array, neurons: number, rows: number) => {
  const data = new Float32Array(neurons * rows)
  for (let n = 0; n < neurons; n++) for (let r = 0; r < rows; r++) data[n * rows + r] = (n % 3 === 0 ? shared[r]! : 0) + rng.normal()
  const image = new Int32Array(rows).map((_, r) => r >> 4), y = new Int32Array(rows).map((_, r) => (r >> 2) & 3), x = new Int32Array(rows).map((_, r) => r & 3)
  return { neurons, rows, data, image, y, x, metadata: { model: "m", init: "random", seed: 1, step: 0 } }
}

test("compareActivationFiles gives the same numbers as the in-memory measures", async () => {
  const rng = new Rng("compare")
  const rows = 640
  const shared = new Float32Array(rows).map(() => rng.normal())
  const a = layer(rng.fork("a"), shared, 12, rows), b = layer(rng.fork("b"), shared, 9, rows)
  await writeActivationTable(join(dir, "a.parquet"), a)
  await writeActivationTable(join(dir, "b.parquet"), b)
  const got = await compareActivationFiles(join(dir, "a.parquet"), join(dir, "b.parquet"))
  const want = await similarities({ data: a.data, neurons: 12, datapoints: rows }, { data: b.data, neurons: 9, datapoints: rows })
  assert.is(got.rows, rows)
  assert.is(got.neuronsA, 12)
  assert.is(got.neuronsB, 9)
  assert.is(got.cca_mean, want.cca.mean)
  assert.is(got.svcca, want.svcca.mean)
  assert.is(got.pwcca, want.pwcca.pwcca)
  assert.is(got.cka, want.cka)
  assert.ok(got.cca_mean > 0.1 && got.cka > 0.05, "the shared signal should show")
  assert.equal(got.warnings, []) // 640 rows for 12 neurons
  const text = formatFileComparison(got, "a.parquet", "b.parquet")
  assert.match(text, /a\.parquet \(12 neurons\) vs b\.parquet \(9 neurons\) over 640 datapoints/)
  assert.match(text, new RegExp(`PWCCA +${got.pwcca.toFixed(4)}`))
})

test("files with different rows are refused, naming both files and their row counts or the first differing row", async () => {
  const rng = new Rng("compare-bad")
  const shared = new Float32Array(64).map(() => rng.normal())
  await writeActivationTable(join(dir, "c.parquet"), layer(rng, shared, 3, 64))
  await writeActivationTable(join(dir, "d.parquet"), layer(rng, shared.subarray(0, 48), 3, 48))
  const few = await compareActivationFiles(join(dir, "c.parquet"), join(dir, "c.parquet"))
  assert.equal(few.warnings, []) // 64 rows for 3 neurons
  await writeActivationTable(join(dir, "wide.parquet"), layer(rng, shared, 8, 64))
  assert.match((await compareActivationFiles(join(dir, "wide.parquet"), join(dir, "c.parquet"))).warnings[0] ?? "", /only 8\.0 datapoints per neuron/)
  await compareActivationFiles(join(dir, "c.parquet"), join(dir, "d.parquet")).then(
    () => assert.unreachable(),
    (e: Error) => assert.match(e.message, /c\.parquet \(3 neurons x 64 datapoints\) with .*d\.parquet \(3 neurons x 48 datapoints\)/),
  )
  const moved = layer(rng, shared, 3, 64)
  moved.x[10] = 3 - moved.x[10]!
  await writeActivationTable(join(dir, "e.parquet"), moved)
  await compareActivationFiles(join(dir, "c.parquet"), join(dir, "e.parquet")).then(
    () => assert.unreachable(),
    (e: Error) => assert.match(e.message, /row 10 is \(image 0, y 2, x 2\) in the first but \(image 0, y 2, x 1\)/),
  )
})

test.after(() => rmSync(dir, { recursive: true, force: true }))

test.run()
