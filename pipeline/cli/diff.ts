// `diff <id> [--against FINGERPRINT]`: an artifact's params and metrics against another
// stored version of the same stage (default: the one finished before it), as
// `dvc params diff` and `dvc metrics diff` do.
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { Project } from "../project.ts"
import { diffArtifacts, formatDiff, storedVersions } from "../results.ts"
import { CliFailure } from "./errors.ts"
import { globalOptions, jsonOption, openSession } from "./session.ts"

export const diffCommand = (project: Project) =>
  Command.make(
    "diff",
    {
      ...globalOptions,
      json: jsonOption,
      against: Options.text("against").pipe(Options.withDescription("the stored fingerprint to compare with (default: the previous one)"), Options.optional),
      id: Args.text({ name: "stage id" }),
    },
    (args) =>
      Effect.gen(function* () {
        const session = yield* openSession(project, args, (l) => console.error(l), { files: "recorded" })
        const { store } = session
        const versions = storedVersions(store, args.id)
        const planned = session.fps.get(args.id)?.fingerprint
        const current = versions.find((m) => m.fingerprint === planned) ?? versions.find((m) => m.fingerprint === store.latest(args.id)) ?? versions[0]
        if (!current) return yield* new CliFailure({ message: `no artifact for ${args.id} in ${store.root} (see ${project.name} ls)` })
        const against = Option.getOrUndefined(args.against)
        const others = versions.filter((m) => m.fingerprint !== current.fingerprint)
        const before = against
          ? versions.find((m) => m.fingerprint.startsWith(against))
          : (others.find((m) => m.finishedAt <= current.finishedAt) ?? others[0])
        if (!before) {
          const known = versions.map((m) => `${m.fingerprint} (${m.finishedAt})`).join(", ")
          return yield* new CliFailure({
            message: against ? `${args.id} has no stored fingerprint ${against}; stored: ${known}` : `${args.id} has only one stored version (${known}): nothing to compare with`,
          })
        }
        const spec = project.results?.({ profile: session.profile, configFile: session.configFile }) ?? {}
        const d = diffArtifacts(spec, before, current)
        console.log(args.json ? JSON.stringify(d, null, 2) : formatDiff(d))
      }),
  ).pipe(Command.withDescription("params and metrics of a stage's artifact against its previous (or --against) stored version"))
