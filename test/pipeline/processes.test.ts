// The engine under real processes: kill -9, two concurrent drivers, SIGTERM, stale locks,
// and the verbs' output. Slow toy stages run in worker processes.
import { test } from "uvu"
import * as assert from "uvu/assert"
import { existsSync, readdirSync, readFileSync, writeFileSync, mkdirSync, appendFileSync } from "node:fs"
import { join } from "node:path"
import { Workspace, waitFor } from "./workspace.ts"

const tmpDirs = (w: Workspace) => {
  const d = join(w.root, "artifacts", ".tmp")
  return existsSync(d) ? readdirSync(d) : []
}

test("kill -9 of the driver mid-stage leaves no artifact for it; the next run completes", async () => {
  const w = new Workspace({ n: 2, slowMs: 4000 })
  try {
    const driver = w.cli(["run", "--jobs", "1"])
    // Wait until a worker has written partial output into its temp dir.
    await waitFor(() => tmpDirs(w).some((d) => existsSync(join(w.root, "artifacts", ".tmp", d, "partial-2.txt"))), 60_000, "a stage to be mid-run")
    driver.kill("SIGKILL")
    await driver.done
    const s1 = await w.session()
    const running = ["square/0", "square/1"].filter((id) => !s1.store.isComplete(id, s1.fps.get(id)!.fingerprint))
    assert.ok(running.length >= 1, "the killed stage has no artifact")
    // The orphaned worker notices its driver is gone and cleans up after itself.
    await waitFor(() => tmpDirs(w).length === 0, 30_000, "the orphaned worker to remove its temp dir")
    w.takeRuns()
    const again = w.cli(["run", "--jobs", "2"])
    assert.is(await again.done, 0, again.output())
    const s2 = await w.session()
    for (const id of ["source", "square/0", "square/1", "sum"]) assert.ok(s2.store.isComplete(id, s2.fps.get(id)!.fingerprint), id)
    assert.equal(tmpDirs(w), [])
  } finally {
    w.dispose()
  }
})

test("two concurrent drivers on one store each finish, and every stage runs exactly once", async () => {
  const w = new Workspace({ n: 3, slowMs: 1500 })
  try {
    const a = w.cli(["run", "--jobs", "2"])
    const b = w.cli(["run", "--jobs", "2"])
    const [ca, cb] = await Promise.all([a.done, b.done])
    assert.is(ca, 0, a.output())
    assert.is(cb, 0, b.output())
    assert.equal(w.takeRuns(), ["source", "square/0", "square/1", "square/2", "sum"])
  } finally {
    w.dispose()
  }
})

test("SIGTERM stops cleanly: workers interrupted, temp dirs removed, nothing half-committed, exit non-zero", async () => {
  const w = new Workspace({ n: 2, slowMs: 20_000 })
  try {
    const driver = w.cli(["run", "--jobs", "2"])
    await waitFor(() => tmpDirs(w).length >= 2, 60_000, "two stages running")
    driver.kill("SIGTERM")
    const code = await driver.done
    assert.is.not(code, 0)
    assert.equal(tmpDirs(w), [])
    assert.equal(readdirSync(join(w.root, "artifacts", ".locks")), [])
    const s = await w.session()
    assert.not.ok(s.store.isComplete("square/0", s.fps.get("square/0")!.fingerprint))
  } finally {
    w.dispose()
  }
})

test("a failing worker stage: run exits non-zero, names the stage and its log, siblings complete", async () => {
  const w = new Workspace({ n: 3, fail: [2], slowMs: 200 })
  try {
    const r = w.cli(["run"])
    const code = await r.done
    assert.is(code, 1, r.output())
    const out = r.output()
    assert.match(out, /1 failed, 1 not run/)
    assert.match(out, /✗ square\/2: square 2 was told to fail/)
    const log = /log: (\S+\.failed\.log)/.exec(out)?.[1]
    assert.ok(log && existsSync(log), out)
    assert.match(readFileSync(log!, "utf8"), /FAILED/)
  } finally {
    w.dispose()
  }
})

test("a lock held by a dead pid is broken with a message", async () => {
  const w = new Workspace({ n: 1 })
  try {
    const s = await w.session()
    const fp = s.fps.get("source")!.fingerprint
    mkdirSync(join(w.root, "artifacts", ".locks"), { recursive: true })
    // pid 2^22-1 is above Linux's default pid_max on most machines: certainly not running.
    writeFileSync(join(w.root, "artifacts", ".locks", `${fp}.lock`), JSON.stringify({ pid: 4194303, host: (await import("node:os")).hostname(), since: "2020-01-01" }))
    const r = w.cli(["run"])
    assert.is(await r.done, 0, r.output())
    assert.match(r.output(), /broke a stale lock on [0-9a-f]+: its holder \(pid 4194303/)
  } finally {
    w.dispose()
  }
})

test("status explains; verify names tampered artifacts; gc removes unreferenced ones", async () => {
  const w = new Workspace({ n: 2 })
  try {
    await w.run()
    w.setConfig({ n: 2, scale: 3, fail: [], slowMs: 0 })
    w.edit("helper.ts")
    const st = w.cli(["status"])
    await st.done
    assert.match(st.output(), /stale\s+square\/0\n\s+param scale: 1 -> 3\n\s+code toy\/helper.ts changed/)
    assert.match(st.output(), /fresh\s+source/)
    await w.run()
    // Tamper with a committed output, and delete another.
    const s = await w.session()
    const dir = s.store.artifactDir("square/0", s.fps.get("square/0")!.fingerprint)
    appendFileSync(join(dir, "value.txt"), "9")
    const v = w.cli(["verify"])
    assert.is(await v.done, 1)
    assert.match(v.output(), /square\/0\/[0-9a-f]{20}: file value.txt changed/)
    const gc = w.cli(["gc"])
    assert.is(await gc.done, 0, gc.output())
    assert.match(gc.output(), /removed square\/0\/[0-9a-f]{20}/)
    assert.match(gc.output(), /3 artifacts/, "the three artifacts of the scale=1 run are unreferenced")
    const ls = w.cli(["ls"])
    await ls.done
    assert.match(ls.output(), /4 artifacts/)
  } finally {
    w.dispose()
  }
})

test.run()
