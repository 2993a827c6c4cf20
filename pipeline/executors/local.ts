// The local scheduler's two executors, named after a node's `isolation`. `inline` runs a
// stage in this process (cheap; tests, light stages). `worker` runs it in a long-lived
// worker process (the CLI's `worker` verb): a single-threaded backend then uses one core per
// worker, a crash cannot take the driver down, and the worker commits through the same
// protocol a cluster job uses. A stage placed on GPU slots always runs on a worker started
// for exactly those devices (TRANSFUSION_GPU_DEVICE, CUDA_VISIBLE_DEVICES), kept for the
// run like the CPU workers.
import { fork, type ChildProcess } from "node:child_process"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { executeStage, stageError, type Execution, type ExecEnv, type StageError } from "../execute.ts"
import type { StageEvent } from "../events.ts"
import type { Failure } from "../outcome.ts"
import { gpuEnvironment } from "../gpus.ts"
import type { Executor, Placement } from "../scheduler.ts"

export const inlineExecutor = (env: ExecEnv): Executor => ({
  execute: (target, fps, force) => executeStage(env, target, fps, force),
})

/** Nodes isolated as `worker`, and every node placed on a GPU, to `workers`; the rest to `inline`. */
export const byIsolation = (inline: Executor, workers: Executor): Executor => ({
  execute: (target, fps, force, placement) =>
    (target.node.isolation === "worker" || placement.gpus.length > 0 ? workers : inline).execute(target, fps, force, placement),
})

/** A stage a driver asks its worker to run. */
export interface WorkerTask {
  readonly type: "task"
  readonly id: string
  readonly expect: string | undefined
  readonly force: boolean
}

/** How a worker answers a task. */
export type WorkerAnswer =
  | { readonly type: "outcome"; readonly state: Execution["state"] }
  | { readonly type: "error"; readonly failure: Failure; readonly logPath?: string }

/** Messages a worker sends its driver over IPC. */
export type WorkerMessage = { readonly type: "ready" } | { readonly type: "event"; readonly event: StageEvent } | WorkerAnswer

export interface WorkerPoolOptions {
  /** Script the worker runs (the CLI entry), and node flags (e.g. the TypeScript loader). */
  readonly entry: string
  readonly execArgv: readonly string[]
  /** The driver's global options (profile, config, store), so the worker plans the same graph. */
  readonly argv: readonly string[]
  /** Seconds a worker gets to clean up after SIGTERM before SIGKILL. */
  readonly graceSeconds?: number
}

interface Worker {
  readonly child: ChildProcess
  /** The placement it was started for ("" for a CPU worker, "0" for GPU slot 0). */
  readonly devices: string
  readonly tail: string[]
  /** Where the current task's answer goes. */
  answer?: (m: WorkerMessage) => void
  died?: (why: string) => void
  dead: boolean
}

/**
 * Worker processes (the CLI's `worker` verb) kept for the whole run, each running one stage at
 * a time: at most one per CPU slot in use, and one per GPU slot in use. A worker whose stage
 * is interrupted or which crashes is retired; the next stage gets a fresh one.
 */
export const workerPool = (env: ExecEnv, options: WorkerPoolOptions): Executor & { readonly close: Effect.Effect<void> } => {
  const idle: Worker[] = []
  const all = new Set<Worker>()
  const spawn = (gpus: readonly number[]): Worker => {
    const child = fork(options.entry, ["worker", ...options.argv], {
      execArgv: [...options.execArgv],
      stdio: ["ignore", "pipe", "pipe", "ipc"],
      env: { ...process.env, TRANSFUSION_WORKER: "1", ...gpuEnvironment(gpus) },
    })
    const w: Worker = { child, devices: gpus.join(","), tail: [], dead: false }
    const keep = (chunk: Buffer) => {
      for (const line of chunk.toString().split("\n")) if (line.trim()) w.tail.push(line)
      if (w.tail.length > 40) w.tail.splice(0, w.tail.length - 40)
    }
    child.stdout?.on("data", keep)
    child.stderr?.on("data", keep)
    child.on("message", (m: WorkerMessage) => {
      if (m.type === "event") env.reporter.event(m.event)
      else if (m.type !== "ready") w.answer?.(m)
    })
    const retire = (why: string) => {
      if (w.dead) return
      w.dead = true
      all.delete(w)
      const i = idle.indexOf(w)
      if (i >= 0) idle.splice(i, 1)
      w.died?.(why)
    }
    child.on("exit", (code, signal) => retire(`worker process ${child.pid} exited with ${signal ? `signal ${signal}` : `code ${code}`}`))
    child.on("error", (e) => retire(`could not start a worker: ${e.message}`))
    all.add(w)
    return w
  }
  const stop = (w: Worker) =>
    Effect.async<void>((done) => {
      if (w.child.exitCode !== null || w.child.signalCode !== null) return done(Effect.void)
      const timer = setTimeout(() => w.child.kill("SIGKILL"), (options.graceSeconds ?? 10) * 1000)
      w.child.once("exit", () => {
        clearTimeout(timer)
        done(Effect.void)
      })
      w.child.kill("SIGTERM")
    })

  const take = (placement: Placement): Worker => {
    const devices = placement.gpus.join(",")
    const i = idle.findLastIndex((w) => w.devices === devices)
    return i >= 0 ? idle.splice(i, 1)[0]! : spawn(placement.gpus)
  }

  const execute: Executor["execute"] = (target, _fps, force, placement) =>
    Effect.acquireUseRelease(
      Effect.sync(() => take(placement)),
      (w) =>
        Effect.async<Execution, StageError>((resume) => {
          const id = target.node.id
          w.answer = (m) => {
            w.answer = undefined
            w.died = undefined
            if (m.type === "outcome") {
              const manifest = env.store.readManifest(id, target.fingerprint)
              resume(manifest ? Effect.succeed({ state: m.state, manifest }) : Effect.fail(stageError(id, { reason: "no-artifact" })))
            } else if (m.type === "error") resume(Effect.fail(stageError(id, m.failure, m.logPath)))
          }
          w.died = (why) => resume(Effect.fail(stageError(id, { reason: "worker-died", why, tail: [...w.tail] }, env.store.failedLogPath(id, target.fingerprint))))
          if (w.dead) return w.died(`worker process ${w.child.pid} is gone`)
          const task: WorkerTask = { type: "task", id, expect: target.fingerprint, force }
          w.child.send(task)
          // Interrupted: the worker cleans up (temp dir, lock) on SIGTERM and is retired.
          return Effect.suspend(() => {
            w.answer = undefined
            w.died = undefined
            return stop(w)
          })
        }),
      (w, exit) =>
        Effect.suspend(() => {
          // A stage that failed leaves a healthy worker; an interrupted one was stopped.
          if (!w.dead && !Exit.isInterrupted(exit)) idle.push(w)
          return Effect.void
        }),
    )

  return {
    execute,
    close: Effect.suspend(() => Effect.forEach([...all], (w) => stop(w), { concurrency: "unbounded", discard: true })),
  }
}
