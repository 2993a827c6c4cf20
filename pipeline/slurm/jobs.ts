// What the store keeps about submitted jobs (under <store>/.slurm/), so a driver that was
// killed and started again adopts the jobs still queued or running instead of submitting
// them twice; and where the jobs' logs and event files go.
import { existsSync, readFileSync, readdirSync, rmSync } from "node:fs"
import { join } from "node:path"
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
  writeFileAtomic(jobRecordPath(storeRoot, record.fingerprint), JSON.stringify(record, null, 2))
}

export const removeJobRecord = (storeRoot: string, fingerprint: string): void => rmSync(jobRecordPath(storeRoot, fingerprint), { force: true })

export const eventsDirOf = (storeRoot: string): string => join(slurmDir(storeRoot), "events")
