// The Slurm scheduler against a real cluster (CI starts a single-node one with
// .ci/slurm/start.sh). Skipped, with the reason printed, where Slurm is not available.
// One file (~500 lines): every case shares the one cluster, its workspace and the job
// polling helpers, and splitting them would start and wait on the queue per file.
import { test } from "uvu"
import * as assert from "uvu/assert"
import { execFileSync } from "node:child_process"
import { existsSync, mkdirSync, readdirSync, readFileSync, utimesSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import * as Effect from "effect/Effect"
import type { Fingerprinted } from "../../pipeline/fingerprint.ts"
import type { StageEvent } from "../../pipeline/events.ts"
import type { Session } from "../../pipeline/cli/session.ts"
import { batchScript, jobComment, sbatchFlags } from "../../pipeline/slurm/batch.ts"
import { slurmAvailable, slurmCommands, type JobInfo, type SlurmCommands } from "../../pipeline/slurm/commands.ts"
import { jobLogPath, jobLogPattern, listJobRecords, listJobs, writeJobRecord } from "../../pipeline/slurm/jobs.ts"
import { slurmScheduler } from "../../pipeline/slurm/scheduler.ts"
import { failingRename, Workspace, waitFor } from "./workspace.ts"
import { cancelLeftovers as cancelRecordedJobs, queued } from "../e2e/cluster.ts"

// n = 2 keeps the suite short: each job is a fresh node process (seconds on a loaded 2-core CI box).
const ids = ["source", "square/0", "square/1", "sum"]

/** Fingerprint and output hashes of every committed stage: what "the same artifacts" means. */
const artifacts = async (w: Workspace) => {
  const s = await w.session()
  const out: Record<string, { fingerprint: string; outputs: unknown; result: unknown }> = {}
  for (const [id, f] of s.fps) {
    const m = s.store.readManifest(id, f.fingerprint)
    // The log names the pid and time of its run; every other output must match byte for byte.
    const { "log.txt": _log, ...outputs } = m?.outputs ?? {}
    if (m) out[id] = { fingerprint: f.fingerprint, outputs, result: m.result }
  }
  return out
}

/** Cancels whatever a test left queued, so one failure does not block the next test's jobs. */
const cancelLeftovers = (w: Workspace) => void cancelRecordedJobs(join(w.root, "artifacts"))

const slurmRun = (w: Workspace, extra: string[] = [], env: Record<string, string> = {}) => w.cli(["run", "--executor", "slurm", "--slurm-poll", "0.25", ...extra], env)

/** What a shell makes of a batch script: the argv and events file its `exec` gets (node itself replaced by one that prints them). */
const runScript = (script: string, env: NodeJS.ProcessEnv): { argv: string[]; eventsFile: string | undefined } =>
  JSON.parse(execFileSync("/bin/sh", [], { input: script, env, encoding: "utf8" })) as { argv: string[]; eventsFile: string | undefined }

test("sbatch flags map a stage's resources and the settings; the script execs the worker verb", async () => {
  const w = new Workspace({ n: 1 })
  try {
    const s = await w.session()
    const f = s.fps.get("square/0")! as Fingerprinted
    const node = { ...f.node, resources: { cpu: 3, gpu: 2, memoryMiB: 1500.5 } }
    const flags = sbatchFlags(node, { pollSeconds: 1, partition: "gpu", account: "lab", timeLimit: "1:00:00", extraFlags: ["--qos=high"] }, "/s/.slurm/logs/square/0-%j.out", "/work", ["11", "12"], f.fingerprint, "toy")
    for (const flag of ["--cpus-per-task=3", "--gres=gpu:2", "--mem=1501M", "--partition=gpu", "--account=lab", "--time=1:00:00", "--dependency=afterok:11:12", "--output=/s/.slurm/logs/square/0-%j.out", "--chdir=/work", "--qos=high", `--comment=toy ${f.fingerprint}`]) {
      assert.ok(flags.includes(flag), `${flag} in ${flags.join(" ")}`)
    }
    const cpuOnly = sbatchFlags({ ...f.node, resources: { cpu: 1, gpu: 0 } }, { pollSeconds: 1 }, "x", "/", [], f.fingerprint, "toy")
    assert.not.ok(cpuOnly.some((x) => x.startsWith("--gres") || x.startsWith("--mem") || x.startsWith("--dependency")), cpuOnly.join(" "))
    assert.is(batchScript("/usr/bin/node", ["--import", "tsx"], "/p/main.ts", ["exec", "it's"]), `#!/bin/sh\nexec '/usr/bin/node' '--import' 'tsx' '/p/main.ts' 'exec' 'it'\\''s'\n`)
  } finally {
    w.dispose()
  }
})

test("batch scripts quote ids, paths and values with spaces, quotes, `$`, backticks and newlines; --output escapes `%`", () => {
  const odd = `it's a "$HOME" \`id\` 100% \\ $(touch x)\nline`
  const printer = ["-e", "console.log(JSON.stringify({ argv: process.argv.slice(1), eventsFile: process.env.TRANSFUSION_EVENTS_FILE }))"]
  const script = batchScript(process.execPath, printer, `/p/${odd}/main.ts`, ["exec", `square/${odd}`, "--store", `/s/${odd}`], `/s/${odd}/.slurm/events`, 2)
  assert.not.match(script.split("\n")[0]!, /[^#!/a-z]/, "a plain shebang")
  const seen = runScript(script, { PATH: process.env.PATH, SLURM_JOB_ID: "123", HOME: "/nowhere" })
  assert.equal(seen.argv, [`/p/${odd}/main.ts`, "exec", `square/${odd}`, "--store", `/s/${odd}`])
  assert.is(seen.eventsFile, `/s/${odd}/.slurm/events/123.jsonl`)
  assert.ok(script.includes("TRANSFUSION_GPU_DEVICE=0,1\n"), script)
  // sbatch expands %x in --output; the store's own % must come through as one.
  assert.is(jobLogPattern(`/s/100% done`, "square/0"), "/s/100%% done/.slurm/logs/square/0-%j.out")
  assert.is(jobLogPath(`/s/100% done`, "square/0", "77"), "/s/100% done/.slurm/logs/square/0-77.out")
})

/**
 * A stand-in for slurmctld, so the executor's bookkeeping is checked on any machine: it
 * starts one eligible job per `squeue` (running its batch script for real, to completion),
 * honours afterok, and leaves a job behind a failed one PENDING with DependencyNeverSatisfied.
 */
class SimulatedCluster implements SlurmCommands {
  readonly jobs = new Map<string, { flags: readonly string[]; script: string; state: string; reason: string; deps: string[]; exit: string; seen: number }>()
  readonly cancelled: string[] = []
  private next = 100
  constructor(private readonly env: NodeJS.ProcessEnv) {}

  flag(id: string, name: string): string | undefined {
    return this.jobs.get(id)!.flags.find((f) => f.startsWith(`--${name}=`))?.slice(name.length + 3)
  }
  submit = (flags: readonly string[], script: string): string => {
    const id = String(this.next++)
    const deps = flags.find((f) => f.startsWith("--dependency=afterok:"))?.slice("--dependency=afterok:".length).split(":") ?? []
    this.jobs.set(id, { flags, script, state: "PENDING", reason: deps.length ? "Dependency" : "None", deps, exit: "0:0", seen: 0 })
    return id
  }
  query = (ids: readonly string[]): Map<string, JobInfo> => {
    for (const id of ids) {
      const j = this.jobs.get(id)
      if (j) j.seen++
    }
    this.step()
    const out = new Map<string, JobInfo>()
    for (const id of ids) {
      const j = this.jobs.get(id)
      if (j) out.set(id, { state: j.state, reason: j.reason })
    }
    return out
  }
  exitCode = (id: string) => this.jobs.get(id)?.exit
  findByComment = (comment: string): string[] => [...this.jobs.keys()].filter((id) => this.flag(id, "comment") === comment)
  cancel = (ids: readonly string[]) => {
    for (const id of ids) {
      const j = this.jobs.get(id)
      if (j && (j.state === "PENDING" || j.state === "RUNNING")) j.state = "CANCELLED"
      this.cancelled.push(id)
    }
  }
  private step(): void {
    for (const [id, j] of this.jobs) {
      // A job starts only after the driver has seen it queued once (so adoption sees it pending).
      if (j.state !== "PENDING" || j.seen < 2) continue
      const deps = j.deps.map((d) => this.jobs.get(d)?.state)
      if (deps.some((s) => s !== undefined && s !== "COMPLETED" && s !== "PENDING" && s !== "RUNNING")) {
        j.reason = "DependencyNeverSatisfied"
        continue
      }
      if (deps.some((s) => s === "PENDING" || s === "RUNNING")) continue
      const log = this.flag(id, "output")!.replace("%j", id)
      mkdirSync(dirname(log), { recursive: true })
      try {
        const env = { ...this.env, SLURM_JOB_ID: id }
        const out = execFileSync("/bin/sh", [], { input: j.script, cwd: this.flag(id, "chdir"), env, encoding: "utf8", stdio: ["pipe", "pipe", "pipe"] })
        writeFileSync(log, out)
        j.state = "COMPLETED"
        j.reason = "None"
      } catch (e) {
        const err = e as { stdout?: string; stderr?: string; status?: number }
        writeFileSync(log, `${err.stdout ?? ""}${err.stderr ?? ""}`)
        j.state = "FAILED"
        j.reason = "NonZeroExitCode"
        j.exit = `${err.status ?? 1}:0`
      }
      return // one job per poll, as a busy cluster would
    }
  }
}

const simulatedRun = async (w: Workspace, cluster: SimulatedCluster) => {
  const project = await w.load()
  const s = await w.session()
  const events: StageEvent[] = []
  const env = { store: s.store, locks: s.locks, reporter: { event: (e: StageEvent) => events.push(e) }, root: project.root }
  const summary = await Effect.runPromise(
    slurmScheduler(env, {
      settings: { pollSeconds: 0.01 },
      entry: project.entry,
      project: project.name,
      argsFor: (t, force) => ["exec", t.node.id, "--expect", t.fingerprint, ...s.argv, ...(force ? ["--force"] : [])],
      cwd: w.root,
      slurm: cluster,
    })({ nodes: s.graph.nodes, fps: s.fps }, { force: new Set() }),
  )
  return { summary, events, session: s }
}

test("simulated cluster: afterok chains the stale stages; a failure cancels the pending dependant and names the job log", async () => {
  const w = new Workspace({ n: 1, fail: [0] })
  try {
    const cluster = new SimulatedCluster({ ...process.env, TOY_ROOT: w.root, TOY_RUNS: w.runsFile })
    const { summary, events } = await simulatedRun(w, cluster)
    const jobOf = (stage: string) => [...cluster.jobs].find(([, j]) => j.flags.includes(`--job-name=${stage}`))?.[0]
    const [source, square, sum] = [jobOf("source"), jobOf("square/0"), jobOf("sum")]
    assert.ok(source && square && sum, [...cluster.jobs.keys()].join(","))
    assert.is(cluster.flag(source!, "dependency"), undefined)
    assert.is(cluster.flag(square!, "dependency"), `afterok:${source}`)
    assert.is(cluster.flag(sum!, "dependency"), `afterok:${square}`)
    assert.equal(summary.ran.map((r) => r.id), ["source"])
    assert.equal(summary.failed.map((f) => f.id), ["square/0"])
    assert.match(summary.failed[0]!.message, new RegExp(`^Slurm job ${square} ended FAILED \\(NonZeroExitCode\\), exit code 1:0 without committing an artifact; its last output:`))
    assert.is(summary.failed[0]!.logPath, join(w.root, "artifacts", ".slurm", "logs", "square", `0-${square}.out`))
    assert.match(readFileSync(summary.failed[0]!.logPath!, "utf8"), /square 0 was told to fail/)
    assert.equal(summary.notRun.map((n) => n.id), ["sum"])
    assert.equal(cluster.cancelled, [sum])
    assert.ok(events.some((e) => e.type === "finished" && e.id === "sum" && e.state === "not-run"))
    // The workers' own events came through their events files: started with a real pid, log lines.
    assert.ok(events.some((e) => e.type === "started" && e.id === "source" && e.pid > 0), JSON.stringify(events))
    assert.ok(events.some((e) => e.type === "log" && e.id === "square/0" && /FAILED: square 0 was told to fail/.test(e.line)), JSON.stringify(events))
    assert.equal(readdirSync(join(w.root, "artifacts", ".slurm", "events")), [], "events files removed with their jobs")
    assert.equal(w.takeRuns(), ["source", "square/0"])
    assert.equal(listJobRecords(join(w.root, "artifacts")), [])
  } finally {
    w.dispose()
  }
})

test("simulated cluster: a restarted driver adopts a recorded live job, resubmits a recorded job that is gone", async () => {
  const w = new Workspace({ n: 1 })
  try {
    await w.run(["source"])
    w.takeRuns()
    const cluster = new SimulatedCluster({ ...process.env, TOY_ROOT: w.root, TOY_RUNS: w.runsFile })
    const s = await w.session()
    const store = join(w.root, "artifacts")
    const record = (stage: string, jobId: string) =>
      writeJobRecord(store, { jobId, stage, fingerprint: s.fps.get(stage)!.fingerprint, log: join(store, ".slurm", "logs", `${stage}-${jobId}.out`), submittedAt: new Date().toISOString(), driver: { host: "elsewhere", pid: 1 } })
    // square/0's job is still queued (submitted by the killed driver); sum's job vanished without a trace.
    const queuedEarlier = cluster.submit(
      sbatchFlags(s.fps.get("square/0")!.node, { pollSeconds: 1 }, join(store, ".slurm", "logs", "square", "0-%j.out"), w.root, [], s.fps.get("square/0")!.fingerprint, "toy"),
      batchScript(process.execPath, (await w.load()).entry.execArgv, (await w.load()).entry.script, ["exec", "square/0", ...s.argv]),
    )
    record("square/0", queuedEarlier)
    record("sum", "99999")
    const { summary, events } = await simulatedRun(w, cluster)
    assert.ok(events.some((e) => e.type === "message" && e.text.includes(`square/0: following job ${queuedEarlier} (pending)`)), JSON.stringify(events))
    assert.equal(summary.fresh, ["source"])
    assert.equal(summary.ran.map((r) => r.id).sort(), ["square/0", "sum"])
    assert.is(cluster.jobs.size, 2, "only sum was submitted")
    const sumJob = [...cluster.jobs.keys()].find((id) => id !== queuedEarlier)!
    assert.is(cluster.flag(sumJob, "dependency"), `afterok:${queuedEarlier}`)
    assert.equal(w.takeRuns(), ["square/0", "sum"])
  } finally {
    w.dispose()
  }
})

test("simulated cluster: when squeue cannot say whether a recorded job is still queued, the stage is not resubmitted", async () => {
  const w = new Workspace({ n: 1 })
  try {
    await w.run(["square/0"])
    const cluster = new SimulatedCluster(process.env)
    const s = await w.session()
    const store = join(w.root, "artifacts")
    writeJobRecord(store, { jobId: "41", stage: "sum", fingerprint: s.fps.get("sum")!.fingerprint, log: "x", submittedAt: new Date().toISOString(), driver: { host: "elsewhere", pid: 1 } })
    const down: SlurmCommands = { ...cluster, query: () => { throw new Error("squeue: slurm_load_jobs error: Unable to contact slurm controller") } }
    const project = await w.load()
    const env = { store: s.store, locks: s.locks, reporter: { event: () => {} }, root: project.root }
    const summary = await Effect.runPromise(
      slurmScheduler(env, { settings: { pollSeconds: 0.01 }, entry: project.entry, project: project.name, argsFor: () => [], slurm: down })({ nodes: s.graph.nodes, fps: s.fps }, { force: new Set() }),
    )
    assert.equal(summary.fresh, ["source", "square/0"])
    assert.equal(summary.failed.map((f) => f.id), ["sum"])
    assert.match(summary.failed[0]!.message, /cannot tell whether job 41, submitted earlier for it, is still queued \(squeue: .*Unable to contact/)
    assert.is(cluster.jobs.size, 0, "nothing submitted")
  } finally {
    w.dispose()
  }
})

test("simulated cluster: an sbatch that fails after the controller queued the job (a timeout) does not lose it: the driver finds it by its comment and follows it", async () => {
  const w = new Workspace({ n: 1 })
  try {
    const cluster = new SimulatedCluster({ ...process.env, TOY_ROOT: w.root, TOY_RUNS: w.runsFile })
    const accept = cluster.submit
    cluster.submit = (flags, script) => {
      const id = accept(flags, script)
      if (flags.includes("--job-name=sum")) throw new Error("sbatch --parsable failed: Socket timed out on send/recv operation")
      return id
    }
    const { summary, events } = await simulatedRun(w, cluster)
    const sumJobs = [...cluster.jobs].filter(([, j]) => j.flags.includes("--job-name=sum")).map(([id]) => id)
    assert.is(sumJobs.length, 1)
    assert.ok(events.some((e) => e.type === "message" && e.text.includes(`sum: sbatch failed (sbatch --parsable failed: Socket timed out`) && e.text.includes(`queued job ${sumJobs[0]}; following it`)), JSON.stringify(events))
    assert.equal(summary.failed, [])
    assert.equal(summary.ran.map((r) => r.id).sort(), ["source", "square/0", "sum"])
    assert.equal(w.takeRuns(), ["source", "square/0", "sum"])
    assert.equal(listJobs(join(w.root, "artifacts")), [])
  } finally {
    w.dispose()
  }
})

test("simulated cluster: a job record that cannot be written after sbatch: the driver still follows the queued job, submitted once", async () => {
  const w = new Workspace({ n: 1 })
  try {
    const cluster = new SimulatedCluster({ ...process.env, TOY_ROOT: w.root, TOY_RUNS: w.runsFile })
    const s = await w.session()
    const record = join(w.root, "artifacts", ".slurm", "jobs", `${s.fps.get("sum")!.fingerprint}.json`)
    let writes = 0
    // The claim (first write) goes through; the record naming the job id (second) hits a full disk.
    const { summary, events } = await failingRename("ENOSPC", (_from, to) => to === record && ++writes === 2, () => simulatedRun(w, cluster))
    const sumJobs = [...cluster.jobs].filter(([, j]) => j.flags.includes("--job-name=sum")).map(([id]) => id)
    assert.is(sumJobs.length, 1)
    assert.ok(events.some((e) => e.type === "message" && e.text.startsWith(`sum: could not record job ${sumJobs[0]} (ENOSPC`)), JSON.stringify(events))
    assert.equal(summary.failed, [])
    assert.equal(w.takeRuns(), ["source", "square/0", "sum"])
  } finally {
    w.dispose()
  }
})

test("simulated cluster: a driver killed between sbatch and the record write leaves a claim; the next driver finds that job by its comment instead of submitting another", async () => {
  const w = new Workspace({ n: 1 })
  try {
    await w.run(["source"])
    w.takeRuns()
    const cluster = new SimulatedCluster({ ...process.env, TOY_ROOT: w.root, TOY_RUNS: w.runsFile })
    const s = await w.session()
    const project = await w.load()
    const store = join(w.root, "artifacts")
    const sq = s.fps.get("square/0")!
    // What the killed driver left: its claim, and the job sbatch had queued (no record names its id).
    writeJobRecord(store, { claimed: true, stage: "square/0", fingerprint: sq.fingerprint, comment: jobComment(project.name, sq.fingerprint), claimedAt: new Date().toISOString(), driver: { host: "login-2", pid: 7 } })
    const queuedEarlier = cluster.submit(
      sbatchFlags(sq.node, { pollSeconds: 1 }, join(store, ".slurm", "logs", "square", "0-%j.out"), w.root, [], sq.fingerprint, project.name),
      batchScript(process.execPath, project.entry.execArgv, project.entry.script, ["exec", "square/0", "--expect", sq.fingerprint, ...s.argv]),
    )
    const { summary, events } = await simulatedRun(w, cluster)
    assert.ok(events.some((e) => e.type === "message" && e.text.includes(`square/0: following job ${queuedEarlier} (pending)`)), JSON.stringify(events))
    assert.is(cluster.jobs.size, 2, "only sum was submitted")
    assert.equal(summary.ran.map((r) => r.id).sort(), ["square/0", "sum"])
    assert.equal(w.takeRuns(), ["square/0", "sum"])
  } finally {
    w.dispose()
  }
})

/** A toy workspace after one local run, its store and the store's (created) Slurm events folder, disposed after `body`. */
const afterRunWithEvents = async (n: number, body: (w: Workspace, s: Session, store: string, events: string) => Promise<void>): Promise<void> => {
  const w = new Workspace({ n })
  try {
    await w.run()
    const store = join(w.root, "artifacts")
    const events = join(store, ".slurm", "events")
    mkdirSync(events, { recursive: true })
    await body(w, await w.session(), store, events)
  } finally {
    w.dispose()
  }
}

test("gc removes the events files of abandoned Slurm jobs, not those of recorded jobs or of a job whose record is being written", () =>
  afterRunWithEvents(1, async (w, s, store, events) => {
    const old = new Date(Date.now() - 3600_000)
    for (const job of ["555", "556", "557"]) writeFileSync(join(events, `${job}.jsonl`), `{"type":"message","text":"job ${job}"}\n`)
    for (const job of ["555", "556"]) utimesSync(join(events, `${job}.jsonl`), old, old)
    // 556 is still followed (recorded); 557 is unrecorded but written just now.
    writeJobRecord(store, { jobId: "556", stage: "sum", fingerprint: s.fps.get("sum")!.fingerprint, log: "x", submittedAt: new Date().toISOString(), driver: { host: "elsewhere", pid: 1 } })
    const dry = w.cli(["gc", "--dry-run"])
    assert.is(await dry.done, 0, dry.output())
    assert.match(dry.output(), "would remove .slurm/events/555.jsonl")
    assert.equal(readdirSync(events).sort(), ["555.jsonl", "556.jsonl", "557.jsonl"])
    const gc = w.cli(["gc"])
    assert.is(await gc.done, 0, gc.output())
    assert.match(gc.output(), "removed .slurm/events/555.jsonl")
    assert.equal(readdirSync(events).sort(), ["556.jsonl", "557.jsonl"])
  }),
)

test("gc removes the records (and events) of jobs whose stage committed after they were submitted; a --force rerun's later record stays", () =>
  afterRunWithEvents(2, async (w, s, store, events) => {
    const [sq0, sq1] = [s.fps.get("square/0")!, s.fps.get("square/1")!]
    const before = new Date(Date.parse(s.store.readManifest("square/0", sq0.fingerprint)!.startedAt) - 1000).toISOString()
    // A driver killed before it saw job 601 end (the stage then committed); 602 is a --force rerun submitted since.
    writeJobRecord(store, { jobId: "601", stage: "square/0", fingerprint: sq0.fingerprint, log: "x", submittedAt: before, driver: { host: "elsewhere", pid: 1 } })
    writeJobRecord(store, { jobId: "602", stage: "square/1", fingerprint: sq1.fingerprint, log: "x", submittedAt: new Date(Date.now() + 1000).toISOString(), driver: { host: "elsewhere", pid: 1 } })
    const old = new Date(Date.now() - 3600_000)
    for (const job of ["601", "602"]) (writeFileSync(join(events, `${job}.jsonl`), "{}\n"), utimesSync(join(events, `${job}.jsonl`), old, old))
    const dry = w.cli(["gc", "--dry-run"])
    assert.is(await dry.done, 0, dry.output())
    assert.match(dry.output(), `would remove .slurm/jobs/${sq0.fingerprint}.json`)
    assert.match(dry.output(), "would remove .slurm/events/601.jsonl")
    assert.equal(listJobRecords(store).map((r) => r.jobId).sort(), ["601", "602"], "a dry run removes nothing")
    const gc = w.cli(["gc"])
    assert.is(await gc.done, 0, gc.output())
    assert.equal(listJobRecords(store).map((r) => r.jobId), ["602"])
    assert.equal(readdirSync(events), ["602.jsonl"])
  }),
)

const available = slurmAvailable()
if (!available.ok) {
  console.log(`  slurm.test.ts: skipping the cluster tests: ${available.reason} (CI starts a cluster with .ci/slurm/start.sh)`)
} else {
  test("slurm: a run produces the same fingerprints and artifacts as a local run; nothing is left queued", async () => {
    const viaSlurm = new Workspace({ n: 2 })
    const local = new Workspace({ n: 2 })
    try {
      const r = slurmRun(viaSlurm)
      assert.is(await r.done, 0, r.output())
      const out = r.output()
      assert.match(out, /4 ran, 0 fresh, 0 failed, 0 not run/)
      assert.match(out, /sum: submitted job \d+ \(after \d+, \d+\)/, out)
      assert.match(out, /▶ sum\n(.*\n)*✓ sum/, out)
      assert.equal(viaSlurm.takeRuns(), ids)
      assert.equal(listJobRecords(join(viaSlurm.root, "artifacts")), [], "job records removed once the jobs are done")
      await local.run()
      const a = await artifacts(viaSlurm)
      const b = await artifacts(local)
      assert.equal(Object.keys(a).sort(), ids)
      assert.equal(a, b)
      assert.equal(JSON.parse(readFileSync(join(viaSlurm.root, "artifacts", "sum", a.sum!.fingerprint, "manifest.json"), "utf8")).result, { total: 10 ** 2 + 11 ** 2 })
      // A second run finds everything fresh and submits nothing.
      const again = slurmRun(viaSlurm)
      assert.is(await again.done, 0, again.output())
      assert.match(again.output(), /0 ran, 4 fresh/)
      assert.not.match(again.output(), /submitted job/)
    } finally {
      cancelLeftovers(viaSlurm)
      viaSlurm.dispose()
      local.dispose()
    }
  })

  test("slurm: a failing stage leaves its dependants unrun (their jobs cancelled); exit non-zero with the job's log", async () => {
    const w = new Workspace({ n: 2, fail: [1] })
    try {
      const r = slurmRun(w)
      const code = await r.done
      const out = r.output()
      assert.is(code, 1, out)
      assert.match(out, /2 ran, 0 fresh, 1 failed, 1 not run/)
      assert.match(out, /✗ square\/1: Slurm job (\d+) ended FAILED/)
      assert.match(out, /Not run because an input failed: sum/)
      const log = /log: (\S+\/\.slurm\/logs\/square\/1-\d+\.out)/.exec(out)?.[1]
      assert.ok(log && existsSync(log), out)
      assert.match(readFileSync(log!, "utf8"), /square 1 was told to fail/)
      assert.equal(w.takeRuns(), ["source", "square/0", "square/1"])
      const sumJob = /sum: submitted job (\d+)/.exec(out)?.[1]
      assert.ok(sumJob, out)
      assert.equal(queued([sumJob!]), [], "the dependant's job is not left pending")
    } finally {
      cancelLeftovers(w)
      w.dispose()
    }
  })

  test("slurm: a driver killed mid-run and restarted adopts the live jobs; every stage runs exactly once", async () => {
    const w = new Workspace({ n: 2, slowMs: 3000 })
    try {
      const first = slurmRun(w)
      const s = await w.session()
      const sourceFp = s.fps.get("source")!.fingerprint
      // Once source is committed, the squares are running or queued and sum is waiting on them.
      await waitFor(() => s.store.isComplete("source", sourceFp), 90_000, "source to finish on the cluster")
      first.kill("SIGKILL")
      await first.done
      const records = listJobRecords(join(w.root, "artifacts"))
      assert.ok(records.some((r) => r.stage === "sum"), `job records kept: ${records.map((r) => r.stage).join(", ")}`)
      const second = slurmRun(w)
      assert.is(await second.done, 0, second.output())
      const out = second.output()
      assert.match(out, /sum: following job \d+/, out)
      assert.not.match(out, /submitted job/, out)
      assert.equal(w.takeRuns(), ids, "each stage ran exactly once")
      const a = await artifacts(w)
      assert.equal(Object.keys(a).sort(), ids)
    } finally {
      cancelLeftovers(w)
      w.dispose()
    }
  })

  test("slurm: two drivers started on one store at once submit each stage once; the second follows the first's jobs", async () => {
    const w = new Workspace({ n: 2, slowMs: 3000 })
    // A slow sbatch (a busy controller) widens the window in which the first driver has
    // submitted some of its jobs and not the others.
    const bin = join(w.root, "slow-bin")
    mkdirSync(bin)
    const sbatch = execFileSync("/bin/sh", ["-c", "command -v sbatch"], { encoding: "utf8" }).trim()
    writeFileSync(join(bin, "sbatch"), `#!/bin/sh\nsleep 1.5\nexec '${sbatch}' "$@"\n`, { mode: 0o755 })
    const env = { PATH: `${bin}:${process.env.PATH}` }
    let submitted: string[] = []
    try {
      const a = slurmRun(w, [], env)
      await waitFor(() => /submitted job/.test(a.output()), 60_000, "the first driver's first job")
      const b = slurmRun(w, [], env)
      const [ca, cb] = await Promise.all([a.done, b.done])
      const both = `--- first:\n${a.output()}\n--- second:\n${b.output()}`
      submitted = [...both.matchAll(/submitted job (\d+)/g)].map((m) => m[1]!)
      assert.is(ca, 0, both)
      assert.is(cb, 0, both)
      assert.is(submitted.length, 4, both)
      assert.not.match(b.output(), /submitted job/, both)
      assert.match(b.output(), /waiting for the Slurm driver pid \d+ on \S+ to finish submitting to this store/, both)
      assert.match(b.output(), /following job \d+/, both)
      assert.equal(w.takeRuns(), ids, "each stage ran exactly once")
    } finally {
      cancelRecordedJobs(join(w.root, "artifacts"), submitted)
      w.dispose()
    }
  })

  test("slurm: a project, store and environment whose paths hold spaces, quotes, `$` and `%` reach the jobs intact", async () => {
    // TOY_ROOT (the workspace's path) is an environment value every job reads.
    const w = new Workspace({ n: 1 }, `it's a "$HOME" 100%x-`)
    try {
      const r = slurmRun(w)
      assert.is(await r.done, 0, r.output())
      assert.match(r.output(), /3 ran, 0 fresh, 0 failed/, r.output())
      assert.equal(w.takeRuns(), ["source", "square/0", "sum"])
      const s = await w.session()
      assert.equal(s.store.verify(), [])
      const jobs = [...r.output().matchAll(/(\S+): submitted job (\d+)/g)].map((m) => ({ id: m[1]!, job: m[2]! }))
      assert.is(jobs.length, 3, r.output())
      // Each job's log is where the driver looks for it: the path's % came through as one.
      for (const { id, job } of jobs) assert.ok(existsSync(jobLogPath(join(w.root, "artifacts"), id, job)), `${id}: ${jobLogPath(join(w.root, "artifacts"), id, job)}`)
      // A job is found again by its comment (what recovers a claim whose id was never recorded).
      const project = await w.load()
      // (An earlier run of this suite may have left finished jobs of the same fingerprint in squeue's memory.)
      for (const { id, job } of jobs) assert.ok(slurmCommands.findByComment(jobComment(project.name, s.fps.get(id)!.fingerprint)).includes(job), id)
    } finally {
      cancelLeftovers(w)
      w.dispose()
    }
  })

  test("slurm: SIGTERM cancels the driver's jobs and exits non-zero", async () => {
    const w = new Workspace({ n: 2, slowMs: 30_000 })
    try {
      const driver = slurmRun(w)
      await waitFor(() => /sum: submitted job/.test(driver.output()), 60_000, "all jobs submitted")
      const jobs = [...driver.output().matchAll(/submitted job (\d+)/g)].map((m) => m[1]!)
      assert.is(jobs.length, 4, driver.output())
      driver.kill("SIGTERM")
      assert.is.not(await driver.done, 0)
      assert.match(driver.output(), /interrupted: cancelling Slurm jobs/)
      await waitFor(() => queued(jobs).length === 0, 30_000, "the cancelled jobs to leave the queue")
      assert.equal(listJobRecords(join(w.root, "artifacts")), [])
      const s = await w.session()
      assert.not.ok(s.store.isComplete("sum", s.fps.get("sum")!.fingerprint))
      // Cancelled workers clean up their temp dirs (scancel sends SIGTERM first).
      const tmp = join(w.root, "artifacts", ".tmp")
      await waitFor(() => !existsSync(tmp) || readdirSync(tmp).length === 0, 30_000, "cancelled workers to remove their temp dirs")
    } finally {
      cancelLeftovers(w)
      w.dispose()
    }
  })
}

test.run()
