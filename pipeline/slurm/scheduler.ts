// The Slurm scheduler, the second implementation of `Scheduler` beside the local one. The
// driver stays the planner and the cache authority; Slurm runs the work. Every stale stage
// becomes one `sbatch` job running `transfusion exec <id> --expect <fingerprint>` against
// the shared store (the same commit protocol as a local worker), chained to the jobs of
// its stale upstreams with `--dependency=afterok:...`, so the whole plan is queued at once
// and the cluster starts each stage as soon as its inputs exist.
//
// The driver then only watches: a stage is done when its artifact is committed in the
// store (the store, not Slurm's bookkeeping, says what succeeded), and failed when its job
// left the queue without one. Submitted jobs are recorded by fingerprint (jobs.ts), so a
// driver that was killed and started again adopts the jobs still queued or running
// instead of submitting them twice. Ctrl-C / SIGTERM cancels them.
import { mkdirSync, readFileSync, rmSync } from "node:fs"
import { hostname } from "node:os"
import { dirname, join } from "node:path"
import * as Effect from "effect/Effect"
import { makeRunBook } from "../book.ts"
import type { StageEvent } from "../events.ts"
import type { ExecEnv } from "../execute.ts"
import type { Fingerprinted } from "../fingerprint.ts"
import type { Scheduler } from "../scheduler.ts"
import type { AnyNode } from "../stage.ts"
import { describeOwner } from "../owner.ts"
import { batchScript, jobComment, sbatchFlags } from "./batch.ts"
import { isLive, isOrphaned, slurmCommands, type JobInfo, type SlurmCommands } from "./commands.ts"
import { eventsDirOf, isClaim, jobLogPath, jobLogPattern, readJobRecord, removeJobRecord, writeJobRecord, type JobClaim, type JobRecord } from "./jobs.ts"
import type { SlurmSettings } from "./settings.ts"

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

/** The lock a Slurm driver holds on the store while it reads the job records and submits. */
const SUBMIT_LOCK = "slurm-submit"

/** How long a job that ended successfully gets for its artifact to become visible to the driver. */
const COMMIT_VISIBLE_MS = 15_000

/** What a stage's job runs: the CLI entry (as local workers do) and its `exec` arguments. */
export interface SlurmSchedulerOptions {
  readonly settings: SlurmSettings
  readonly entry: { readonly script: string; readonly execArgv: readonly string[] }
  /** The project's name, written into each job's comment beside the fingerprint. */
  readonly project: string
  /** `exec <id> --expect <fingerprint> ...` plus the driver's global options. */
  readonly argsFor: (target: Fingerprinted, force: boolean) => string[]
  /** The jobs' working directory (default: the driver's). */
  readonly cwd?: string
  /** The Slurm commands; replaced in tests of the bookkeeping. */
  readonly slurm?: SlurmCommands
}

/**
 * Runs a plan's stale stages as Slurm jobs and follows them to the end. Reports through
 * `env.reporter` and books through the run book, like the local scheduler.
 */
export const slurmScheduler =
  (env: ExecEnv, options: SlurmSchedulerOptions): Scheduler =>
  ({ nodes, fps }, { force: forced }) => {
    const slurm = options.slurm ?? slurmCommands
    const { store, reporter } = env
    const settings = options.settings
    const book = makeRunBook(env)
    const active = new Map<string, Tracked>() // by stage id, until finished
    const say = (text: string) => reporter.event({ type: "message", text })

    /** Dependants of a failed stage that are still queued: cancel their jobs, report them not run. */
    const dropDependants = (failedId: string) => {
      const cancel: string[] = []
      for (const node of nodes) {
        if (book.settled(node.id) !== undefined) continue
        const t = active.get(node.id)
        if (book.skipIfInputsFailed(node, t?.jobId).length === 0) continue
        if (t) {
          cancel.push(t.jobId)
          active.delete(node.id)
          removeJobRecord(store.root, t.target.fingerprint)
        }
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
    const driver = { host: hostname(), pid: process.pid }
    /** The record for a job found or submitted now, written before the driver follows it. */
    const recordJob = (node: AnyNode, target: Fingerprinted, jobId: string, submittedAt: number): JobRecord => {
      const record: JobRecord = {
        jobId,
        stage: node.id,
        fingerprint: target.fingerprint,
        log: jobLogPath(store.root, node.id, jobId),
        submittedAt: new Date(submittedAt).toISOString(),
        driver,
      }
      writeJobRecord(store.root, record)
      return record
    }
    /**
     * The live job an earlier sbatch queued for `target` under a claim whose id never got
     * recorded (the driver was killed, or sbatch failed after the controller took the job),
     * found by its comment; undefined when there is none.
     */
    const claimedJob = (target: Fingerprinted): { jobId: string; info: JobInfo } | undefined => {
      const ids = slurm.findByComment(jobComment(options.project, target.fingerprint))
      const states = ids.length ? slurm.query(ids) : new Map<string, JobInfo>()
      const jobId = ids.find((id) => isLive(states.get(id)) && !isOrphaned(states.get(id)!))
      return jobId === undefined ? undefined : { jobId, info: states.get(jobId)! }
    }
    const submitAll = () => {
      mkdirSync(eventsDir, { recursive: true })
      // Jobs an earlier driver of this store submitted or claimed, to adopt rather than resubmit.
      const records = new Map<string, JobRecord>()
      const claims = new Map<string, JobClaim>()
      for (const node of nodes) {
        const r = readJobRecord(store.root, fps.get(node.id)!.fingerprint)
        if (r && isClaim(r)) claims.set(node.id, r)
        else if (r) records.set(node.id, r)
      }
      let known = new Map<string, JobInfo>()
      let unknowable: string | undefined
      try {
        if (records.size) known = slurm.query([...records.values()].map((r) => r.jobId))
        // A claim's job, if sbatch queued one, is adopted as if it had been recorded.
        for (const [id, claim] of claims) {
          const node = nodes.find((n) => n.id === id)!
          const found = claimedJob(fps.get(id)!)
          if (found === undefined) continue
          records.set(id, recordJob(node, fps.get(id)!, found.jobId, Date.parse(claim.claimedAt)))
          known.set(found.jobId, found.info)
        }
      } catch (e) {
        unknowable = (e as Error).message
      }
      const orphans: string[] = []

      for (const node of nodes) {
        const target = fps.get(node.id)!
        const force = forced.has(node.id)
        if (book.reuseIfComplete(target, force)) {
          removeJobRecord(store.root, target.fingerprint)
          continue
        }
        if (book.skipIfInputsFailed(node).length) continue
        const record = records.get(node.id)
        if ((record || claims.has(node.id)) && unknowable) {
          // Resubmitting a job that may still be queued would run the stage twice.
          book.failed(node.id, { reason: "job-unknowable", ...(record ? { jobId: record.jobId } : {}), why: unknowable })
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
        mkdirSync(dirname(jobLogPath(store.root, node.id, "")), { recursive: true })
        const flags = sbatchFlags(node, settings, logPattern, options.cwd ?? process.cwd(), afterOk, target.fingerprint, options.project)
        const script = batchScript(settings.node ?? process.execPath, options.entry.execArgv, options.entry.script, options.argsFor(target, force), eventsDir, node.resources.gpu)
        // Claimed before sbatch, so a job is never queued without a record naming it.
        const submittedAt = Date.now()
        try {
          writeJobRecord(store.root, { claimed: true, stage: node.id, fingerprint: target.fingerprint, comment: jobComment(options.project, target.fingerprint), claimedAt: new Date(submittedAt).toISOString(), driver })
        } catch (e) {
          book.failed(node.id, { reason: "submit-failed", message: `could not record the job before submitting it: ${(e as Error).message}` })
          continue
        }
        let jobId: string
        try {
          jobId = slurm.submit(flags, script)
        } catch (e) {
          // sbatch may have failed after the controller queued the job (a timeout): look for it.
          const sbatchError = (e as Error).message
          let found: string | undefined
          try {
            found = claimedJob(target)?.jobId
          } catch (lookup) {
            // The claim stays, so the next driver looks again instead of submitting blindly.
            book.failed(node.id, { reason: "submit-failed", message: `${sbatchError}; and whether it queued a job anyway is unknown (${(lookup as Error).message})` })
            continue
          }
          if (found === undefined) {
            removeJobRecord(store.root, target.fingerprint)
            book.failed(node.id, { reason: "submit-failed", message: sbatchError })
            continue
          }
          say(`${node.id}: sbatch failed (${sbatchError.split("\n")[0]}) but queued job ${found}; following it`)
          jobId = found
        }
        let log = jobLogPath(store.root, node.id, jobId)
        try {
          log = recordJob(node, target, jobId, submittedAt).log
        } catch (e) {
          // The job is queued: follow it. The claim stays, and a later driver finds the job by its comment.
          say(`${node.id}: could not record job ${jobId} (${(e as Error).message}); its claim stays in the store`)
        }
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
        // Committed before this job was submitted: someone else ran it, the job found it fresh.
        if (Date.parse(manifest.startedAt) < t.submittedAt && !t.adopted) {
          book.fresh(target)
          say(`${node.id}: fresh (committed by another run meanwhile)`)
          return
        }
        book.ran(target, manifest.durationMs / 1000)
        return
      }
      const how = info
        ? isOrphaned(info)
          ? "will never start: an upstream job failed (DependencyNeverSatisfied)"
          : `ended ${info.state}${info.reason && info.reason !== "None" ? ` (${info.reason})` : ""}`
        : "left the queue"
      const exitCode = slurm.exitCode(t.jobId)
      if (info && isOrphaned(info)) {
        try {
          slurm.cancel([t.jobId])
        } catch {
          // Already gone.
        }
      }
      book.failed(node.id, { reason: "job-ended", jobId: t.jobId, how, ...(exitCode ? { exitCode } : {}), tail: tailOf(t.log, 15) }, t.log)
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
        const committed = store.isComplete(t.node.id, t.target.fingerprint) && !(forced.has(t.node.id) && live)
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

    // Two drivers on one store submit one at a time: the second reads the first's records
    // only once they are all written, and adopts those jobs instead of submitting them again.
    const submitUnderLock = Effect.scoped(
      Effect.gen(function* () {
        yield* env.locks.hold(SUBMIT_LOCK, (h) => say(`waiting for the Slurm driver ${h ? describeOwner(h) : "(unreadable holder)"} to finish submitting to this store`))
        submitAll()
      }),
    ).pipe(
      Effect.catchTag("LockTimeout", (e) =>
        Effect.sync(() => {
          for (const node of nodes) if (book.settled(node.id) === undefined) book.failed(node.id, { reason: "lock-timeout", message: e.message })
        }),
      ),
    )

    return Effect.gen(function* () {
      yield* submitUnderLock
      while (active.size > 0) {
        yield* Effect.sleep(`${Math.max(0.05, settings.pollSeconds) * 1000} millis`)
        const polled = yield* Effect.try(poll).pipe(Effect.either)
        // A controller that does not answer for a moment (restart, overload) is not a failed stage.
        if (polled._tag === "Left") reporter.event({ type: "message", text: `squeue: ${(polled.left.error as Error).message}; retrying` })
      }
      return book.summary()
    }).pipe(Effect.onInterrupt(() => cancelAll))
  }
