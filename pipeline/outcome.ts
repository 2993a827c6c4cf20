// The one vocabulary for where a stage stands and how it ended, shared by `status`, the
// events every executor sends, the run summary and the CLI. Failures are a closed union of
// reasons (data, not strings), so a caller can tell a stage's own error from a worker that
// died or a cluster job that ended without an artifact; `describeFailure` is the one place
// that turns a reason into the line people read.

/**
 * Before a run a stage is `missing` (never run), `stale` (its last artifact has another
 * fingerprint) or `fresh`. A run ends each selected stage `fresh` (reused), `ran`,
 * `failed`, or `not-run` (an input failed).
 */
export type StageState = "missing" | "stale" | "fresh" | "ran" | "failed" | "not-run"
export type PlannedState = Extract<StageState, "missing" | "stale" | "fresh">
export type FinalState = Extract<StageState, "fresh" | "ran" | "failed" | "not-run">

/** Why a stage failed. */
export type Failure =
  /** The stage's own code failed (its StageFailure, or a defect). */
  | { readonly reason: "stage-failed"; readonly message: string }
  /** The stage returned a value its result schema rejects. */
  | { readonly reason: "invalid-result"; readonly message: string }
  /** Its upstream artifacts could not be read back. */
  | { readonly reason: "inputs-unreadable"; readonly message: string }
  /** The store refused the artifact. */
  | { readonly reason: "commit-failed"; readonly message: string }
  /** Another process held the stage's lock for longer than the wait allowed (TRANSFUSION_LOCK_TIMEOUT). */
  | { readonly reason: "lock-timeout"; readonly message: string }
  /** A worker or job planned another fingerprint than the driver (code or inputs changed meanwhile). */
  | { readonly reason: "fingerprint-mismatch"; readonly id: string; readonly planned: string; readonly actual: string }
  /** A worker or job was asked for a stage its profile does not have. */
  | { readonly reason: "unknown-stage"; readonly id: string; readonly profile: string }
  /** The stage needs more GPU slots than the run has. */
  | { readonly reason: "needs-gpu"; readonly needed: number; readonly available: number }
  /** The worker process running it exited or could not start. */
  | { readonly reason: "worker-died"; readonly why: string; readonly tail: readonly string[] }
  /** The worker said it succeeded, but no artifact is in the store. */
  | { readonly reason: "no-artifact" }
  /** `sbatch` refused the job. */
  | { readonly reason: "submit-failed"; readonly message: string }
  /** The stage's cluster job left the queue (or can never start) without committing an artifact. */
  | { readonly reason: "job-ended"; readonly jobId: string; readonly how: string; readonly exitCode?: string; readonly tail: readonly string[] }
  /** A job an earlier driver submitted may still be queued, and the cluster cannot say. */
  /** squeue did not answer about a job recorded (or, without `jobId`, claimed but never recorded) for the stage. */
  | { readonly reason: "job-unknowable"; readonly jobId?: string; readonly why: string }

export type FailureReason = Failure["reason"]

const lastOutput = (tail: readonly string[]): string => (tail.length ? `; its last output:\n    ${tail.join("\n    ")}` : "")

export const describeFailure = (f: Failure): string => {
  switch (f.reason) {
    case "stage-failed":
    case "inputs-unreadable":
    case "lock-timeout":
      return f.message
    case "invalid-result":
      return `result does not match the stage's result schema: ${f.message}`
    case "commit-failed":
      return `could not commit the artifact: ${f.message}`
    case "fingerprint-mismatch":
      return `${f.id}: fingerprint is ${f.actual} but the driver planned ${f.planned}; code, parameters or inputs changed since planning — run again`
    case "unknown-stage":
      return `no stage "${f.id}" in profile ${f.profile}`
    case "needs-gpu":
      return `needs ${f.needed} GPU slot(s) but the run has ${f.available} (pass --gpus ${f.needed} on a machine with a GPU)`
    case "worker-died":
      return `${f.why} while running it${lastOutput(f.tail)}`
    case "no-artifact":
      return "worker reported success but left no artifact"
    case "submit-failed":
      return `could not submit: ${f.message}`
    case "job-ended":
      return `Slurm job ${f.jobId} ${f.how}${f.exitCode && f.exitCode !== "0:0" ? `, exit code ${f.exitCode}` : ""} without committing an artifact${lastOutput(f.tail)}`
    case "job-unknowable":
      return `cannot tell whether ${f.jobId === undefined ? "the job claimed earlier for it (its id never recorded)" : `job ${f.jobId}, submitted earlier for it,`} is still queued (${f.why}); not submitting it again`
  }
}

/** How one stage ended in a run. */
export type StageOutcome =
  | { readonly state: "fresh"; readonly id: string }
  | { readonly state: "ran"; readonly id: string; readonly seconds: number }
  | { readonly state: "failed"; readonly id: string; readonly failure: Failure; readonly message: string; readonly logPath?: string }
  | {
      readonly state: "not-run"
      readonly id: string
      /** The inputs that failed or were not run themselves. */
      readonly inputs: readonly string[]
      /** The cluster job that was queued for it and cancelled. */
      readonly cancelledJob?: string
      readonly because: string
    }

export const notRunBecause = (inputs: readonly string[], cancelledJob?: string): string =>
  `input ${inputs.join(", ")} did not complete${cancelledJob ? ` (job ${cancelledJob} cancelled)` : ""}`

/** A run's outcomes grouped by state (every scheduler returns this). */
export interface RunSummary {
  readonly fresh: string[]
  readonly ran: Extract<StageOutcome, { state: "ran" }>[]
  readonly failed: Extract<StageOutcome, { state: "failed" }>[]
  readonly notRun: Extract<StageOutcome, { state: "not-run" }>[]
}
