// The Slurm executor: a layer beside the local one that takes the same plan. The driver
// stays the planner and the cache authority; Slurm runs the work. Every stale stage
// becomes one `sbatch` job running `transfusion exec <id> --expect <fingerprint>` against
// the shared store (the same commit protocol as a local worker), chained to the jobs of
// its stale upstreams with `--dependency=afterok:...`, so the whole plan is queued at once
// and the cluster starts each stage as soon as its inputs exist.
//
// The driver then only watches: a stage is done when its artifact is committed in the
// store (the store, not Slurm's bookkeeping, says what succeeded), and failed when its job
// left the queue without one. Submitted jobs are recorded by fingerprint under
// `<store>/.slurm/jobs/`, so a driver that was killed and started again adopts the jobs
// still queued or running instead of submitting them twice. Ctrl-C / SIGTERM cancels them.
import { execFileSync } from "node:child_process"
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs"
import { hostname } from "node:os"
import { dirname, join } from "node:path"
import * as Effect from "effect/Effect"
import type { StageEvent } from "../events.ts"
import type { Fingerprinted } from "../fingerprint.ts"
import { updateLinks, type ExecEnv } from "../execute.ts"
import type { RunSummary } from "../scheduler.ts"
import type { AnyNode } from "../stage.ts"

/** How a run talks to the cluster: `--slurm-*` options, or the project config's `executor`. */
export interface SlurmSettings {
  /** `sbatch --partition`; the cluster's default partition when absent. */
  readonly partition?: string
  /** `sbatch --account` (the allocation jobs are charged to). */
  readonly account?: string
  /** `sbatch --time` per job, in Slurm's syntax ("90", "2:00:00", "1-00:00:00"). */
  readonly timeLimit?: string
  /** Further `sbatch` flags, passed verbatim (e.g. ["--qos=high", "--constraint=a100"]). */
  readonly extraFlags?: readonly string[]
  /**
   * The artifact store for cluster runs: a path on a filesystem every node mounts at the
   * same place. The run's `--store` wins over it; without either, the project's default.
   */
  readonly store?: string
  /** Seconds between `squeue` polls. */
  readonly pollSeconds: number
  /** The node binary on the compute nodes; defaults to the driver's (`process.execPath`). */
  readonly node?: string
}

export const defaultSlurmSettings: SlurmSettings = { pollSeconds: 5 }

/** What a stage's job runs: the CLI entry (as local workers do) and its `exec` arguments. */
export interface SlurmRunOptions {
  readonly settings: SlurmSettings
  readonly entry: { readonly script: string; readonly execArgv: readonly string[] }
  /** `exec <id> --expect <fingerprint> ...` plus the driver's global options. */
  readonly argsFor: (target: Fingerprinted, force: boolean) => string[]
  /** Ids to rerun even when an artifact with their fingerprint exists. */
  readonly force: ReadonlySet<string>
  /** The jobs' working directory (default: the driver's). */
  readonly cwd?: string
  /** The Slurm commands; replaced in tests of the bookkeeping. */
  readonly slurm?: SlurmCommands
}

export class SlurmError extends Error {}

/** A job as `squeue` reports it. */
export interface JobInfo {
  readonly state: string
  readonly reason: string
}

/** The handful of Slurm commands the executor needs. */
export interface SlurmCommands {
  /** Submits a batch script; returns the job id. */
  readonly submit: (flags: readonly string[], script: string) => string
  /** States of those of `ids` Slurm still knows; a job missing from the map has left the queue long ago. */
  readonly query: (ids: readonly string[]) => Map<string, JobInfo>
  /** The job's exit code ("1:0") while Slurm still remembers it. */
  readonly exitCode: (id: string) => string | undefined
  readonly cancel: (ids: readonly string[]) => void
}

const run = (cmd: string, args: readonly string[], input?: string): string => {
  try {
    return execFileSync(cmd, args, { encoding: "utf8", input, stdio: ["pipe", "pipe", "pipe"], timeout: 60_000 })
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string; status?: number }
    if (err.code === "ENOENT") throw new SlurmError(`${cmd} is not on PATH: the Slurm executor needs the Slurm client commands (sbatch, squeue, scancel) on this machine`)
    throw new SlurmError(`${cmd} ${args.join(" ")} failed${err.status !== undefined ? ` (exit ${err.status})` : ""}: ${(err.stderr ?? err.message).trim()}`)
  }
}

export const slurmCommands: SlurmCommands = {
  submit: (flags, script) => {
    const out = run("sbatch", ["--parsable", ...flags], script).trim()
    // --parsable prints "<id>" or "<id>;<cluster>".
    const id = out.split(";")[0]!.trim()
    if (!/^\d+$/.test(id)) throw new SlurmError(`sbatch printed "${out}" where a job id was expected`)
    return id
  },
  query: (ids) => {
    const found = new Map<string, JobInfo>()
    if (ids.length === 0) return found
    let out: string
    try {
      out = run("squeue", ["-h", "-t", "all", "-j", ids.join(","), "-o", "%i|%T|%r"])
    } catch (e) {
      // squeue fails when none of the ids is known any more: all of them have left.
      if (/Invalid job id/i.test((e as Error).message)) return found
      throw e
    }
    for (const line of out.split("\n")) {
      const [id, state, reason] = line.trim().split("|")
      if (id && state) found.set(id, { state, reason: reason ?? "" })
    }
    return found
  },
  exitCode: (id) => {
    try {
      return /\bExitCode=(\S+)/.exec(run("scontrol", ["show", "job", "-o", id]))?.[1]
    } catch {
      return undefined
    }
  },
  cancel: (ids) => {
    if (ids.length) run("scancel", [...ids])
  },
}

/** True when `sbatch` exists and the controller answers; otherwise why not. */
export const slurmAvailable = (): { ok: true } | { ok: false; reason: string } => {
  try {
    run("sbatch", ["--version"])
  } catch (e) {
    return { ok: false, reason: (e as Error).message }
  }
  try {
    const states = run("sinfo", ["-h", "-o", "%T"]).split("\n").filter(Boolean)
    if (!states.some((s) => /^(idle|mixed|allocated|completing)/.test(s))) {
      return { ok: false, reason: `no Slurm node is up (sinfo reports: ${states.join(", ") || "no nodes"})` }
    }
    return { ok: true }
  } catch (e) {
    return { ok: false, reason: `the Slurm controller does not answer: ${(e as Error).message}` }
  }
}

/** States in which a job will still run (or is running); anything else has ended. */
const ENDED = new Set(["COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL", "DEADLINE", "OUT_OF_MEMORY", "REVOKED"])
const isLive = (info: JobInfo | undefined): boolean => info !== undefined && !ENDED.has(info.state)
/** A pending job whose afterok upstream failed: Slurm will never start it. */
const isOrphaned = (info: JobInfo): boolean => info.state === "PENDING" && /DependencyNeverSatisfied/.test(info.reason)

/** What the store keeps about a submitted job, so a restarted driver can adopt it. */
export interface JobRecord {
  readonly jobId: string
  readonly stage: string
  readonly fingerprint: string
  /** The job's stdout+stderr. */
  readonly log: string
  readonly submittedAt: string
  readonly driver: { readonly host: string; readonly pid: number }
}

export const slurmDir = (storeRoot: string): string => join(storeRoot, ".slurm")
export const jobRecordPath = (storeRoot: string, fingerprint: string): string => join(slurmDir(storeRoot), "jobs", `${fingerprint}.json`)
/** `%j` is Slurm's placeholder for the job id. */
export const jobLogPattern = (storeRoot: string, id: string): string => join(slurmDir(storeRoot), "logs", `${id}-%j.out`)

export const readJobRecord = (storeRoot: string, fingerprint: string): JobRecord | undefined => {
  try {
    return JSON.parse(readFileSync(jobRecordPath(storeRoot, fingerprint), "utf8")) as JobRecord
  } catch {
    return undefined
  }
}

export const listJobRecords = (storeRoot: string): JobRecord[] => {
  const dir = join(slurmDir(storeRoot), "jobs")
  if (!existsSync(dir)) return []
  return readdirSync(dir)
    .filter((f) => f.endsWith(".json"))
    .flatMap((f) => {
      const r = readJobRecord(storeRoot, f.slice(0, -5))
      return r ? [r] : []
    })
}

export const writeJobRecord = (storeRoot: string, record: JobRecord): void => {
  const path = jobRecordPath(storeRoot, record.fingerprint)
  mkdirSync(dirname(path), { recursive: true })
  const tmp = `${path}.${process.pid}.tmp`
  writeFileSync(tmp, JSON.stringify(record, null, 2))
  renameSync(tmp, path)
}

const removeJobRecord = (storeRoot: string, fingerprint: string): void => rmSync(jobRecordPath(storeRoot, fingerprint), { force: true })

const shellQuote = (s: string): string => `'${s.replaceAll("'", `'\\''`)}'`

/** The `sbatch` flags for one stage: its resources, the settings, its upstream jobs. */
export const sbatchFlags = (
  node: AnyNode,
  settings: SlurmSettings,
  logPattern: string,
  cwd: string,
  afterOk: readonly string[],
  fingerprint: string,
): string[] => {
  const r = node.resources
  const flags = [
    `--job-name=${node.id}`,
    `--comment=transfusion ${fingerprint}`,
    `--output=${logPattern}`,
    `--chdir=${cwd}`,
    "--nodes=1",
    "--ntasks=1",
    `--cpus-per-task=${Math.max(1, Math.ceil(r.cpu))}`,
    // The job sees the driver's environment (as a local worker does), marked as a worker.
    "--export=ALL,TRANSFUSION_WORKER=1",
  ]
  if (r.gpu > 0) flags.push(`--gres=gpu:${r.gpu}`)
  if (r.memoryMiB !== undefined) flags.push(`--mem=${Math.ceil(r.memoryMiB)}M`)
  if (settings.partition) flags.push(`--partition=${settings.partition}`)
  if (settings.account) flags.push(`--account=${settings.account}`)
  if (settings.timeLimit) flags.push(`--time=${settings.timeLimit}`)
  if (afterOk.length) flags.push(`--dependency=afterok:${afterOk.join(":")}`)
  flags.push(...(settings.extraFlags ?? []))
  return flags
}

/**
 * The batch script: exec (not a child) so scancel's SIGTERM reaches the stage, which cleans
 * up. With `eventsDir`, the worker appends its events (progress...) to `<eventsDir>/<job id>.jsonl`.
 */
export const batchScript = (node: string, execArgv: readonly string[], script: string, args: readonly string[], eventsDir?: string): string =>
  `#!/bin/sh\n${eventsDir ? `TRANSFUSION_EVENTS_FILE=${shellQuote(eventsDir)}/"$SLURM_JOB_ID.jsonl"\nexport TRANSFUSION_EVENTS_FILE\n` : ""}exec ${[
    node,
    ...execArgv,
    script,
    ...args,
  ]
    .map(shellQuote)
    .join(" ")}\n`

export const eventsDirOf = (storeRoot: string): string => join(slurmDir(storeRoot), "events")

const tailOf = (path: string, lines: number): string[] => {
  try {
    return readFileSync(path, "utf8").split("\n").filter((l) => l.trim()).slice(-lines)
  } catch {
    return []
  }
}

interface Tracked {
  readonly node: AnyNode
  readonly target: Fingerprinted
  readonly jobId: string
  readonly log: string
  readonly submittedAt: number
  readonly adopted: boolean
  started: boolean
  /** Bytes of the job's events file already forwarded. */
  eventsRead: number
  /** When the job was first seen ended without a visible artifact. */
  endedAt?: number
}

/** How long a job that ended successfully gets for its artifact to become visible to the driver. */
const COMMIT_VISIBLE_MS = 15_000

/**
 * Runs the stale stages among `nodes` (topologically ordered, as `selectNodes` returns
 * them) as Slurm jobs and follows them to the end. Reports through `env.reporter` like the
 * local scheduler and returns the same summary.
 */
export const runOnSlurm = (
  nodes: readonly AnyNode[],
  fps: ReadonlyMap<string, Fingerprinted>,
  env: ExecEnv,
  options: SlurmRunOptions,
): Effect.Effect<RunSummary> => {
  const slurm = options.slurm ?? slurmCommands
  const { store, reporter } = env
  const settings = options.settings
  const summary: RunSummary = { fresh: [], ran: [], failed: [], notRun: [] }
  const active = new Map<string, Tracked>() // by stage id, until finished
  const settled = new Map<string, boolean>() // stage id -> its artifact exists (true) or never will in this run
  const say = (text: string) => reporter.event({ type: "message", text })

  const notRun = (id: string, because: string) => {
    settled.set(id, false)
    summary.notRun.push({ id, because })
    reporter.event({ type: "finished", id, status: "not-run", message: because })
  }
  const fail = (id: string, message: string, logPath?: string) => {
    settled.set(id, false)
    const failed = { id, message, ...(logPath ? { logPath } : {}) }
    summary.failed.push(failed)
    reporter.event({ type: "finished", status: "failed", ...failed })
  }

  /** Dependants of a failed stage that are still queued: cancel their jobs, report them not run. */
  const dropDependants = (failedId: string) => {
    const cancel: string[] = []
    for (const node of nodes) {
      if (settled.has(node.id)) continue
      const blocked = Object.values(node.inputs).filter((up) => settled.get(up.id) === false)
      if (blocked.length === 0) continue
      const t = active.get(node.id)
      if (t) {
        cancel.push(t.jobId)
        active.delete(node.id)
        removeJobRecord(store.root, t.target.fingerprint)
      }
      notRun(node.id, `input ${blocked.map((u) => u.id).join(", ")} did not complete${t ? ` (job ${t.jobId} cancelled)` : ""}`)
    }
    if (cancel.length) {
      try {
        slurm.cancel(cancel)
      } catch (e) {
        say(`could not cancel jobs ${cancel.join(", ")} after ${failedId} failed: ${(e as Error).message}`)
      }
    }
  }

  const eventsDir = eventsDirOf(store.root)
  const submitAll = () => {
    mkdirSync(eventsDir, { recursive: true })
    // Jobs an earlier driver of this store submitted, to adopt rather than resubmit.
    const records = new Map<string, JobRecord>()
    for (const node of nodes) {
      const r = readJobRecord(store.root, fps.get(node.id)!.fingerprint)
      if (r) records.set(node.id, r)
    }
    let known = new Map<string, JobInfo>()
    let unknowable: string | undefined
    try {
      if (records.size) known = slurm.query([...records.values()].map((r) => r.jobId))
    } catch (e) {
      unknowable = (e as Error).message
    }
    const orphans: string[] = []

    for (const node of nodes) {
      const target = fps.get(node.id)!
      const force = options.force.has(node.id)
      if (!force && store.isComplete(node.id, target.fingerprint)) {
        store.setLatest(node.id, target.fingerprint)
        updateLinks(env, target)
        summary.fresh.push(node.id)
        settled.set(node.id, true)
        removeJobRecord(store.root, target.fingerprint)
        continue
      }
      const blocked = Object.values(node.inputs).filter((up) => settled.get(up.id) === false)
      if (blocked.length) {
        notRun(node.id, `input ${blocked.map((u) => u.id).join(", ")} did not complete`)
        continue
      }
      const record = records.get(node.id)
      if (record && unknowable) {
        // Resubmitting a job that may still be queued would run the stage twice.
        fail(node.id, `cannot tell whether job ${record.jobId}, submitted earlier for it, is still queued (${unknowable}); not submitting it again`)
        continue
      }
      const info = record ? known.get(record.jobId) : undefined
      if (record && info && isLive(info) && !isOrphaned(info)) {
        active.set(node.id, { node, target, jobId: record.jobId, log: record.log, submittedAt: Date.parse(record.submittedAt), adopted: true, started: false, eventsRead: 0 })
        say(`${node.id}: following job ${record.jobId} (${info.state.toLowerCase()}), submitted earlier by pid ${record.driver.pid} on ${record.driver.host}`)
        continue
      }
      if (record && isLive(info)) orphans.push(record.jobId)
      const afterOk: string[] = []
      for (const up of Object.values(node.inputs)) {
        const t = active.get(up.id)
        if (t) afterOk.push(t.jobId)
      }
      const logPattern = jobLogPattern(store.root, node.id)
      mkdirSync(dirname(logPattern), { recursive: true })
      const flags = sbatchFlags(node, settings, logPattern, options.cwd ?? process.cwd(), afterOk, target.fingerprint)
      const script = batchScript(settings.node ?? process.execPath, options.entry.execArgv, options.entry.script, options.argsFor(target, force), eventsDir)
      let jobId: string
      try {
        jobId = slurm.submit(flags, script)
      } catch (e) {
        fail(node.id, `could not submit: ${(e as Error).message}`)
        continue
      }
      const log = logPattern.replace("%j", jobId)
      const submittedAt = Date.now()
      writeJobRecord(store.root, {
        jobId,
        stage: node.id,
        fingerprint: target.fingerprint,
        log,
        submittedAt: new Date(submittedAt).toISOString(),
        driver: { host: hostname(), pid: process.pid },
      })
      active.set(node.id, { node, target, jobId, log, submittedAt, adopted: false, started: false, eventsRead: 0 })
      say(`${node.id}: submitted job ${jobId}${afterOk.length ? ` (after ${afterOk.join(", ")})` : ""}`)
    }
    // Queued by an earlier driver behind a job that failed: they would wait forever.
    if (orphans.length) slurm.cancel(orphans)
  }

  /** Forwards what the job's worker reported since the last poll (started with its pid, progress, log lines). */
  const forwardEvents = (t: Tracked) => {
    const path = join(eventsDir, `${t.jobId}.jsonl`)
    let text: string
    try {
      const buf = readFileSync(path)
      if (buf.length <= t.eventsRead) return
      const end = buf.lastIndexOf(0x0a) + 1 // whole lines only: the worker may be mid-write
      if (end <= t.eventsRead) return
      text = buf.subarray(t.eventsRead, end).toString("utf8")
      t.eventsRead = end
    } catch {
      return
    }
    for (const line of text.split("\n")) {
      if (!line) continue
      let e: StageEvent
      try {
        e = JSON.parse(line) as StageEvent
      } catch {
        continue
      }
      if (e.type === "finished") continue // the driver decides how a stage ended
      if (e.type === "started") {
        if (t.started) continue
        t.started = true
      }
      reporter.event(e)
    }
  }

  const finishOne = (t: Tracked, info: JobInfo | undefined) => {
    const { node, target } = t
    forwardEvents(t)
    rmSync(join(eventsDir, `${t.jobId}.jsonl`), { force: true })
    // A worker that never reported (its events file unreadable here) still gets a start line; pid unknown.
    if (!t.started) reporter.event({ type: "started", id: node.id, fingerprint: target.fingerprint, pid: 0 })
    active.delete(node.id)
    removeJobRecord(store.root, target.fingerprint)
    const manifest = store.readManifest(node.id, target.fingerprint)
    if (manifest) {
      settled.set(node.id, true)
      store.setLatest(node.id, target.fingerprint)
      updateLinks(env, target)
      // Committed before this job was submitted: someone else ran it, the job found it fresh.
      if (Date.parse(manifest.startedAt) < t.submittedAt && !t.adopted) {
        summary.fresh.push(node.id)
        reporter.event({ type: "message", text: `${node.id}: fresh (committed by another run meanwhile)` })
        return
      }
      const seconds = manifest.durationMs / 1000
      summary.ran.push({ id: node.id, seconds })
      reporter.event({ type: "finished", id: node.id, status: "ran", seconds })
      return
    }
    const how = info
      ? isOrphaned(info)
        ? "will never start: an upstream job failed (DependencyNeverSatisfied)"
        : `ended ${info.state}${info.reason && info.reason !== "None" ? ` (${info.reason})` : ""}`
      : "left the queue"
    const exit = slurm.exitCode(t.jobId)
    const tail = tailOf(t.log, 15)
    const message = `Slurm job ${t.jobId} ${how}${exit && exit !== "0:0" ? `, exit code ${exit}` : ""} without committing an artifact${
      tail.length ? `; its last output:\n    ${tail.join("\n    ")}` : ""
    }`
    if (info && isOrphaned(info)) {
      try {
        slurm.cancel([t.jobId])
      } catch {
        // Already gone.
      }
    }
    fail(node.id, message, t.log)
    dropDependants(node.id)
  }

  const poll = () => {
    const tracked = [...active.values()]
    const known = slurm.query(tracked.map((t) => t.jobId))
    for (const t of tracked) {
      if (!active.has(t.node.id)) continue // dropped as a dependant of a failure in this poll
      const info = known.get(t.jobId)
      // The worker's own "started" (with its pid) arrives through its events file.
      forwardEvents(t)
      // The store decides success; a job is over when it has committed or left the queue.
      const live = isLive(info)
      const committed = store.isComplete(t.node.id, t.target.fingerprint) && !(options.force.has(t.node.id) && live)
      if (committed || (live && isOrphaned(info!))) finishOne(t, info)
      else if (!live) {
        // A job that ended well may have committed on another node moments ago; a shared
        // filesystem's attribute cache can hide the new manifest for a while. Look again.
        t.endedAt ??= Date.now()
        const endedWell = info === undefined || info.state === "COMPLETED"
        if (!endedWell || Date.now() - t.endedAt >= COMMIT_VISIBLE_MS) finishOne(t, info)
      }
    }
  }

  const cancelAll = Effect.sync(() => {
    const ids = [...active.values()].map((t) => t.jobId)
    if (ids.length === 0) return
    reporter.event({ type: "message", text: `interrupted: cancelling Slurm jobs ${ids.join(", ")}` })
    try {
      slurm.cancel(ids)
    } catch (e) {
      reporter.event({ type: "message", text: `could not cancel: ${(e as Error).message}` })
    }
    for (const t of active.values()) removeJobRecord(store.root, t.target.fingerprint)
    active.clear()
  })

  return Effect.gen(function* () {
    yield* Effect.sync(submitAll)
    while (active.size > 0) {
      yield* Effect.sleep(`${Math.max(0.05, settings.pollSeconds) * 1000} millis`)
      const polled = yield* Effect.try(poll).pipe(Effect.either)
      // A controller that does not answer for a moment (restart, overload) is not a failed stage.
      if (polled._tag === "Left") reporter.event({ type: "message", text: `squeue: ${(polled.left.error as Error).message}; retrying` })
    }
    return summary
  }).pipe(Effect.onInterrupt(() => cancelAll))
}
