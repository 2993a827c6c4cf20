// `unlock <id or fingerprint>`: remove a stage's lock whose holder cannot release it (a
// killed Slurm job, a dead container) without waiting for its heartbeat to go stale;
// `unlock gc` removes the store lock of a gc that was killed on another machine.
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Effect from "effect/Effect"
import { GC_KEY } from "../lock.ts"
import type { Project } from "../project.ts"
import { CliFailure } from "./errors.ts"
import { globalOptions, openSession } from "./session.ts"

const fingerprintPattern = /^[0-9a-f]{20}$/

export const unlockCommand = (project: Project) =>
  Command.make(
    "unlock",
    {
      ...globalOptions,
      target: Args.text({ name: "id or fingerprint" }),
      force: Options.boolean("force").pipe(Options.withDescription("remove the lock even if its holder still runs on this machine")),
    },
    (args) =>
      Effect.gen(function* () {
        const session = yield* openSession(project, args, (l) => console.error(l))
        const planned = session.fps.get(args.target)
        if (!planned && !fingerprintPattern.test(args.target) && args.target !== GC_KEY)
          return yield* new CliFailure({ message: `no stage "${args.target}" in profile ${session.profile} (give its id, as \`dag\` lists, or the fingerprint a waiting run names)` })
        const key = planned?.fingerprint ?? args.target
        const { removed, message } = session.locks.unlock(key, args.force)
        if (!removed) return yield* new CliFailure({ message })
        console.log(`${planned ? `${args.target}: ` : ""}${message}`)
      }),
  ).pipe(Command.withDescription("remove a stage's lock left by a process that cannot release it"))
