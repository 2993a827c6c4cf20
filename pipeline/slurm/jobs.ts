// What the store keeps about submitted jobs (under <store>/.slurm/), so a driver that was
// killed and started again adopts the jobs still queued or running instead of submitting
// them twice; and where the jobs' logs and event files go. A job is claimed (recorded
// without its id) before `sbatch`, so no job is ever queued without a record.
import { existsSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs"
import { join, relative, sep } from "node:path"
import { writeFileAtomic } from "../atomic.ts"

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

/**
 * Written before `sbatch`, replaced by the JobRecord once sbatch answers with the job's id:
 * a driver killed in between (or an sbatch that failed after the controller queued the job)
 * leaves this claim, and the next driver finds the job by its comment instead of submitting
 * a second one.
 */
export interface JobClaim {
  readonly claimed: true
  readonly stage: string
  readonly fingerprint: string
  /** The `--comment` the job was submitted with (what `squeue -o %k` shows). */
  readonly comment: string
  readonly claimedAt: string
  readonly driver: { readonly host: string; readonly pid: number }
}

export const isClaim = (r: JobRecord | JobClaim): r is JobClaim => "claimed" in r && r.claimed === true

export const slurmDir = (storeRoot: string): string => join(storeRoot, ".slurm")
export const jobRecordPath = (storeRoot: string, fingerprint: string): string => join(slurmDir(storeRoot), "jobs", `${fingerprint}.json`)
/** A job's stdout+stderr. */
export const jobLogPath = (storeRoot: string, id: string, jobId: string): string => join(slurmDir(storeRoot), "logs", `${id}-${jobId}.out`)
/**
 * sbatch's `--output` pattern for a stage's jobs: `%j` is Slurm's placeholder for the job
 * id, and any other `%` (in the store's path or the id) is written `%%`, which Slurm reads
 * as a plain "%", so the log lands at jobLogPath.
 */
export const jobLogPattern = (storeRoot: string, id: string): string => `${join(slurmDir(storeRoot), "logs", id).replaceAll("%", "%%")}-%j.out`

/** The job recorded for a fingerprint: submitted (with its id), or only claimed. */
export const readJobRecord = (storeRoot: string, fingerprint: string): JobRecord | JobClaim | undefined => {
  try {
    return JSON.parse(readFileSync(jobRecordPath(storeRoot, fingerprint), "utf8")) as JobRecord | JobClaim
  } catch {
    return undefined
  }
}

/** Every recorded job, claims included. */
export const listJobs = (storeRoot: string): (JobRecord | JobClaim)[] => {
  const dir = join(slurmDir(storeRoot), "jobs")
  if (!existsSync(dir)) return []
  return readdirSync(dir)
    .filter((f) => f.endsWith(".json"))
    .flatMap((f) => {
      const r = readJobRecord(storeRoot, f.slice(0, -5))
      return r ? [r] : []
    })
}

/** Every submitted job recorded (claims left out: they have no id yet). */
export const listJobRecords = (storeRoot: string): JobRecord[] => listJobs(storeRoot).filter((r): r is JobRecord => !isClaim(r))

export const writeJobRecord = (storeRoot: string, record: JobRecord | JobClaim): void => {
  writeFileAtomic(jobRecordPath(storeRoot, record.fingerprint), JSON.stringify(record, null, 2))
}

export const removeJobRecord = (storeRoot: string, fingerprint: string): void => rmSync(jobRecordPath(storeRoot, fingerprint), { force: true })

/**
 * Records of jobs whose stage committed after they were submitted (or claimed): the job is
 * over, and a driver started later finds the stage fresh, so nobody reads the record again;
 * a driver killed before it saw the job end leaves it. A record made after the stage's commit
 * (a --force rerun's job, maybe still running) is kept. Removed unless `dryRun`; paths
 * relative to the store root.
 */
export const sweepFinishedJobRecords = (
  storeRoot: string,
  committedAt: (stage: string, fingerprint: string) => string | undefined,
  dryRun: boolean,
): { readonly paths: string[]; readonly jobIds: Set<string> } => {
  const out: string[] = []
  const jobIds = new Set<string>()
  for (const r of listJobs(storeRoot)) {
    const finished = committedAt(r.stage, r.fingerprint)
    const made = isClaim(r) ? r.claimedAt : r.submittedAt
    if (finished === undefined || Date.parse(finished) < Date.parse(made)) continue
    const path = jobRecordPath(storeRoot, r.fingerprint)
    out.push(relative(storeRoot, path).split(sep).join("/"))
    if (!isClaim(r)) jobIds.add(r.jobId)
    if (!dryRun) rmSync(path, { force: true })
  }
  return { paths: out.sort(), jobIds }
}

export const eventsDirOf = (storeRoot: string): string => join(slurmDir(storeRoot), "events")

/**
 * The events files (`<job id>.jsonl`) of jobs no record names any more (cancelled with
 * their driver, dropped behind a failed upstream, or left by a driver that never came
 * back, or finished: `finished`, from sweepFinishedJobRecords), quiet for `quietMs`: a job whose record is being written just now may already
 * have started appending. Removed unless `dryRun`; paths relative to the store root.
 */
export const sweepAbandonedEvents = (storeRoot: string, dryRun: boolean, quietMs: number, finished: ReadonlySet<string> = new Set()): string[] => {
  const dir = eventsDirOf(storeRoot)
  let names: string[]
  try {
    names = readdirSync(dir)
  } catch {
    return []
  }
  // Jobs sweepFinishedJobRecords dropped (or, in a dry run, would drop) count as unrecorded.
  const recorded = new Set(listJobRecords(storeRoot).map((r) => r.jobId).filter((id) => !finished.has(id)))
  const out: string[] = []
  for (const name of names.sort()) {
    const m = /^(\d+)\.jsonl$/.exec(name)
    if (!m || recorded.has(m[1]!)) continue
    const path = join(dir, name)
    let age: number
    try {
      age = Date.now() - statSync(path).mtimeMs
    } catch {
      continue
    }
    if (age < quietMs) continue
    out.push(relative(storeRoot, path).split(sep).join("/"))
    if (!dryRun) rmSync(path, { force: true })
  }
  return out
}
