// The worker verbs. `exec <id>` runs one stage to a committed artifact (a cluster job);
// `worker` serves stages its driver sends over IPC, one at a time, so a local run pays
// the process start-up once per core instead of once per stage. The driver passes the
// fingerprint it planned; a mismatch means code or inputs changed in between.
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Cause from "effect/Cause"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import { appendFileSync } from "node:fs"
import { executeStage, type ExecEnv } from "../execute.ts"
import type { WorkerAnswer, WorkerMessage, WorkerTask } from "../executors/local.ts"
import type { Reporter } from "../events.ts"
import { describeFailure } from "../outcome.ts"
import { describeOwner } from "../owner.ts"
import { progressReporter } from "../progress.ts"
import type { Project } from "../project.ts"
import { CliFailure } from "./errors.ts"
import { globalOptions, openSession, type Session } from "./session.ts"

/** Runs one planned stage; the answer a driver gets (never fails: failures are messages). */
const runTask = (project: Project, session: Session, reporter: Reporter, task: WorkerTask): Effect.Effect<WorkerAnswer> =>
  Effect.gen(function* () {
    const target = session.fps.get(task.id)
    if (!target) return { type: "error", failure: { reason: "unknown-stage", id: task.id, profile: session.profile } } as const
    if (task.expect && task.expect !== target.fingerprint) {
      return { type: "error", failure: { reason: "fingerprint-mismatch", id: task.id, planned: task.expect, actual: target.fingerprint } } as const
    }
    const env: ExecEnv = { store: session.store, locks: session.locks, reporter, root: project.root }
    const exit = yield* Effect.exit(executeStage(env, target, session.fps, task.force))
    if (Exit.isSuccess(exit)) return { type: "outcome", state: exit.value.state } as const
    if (Cause.isInterruptedOnly(exit.cause)) return yield* Effect.interrupt
    const error = Cause.failureOption(exit.cause)
    if (error._tag === "None") return { type: "error", failure: { reason: "stage-failed", message: Cause.pretty(exit.cause) } } as const
    return { type: "error", failure: error.value.failure, ...(error.value.logPath ? { logPath: error.value.logPath } : {}) } as const
  })

/** A driver that dies (even by kill -9) closes the IPC channel: stop and clean up. */
const followDriver = Effect.gen(function* () {
  const onDisconnect = () => process.kill(process.pid, "SIGTERM")
  process.once("disconnect", onDisconnect)
  // The open channel would keep this process alive after the work is done.
  yield* Effect.addFinalizer(() =>
    Effect.sync(() => {
      process.off("disconnect", onDisconnect)
      if (process.connected) process.disconnect()
    }),
  )
})

const send = (m: WorkerMessage) => process.send?.(m)

export const execCommand = (project: Project) =>
  Command.make(
    "exec",
    {
      ...globalOptions,
      id: Args.text({ name: "stage id" }),
      expect: Options.text("expect").pipe(Options.withDescription("the fingerprint the driver planned"), Options.optional),
      force: Options.boolean("force"),
    },
    (args) =>
      Effect.gen(function* () {
        yield* followDriver
        const plain = progressReporter({ tty: false, write: (s) => process.stdout.write(s), interval: 30 })
        // A cluster job has no IPC channel: its driver follows the events it appends to this file.
        const eventsFile = process.env.TRANSFUSION_EVENTS_FILE
        const reporter: Reporter = process.send
          ? { event: (event) => send({ type: "event", event }) }
          : eventsFile
            ? { event: (event) => (plain.event(event), appendFileSync(eventsFile, `${JSON.stringify(event)}\n`)) }
            : plain
        const session = yield* openSession(project, args, (text) => reporter.event({ type: "message", text }), { only: args.id })
        // Registered on the store as a run is (a cluster job has no driver on this host that
        // did it), so a gc neither deletes its inputs between planning and its stage lock nor
        // starts while it runs.
        yield* session.locks
          .holdStoreForRun((gc) => reporter.event({ type: "message", text: `waiting for gc (${gc ? describeOwner(gc) : "unreadable holder"}) to finish with the store` }))
          .pipe(Effect.mapError((e) => new CliFailure({ message: e.message })))
        const answer = yield* runTask(project, session, reporter, { type: "task", id: args.id, expect: Option.getOrUndefined(args.expect), force: args.force })
        send(answer)
        if (answer.type === "outcome") {
          if (!process.send) console.log(`${args.id}: ${answer.state} ${session.fps.get(args.id)!.fingerprint}`)
          return
        }
        return yield* new CliFailure({ message: `${args.id} failed: ${describeFailure(answer.failure)}${answer.logPath ? `\n  log: ${answer.logPath}` : ""}` })
      }).pipe(Effect.scoped),
  ).pipe(Command.withDescription("run one stage (used by cluster jobs)"))

export const workerCommand = (project: Project) =>
  Command.make("worker", { ...globalOptions }, (args) =>
    Effect.gen(function* () {
      if (!process.send) return yield* new CliFailure({ message: "`worker` serves a driver over IPC; run stages with `run` or `exec`" })
      yield* followDriver
      const reporter: Reporter = { event: (event) => send({ type: "event", event }) }
      const session = yield* openSession(project, args, (text) => reporter.event({ type: "message", text }))
      const tasks = yield* Queue.unbounded<WorkerTask>()
      process.on("message", (m: WorkerTask) => {
        if (m.type === "task") Queue.unsafeOffer(tasks, m)
      })
      send({ type: "ready" })
      for (;;) {
        const task = yield* Queue.take(tasks)
        send(yield* runTask(project, session, reporter, task))
      }
    }).pipe(Effect.scoped),
  ).pipe(Command.withDescription("serve stages to a local driver over IPC (started by run)"))
