// `exec <id>`: the worker verb. Runs one stage to a committed artifact and reports over
// IPC (local worker processes) or as plain lines (cluster jobs). The driver passes the
// fingerprint it planned; a mismatch means code or inputs changed in between.
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Cause from "effect/Cause"
import * as Option from "effect/Option"
import { appendFileSync } from "node:fs"
import { executeStage, type ExecEnv } from "../execute.ts"
import type { WorkerMessage } from "../executors/local.ts"
import type { Reporter } from "../events.ts"
import { progressReporter } from "../progress.ts"
import type { Project } from "../project.ts"
import { CliFailure } from "./errors.ts"
import { globalOptions, openSession } from "./session.ts"

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
        const send = (m: WorkerMessage) => process.send?.(m)
        // A driver that dies (even by kill -9) closes the IPC channel: stop and clean up.
        const onDisconnect = () => process.kill(process.pid, "SIGTERM")
        process.once("disconnect", onDisconnect)
        // The open channel would keep this process alive after the stage is done.
        yield* Effect.addFinalizer(() =>
          Effect.sync(() => {
            process.off("disconnect", onDisconnect)
            if (process.connected) process.disconnect()
          }),
        )
        const plain = progressReporter({ tty: false, write: (s) => process.stdout.write(s), interval: 30 })
        // A cluster job has no IPC channel: its driver follows the events it appends to this file.
        const eventsFile = process.env.TRANSFUSION_EVENTS_FILE
        const reporter: Reporter = process.send
          ? { event: (event) => send({ type: "event", event }) }
          : eventsFile
            ? { event: (event) => (plain.event(event), appendFileSync(eventsFile, `${JSON.stringify(event)}\n`)) }
            : plain
        const session = yield* openSession(project, args, (text) => reporter.event({ type: "message", text }), args.id)
        const target = session.fps.get(args.id)
        if (!target) return yield* new CliFailure({ message: `no stage "${args.id}" in profile ${session.profile}` })
        const expected = Option.getOrUndefined(args.expect)
        if (expected && expected !== target.fingerprint) {
          const message = `${args.id}: fingerprint is ${target.fingerprint} but the driver planned ${expected}; code, parameters or inputs changed since planning — run again`
          send({ type: "error", message })
          return yield* new CliFailure({ message })
        }
        const env: ExecEnv = { store: session.store, locks: session.locks, reporter, root: project.root }
        const exit = yield* Effect.exit(executeStage(env, target, session.fps, args.force))
        if (Exit.isSuccess(exit)) {
          send({ type: "outcome", status: exit.value.status })
          if (!process.send) console.log(`${args.id}: ${exit.value.status} ${target.fingerprint}`)
          return
        }
        if (Cause.isInterruptedOnly(exit.cause)) return yield* Effect.interrupt
        const failure = Cause.failureOption(exit.cause)
        const message = failure._tag === "Some" ? failure.value.message : Cause.pretty(exit.cause)
        const logPath = failure._tag === "Some" ? failure.value.logPath : undefined
        send({ type: "error", message, ...(logPath ? { logPath } : {}) })
        return yield* new CliFailure({ message: `${args.id} failed: ${message}${logPath ? `\n  log: ${logPath}` : ""}` })
      }).pipe(Effect.scoped),
  ).pipe(Command.withDescription("run one stage (used by worker processes and cluster jobs)"))
