// `gc`: delete artifacts that no profile's current graph references.
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { Project } from "../project.ts"
import { globalOptions, openSession } from "./session.ts"

export const gcCommand = (project: Project) =>
  Command.make("gc", { ...globalOptions, dryRun: Options.boolean("dry-run") }, (args) =>
    Effect.gen(function* () {
      // Keep what any profile (or just the named one) references now.
      const profiles = Option.isSome(args.profile) ? [args.profile.value] : project.profiles
      const keep = new Set<string>()
      let store
      for (const profile of profiles) {
        const session = yield* Effect.either(openSession(project, { ...args, profile: Option.some(profile) }, () => {}))
        if (session._tag === "Left") {
          console.log(`profile ${profile} could not be planned (${session.left.message}); gc keeps nothing on its behalf`)
          continue
        }
        store = session.right.store
        for (const f of session.right.fps.values()) keep.add(`${f.node.id}/${f.fingerprint}`)
      }
      if (!store) return console.log("no profile could be planned; nothing removed")
      const { removed, bytes } = store.gc(keep, args.dryRun)
      for (const r of removed) console.log(`${args.dryRun ? "would remove" : "removed"} ${r.id}/${r.fingerprint}`)
      console.log(`${removed.length} artifacts, ${(bytes / 1e6).toFixed(1)} MB ${args.dryRun ? "would be" : ""} freed; ${keep.size} referenced`)
    }),
  ).pipe(Command.withDescription("remove artifacts no profile references"))
