// `ls`: the artifacts in the store; `*` marks the ones the current profile uses.
import * as Command from "@effect/cli/Command"
import * as Effect from "effect/Effect"
import type { Project } from "../project.ts"
import { globalOptions, jsonOption, openSession } from "./session.ts"

export const lsCommand = (project: Project) =>
  Command.make("ls", { ...globalOptions, json: jsonOption }, (args) =>
    Effect.gen(function* () {
      const session = yield* openSession(project, args, (l) => console.error(l), { files: "recorded" })
      const rows = session.store.artifacts().map((ref) => {
        const m = session.store.readManifest(ref.id, ref.fingerprint)
        const bytes = m ? Object.values(m.outputs).reduce((s, o) => s + o.size, 0) : 0
        return {
          id: ref.id,
          fingerprint: ref.fingerprint,
          current: session.fps.get(ref.id)?.fingerprint === ref.fingerprint,
          finishedAt: m?.finishedAt ?? "?",
          seconds: m ? m.durationMs / 1000 : undefined,
          bytes,
          dir: ref.dir,
        }
      })
      if (args.json) return console.log(JSON.stringify(rows, null, 2))
      for (const r of rows) {
        console.log(
          `${r.current ? "*" : " "} ${r.id.padEnd(48)} ${r.fingerprint}  ${r.finishedAt.slice(0, 19)}  ${(r.seconds ?? 0).toFixed(1).padStart(7)}s  ${(r.bytes / 1e6).toFixed(2).padStart(9)} MB`,
        )
      }
      console.log(`${rows.length} artifacts in ${session.store.root} (* = used by profile ${session.profile})`)
    }),
  ).pipe(Command.withDescription("list stored artifacts"))
