// The local executors. `inline` runs a stage in this process (cheap; tests, light stages).
// `process` runs each stage in a worker process (`transfusion exec <id>`): a single-threaded
// backend then uses one core per worker, a crash cannot take the driver down, and the
// worker commits through the same protocol a cluster job uses.
import { fork } from "node:child_process"
import * as Effect from "effect/Effect"
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

/** Messages a worker sends its driver over IPC. */
export type WorkerMessage =
  | { readonly type: "event"; readonly event: StageEvent }
  | { readonly type: "outcome"; readonly status: Outcome["status"] }
  | { readonly type: "error"; readonly message: string; readonly logPath?: string }

export interface ProcessExecutorOptions {
  /** Script the worker runs (the CLI entry), and node flags (e.g. the TypeScript loader). */
  readonly entry: string
  readonly execArgv: readonly string[]
  /** CLI arguments for the worker: `exec <id> --expect <fingerprint> ...` plus the driver's global options. */
  readonly argsFor: (target: Fingerprinted, force: boolean) => string[]
  /** Seconds a worker gets to clean up after SIGTERM before SIGKILL. */
  readonly graceSeconds?: number
}

export const processExecutor = (env: ExecEnv, options: ProcessExecutorOptions): Executor => ({
  name: "process",
  execute: (target, _fps, force) =>
    Effect.async<Outcome, StageError>((resume) => {
      const child = fork(options.entry, options.argsFor(target, force), {
        execArgv: [...options.execArgv],
        stdio: ["ignore", "pipe", "pipe", "ipc"],
        env: { ...process.env, TRANSFUSION_WORKER: "1" },
      })
      const tail: string[] = []
      const keep = (chunk: Buffer) => {
        for (const line of chunk.toString().split("\n")) if (line.trim()) tail.push(line)
        if (tail.length > 40) tail.splice(0, tail.length - 40)
      }
      child.stdout?.on("data", keep)
      child.stderr?.on("data", keep)
      let result: WorkerMessage | undefined
      child.on("message", (m: WorkerMessage) => {
        if (m.type === "event") env.reporter.event(m.event)
        else result = m
      })
      let settled = false
      child.on("exit", (code, signal) => {
        if (settled) return
        settled = true
        if (result?.type === "outcome") {
          const manifest = env.store.readManifest(target.node.id, target.fingerprint)
          if (manifest) return resume(Effect.succeed({ status: result.status, manifest }))
          return resume(Effect.fail(new StageError({ id: target.node.id, message: "worker reported success but left no artifact" })))
        }
        if (result?.type === "error") {
          return resume(Effect.fail(new StageError({ id: target.node.id, message: result.message, ...(result.logPath ? { logPath: result.logPath } : {}) })))
        }
        resume(
          Effect.fail(
            new StageError({
              id: target.node.id,
              message: `worker process ${child.pid} exited with ${signal ? `signal ${signal}` : `code ${code}`} before reporting${tail.length ? `; its last output:\n    ${tail.join("\n    ")}` : ""}`,
              logPath: env.store.failedLogPath(target.node.id, target.fingerprint),
            }),
          ),
        )
      })
      child.on("error", (e) => {
        if (settled) return
        settled = true
        resume(Effect.fail(new StageError({ id: target.node.id, message: `could not start a worker: ${e.message}` })))
      })
      // Interrupted: ask the worker to clean up (it removes its temp dir and lock), then insist.
      return Effect.async<void>((done) => {
        if (child.exitCode !== null || child.signalCode !== null) return done(Effect.void)
        const timer = setTimeout(() => child.kill("SIGKILL"), (options.graceSeconds ?? 10) * 1000)
        child.once("exit", () => {
          clearTimeout(timer)
          done(Effect.void)
        })
        child.kill("SIGTERM")
      })
    }),
})
