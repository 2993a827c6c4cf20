// `status`: each stage fresh / stale / missing, and why.
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Effect from "effect/Effect"
import { selectNodes } from "../graph.ts"
import type { PlannedState } from "../outcome.ts"
import { statusOf } from "../status.ts"
import type { Project } from "../project.ts"
import { refuseUnknownFlags, tryPlan } from "./errors.ts"
import { globalOptions, jsonOption, openSession } from "./session.ts"

export const statusCommand = (project: Project) =>
  Command.make(
    "status",
    { ...globalOptions, json: jsonOption, ids: Args.text({ name: "ids or globs" }).pipe(Args.repeated) },
    (args) =>
      Effect.gen(function* () {
        yield* refuseUnknownFlags("status", args.ids)
        // Declared datasets are not read: their hashes are the ones each stage's last artifact
        // recorded (`run` hashes them). Code, parameters and inputs are compared as always.
        const session = yield* openSession(project, args, (l) => console.error(l), { files: "recorded" })
        const nodes = yield* tryPlan(() => selectNodes(session.graph, args.ids))
        // `gpu`: the GPU slots a stage needs (it runs on a GPU worker; 0 for a CPU stage).
        const rows = nodes.map((n) => ({ ...statusOf(session.store, session.fps.get(n.id)!), gpu: n.resources.gpu }))
        if (args.json) {
          console.log(JSON.stringify({ profile: session.profile, overrides: session.overrides, stages: rows }, null, 2))
          return
        }
        console.log(`profile ${session.profile}, store ${session.store.root}`)
        for (const o of session.overrides) console.log(`override: ${o}`)
        for (const r of rows) {
          console.log(`${r.state.padEnd(7)} ${r.id}${r.gpu > 0 ? `  [gpu${r.gpu > 1 ? ` x${r.gpu}` : ""}]` : ""}`)
          for (const reason of r.state === "fresh" || r.reasons[0] === "never run" ? [] : r.reasons) console.log(`          ${reason}`)
        }
        const count = (s: PlannedState) => rows.filter((r) => r.state === s).length
        console.log(`\n${rows.length} stages: ${count("fresh")} fresh, ${count("stale")} stale, ${count("missing")} missing`)
        const fileBacked = nodes.filter((n) => Object.keys(n.files).length > 0).length
        if (fileBacked > 0) console.log(`(${fileBacked} stages read declared files; status compares their last recorded hashes and reads no dataset: \`run\` hashes them)`)
      }),
  ).pipe(Command.withDescription("show each stage as fresh, stale (and why) or missing; [gpu] marks a stage that runs on a GPU slot"))
