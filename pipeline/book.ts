// A run's bookkeeping, the one place where a stage is booked fresh, ran, failed or not run.
// Every scheduler (local, Slurm) and the CLI's no-op shortcut call it, so what "fresh"
// means (point `latest` and the node's links at the artifact) and when a stage is "not run"
// (one of its inputs failed or was not run) is written once. It also announces each ending
// to the reporter.
import { join, resolve } from "node:path"
import type { ExecEnv } from "./execute.ts"
import type { Fingerprinted } from "./fingerprint.ts"
import { pointLink } from "./links.ts"
import { describeFailure, notRunBecause, type Failure, type RunSummary } from "./outcome.ts"
import type { AnyNode } from "./stage.ts"

/** Points the node's declared links at its current artifact; a link that cannot be made is reported, not fatal. */
export const updateLinks = (env: ExecEnv, target: Fingerprinted): void => {
  const dir = env.store.artifactDir(target.node.id, target.fingerprint)
  for (const [link, inside] of Object.entries(target.node.links)) {
    const problem = pointLink(resolve(env.root, link), join(dir, inside))
    if (problem) env.reporter.event({ type: "message", text: `${target.node.id}: ${problem}` })
  }
}

export interface RunBook {
  /**
   * Books the node fresh if its artifact exists and it is not forced; true when it did.
   * A scheduler asks this before queueing a stage.
   */
  readonly reuseIfComplete: (target: Fingerprinted, force: boolean) => boolean
  /** The stage's artifact exists (reused, or committed by someone else meanwhile). */
  readonly fresh: (target: Fingerprinted) => void
  /** The stage ran and committed its artifact, taking `seconds`. */
  readonly ran: (target: Fingerprinted, seconds: number) => void
  readonly failed: (id: string, failure: Failure, logPath?: string) => void
  /**
   * Books the node not run if any of its inputs failed or was not run in this run (only
   * inputs already booked count); returns those inputs (empty: it may run).
   */
  readonly skipIfInputsFailed: (node: AnyNode, cancelledJob?: string) => readonly string[]
  /** Whether the stage has been booked, and with an artifact (true) or without (false). */
  readonly settled: (id: string) => boolean | undefined
  readonly summary: () => RunSummary
}

export const makeRunBook = (env: ExecEnv): RunBook => {
  const summary: RunSummary = { fresh: [], ran: [], failed: [], notRun: [] }
  const settled = new Map<string, boolean>()
  const pointAt = (target: Fingerprinted) => {
    // `latest` only serves `status` diffs: one that cannot be written (ENOSPC, EACCES) is
    // reported, and the stage, whose artifact exists, still counts as done.
    try {
      env.store.setLatest(target.node.id, target.fingerprint)
    } catch (e) {
      env.reporter.event({ type: "message", text: `${target.node.id}: could not point ${target.node.id}/latest at ${target.fingerprint}: ${(e as Error).message}` })
    }
    updateLinks(env, target)
  }
  const fresh = (target: Fingerprinted) => {
    pointAt(target)
    settled.set(target.node.id, true)
    summary.fresh.push(target.node.id)
  }
  const failedInputs = (node: AnyNode) => [...new Set(Object.values(node.inputs).map((up) => up.id))].filter((id) => settled.get(id) === false)
  return {
    reuseIfComplete: (target, force) => {
      if (force || !env.store.isComplete(target.node.id, target.fingerprint)) return false
      fresh(target)
      return true
    },
    fresh,
    ran: (target, seconds) => {
      pointAt(target)
      settled.set(target.node.id, true)
      const outcome = { state: "ran", id: target.node.id, seconds } as const
      summary.ran.push(outcome)
      env.reporter.event({ type: "finished", ...outcome })
    },
    failed: (id, failure, logPath) => {
      settled.set(id, false)
      const outcome = { state: "failed", id, failure, message: describeFailure(failure), ...(logPath ? { logPath } : {}) } as const
      summary.failed.push(outcome)
      env.reporter.event({ type: "finished", ...outcome })
    },
    skipIfInputsFailed: (node, cancelledJob) => {
      const inputs = failedInputs(node)
      if (inputs.length === 0) return inputs
      settled.set(node.id, false)
      const outcome = { state: "not-run", id: node.id, inputs, ...(cancelledJob ? { cancelledJob } : {}), because: notRunBecause(inputs, cancelledJob) } as const
      summary.notRun.push(outcome)
      env.reporter.event({ type: "finished", ...outcome })
      return inputs
    },
    settled: (id) => settled.get(id),
    summary: () => summary,
  }
}
