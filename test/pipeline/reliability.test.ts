// Reliability of the engine's verbs and store (issue 18): the CLI's handling of mistyped
// input, temp-dir and lock ownership across hosts and reused pids, gc's refusals, damaged
// manifests and the crash windows of a commit. Each case failed before its fix.
// One file (~580 lines): the cases share the toy Workspace, the CLI runner and the
// killed-process helpers defined below.
import { test } from "uvu"
import * as assert from "uvu/assert"
import { spawn } from "node:child_process"
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs"
import { hostname } from "node:os"
import fs from "node:fs"
import { join } from "node:path"
import { syncBuiltinESMExports } from "node:module"
import * as Effect from "effect/Effect"
import { statusOf } from "../../pipeline/status.ts"
import { updateLinks } from "../../pipeline/book.ts"
import type { StageEvent } from "../../pipeline/events.ts"
import { Locks } from "../../pipeline/lock.ts"
import { FileHasher } from "../../pipeline/fingerprint.ts"
import { inlineExecutor } from "../../pipeline/executors/local.ts"
import { selectNodes } from "../../pipeline/graph.ts"
import { localScheduler } from "../../pipeline/scheduler.ts"
import { currentProcess, processStarted } from "../../pipeline/owner.ts"
import { failingRename, Workspace, waitFor } from "./workspace.ts"

const fp0 = "0123456789abcdef0123"
const tmpOf = (w: Workspace) => join(w.root, "artifacts", ".tmp")
const tmpNames = (w: Workspace) => (existsSync(tmpOf(w)) ? readdirSync(tmpOf(w)).sort() : [])
const locksOf = (w: Workspace) => join(w.root, "artifacts", ".locks")
/** Writes a lock file as another process would, with its mtime `ageS` seconds in the past. */
const plantLock = (dir: string, key: string, holder: object, ageS = 0) => {
  mkdirSync(dir, { recursive: true })
  const path = join(dir, `${key}.lock`)
  writeFileSync(path, JSON.stringify({ since: new Date().toISOString(), ...holder }))
  const t = new Date(Date.now() - ageS * 1000)
  utimesSync(path, t, t)
  return path
}
/** A live process on this machine that is not the lock's holder (its pid "reused"). */
const otherProcess = () => {
  const child = spawn("sleep", ["60"], { stdio: "ignore" })
  return { pid: child.pid!, stop: () => child.kill("SIGKILL") }
}

const cli = async (w: Workspace, args: string[], env: Record<string, string> = {}) => {
  const c = w.cli(args, env)
  const code = await c.done
  return { code, out: c.output() }
}

test("a mistyped verb, flag or value ends with a one-line message and exit code 2, no internal dump", async () => {
  const w = new Workspace({ n: 1 })
  try {
    for (const args of [["resluts"], ["verify", "--bogus"], ["run", "--jobs", "x"]]) {
      const { code, out } = await cli(w, args)
      assert.is(code, 2, `${args.join(" ")}: ${out}`)
      assert.not.match(out, /ERROR \(#|_tag|CommandMismatch|InvalidValue/, `${args.join(" ")}: ${out}`)
      assert.ok(out.trim().length > 0 && out.trim().split("\n").filter(Boolean).length <= 2, `${args.join(" ")}: ${out}`)
    }
  } finally {
    w.dispose()
  }
})

test("an unknown flag to run or status is refused as a flag (exit 2, one line), not read as a stage pattern", async () => {
  const w = new Workspace({ n: 1 })
  try {
    for (const args of [["run", "--frobnicate"], ["status", "--frobnicate"], ["run", "--dry-run", "-z"]]) {
      const { code, out } = await cli(w, args)
      assert.is(code, 2, `${args.join(" ")}: ${out}`)
      assert.match(out, /unknown flag/i, `${args.join(" ")}: ${out}`)
      assert.is(out.trim().split("\n").filter(Boolean).length, 1, `${args.join(" ")}: ${out}`)
    }
  } finally {
    w.dispose()
  }
})

test("a dry run and gc --dry-run delete no temp dir; gc --dry-run lists an orphan and gc removes it", async () => {
  const w = new Workspace({ n: 1 })
  try {
    const orphan = `${fp0}.4194000.1`
    mkdirSync(join(tmpOf(w), orphan, "sub"), { recursive: true })
    const dry = await cli(w, ["run", "--dry-run"])
    assert.is(dry.code, 0, dry.out)
    assert.equal(tmpNames(w), [orphan], "run --dry-run deleted nothing")
    const gcDry = await cli(w, ["gc", "--dry-run"])
    assert.is(gcDry.code, 0, gcDry.out)
    assert.match(gcDry.out, `would remove .tmp/${orphan}`)
    assert.equal(tmpNames(w), [orphan], "gc --dry-run deleted nothing")
    const gc = await cli(w, ["gc"])
    assert.is(gc.code, 0, gc.out)
    assert.match(gc.out, `removed .tmp/${orphan}`)
    assert.equal(tmpNames(w), [])
  } finally {
    w.dispose()
  }
})

test("temp dirs: kept while their lock's holder runs elsewhere (fresh heartbeat); removed when it is gone or its pid was reused", async () => {
  const w = new Workspace({ n: 1 })
  const reused = otherProcess()
  try {
    const s = await w.session()
    const remote = `${fp0}.777.1`
    const local = `1111111111aaaaaaaaaa.${reused.pid}.1`
    const stale = `2222222222bbbbbbbbbb.778.1`
    for (const d of [remote, local, stale]) mkdirSync(join(tmpOf(w), d), { recursive: true })
    plantLock(locksOf(w), fp0, { pid: 777, host: "login-2" })
    plantLock(locksOf(w), "1111111111aaaaaaaaaa", { pid: reused.pid, host: hostname(), started: "another-boot/1" })
    plantLock(locksOf(w), "2222222222bbbbbbbbbb", { pid: 778, host: "login-2" }, 600)
    assert.equal(s.store.sweepTempDirs({ dryRun: true }).orphans, [local, stale].sort())
    assert.equal(tmpNames(w), [remote, local, stale].sort(), "a dry sweep removes nothing")
    s.store.sweepTempDirs()
    assert.equal(tmpNames(w), [remote])
  } finally {
    reused.stop()
    w.dispose()
  }
})

test("locks: a reused pid, another PID namespace or a stopped remote heartbeat is stale; a fresh remote one is not", () => {
  const dir = join(new Workspace({ n: 1 }).root, "locks")
  const reused = otherProcess()
  const said: string[] = []
  const locks = new Locks(dir, (m) => said.push(m))
  try {
    assert.ok(processStarted(process.pid), "this system reports process start times")
    plantLock(dir, "reused", { pid: reused.pid, host: hostname(), started: "another-boot/1" })
    assert.ok(locks.tryAcquire("reused"), "the pid now names a later process")
    assert.match(said.pop()!, /no longer running/)
    plantLock(dir, "container", { pid: 1, host: hostname(), pidNamespace: "pid:[1]" }, 600)
    assert.ok(locks.tryAcquire("container"), "pid 1 of another PID namespace says nothing about ours; its heartbeat stopped")
    plantLock(dir, "remote-live", { pid: process.pid, host: "login-2" }, 5)
    assert.not.ok(locks.tryAcquire("remote-live"), "a remote holder with a fresh heartbeat keeps its lock")
    plantLock(dir, "remote-dead", { pid: process.pid, host: "login-2" }, 600)
    assert.ok(locks.tryAcquire("remote-dead"))
    assert.match(said.pop()!, /another machine and its heartbeat stopped 600 s ago/)
    const mine = JSON.parse(readFileSync(join(dir, "reused.lock"), "utf8")) as Record<string, unknown>
    assert.equal({ pid: mine.pid, host: mine.host, started: mine.started }, { pid: process.pid, host: hostname(), started: currentProcess().started })
  } finally {
    reused.stop()
    rmSync(join(dir, ".."), { recursive: true, force: true })
  }
})

test("locks: the holder refreshes its heartbeat; a waiter gives up after the timeout naming the holder and `unlock`", async () => {
  const dir = join(new Workspace({ n: 1 }).root, "locks")
  try {
    const locks = new Locks(dir, () => {}, { heartbeatMs: 100 })
    await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          yield* locks.hold("held", () => {})
          const path = join(dir, "held.lock")
          const old = new Date(Date.now() - 600_000)
          utimesSync(path, old, old)
          yield* Effect.promise(() => new Promise((r) => setTimeout(r, 600)))
          assert.ok(Date.now() - statSync(path).mtimeMs < 5_000, "heartbeat refreshed the mtime")
        }),
      ),
    )
    assert.not.ok(existsSync(join(dir, "held.lock")), "released")
    plantLock(dir, "busy", { pid: 4242, host: "gpu-node-7" })
    const waiter = new Locks(dir, () => {}, { waitTimeoutMs: 400 })
    const exit = await Effect.runPromise(Effect.either(Effect.scoped(waiter.hold("busy", () => {}))))
    assert.is(exit._tag, "Left")
    if (exit._tag === "Left") {
      assert.is(exit.left._tag, "LockTimeout")
      assert.match(exit.left.message, /held by pid 4242 on gpu-node-7 .*unlock busy/)
    }
  } finally {
    rmSync(join(dir, ".."), { recursive: true, force: true })
  }
})

test("`unlock <id>` removes a lock a dead remote job left; it refuses one whose holder runs here", async () => {
  const w = new Workspace({ n: 1 })
  const live = otherProcess()
  try {
    const s = await w.session()
    const fp = s.fps.get("source")!.fingerprint
    const path = plantLock(locksOf(w), fp, { pid: 12, host: "gpu-node-7" })
    const ok = await cli(w, ["unlock", "source"])
    assert.is(ok.code, 0, ok.out)
    assert.match(ok.out, /removed the lock on [0-9a-f]{20} \(held by pid 12 on gpu-node-7/)
    assert.not.ok(existsSync(path))
    plantLock(locksOf(w), fp, { pid: live.pid, host: hostname(), started: processStarted(live.pid) })
    const refused = await cli(w, ["unlock", "source"])
    assert.is(refused.code, 1, refused.out)
    assert.match(refused.out, /still running here/)
    assert.ok(existsSync(path))
    const unknown = await cli(w, ["unlock", "nope"])
    assert.is(unknown.code, 1, unknown.out)
    assert.match(unknown.out, /no stage "nope"/)
  } finally {
    live.stop()
    w.dispose()
  }
})

test("gc refuses, naming the profile, when one cannot be planned (unless --force), and while a stage runs", async () => {
  const w = new Workspace({ n: 1 })
  try {
    await w.run()
    const s = await w.session()
    const committed = () => s.store.artifacts().length
    assert.is(committed(), 3)
    const config = readFileSync(join(w.root, "toy.config.json"), "utf8")
    rmSync(join(w.root, "toy.config.json"))
    const refused = await cli(w, ["gc"])
    assert.is(refused.code, 1, refused.out)
    assert.match(refused.out, /gc removed nothing: profile toy \(config .* not found\) could not be planned/)
    assert.is(committed(), 3)
    writeFileSync(join(w.root, "toy.config.json"), config)
    plantLock(locksOf(w), fp0, { pid: 31, host: "gpu-node-7" })
    w.setConfig({ n: 1, scale: 2, fail: [], slowMs: 0 })
    const busy = await cli(w, ["gc"])
    assert.is(busy.code, 1, busy.out)
    assert.match(busy.out, new RegExp(`stages are running \\(${fp0} \\(pid 31 on gpu-node-7\\)\\)`))
    assert.is(committed(), 3)
    rmSync(join(locksOf(w), `${fp0}.lock`))
    rmSync(join(w.root, "toy.config.json"))
    const forced = await cli(w, ["gc", "--force"])
    assert.is(forced.code, 0, forced.out)
    assert.is(committed(), 0)
  } finally {
    w.dispose()
  }
})

const damaged: [string, (text: string) => string, RegExp][] = [
  ["empty", () => "", /manifest\.json is empty/],
  ["truncated", (t) => t.slice(0, t.length >> 1), /manifest\.json is not valid JSON/],
  ["{}", () => "{}", /manifest\.json names undefined\/undefined/],
  ["edited outputs", (t) => JSON.stringify({ ...JSON.parse(t), outputs: null }), /no "outputs" object/],
  ["another artifact's", (t) => JSON.stringify({ ...JSON.parse(t), fingerprint: fp0 }), new RegExp(`names source/${fp0}`)],
]
for (const [name, damage, problem] of damaged) {
  test(`damaged manifest.json (${name}): verify names it, status treats it as missing, run rebuilds it`, async () => {
    const w = new Workspace({ n: 1 })
    try {
      await w.run()
      w.takeRuns()
      const s = await w.session()
      const f = s.fps.get("source")!
      const path = join(s.store.artifactDir("source", f.fingerprint), "manifest.json")
      writeFileSync(path, damage(readFileSync(path, "utf8")))
      assert.not.ok(s.store.isComplete("source", f.fingerprint))
      const problems = s.store.verify()
      assert.is(problems.length, 1)
      assert.match(problems[0]!.problem, problem)
      assert.is(statusOf(s.store, f).state, "missing")
      const status = await cli(w, ["status"])
      assert.is(status.code, 0, status.out)
      assert.match(status.out, /missing source/)
      const verify = await cli(w, ["verify"])
      assert.is(verify.code, 1, verify.out)
      assert.match(verify.out, problem)
      await w.run()
      assert.equal(w.takeRuns(), ["source"])
      assert.equal(s.store.verify(), [])
    } finally {
      w.dispose()
    }
  })
}

test("a --force replace killed between its two renames: the aside copy is moved back, not deleted", async () => {
  const w = new Workspace({ n: 1 })
  try {
    await w.run()
    const s = await w.session()
    const fp = s.fps.get("source")!.fingerprint
    const aside = join(tmpOf(w), `${fp}-old.4194001.1`)
    mkdirSync(tmpOf(w), { recursive: true })
    fs.renameSync(s.store.artifactDir("source", fp), aside)
    assert.equal(s.store.sweepTempDirs({ dryRun: true }), { orphans: [], restored: [`source/${fp}`] })
    assert.ok(existsSync(aside), "a dry sweep moves nothing")
    assert.equal(s.store.sweepTempDirs(), { orphans: [], restored: [`source/${fp}`] })
    assert.ok(s.store.isComplete("source", fp))
    assert.equal(s.store.verify(), [])
    assert.equal(tmpNames(w), [])
  } finally {
    w.dispose()
  }
})

test("commit fsyncs every file and directory before the rename, and the stage directory after it", async () => {
  const w = new Workspace({ n: 1 })
  const real = fs.fsyncSync
  const synced: number[] = []
  try {
    fs.fsyncSync = (fd: number) => {
      synced.push(fd)
      real(fd)
    }
    syncBuiltinESMExports()
    const s = await w.session()
    const tmp = s.store.makeTempDir(fp0)
    mkdirSync(join(tmp, "sub"))
    writeFileSync(join(tmp, "a.txt"), "a")
    writeFileSync(join(tmp, "sub", "b.txt"), "b")
    const now = new Date().toISOString()
    s.store.commit(tmp, { stage: "x", kind: "k", fingerprint: fp0, parts: s.fps.get("source")!.parts, result: 1, startedAt: now, finishedAt: now, durationMs: 0 })
    // a.txt, sub/b.txt, manifest.json, sub/, the temp dir, and the stage dir after the rename
    assert.ok(synced.length >= 6, `fsync calls: ${synced.length}`)
    assert.ok(s.store.isComplete("x", fp0))
  } finally {
    fs.fsyncSync = real
    syncBuiltinESMExports()
    w.dispose()
  }
})

test("gc sweeps the leftovers of killed runs: scratch of committed stages, failed logs of unkept ones, .latest temp files", async () => {
  const w = new Workspace({ n: 1 })
  try {
    await w.run()
    const s = await w.session()
    const fp = s.fps.get("source")!.fingerprint
    const art = join(w.root, "artifacts")
    mkdirSync(join(art, ".scratch", fp), { recursive: true })
    writeFileSync(join(art, ".scratch", fp, "checkpoint.bin"), "x")
    writeFileSync(join(art, "square", "0", `${fp0}.failed.log`), "old failure")
    // atomic.ts's temp name, and the name stores written before it used
    const latestTemps = ["latest.tmp-4194002-7", ".latest.4194002.tmp"]
    const old = new Date(Date.now() - 3600_000)
    for (const t of latestTemps) {
      writeFileSync(join(art, "source", t), fp)
      utimesSync(join(art, "source", t), old, old)
    }
    const leftovers = [`.scratch/${fp}`, ...latestTemps.map((t) => `source/${t}`), `square/0/${fp0}.failed.log`]
    const dry = await cli(w, ["gc", "--dry-run"])
    assert.is(dry.code, 0, dry.out)
    for (const l of leftovers) assert.match(dry.out, `would remove ${l}`)
    assert.ok(existsSync(join(art, ".scratch", fp)))
    const gc = await cli(w, ["gc"])
    assert.is(gc.code, 0, gc.out)
    for (const l of leftovers) assert.not.ok(existsSync(join(art, l)), l)
    assert.is(s.store.artifacts().length, 3)
  } finally {
    w.dispose()
  }
})

test("links: a real directory at a link path is reported, not thrown; two processes re-pointing one link never fail", async () => {
  const w = new Workspace({ n: 1 })
  try {
    await w.run()
    const s = await w.session()
    const f = s.fps.get("source")!
    const events: StageEvent[] = []
    const env = { store: s.store, locks: s.locks, reporter: { event: (e: StageEvent) => events.push(e) }, root: w.root }
    const linked = { ...f, node: { ...f.node, links: { "out/source": ".", "out/mine": "." } } }
    mkdirSync(join(w.root, "out", "mine"), { recursive: true })
    writeFileSync(join(w.root, "out", "mine", "notes.txt"), "the user's own")
    updateLinks(env, linked)
    assert.is(fs.readlinkSync(join(w.root, "out", "source")), join("..", "artifacts", "source", f.fingerprint))
    assert.equal(events.map((e) => (e.type === "message" ? e.text.replace(w.root, "<root>") : e.type)), [
      `source: left <root>/out/mine as it is: it is a directory, not a link this tool made (move it away to get the link to ${s.store.artifactDir("source", f.fingerprint)})`,
    ])
    assert.is(readFileSync(join(w.root, "out", "mine", "notes.txt"), "utf8"), "the user's own")
    // Two drivers re-pointing the same link at once (as `run` does for every fresh stage).
    const script = `import { pointLink } from ${JSON.stringify(join(import.meta.dirname, "../../pipeline/links.ts"))}
const fails = []
for (let i = 0; i < 3000; i++) { const p = pointLink(process.argv[2], process.argv[3] + (i % 2)); if (p) fails.push(p) }
console.log(JSON.stringify(fails.slice(0, 3)))`
    writeFileSync(join(w.root, "repoint.mts"), script)
    const runOne = () =>
      new Promise<string>((res) => {
        const c = spawn(process.execPath, ["--import", "tsx", join(w.root, "repoint.mts"), join(w.root, "out", "race"), join(w.root, "t")], { cwd: join(import.meta.dirname, "../..") })
        let out = ""
        c.stdout.on("data", (d) => (out += d))
        c.stderr.on("data", (d) => (out += d))
        c.on("exit", () => res(out.trim()))
      })
    assert.equal(await Promise.all([runOne(), runOne()]), ["[]", "[]"])
    assert.ok(fs.lstatSync(join(w.root, "out", "race")).isSymbolicLink())
    assert.equal(readdirSync(join(w.root, "out")).filter((n) => n.endsWith(".tmp")), [])
  } finally {
    w.dispose()
  }
})

test("dataset roots: symlinked folders are followed, dangling links and link cycles hashed without failing; the hash cache drops files that are gone", () => {
  const w = new Workspace({ n: 1 })
  try {
    const root = join(w.root, "dataset")
    const elsewhere = join(w.root, "elsewhere")
    mkdirSync(join(root, "train"), { recursive: true })
    mkdirSync(elsewhere)
    writeFileSync(join(root, "train.csv"), "image,level\n")
    writeFileSync(join(elsewhere, "1_left.jpeg"), "pixels")
    fs.symlinkSync(elsewhere, join(root, "train", "linked"))
    fs.symlinkSync(join(w.root, "nowhere"), join(root, "dangling"))
    fs.symlinkSync(root, join(root, "train", "loop"))
    const cachePath = join(w.root, "cache.json")
    const hasher = new FileHasher(cachePath)
    const before = hasher.hash(root)
    assert.is(new FileHasher(cachePath).hash(root), before, "stable")
    writeFileSync(join(elsewhere, "1_left.jpeg"), "other pixels")
    const after = new FileHasher(cachePath).hash(root)
    assert.is.not(after, before, "a change behind a linked folder changes the hash")
    hasher.save()
    writeFileSync(join(w.root, "gone.txt"), "x")
    const h2 = new FileHasher(cachePath)
    h2.hash(join(w.root, "gone.txt"))
    h2.save()
    assert.ok(join(w.root, "gone.txt") in JSON.parse(readFileSync(cachePath, "utf8")))
    rmSync(join(w.root, "gone.txt"))
    const h3 = new FileHasher(cachePath)
    h3.hash(join(w.root, "offset.txt"))
    h3.save()
    const cached = Object.keys(JSON.parse(readFileSync(cachePath, "utf8")) as object)
    assert.not.ok(cached.includes(join(w.root, "gone.txt")), "pruned")
    assert.ok(cached.includes(join(w.root, "offset.txt")))
  } finally {
    w.dispose()
  }
})

test("concurrency: two drivers with overlapping selections run each stage once; gc during the run removes nothing the run uses", async () => {
  const w = new Workspace({ n: 3, slowMs: 2500 })
  try {
    const a = w.cli(["run", "square/0", "square/1"])
    const b = w.cli(["run", "sum"])
    // While squares run in workers, a gc given another config sees none of the run's artifacts as referenced.
    await waitFor(() => tmpNames(w).some((d) => existsSync(join(tmpOf(w), d, "partial-1.txt"))), 60_000, "a square to be mid-run")
    writeFileSync(join(w.root, "other.json"), JSON.stringify({ n: 4, scale: 5, fail: [], slowMs: 2500 })) // source too is unreferenced there
    const gc = await cli(w, ["gc", "--config", "other.json"])
    assert.is(gc.code, 1, gc.out)
    assert.match(gc.out, /gc removed nothing: stages are running/)
    const [ca, cb] = await Promise.all([a.done, b.done])
    assert.is(ca, 0, a.output())
    assert.is(cb, 0, b.output())
    assert.equal(w.takeRuns(), ["source", "square/0", "square/1", "square/2", "sum"])
    const s = await w.session()
    assert.equal(s.store.verify(), [])
    for (const id of ["source", "square/0", "square/1", "square/2", "sum"]) assert.ok(s.store.isComplete(id, s.fps.get(id)!.fingerprint), id)
    assert.equal(tmpNames(w), [])
  } finally {
    w.dispose()
  }
})

for (const code of ["EXDEV", "EACCES", "ENOSPC"]) {
  test(`a commit refused with ${code} keeps the stage's log as its failed log and leaves no temp dir`, async () => {
    const w = new Workspace({ n: 1 })
    try {
      const s = await w.session()
      const fp = s.fps.get("source")!.fingerprint
      const target = s.store.artifactDir("source", fp)
      const summary = await failingRename(code, (from, to) => to === target && from.includes(`${join("artifacts", ".tmp")}`), () => w.run(["source"]))
      assert.equal(summary.failed.map((f) => f.id), ["source"])
      assert.match(summary.failed[0]!.message, new RegExp(`could not commit the artifact: ${code}`))
      const failedLog = s.store.failedLogPath("source", fp)
      assert.is(summary.failed[0]!.logPath, failedLog)
      const log = readFileSync(failedLog, "utf8")
      assert.match(log, new RegExp(`# source \\(source\\) fingerprint ${fp}`))
      assert.match(log, new RegExp(`# FAILED: could not commit the artifact: ${code}`))
      assert.not.ok(s.store.isComplete("source", fp))
      assert.equal(tmpNames(w), [])
    } finally {
      w.dispose()
    }
  })
}

test("a `latest` that cannot be written after the commit's rename: the stage counts as ran, with a message", async () => {
  const w = new Workspace({ n: 1 })
  try {
    const project = await w.load()
    const s = await w.session()
    process.env.TOY_RUNS = w.runsFile
    const events: StageEvent[] = []
    const env = { store: s.store, locks: s.locks, reporter: { event: (e: StageEvent) => events.push(e) }, root: project.root }
    const summary = await failingRename("EACCES", (_from, to) => to.endsWith(`${join("source", "latest")}`), () =>
      Effect.runPromise(localScheduler(env, inlineExecutor(env), { jobs: 1, gpus: 0 })({ nodes: selectNodes(s.graph, ["source"]), fps: s.fps }, { force: new Set() })),
    )
    assert.equal(summary.failed, [])
    assert.equal(summary.ran.map((r) => r.id), ["source"])
    const fp = s.fps.get("source")!.fingerprint
    assert.ok(s.store.isComplete("source", fp))
    assert.ok(events.some((e) => e.type === "message" && e.text.startsWith(`source: could not point source/latest at ${fp}: EACCES`)), JSON.stringify(events))
  } finally {
    w.dispose()
  }
})

test("verify and gc see artifacts under a symlinked id directory, as run does", async () => {
  const w = new Workspace({ n: 2 })
  try {
    await w.run()
    const s = await w.session()
    const art = join(w.root, "artifacts")
    // The square stages moved to another disk and linked back: run finds them fresh.
    fs.renameSync(join(art, "square"), join(w.root, "elsewhere"))
    fs.symlinkSync(join(w.root, "elsewhere"), join(art, "square"))
    w.takeRuns()
    await w.run()
    assert.equal(w.takeRuns(), [], "run reads them through the link")
    // A link cycle under the store ends the walk instead of looping.
    fs.symlinkSync(art, join(art, "source", "loop"))
    assert.equal(s.store.artifacts().map((a) => a.id), ["source", "square/0", "square/1", "sum"])
    const fp0sq = s.fps.get("square/0")!.fingerprint
    writeFileSync(join(w.root, "elsewhere", "0", fp0sq, "value.txt"), "tampered")
    assert.equal(s.store.verify().map((p) => p.artifact), [`square/0/${fp0sq}`])
    // gc under a config that references none of them removes them through the link too.
    writeFileSync(join(w.root, "other.json"), JSON.stringify({ n: 1, scale: 7, fail: [], slowMs: 0 }))
    writeFileSync(join(w.root, "elsewhere", "1", `${fp0}.failed.log`), "old failure")
    const gc = await cli(w, ["gc", "--config", "other.json"])
    assert.is(gc.code, 0, gc.out)
    assert.match(gc.out, `removed square/0/${fp0sq}`)
    assert.match(gc.out, `removed square/1/${fp0}.failed.log`)
    assert.equal(readdirSync(join(w.root, "elsewhere", "0")).filter((n) => /^[0-9a-f]{20}$/.test(n)), [])
  } finally {
    w.dispose()
  }
})

test("gc holds the store: a run started meanwhile waits for it, gives up after the timeout naming gc and `unlock gc`, and runs once it is gone", async () => {
  const w = new Workspace({ n: 1 })
  try {
    // A gc running on another login node (fresh heartbeat).
    const gcLock = plantLock(locksOf(w), "gc", { pid: 4321, host: "login-2" })
    const blocked = await cli(w, ["run"], { TRANSFUSION_LOCK_TIMEOUT: "1" })
    assert.is(blocked.code, 1, blocked.out)
    assert.match(blocked.out, /waiting for gc \(pid 4321 on login-2\) to finish with the store/)
    assert.match(blocked.out, /gave up after 1 s waiting for gc to finish with the store, held by pid 4321 on login-2 .*`unlock gc`/)
    assert.equal(w.takeRuns(), [], "nothing ran while gc held the store")
    assert.equal(tmpNames(w), [])
    const unlocked = await cli(w, ["unlock", "gc"])
    assert.is(unlocked.code, 0, unlocked.out)
    assert.not.ok(existsSync(gcLock))
    const ran = await cli(w, ["run"])
    assert.is(ran.code, 0, ran.out)
    assert.equal(w.takeRuns(), ["source", "square/0", "sum"])
    assert.equal(readdirSync(locksOf(w)), [], "the run's registration is released")
  } finally {
    w.dispose()
  }
})

test("gc refuses while a run is registered on the store, even between its stages, naming it; a killed run's registration is swept", async () => {
  const w = new Workspace({ n: 1 })
  try {
    await w.run()
    const s = await w.session()
    // A run registered in this process, holding no stage lock (between stages, or planning).
    writeFileSync(join(w.root, "other.json"), JSON.stringify({ n: 1, scale: 7, fail: [], slowMs: 0 }))
    const refused = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          yield* s.locks.holdStoreForRun(() => {})
          return yield* Effect.promise(() => cli(w, ["gc", "--config", "other.json"]))
        }),
      ),
    )
    assert.is(refused.code, 1, refused.out)
    assert.match(refused.out, new RegExp(`gc removed nothing: runs are in progress \\(run-${hostname()}-${process.pid}-\\d+ \\(pid ${process.pid} on ${hostname()}\\)\\)`))
    assert.is(s.store.artifacts().length, 3)
    // A driver killed with kill -9 leaves its registration; gc removes it and goes on.
    const killed = plantLock(locksOf(w), `run-${hostname()}-4194003-1`, { pid: 4194003, host: hostname() })
    const gc = await cli(w, ["gc", "--config", "other.json"])
    assert.is(gc.code, 0, gc.out)
    assert.match(gc.out, `removed .locks/run-${hostname()}-4194003-1.lock`)
    assert.not.ok(existsSync(killed))
    assert.equal(s.store.artifacts().map((a) => a.id), ["source"], "what other.json references is kept")
    assert.equal(readdirSync(locksOf(w)), [], "gc released its own lock")
  } finally {
    w.dispose()
  }
})

test("a cluster job's `exec` registers on the store: gc refuses while it runs, naming it", async () => {
  const w = new Workspace({ n: 1, slowMs: 4000 })
  try {
    await w.run()
    const job = w.cli(["exec", "square/0", "--force"])
    const registered = () => existsSync(locksOf(w)) && readdirSync(locksOf(w)).some((f) => f.startsWith(`run-${hostname()}-${job.pid}-`))
    await waitFor(registered, 30_000, "exec to register on the store")
    const gc = await cli(w, ["gc"])
    assert.is(gc.code, 1, gc.out)
    assert.match(gc.out, new RegExp(`runs are in progress \\(run-${hostname()}-${job.pid}-1 \\(pid ${job.pid} on ${hostname()}\\)`))
    assert.is(await job.done, 0, job.output())
    assert.not.ok(registered(), "exec released its registration")
  } finally {
    w.dispose()
  }
})

test.run()
