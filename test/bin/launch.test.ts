// The launcher (bin/launch.mjs): CLI processes run a cached bundle of the entry. An
// edited source must always run as edited (inline and in worker processes), whatever the
// edit does to timestamps; an unchanged tree must not rebuild; concurrent starts, a
// missing cache folder and old builds are handled. The toy CLI starts exactly as
// bin/transfusion.mjs does.
import { test } from "uvu"
import * as assert from "uvu/assert"
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs"
import { hostname } from "node:os"
import { join } from "node:path"
import { Workspace } from "../pipeline/workspace.ts"

const cacheRoot = (w: Workspace) => join(w.root, ".launch-cache")
const readCurrent = (dir: string) => {
  try {
    return JSON.parse(readFileSync(join(dir, "current.json"), "utf8")) as { build: string; entry: string }
  } catch {
    return undefined
  }
}
/** The toy entry's cache folder, the build its current.json names, and all builds kept. */
const cache = (w: Workspace) => {
  const entry = join(w.root, "toy", "main.ts")
  const dirs = readdirSync(cacheRoot(w)).map((k) => join(cacheRoot(w), k)).filter((d) => readCurrent(d)?.entry === entry)
  assert.is(dirs.length, 1, dirs.join(","))
  const dir = dirs[0]!
  return { dir, build: readCurrent(dir)!.build, builds: readdirSync(dir).filter((n) => n.startsWith("b-")).sort() }
}

const cli = async (w: Workspace, args: string[], env: Record<string, string> = {}) => {
  const c = w.cli(args, env)
  const code = await c.done
  assert.is(code, 0, `${args.join(" ")}:\n${c.output()}`)
  return c.output()
}
const total = async (w: Workspace) => Number(/"total":\s*(-?\d+)/.exec(await cli(w, ["show", "sum", "--json"]))?.[1])

/** Replaces text in a toy source file (asserting it was there). */
const change = (w: Workspace, file: string, from: string, to: string) => {
  const path = join(w.root, "toy", file)
  const text = readFileSync(path, "utf8")
  assert.ok(text.includes(from), `${file} contains ${from}`)
  writeFileSync(path, text.replace(from, to))
}

test("the CLI runs a stage's edited code, inline and in worker processes; fingerprints are the engine's", async () => {
  const w = new Workspace({ n: 2 })
  try {
    await cli(w, ["run"])
    assert.is(await total(w), 10 ** 2 + 11 ** 2)
    // The bundled CLI computes the same fingerprints as the engine in this process.
    const s = await w.session()
    for (const id of ["source", "square/0", "square/1", "sum"]) assert.ok(s.store.isComplete(id, s.fps.get(id)!.fingerprint), id)
    const first = cache(w).build
    assert.match(await cli(w, ["run"]), /0 ran, 4 fresh, 0 failed, 0 not run/, "a no-op run")

    w.takeRuns()
    change(w, "square.ts", "** 2 * ctx.params.scale", "** 3 * ctx.params.scale")
    await cli(w, ["run"])
    assert.equal(w.takeRuns(), ["square/0", "square/1", "sum"])
    assert.is(await total(w), 10 ** 3 + 11 ** 3)
    assert.is.not(cache(w).build, first, "rebuilt after the edit")

    // Worker processes (slow squares) start through the same launcher and see the edit too;
    // a module reached only through an import (helper.ts) counts as well.
    w.setConfig({ n: 2, scale: 1, fail: [], slowMs: 50 })
    change(w, "helper.ts", "export const recordRun = (id: string): void => {", "export const recordRun = (id: string): void => {\n  if (process.env.TRANSFUSION_WORKER) appendFileSync(`${process.env.TOY_RUNS}.workers`, `${id}\\n`)")
    change(w, "square.ts", "** 3 * ctx.params.scale", "** 3 * ctx.params.scale + 1")
    await cli(w, ["run"])
    assert.is(await total(w), 10 ** 3 + 11 ** 3 + 2)
    assert.equal(readFileSync(`${w.runsFile}.workers`, "utf8").split("\n").filter(Boolean).sort(), ["square/0", "square/1"])
  } finally {
    w.dispose()
  }
})

test("no rebuild without a change; a touch alone does not rebuild; an edit that keeps size and mtime does", async () => {
  const w = new Workspace({ n: 1 })
  try {
    await cli(w, ["run"])
    const { build } = cache(w)
    await cli(w, ["status"])
    assert.is(cache(w).build, build)
    assert.equal(cache(w).builds, [build])

    const square = join(w.root, "toy", "square.ts")
    const later = new Date(Date.now() + 5000)
    utimesSync(square, later, later)
    await cli(w, ["status"])
    assert.is(cache(w).build, build, "same content, same build")

    // Same length, same mtime (as `cp -p` or a fast editor within one clock tick may leave it).
    const before = statSync(square)
    change(w, "square.ts", "** 2 * ctx.params.scale", "** 3 * ctx.params.scale")
    utimesSync(square, before.atime, before.mtime)
    assert.is(statSync(square).size, before.size)
    await cli(w, ["run"])
    assert.is(await total(w), 10 ** 3)
    assert.is.not(cache(w).build, build)
  } finally {
    w.dispose()
  }
})

test("two CLIs starting together on a stale bundle both run the new code", async () => {
  const w = new Workspace({ n: 1 })
  try {
    await cli(w, ["status"])
    change(w, "sum.ts", "const total = Object", "const total = 1000 + Object")
    const [a, b] = [w.cli(["run"]), w.cli(["run"])]
    const [ca, cb] = await Promise.all([a.done, b.done])
    assert.is(ca, 0, a.output())
    assert.is(cb, 0, b.output())
    assert.is(await total(w), 1000 + 100)
    assert.not.match(a.output() + b.output(), /could not bundle/)
  } finally {
    w.dispose()
  }
})

test("without a usable cache folder the CLI runs through tsx, with a one-line warning", async () => {
  const w = new Workspace({ n: 1 })
  try {
    writeFileSync(cacheRoot(w), "not a folder")
    const out = await cli(w, ["run"])
    assert.is(out.match(/could not bundle the CLI/g)?.length, 1, out)
    assert.is(await total(w), 100)
    // TRANSFUSION_LAUNCH=tsx: tsx without a bundle, and without a warning.
    const plain = await cli(w, ["status"], { TRANSFUSION_LAUNCH: "tsx" })
    assert.not.match(plain, /could not bundle/)
    assert.match(plain, /fresh\s+sum/)
  } finally {
    w.dispose()
  }
})

test("old builds are removed once superseded and unused; a build in use is kept; other entries' caches go", async () => {
  const w = new Workspace({ n: 1 })
  try {
    const edit = async () => {
      change(w, "sum.ts", "const total = ", `const total = ${1 + Math.floor(Math.random() * 1e6)} * 0 + `)
      await cli(w, ["status"])
      return cache(w).build
    }
    /** Pretends the current build was made two minutes ago. */
    const age = () => {
      const { dir } = cache(w)
      const old = new Date(Date.now() - 120_000)
      utimesSync(join(dir, "current.json"), old, old)
    }
    const a = await edit()
    const b = await edit()
    // A cache of an entry that no longer exists (a removed copy of the project).
    const orphan = join(cacheRoot(w), "0123456789abcdef")
    mkdirSync(join(orphan, "b-x"), { recursive: true })
    writeFileSync(join(orphan, "current.json"), JSON.stringify({ entry: join(w.root, "gone", "main.ts"), build: "b-x" }))
    const old = new Date(Date.now() - 120_000)
    utimesSync(join(orphan, "current.json"), old, old)
    utimesSync(orphan, old, old)
    // A live process (this one) still uses build a.
    mkdirSync(join(cache(w).dir, a, ".users"), { recursive: true })
    const marker = join(cache(w).dir, a, ".users", `${hostname()}-${process.pid}`)
    writeFileSync(marker, "")
    age()
    const c = await edit()
    assert.equal(cache(w).builds, [a, b, c].sort(), "a is in use, b was current a moment ago")
    assert.not.ok(existsSync(orphan), "the orphaned cache is removed")
    // Now nobody uses a: this process leaves, a dead process's marker does not count.
    rmSync(marker)
    writeFileSync(marker.replace(/\d+$/, "999999999"), "")
    age()
    const d = await edit()
    assert.equal(cache(w).builds, [c, d].sort())
  } finally {
    w.dispose()
  }
})

test.run()
