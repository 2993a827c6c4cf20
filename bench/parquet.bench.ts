// Activation-table write throughput (target >= 20 M floats/s): parquet-wasm through
// analysis/parquet.ts against parquetjs-lite's row-at-a-time writer (the design's
// original choice; ~0.22 M floats/s measured earlier).
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { createRequire } from "node:module"
import { Rng } from "../lib/random.ts"
import { neuronColumn, readActivationTable, writeActivationTable } from "../analysis/parquet.ts"

interface ParquetJsWriter { appendRow(row: Record<string, number>): Promise<void>; close(): Promise<void> }
interface ParquetJs {
  ParquetSchema: new (fields: Record<string, { type: string }>) => unknown
  ParquetWriter: { openFile(schema: unknown, path: string): Promise<ParquetJsWriter> }
}

const table = (neurons: number, rows: number) => {
  const rng = new Rng(`parquet-bench-${neurons}-${rows}`)
  const data = new Float32Array(neurons * rows)
  for (let i = 0; i < data.length; i++) data[i] = rng.normal()
  return { neurons, rows, data, image: new Int32Array(rows).map((_, r) => r >> 6), y: new Int32Array(rows).map((_, r) => (r >> 3) & 7), x: new Int32Array(rows).map((_, r) => r & 7), metadata: { bench: "1" } }
}

export default async function (): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "transfusion-parquet-bench-"))
  try {
    const target = 20e6
    for (const [neurons, rows] of [[64, 50_000], [256, 100_000]] as const) {
      const t = table(neurons, rows)
      const floats = neurons * rows
      for (const compression of ["uncompressed", "snappy"] as const) {
        const path = join(dir, `w-${neurons}-${compression}.parquet`)
        await writeActivationTable(path, t, { compression }) // warm-up (wasm instantiation, JIT)
        const writes: number[] = [], reads: number[] = []
        let bytes = 0
        for (let rep = 0; rep < 3; rep++) {
          const t0 = performance.now()
          bytes = (await writeActivationTable(path, t, { compression })).bytes
          writes.push((performance.now() - t0) / 1000)
          const t1 = performance.now()
          await readActivationTable(path)
          reads.push((performance.now() - t1) / 1000)
        }
        writes.sort((a, b) => a - b)
        reads.sort((a, b) => a - b)
        const [best, median] = [writes[0]!, writes[1]!]
        console.log(
          `parquet-wasm ${compression} ${neurons} x ${rows}: write median ${median.toFixed(3)} s = ${(floats / median / 1e6).toFixed(1)} M floats/s ` +
            `(${(floats / median / target).toFixed(2)}x of the 20 M/s target; best ${(floats / best / 1e6).toFixed(1)} M/s), ${(bytes / 1e6).toFixed(1)} MB; ` +
            `read median ${(floats / reads[1]! / 1e6).toFixed(1)} M floats/s`,
        )
      }
    }
    // parquetjs-lite: row objects, one appendRow per datapoint.
    const parquetjs = createRequire(import.meta.url)("parquetjs-lite") as ParquetJs
    const neurons = 64, rows = 5_000
    const t = table(neurons, rows)
    const fields: Record<string, { type: string }> = {}
    for (let n = 0; n < neurons; n++) fields[neuronColumn(n, neurons)] = { type: "FLOAT" }
    fields.image = fields.y = fields.x = { type: "INT32" }
    const t0 = performance.now()
    const writer = await parquetjs.ParquetWriter.openFile(new parquetjs.ParquetSchema(fields), join(dir, "parquetjs.parquet"))
    for (let r = 0; r < rows; r++) {
      const row: Record<string, number> = { image: t.image[r]!, y: t.y[r]!, x: t.x[r]! }
      for (let n = 0; n < neurons; n++) row[neuronColumn(n, neurons)] = t.data[n * rows + r]!
      await writer.appendRow(row)
    }
    await writer.close()
    const s = (performance.now() - t0) / 1000
    console.log(`parquetjs-lite ${neurons} x ${rows}: write ${s.toFixed(3)} s = ${((neurons * rows) / s / 1e6).toFixed(2)} M floats/s (${((neurons * rows) / s / target).toFixed(3)}x of target)`)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
