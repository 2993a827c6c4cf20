// No import cycles among the project's modules, type-only imports included (a cycle of
// types still means two modules that cannot be read, or moved, one without the other).
// Imports are read by TypeScript's own pre-processor (comments and strings are no imports).
// By hand: node --import tsx test/run.ts repo/import-cycles
import { test } from "uvu"
import * as assert from "uvu/assert"
import { readdirSync, readFileSync, statSync } from "node:fs"
import { dirname, join, relative, resolve } from "node:path"
import ts from "typescript"

const root = resolve(import.meta.dirname, "../..")
const folders = ["pipeline", "stages", "models", "ml", "analysis", "data", "lib", "report", "bench", "test", "main.ts"]
const skip = new Set(["node_modules", "synthetic", "real", "fixtures"])

const sources = (path: string): string[] =>
  statSync(path).isDirectory()
    ? readdirSync(path).sort().flatMap((name) => (skip.has(name) ? [] : sources(join(path, name))))
    : /\.(m?ts)$/.test(path) && !path.endsWith(".d.mts")
      ? [path]
      : []

/** Strongly connected components with more than one module (or a self-import): the cycles. */
const cyclesOf = (graph: ReadonlyMap<string, readonly string[]>): string[][] => {
  let index = 0
  const idx = new Map<string, number>(), low = new Map<string, number>(), stack: string[] = [], on = new Set<string>()
  const out: string[][] = []
  const visit = (v: string): void => {
    idx.set(v, index), low.set(v, index++), stack.push(v), on.add(v)
    for (const w of graph.get(v) ?? []) {
      if (!idx.has(w)) visit(w), low.set(v, Math.min(low.get(v)!, low.get(w)!))
      else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!))
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = []
      for (let w = stack.pop()!; ; w = stack.pop()!) {
        on.delete(w), scc.push(w)
        if (w === v) break
      }
      if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) out.push(scc.sort())
    }
  }
  for (const v of graph.keys()) if (!idx.has(v)) visit(v)
  return out
}

test("the project's modules import each other without cycles", () => {
  const files = folders.flatMap((f) => sources(join(root, f)))
  const graph = new Map<string, string[]>()
  for (const file of files) {
    const imports = ts.preProcessFile(readFileSync(file, "utf8"), true, true).importedFiles.map((f) => f.fileName)
    const local = imports.filter((s) => s.startsWith("./") || s.startsWith("../")).map((s) => relative(root, resolve(dirname(file), s)))
    graph.set(relative(root, file), local)
  }
  assert.ok(graph.size > 100, `${graph.size} modules read`)
  assert.equal(cyclesOf(graph), [])
})

test("the cycle finder finds a cycle through a type-only import", () => {
  assert.equal(cyclesOf(new Map([["a", ["b"]], ["b", ["c"]], ["c", ["a"]], ["d", ["a"]]])), [["a", "b", "c"]])
})

test.run()
