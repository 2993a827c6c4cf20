// Runs a plan: every selected node once its inputs are done, in parallel under CPU and GPU
// slots. A failure stops only its dependants (keep-going); interruption (Ctrl-C, SIGTERM)
// interrupts the running stages, whose finalizers remove temp dirs and release locks.
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Cause from "effect/Cause"
import type { Fingerprinted } from "./fingerprint.ts"
import type { AnyNode } from "./stage.ts"
import { StageError, updateLinks, type ExecEnv, type Outcome } from "./execute.ts"

/** Where and how a stage runs: in this process, in a worker process, as a cluster job. */
export interface Executor {
  readonly name: string
  readonly execute: (
    target: Fingerprinted,
    fps: ReadonlyMap<string, Fingerprinted>,
    force: boolean,
  ) => Effect.Effect<Outcome, StageError>
}

export interface RunOptions {
  /** CPU slots shared by all running stages. */
  readonly jobs: number
  /** GPU slots. */
  readonly gpus: number
  /** Ids to rerun even when an artifact with their fingerprint exists. */
  readonly force: ReadonlySet<string>
}

export interface RunSummary {
  readonly fresh: string[]
  readonly ran: { id: string; seconds: number }[]
  readonly failed: { id: string; message: string; logPath?: string }[]
  readonly notRun: { id: string; because: string }[]
}

export const runPlan = (
  nodes: readonly AnyNode[],
  fps: ReadonlyMap<string, Fingerprinted>,
  env: ExecEnv,
  executor: Executor,
  options: RunOptions,
): Effect.Effect<RunSummary> =>
  Effect.gen(function* () {
    const summary: RunSummary = { fresh: [], ran: [], failed: [], notRun: [] }
    const cpu = yield* Effect.makeSemaphore(Math.max(1, options.jobs))
    const gpu = yield* Effect.makeSemaphore(Math.max(0, options.gpus))
    const done = new Map<string, Deferred.Deferred<boolean>>()
    for (const node of nodes) done.set(node.id, yield* Deferred.make<boolean>())

    const runOne = (node: AnyNode) =>
      Effect.gen(function* () {
        const finished = done.get(node.id)!
        const failedInputs: string[] = []
        for (const up of Object.values(node.inputs)) {
          const d = done.get(up.id)
          if (d && !(yield* Deferred.await(d))) failedInputs.push(up.id)
        }
        if (failedInputs.length > 0) {
          const because = `input ${failedInputs.join(", ")} did not complete`
          summary.notRun.push({ id: node.id, because })
          env.reporter.event({ type: "finished", id: node.id, status: "not-run", message: because })
          return yield* Deferred.succeed(finished, false)
        }
        const target = fps.get(node.id)!
        const force = options.force.has(node.id)
        if (!force && env.store.isComplete(node.id, target.fingerprint)) {
          env.store.setLatest(node.id, target.fingerprint)
          updateLinks(env, target)
          summary.fresh.push(node.id)
          return yield* Deferred.succeed(finished, true)
        }
        const needCpu = Math.min(Math.max(1, node.resources.cpu), Math.max(1, options.jobs))
        const needGpu = node.resources.gpu
        if (needGpu > options.gpus) {
          const message = `needs ${needGpu} GPU slot(s) but the run has ${options.gpus} (pass --gpus ${needGpu} on a machine with a GPU)`
          summary.failed.push({ id: node.id, message })
          env.reporter.event({ type: "finished", id: node.id, status: "failed", message })
          return yield* Deferred.succeed(finished, false)
        }
        // The clock starts once the slots are held: time spent queueing is not the stage's.
        let started = Date.now()
        let work = Effect.suspend(() => {
          started = Date.now()
          return executor.execute(target, fps, force)
        }).pipe(cpu.withPermits(needCpu))
        if (needGpu > 0) work = work.pipe(gpu.withPermits(needGpu))
        const exit = yield* Effect.exit(work)
        if (Exit.isSuccess(exit)) {
          const seconds = (Date.now() - started) / 1000
          if (exit.value.status === "ran") {
            summary.ran.push({ id: node.id, seconds })
            env.reporter.event({ type: "finished", id: node.id, status: "ran", seconds })
          } else summary.fresh.push(node.id)
          return yield* Deferred.succeed(finished, true)
        }
        if (Cause.isInterruptedOnly(exit.cause)) return yield* Effect.interrupt
        const failure = Cause.failureOption(exit.cause)
        const failed =
          failure._tag === "Some"
            ? { id: node.id, message: failure.value.message, ...(failure.value.logPath ? { logPath: failure.value.logPath } : {}) }
            : { id: node.id, message: Cause.pretty(exit.cause) }
        summary.failed.push(failed)
        env.reporter.event({ type: "finished", status: "failed", ...failed })
        return yield* Deferred.succeed(finished, false)
      })

    yield* Effect.forEach(nodes, runOne, { concurrency: "unbounded", discard: true })
    return summary
  })
