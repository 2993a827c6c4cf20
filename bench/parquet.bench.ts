// Activation-table write throughput (target >= 20 M floats/s) of analysis/parquet.ts:
// its default writer (uncompressed PLAIN pages written straight from the activation
// matrix) against its parquet-wasm path with snappy (the default before; zstd is slower
// still) and parquetjs-lite's row-at-a-time writer (the design's original choice). The
// writers alternate within each case so they see the same machine load; medians of the
// repetitions and the best run are printed, with the load average (2 shared cores).
import { mkdtempSync, rmSync } from "node:fs"
import { availableParallelism, loadavg, tmpdir } from "node:os"
import { join } from "node:path"
import { createRequire } from "node:module"
import { Rng } from "../lib/random.ts"
import { neuronColumn, readActivationTable, writeActivationTable, type WriteOptions } from "../analysis/parquet.ts"
import { median } from "./median.ts"

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
  const target = 20e6
  const reps = 5
  try {
    const writers: [string, WriteOptions][] = [
      ["default (uncompressed, plain writer)", {}],
      ["parquet-wasm snappy", { compression: "snappy" }],
    ]
    for (const [neurons, rows] of [[64, 50_000], [256, 100_000]] as const) {
      const t = table(neurons, rows)
      const floats = neurons * rows
      const load0 = loadavg()[0]!
      const times = writers.map(() => [] as number[])
      const sizes = writers.map(() => 0)
      const reads: number[] = []
      for (const [w, [, options]] of writers.entries()) await writeActivationTable(join(dir, `w${w}.parquet`), t, options) // warm-up (wasm instantiation, JIT)
      for (let rep = 0; rep < reps; rep++) {
        const order = rep % 2 === 0 ? writers.map((_, w) => w) : writers.map((_, w) => writers.length - 1 - w)
        for (const w of order) {
          const path = join(dir, `w${w}.parquet`)
          const t0 = performance.now()
          sizes[w] = (await writeActivationTable(path, t, writers[w]![1])).bytes
          times[w]!.push((performance.now() - t0) / 1000)
        }
        const t1 = performance.now()
        await readActivationTable(join(dir, "w0.parquet"))
        reads.push((performance.now() - t1) / 1000)
      }
      const load1 = loadavg()[0]!
      const rate = (s: number): string => `${(floats / s / 1e6).toFixed(1)} M floats/s`
      for (const [w, [name]] of writers.entries()) {
        const m = median(times[w]!)
        console.log(
          `${name} ${neurons} x ${rows}: write median ${m.toFixed(3)} s = ${rate(m)} (${(floats / m / target).toFixed(2)}x of the 20 M/s target: ${floats / m >= target ? "met" : "NOT met"}; ` +
            `best ${rate(Math.min(...times[w]!))}), ${(sizes[w]! / 1e6).toFixed(1)} MB` +
            (w === 0 ? `; read median ${rate(median(reads))}` : `; default writer ${(median(times[w]!.map((s, i) => s / times[0]![i]!))).toFixed(1)}x faster (median of paired runs)`),
        )
      }
      console.log(`  (${reps} alternating runs per writer, load average ${load0.toFixed(1)} -> ${load1.toFixed(1)} on ${availableParallelism()} cores)`)
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
