// `npm run bench [-- name ...]`: runs each bench/*.bench.ts (its default export) in turn.
// Benchmarks print measured numbers and ratios to their targets; they never assert timings.
import { readdirSync } from "node:fs"
import { join, resolve } from "node:path"
import { pathToFileURL } from "node:url"
import { cpus } from "node:os"

const dir = resolve(import.meta.dirname)
const filter = process.argv.slice(2)
const files = readdirSync(dir)
  .filter((f) => f.endsWith(".bench.ts"))
  .filter((f) => filter.length === 0 || filter.some((s) => f.includes(s)))
  .sort()
console.log(`bench on ${cpus().length} x ${cpus()[0]?.model ?? "unknown cpu"}, node ${process.version}`)
for (const file of files) {
  console.log(`\n== ${file.replace(/\.bench\.ts$/, "")}`)
  const mod = (await import(pathToFileURL(join(dir, file)).href)) as { default: () => Promise<void> }
  await mod.default()
}
