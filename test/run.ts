// Runs every uvu suite under test/ in one process and ends with the plain
// "N passed, N failed" line that CI reads. `npm test -- <substring>` narrows the files.
import { readdirSync, statSync } from "node:fs"
import { join, relative, resolve } from "node:path"
import { pathToFileURL } from "node:url"

const root = resolve(import.meta.dirname)
const filter = process.argv.slice(2)

const walk = (dir: string): string[] =>
  readdirSync(dir).sort().flatMap((name) => {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) return name === "fixtures" ? [] : walk(path)
    return name.endsWith(".test.ts") ? [path] : []
  })

const files = walk(root).filter((f) => filter.length === 0 || filter.some((s) => relative(root, f).includes(s)))
if (files.length === 0) {
  console.error(`no test files match ${JSON.stringify(filter)}`)
  process.exit(1)
}

const g = globalThis as unknown as { UVU_DEFER: number; UVU_INDEX: number; UVU_QUEUE: unknown[][] }
g.UVU_DEFER = 1
const uvu = await import("uvu")
let captured = ""
// Each failing suite's report, printed again beside the summary: CI keeps only the log's
// tail, which a failure in an early suite would otherwise be scrolled out of.
const failures: string[] = []
let currentFile = ""
const write = process.stdout.write.bind(process.stdout)
process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
  const text = typeof chunk === "string" ? chunk : Buffer.from(chunk).toString()
  captured += text
  const plainText = text.replace(/\x1b\[[0-9;]*m/g, "")
  if (/\.test\.ts\s*$/.test(plainText.trim())) currentFile = plainText.trim()
  else if (/^\n\s+FAIL\s/.test(plainText)) failures.push(`${currentFile}:${plainText.length > 6000 ? `${plainText.slice(0, 6000)}\n    [${plainText.length - 6000} more characters]\n` : plainText}`)
  if (captured.length > 100_000) captured = captured.slice(-10_000)
  return (write as (...a: unknown[]) => boolean)(chunk, ...rest)
}) as typeof process.stdout.write

for (const [i, file] of files.entries()) {
  g.UVU_INDEX = i
  g.UVU_QUEUE.push([relative(root, file)])
  await import(pathToFileURL(file).href)
}
await (uvu as unknown as { exec: (bail?: boolean) => Promise<void> }).exec(false)
process.stdout.write = write
const plain = captured.replace(/\x1b\[[0-9;]*m/g, "")
const total = Number(/Total:\s+(\d+)/.exec(plain)?.[1] ?? 0)
const passed = Number(/Passed:\s+(\d+)/.exec(plain)?.[1] ?? 0)
const skipped = Number(/Skipped:\s+(\d+)/.exec(plain)?.[1] ?? 0)
if (failures.length) console.log(`\nFailures, again:\n${failures.join("\n")}`)
console.log(`\n${passed} passed, ${total - passed - skipped} failed, ${skipped} skipped`)
if (total === 0 || passed + skipped < total) process.exitCode = 1
