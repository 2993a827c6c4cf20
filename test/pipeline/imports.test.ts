// The code-hash import scanner (pipeline/imports.ts) sees what the bundler sees; structural
// and report verbs read no declared dataset file.
import { test } from "uvu"
import * as assert from "uvu/assert"
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, existsSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { ImportScanner, scanImports } from "../../pipeline/imports.ts"
import { CodeHasher } from "../../pipeline/fingerprint.ts"
import { openSession, planGraph } from "../../pipeline/cli/session.ts"
import { Workspace } from "./workspace.ts"

const source = `// import { commented } from "./commented.ts"
/* import "./block.ts"
   export * from "./block2.ts" */
import type { T } from "./types.ts"
import { value } from "./value.ts"
export { other } from "./reexport.ts"
const text = "import './in-string.ts'"
const worker = new URL("./worker.ts", import.meta.url)
const later = () => import("./dynamic.ts")
export const use = (t: T) => [value, worker, later, text, t]
`

test("imports: static, re-export, dynamic import() and a new URL(..., import.meta.url) worker; not comments, strings or type-only imports", () => {
  const found = scanImports(source, "/x/a.ts").map((i) => `${i.kind} ${i.specifier}`).sort()
  assert.equal(found, ["dynamic-import ./dynamic.ts", "import-statement ./reexport.ts", "import-statement ./value.ts", "worker-url ./worker.ts"])
})

test("imports: a syntax error names the file and line", () => {
  assert.throws(() => scanImports("const a = 1\nimport {", "/x/broken.ts"), /\/x\/broken\.ts:2:/)
})

test("code hash: the closure follows a worker URL and a dynamic import, and skips a commented import; unchanged sources are not parsed again", () => {
  const dir = mkdtempSync(join(tmpdir(), "transfusion-imports-"))
  try {
    writeFileSync(join(dir, "kind.ts"), `// import "./ghost.ts" (a comment, not an import)\nexport const w = new URL("./worker.ts", import.meta.url)\nexport const d = () => import("./dynamic.ts")\n`)
    writeFileSync(join(dir, "worker.ts"), `import { helper } from "./helper.ts"\nhelper()\n`)
    writeFileSync(join(dir, "dynamic.ts"), `export const x = 1\n`)
    writeFileSync(join(dir, "helper.ts"), `export const helper = () => 1\n`)
    const cache = join(dir, "cache", "code-imports.json")
    const first = new ImportScanner(cache)
    const code = new CodeHasher(dir, [], first).codeOf(join(dir, "kind.ts"))
    assert.equal(Object.keys(code), ["dynamic.ts", "helper.ts", "kind.ts", "worker.ts"])
    assert.is(first.parsed, 4)
    first.save()
    const second = new ImportScanner(cache)
    assert.equal(new CodeHasher(dir, [], second).codeOf(join(dir, "kind.ts")), code)
    assert.is(second.parsed, 0)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

const noArgs = { profile: Option.none(), config: Option.none(), store: Option.none() }

test("dag plans without reading declared files; status uses recorded file hashes; run reads them", async () => {
  const w = new Workspace()
  try {
    const project = await w.load()
    await w.run()
    w.takeRuns()
    // The declared file changes (now a folder): reading it would give another fingerprint.
    rmSync(join(w.root, "offset.txt"))
    mkdirSync(join(w.root, "offset.txt"))
    writeFileSync(join(w.root, "offset.txt", "unreadable"), "")
    rmSync(join(w.root, "artifacts", ".cache", "file-hashes.json"), { force: true })
    const { graph } = await Effect.runPromise(planGraph(project, noArgs))
    assert.is(graph.nodes.length, 5)
    const status = await Effect.runPromise(openSession(project, noArgs, () => {}, { files: "recorded" }))
    assert.ok(status.store.isComplete("source", status.fps.get("source")!.fingerprint), "status sees the recorded file hash")
    assert.not.ok(existsSync(join(w.root, "artifacts", ".cache", "file-hashes.json")), "no file hashed")
    const run = await Effect.runPromise(openSession(project, noArgs, () => {}))
    assert.is.not(run.fps.get("source")!.fingerprint, status.fps.get("source")!.fingerprint)
  } finally {
    w.dispose()
  }
})

test.run()
