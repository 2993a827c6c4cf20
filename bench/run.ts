// `npm run bench [-- name ... --option value ...]`: runs each bench/*.bench.ts (its default
// export, given the options) in turn, e.g. `npm run bench -- training --backend webgpu`.
// Benchmarks print measured numbers and ratios to their targets; they never assert timings.
import { readdirSync } from "node:fs"
import { join, resolve } from "node:path"
import { pathToFileURL } from "node:url"
import { cpus } from "node:os"

const dir = resolve(import.meta.dirname)
const args = process.argv.slice(2)
const filter: string[] = []
const options: Record<string, string> = {}
for (let i = 0; i < args.length; i++) {
  const a = args[i]!
  if (!a.startsWith("--")) filter.push(a)
  else if (args[i + 1] === undefined || args[i + 1]!.startsWith("--")) throw new Error(`bench: option ${a} needs a value`)
  else options[a.slice(2)] = args[++i]!
}
const files = readdirSync(dir)
  .filter((f) => f.endsWith(".bench.ts"))
  .filter((f) => filter.length === 0 || filter.some((s) => f.includes(s)))
  .sort()
console.log(`bench on ${cpus().length} x ${cpus()[0]?.model ?? "unknown cpu"}, node ${process.version}`)
for (const file of files) {
  console.log(`\n== ${file.replace(/\.bench\.ts$/, "")}`)
  const mod = (await import(pathToFileURL(join(dir, file)).href)) as { default: (options: Record<string, string>) => Promise<void> }
  await mod.default(options)
}
