// The command line: the engine's verbs plus the project's own.
import * as Command from "@effect/cli/Command"
import * as ValidationError from "@effect/cli/ValidationError"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type { Project } from "../project.ts"
import { dagCommand } from "./dag.ts"
import { diffCommand } from "./diff.ts"
import { execCommand, workerCommand } from "./exec.ts"
import { gcCommand } from "./gc.ts"
import { lsCommand } from "./ls.ts"
import { resultsCommand } from "./results.ts"
import { runCommand } from "./run.ts"
import { showCommand } from "./show.ts"
import { statusCommand } from "./status.ts"
import { unlockCommand } from "./unlock.ts"
import { verifyCommand } from "./verify.ts"

const reportFailure = (project: Project, message: string) =>
  Effect.sync(() => {
    console.error(`${project.name}: ${message}`)
    process.exitCode = 1
  })

export const runCli = (project: Project, argv: readonly string[] = process.argv): void => {
  const root = Command.make(project.name).pipe(
    Command.withSubcommands([
      runCommand(project),
      statusCommand(project),
      dagCommand(project),
      lsCommand(project),
      showCommand(project),
      verifyCommand(project),
      gcCommand(project),
      resultsCommand(project),
      diffCommand(project),
      unlockCommand(project),
      execCommand(project),
      workerCommand(project),
      ...((project.commands ?? []) as never[]),
    ]),
  )
  const cli = Command.run(root, { name: project.name, version: project.version })
  const program = cli(argv).pipe(
    Effect.catchTags({
      ConfigError: (e) => reportFailure(project, e.message),
      CliFailure: (e) => reportFailure(project, e.message),
      UsageError: (e) =>
        Effect.sync(() => {
          console.error(e.message)
          process.exitCode = 2
        }),
    }),
    // A mistyped verb, flag or value: @effect/cli has already printed its one-line message;
    // exit 2 as shells do for usage errors, without the error's internal form.
    Effect.catchIf(ValidationError.isValidationError, () => Effect.sync(() => void (process.exitCode = 2))),
    Effect.provide(NodeContext.layer),
  )
  NodeRuntime.runMain(program as Effect.Effect<void, unknown>, {
    // Interrupted (Ctrl-C, SIGTERM) is not success: 130 as shells report SIGINT.
    teardown: (exit, onExit) =>
      onExit(Exit.isSuccess(exit) ? (process.exitCode === undefined ? 0 : Number(process.exitCode)) : Cause.isInterruptedOnly(exit.cause) ? 130 : 1),
  })
}
