// Helpers for the suites that run jobs on a real Slurm cluster (test/pipeline/slurm.test.ts,
// test/e2e/slurm-micro.test.ts): what is still queued, and cancelling what a test left.
import { execFileSync } from "node:child_process"
import { listJobRecords } from "../../pipeline/slurm/jobs.ts"

/** Those of `jobIds` still queued or running. */
export const queued = (jobIds: readonly string[]): string[] => {
  if (jobIds.length === 0) return []
  try {
    return execFileSync("squeue", ["-h", "-j", jobIds.join(","), "-o", "%i"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] })
      .split("\n")
      .map((l) => l.trim())
      .filter(Boolean)
  } catch {
    return []
  }
}

/**
 * Cancels whatever a test left queued, so one failure does not leave jobs pending behind
 * it (or block the next test's): the jobs recorded in the store (a driver that was killed
 * keeps them there) and any other `jobIds` the test saw submitted. Never throws.
 */
export const cancelLeftovers = (storeRoot: string, jobIds: readonly string[] = []): string[] => {
  const ids = queued([...new Set([...listJobRecords(storeRoot).map((r) => r.jobId), ...jobIds])])
  if (ids.length) {
    try {
      execFileSync("scancel", ids, { stdio: "ignore" })
    } catch {
      // Ended meanwhile.
    }
  }
  return ids
}
