// `show <id>`: an artifact's manifest, result, files and log tail (`--json`: its result).
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Effect from "effect/Effect"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import type { Project } from "../project.ts"
import { CliFailure } from "./errors.ts"
import { globalOptions, jsonOption, openSession } from "./session.ts"

export const showCommand = (project: Project) =>
  Command.make("show", { ...globalOptions, json: jsonOption, id: Args.text({ name: "stage id" }) }, (args) =>
    Effect.gen(function* () {
      const session = yield* openSession(project, args, (l) => console.error(l), { files: "recorded" })
      const { store } = session
      const planned = session.fps.get(args.id)?.fingerprint
      const fp = planned && store.isComplete(args.id, planned) ? planned : store.latest(args.id)
      const manifest = fp ? store.readManifest(args.id, fp) : undefined
      if (!fp || !manifest) {
        const hint = planned ? `run it with: ${project.name} run ${args.id}` : `no stage "${args.id}" in profile ${session.profile} (see ${project.name} dag)`
        return yield* new CliFailure({ message: `no artifact for ${args.id}; ${hint}` })
      }
      if (args.json) return console.log(JSON.stringify(manifest.result, null, 2))
      const dir = store.artifactDir(args.id, fp)
      console.log(`${manifest.stage}  [${manifest.kind}]  ${fp}${planned === fp ? " (current)" : planned ? " (stale: not the current fingerprint)" : ""}`)
      console.log(`dir       ${dir}`)
      console.log(`finished  ${manifest.finishedAt} in ${(manifest.durationMs / 1000).toFixed(1)} s on ${manifest.host} (node ${manifest.node})`)
      console.log(`params    ${JSON.stringify(manifest.parts.params)}`)
      if (Object.keys(manifest.parts.environment).length) console.log(`env       ${JSON.stringify(manifest.parts.environment)}`)
      for (const [name, up] of Object.entries(manifest.parts.inputs)) console.log(`input     ${name} <- ${up}`)
      console.log(`result    ${JSON.stringify(manifest.result, null, 2).split("\n").join("\n          ")}`)
      console.log("files")
      for (const [rel, o] of Object.entries(manifest.outputs)) console.log(`  ${rel.padEnd(40)} ${String(o.size).padStart(12)} B`)
      try {
        const tail = readFileSync(join(dir, manifest.log), "utf8").trimEnd().split("\n").slice(-15)
        console.log(`log (last ${tail.length} lines of ${join(dir, manifest.log)})`)
        for (const l of tail) console.log(`  ${l}`)
      } catch {
        console.log("log: missing")
      }
    }),
  ).pipe(Command.withDescription("show a stage's artifact: manifest, result, files, log tail"))
