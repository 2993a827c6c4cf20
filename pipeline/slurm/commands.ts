// The handful of Slurm client commands the Slurm scheduler needs (sbatch, squeue,
// scontrol, scancel), behind an interface the tests replace with a simulated cluster, and
// what a job's state means.
import { execFileSync } from "node:child_process"
import { userInfo } from "node:os"

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
  /** Ids of this user's jobs Slurm still knows whose `--comment` is `comment` (a claimed job whose id was never recorded). */
  readonly findByComment: (comment: string) => string[]
}

const run = (cmd: string, args: readonly string[], input?: string): string => {
  try {
    return execFileSync(cmd, args, { encoding: "utf8", input, stdio: ["pipe", "pipe", "pipe"], timeout: 60_000 })
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string; status?: number }
    if (err.code === "ENOENT") throw new SlurmError(`${cmd} is not on PATH: the Slurm scheduler needs the Slurm client commands (sbatch, squeue, scancel) on this machine`)
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
  findByComment: (comment) =>
    // `%k` is the comment; the id comes first, and the comment (which holds a space) is the rest of the line.
    run("squeue", ["-h", "-t", "all", "-u", userInfo().username, "-o", "%i|%k"])
      .split("\n")
      .flatMap((line) => {
        const bar = line.indexOf("|")
        return bar > 0 && line.slice(bar + 1).trim() === comment ? [line.slice(0, bar).trim()] : []
      }),
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
export const isLive = (info: JobInfo | undefined): boolean => info !== undefined && !ENDED.has(info.state)
/** A pending job whose afterok upstream failed: Slurm will never start it. */
export const isOrphaned = (info: JobInfo): boolean => info.state === "PENDING" && /DependencyNeverSatisfied/.test(info.reason)
