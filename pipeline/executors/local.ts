// The local executors. `inline` runs a stage in this process (cheap; tests, light stages).
// `process` runs each stage in a worker process (`transfusion exec <id>`): a single-threaded
// backend then uses one core per worker, a crash cannot take the driver down, and the
// worker commits through the same protocol a cluster job uses.
import { fork, type ChildProcess } from "node:child_process"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type { Fingerprinted } from "../fingerprint.ts"
import { executeStage, StageError, type ExecEnv, type Outcome } from "../execute.ts"
import type { StageEvent } from "../events.ts"
import type { Executor } from "../scheduler.ts"

export const inlineExecutor = (env: ExecEnv): Executor => ({
  name: "inline",
  execute: (target, fps, force) => executeStage(env, target, fps, force),
})

/** Worker nodes to `workers`, the rest to `inline`. */
export const byIsolation = (inline: Executor, workers: Executor): Executor => ({
  name: "local",
  execute: (target, fps, force) => (target.node.isolation === "worker" ? workers : inline).execute(target, fps, force),
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
  | { readonly type: "outcome"; readonly status: Outcome["status"] }
  | { readonly type: "error"; readonly message: string; readonly logPath?: string }

/** Messages a worker sends its driver over IPC. */
export type WorkerMessage = { readonly type: "ready" } | { readonly type: "event"; readonly event: StageEvent } | WorkerAnswer

export interface ProcessExecutorOptions {
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
  readonly tail: string[]
  /** Where the current task's answer goes. */
  answer?: (m: WorkerMessage) => void
  died?: (why: string) => void
  dead: boolean
}

/**
 * Worker processes (`transfusion worker`) kept for the whole run: at most one per CPU
 * slot in use, each running one stage at a time. A worker whose stage is interrupted or
 * which crashes is retired; the next stage gets a fresh one.
 */
export const processExecutor = (env: ExecEnv, options: ProcessExecutorOptions): Executor & { readonly close: Effect.Effect<void> } => {
  const idle: Worker[] = []
  const all = new Set<Worker>()
  const spawn = (): Worker => {
    const child = fork(options.entry, ["worker", ...options.argv], {
      execArgv: [...options.execArgv],
      stdio: ["ignore", "pipe", "pipe", "ipc"],
      env: { ...process.env, TRANSFUSION_WORKER: "1" },
    })
    const w: Worker = { child, tail: [], dead: false }
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

  const execute: Executor["execute"] = (target, _fps, force) =>
    Effect.acquireUseRelease(
      Effect.sync(() => idle.pop() ?? spawn()),
      (w) =>
        Effect.async<Outcome, StageError>((resume) => {
          const id = target.node.id
          w.answer = (m) => {
            w.answer = undefined
            w.died = undefined
            if (m.type === "outcome") {
              const manifest = env.store.readManifest(id, target.fingerprint)
              resume(manifest ? Effect.succeed({ status: m.status, manifest }) : Effect.fail(new StageError({ id, message: "worker reported success but left no artifact" })))
            } else if (m.type === "error") resume(Effect.fail(new StageError({ id, message: m.message, ...(m.logPath ? { logPath: m.logPath } : {}) })))
          }
          w.died = (why) =>
            resume(
              Effect.fail(
                new StageError({
                  id,
                  message: `${why} while running it${w.tail.length ? `; its last output:\n    ${w.tail.join("\n    ")}` : ""}`,
                  logPath: env.store.failedLogPath(id, target.fingerprint),
                }),
              ),
            )
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
    name: "process",
    execute,
    close: Effect.suspend(() => Effect.forEach([...all], (w) => stop(w), { concurrency: "unbounded", discard: true })),
  }
}
