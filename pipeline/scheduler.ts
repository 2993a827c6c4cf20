// The engine's one scheduler shape: a plan (the selected nodes with their fingerprints) in,
// a run summary out. Two implementations sit behind it: the local scheduler below, and the
// Slurm scheduler (slurm/scheduler.ts). Both book every stage through the same run book
// (book.ts) and end every stage in the same commit protocol (execute.ts).
//
// The local scheduler runs every selected node once its inputs are done, in parallel under
// CPU and GPU slots. A failure stops only its dependants (keep-going); interruption
// (Ctrl-C, SIGTERM) interrupts the running stages, whose finalizers remove temp dirs and
// release locks. A node that needs a GPU takes that many GPU slots (device indices
// 0..gpus-1, handed to the executor as its placement) and, as it drives the device from one
// JS thread, its CPU slots as well. A free CPU slot goes to the waiting stage with the
// longest remaining path (priority.ts): recorded durations of the previous run, else the
// nodes' declared estimates.
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { makeRunBook } from "./book.ts"
import { makePrioritySlots, remainingPathSeconds, stageSeconds } from "./priority.ts"
import type { Execution, ExecEnv, StageError } from "./execute.ts"
import type { Fingerprinted } from "./fingerprint.ts"
import type { RunSummary } from "./outcome.ts"
import type { AnyNode } from "./stage.ts"

/** What to run: nodes in topological order (as `selectNodes` returns them) and every node's fingerprint. */
export interface Plan {
  readonly nodes: readonly AnyNode[]
  readonly fps: ReadonlyMap<string, Fingerprinted>
}

export interface RunOptions {
  /** Ids to rerun even when an artifact with their fingerprint exists. */
  readonly force: ReadonlySet<string>
}

/** Runs a plan's stale stages and books every node: fresh, ran, failed or not run. */
export type Scheduler = (plan: Plan, options: RunOptions) => Effect.Effect<RunSummary>

/** The GPU slots (device indices) a stage holds while it runs; empty for a CPU stage. */
export interface Placement {
  readonly gpus: readonly number[]
}

/** Where the local scheduler runs one stage: in this process, or in a worker process. */
export interface Executor {
  readonly execute: (
    target: Fingerprinted,
    fps: ReadonlyMap<string, Fingerprinted>,
    force: boolean,
    placement: Placement,
  ) => Effect.Effect<Execution, StageError>
}

export interface LocalSlots {
  /** CPU slots shared by all running stages. */
  readonly jobs: number
  /** GPU slots; slot i is device i. */
  readonly gpus: number
}

export const localScheduler =
  (env: ExecEnv, executor: Executor, slots: LocalSlots): Scheduler =>
  ({ nodes, fps }, options) =>
    Effect.gen(function* () {
      const book = makeRunBook(env)
      const jobs = Math.max(1, slots.jobs)
      const gpus = Math.max(0, slots.gpus)
      const cpu = makePrioritySlots(jobs)
      const recordedSeconds = (node: AnyNode): number | undefined => {
        const fp = env.store.latest(node.id)
        const manifest = fp === undefined ? undefined : env.store.readManifest(node.id, fp)
        return manifest === undefined ? undefined : manifest.durationMs / 1000
      }
      const remaining = remainingPathSeconds(nodes, (node) => {
        const target = fps.get(node.id)!
        if (!options.force.has(node.id) && env.store.isComplete(node.id, target.fingerprint)) return 0
        return stageSeconds(node, recordedSeconds(node))
      })
      const gpu = yield* Effect.makeSemaphore(gpus)
      // Free device indices; the semaphore guarantees enough are free when a stage takes them.
      const freeDevices = Array.from({ length: gpus }, (_, i) => i)
      const done = new Map<string, Deferred.Deferred<void>>()
      for (const node of nodes) done.set(node.id, yield* Deferred.make<void>())

      const runOne = (node: AnyNode) =>
        Effect.gen(function* () {
          for (const up of Object.values(node.inputs)) {
            const d = done.get(up.id)
            if (d) yield* Deferred.await(d)
          }
          if (book.skipIfInputsFailed(node).length > 0) return
          const target = fps.get(node.id)!
          const force = options.force.has(node.id)
          if (book.reuseIfComplete(target, force)) return
          const needCpu = Math.min(Math.max(1, node.resources.cpu), jobs)
          const needGpu = node.resources.gpu
          if (needGpu > gpus) return book.failed(node.id, { reason: "needs-gpu", needed: needGpu, available: gpus })
          // The clock starts once the slots are held: time spent queueing is not the stage's.
          let started = Date.now()
          const run = (placement: Placement) =>
            Effect.suspend(() => {
              started = Date.now()
              return executor.execute(target, fps, force, placement)
            }).pipe(cpu.withSlots(needCpu, remaining.get(node.id)!))
          const work =
            needGpu > 0
              ? Effect.acquireUseRelease(
                  Effect.sync(() => freeDevices.sort((a, b) => a - b).splice(0, needGpu)),
                  (devices) => run({ gpus: devices }),
                  (devices) => Effect.sync(() => freeDevices.push(...devices)),
                ).pipe(gpu.withPermits(needGpu))
              : run({ gpus: [] })
          const exit = yield* Effect.exit(work)
          if (Exit.isSuccess(exit)) {
            if (exit.value.state === "ran") book.ran(target, (Date.now() - started) / 1000)
            else book.fresh(target)
            return
          }
          if (Cause.isInterruptedOnly(exit.cause)) return yield* Effect.interrupt
          const failure = Cause.failureOption(exit.cause)
          if (failure._tag === "Some") book.failed(node.id, failure.value.failure, failure.value.logPath)
          else book.failed(node.id, { reason: "stage-failed", message: Cause.pretty(exit.cause) })
          // Only a booked stage releases its dependants; an interrupted one leaves them waiting.
        }).pipe(Effect.zipRight(Deferred.succeed(done.get(node.id)!, undefined)))

      yield* Effect.forEach(nodes, runOne, { concurrency: "unbounded", discard: true })
      return book.summary()
    })
