// `verify`: rehash every artifact and name each corrupt or tampered one.
import * as Command from "@effect/cli/Command"
import * as Effect from "effect/Effect"
import type { Project } from "../project.ts"
import { CliFailure } from "./errors.ts"
import { storeFor, storeOption } from "./session.ts"

export const verifyCommand = (project: Project) =>
  Command.make("verify", { store: storeOption }, (args) =>
    Effect.gen(function* () {
      const store = storeFor(project, args.store)
      let n = 0
      const problems = store.verify(() => n++)
      for (const p of problems) console.log(`✗ ${p.artifact}: ${p.problem}`)
      console.log(`${n} artifacts checked, ${problems.length} problem(s)`)
      if (problems.length) return yield* new CliFailure({ message: `store ${store.root} has ${problems.length} problem(s)` })
    }),
  ).pipe(Command.withDescription("rehash all artifacts against their manifests"))
