// `results [ids or globs]`: one row per artifact of the profile with its identity, the params
// that differ between rows, its metrics, fingerprint and wall time (`dvc exp show`).
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { writeFileSync } from "node:fs"
import { matchIds } from "../graph.ts"
import type { Project } from "../project.ts"
import { resultsTable, toCsv, toJsonRows, toParquet, toTextTable } from "../results.ts"
import { CliFailure, tryPlan } from "./errors.ts"
import { globalOptions, openSession } from "./session.ts"

export const resultsCommand = (project: Project) =>
  Command.make(
    "results",
    {
      ...globalOptions,
      ids: Args.text({ name: "ids or globs" }).pipe(Args.repeated),
      format: Options.choice("format", ["table", "csv", "json", "parquet"]).pipe(Options.withDefault("table" as const)),
      output: Options.file("output").pipe(Options.withAlias("o"), Options.withDescription("write to FILE instead of stdout (required for parquet)"), Options.optional),
    },
    (args) =>
      Effect.gen(function* () {
        const session = yield* openSession(project, args, (l) => console.error(l), { files: "recorded" })
        const wanted = args.ids.length ? yield* tryPlan(() => matchIds(session.graph, args.ids)) : undefined
        const stages = session.graph.nodes.filter((n) => !wanted || wanted.has(n.id)).map((n) => session.fps.get(n.id)!)
        const spec = project.results?.({ profile: session.profile, configFile: session.configFile }) ?? {}
        const table = resultsTable(session.store, stages, spec)
        const output = Option.getOrUndefined(args.output)
        if (args.format === "parquet" && !output) return yield* new CliFailure({ message: "--format parquet writes a binary file: name it with --output FILE" })
        const text =
          args.format === "parquet"
            ? yield* Effect.promise(() => toParquet(table))
            : args.format === "csv"
              ? toCsv(table)
              : args.format === "json"
                ? toJsonRows(table)
                : `${toTextTable(table, process.stdout.columns ?? 160)}\n`
        if (output) writeFileSync(output, text)
        else process.stdout.write(text)
        const stale = table.rows.filter((r) => r.state === "stale").length
        if (args.format === "table" || output)
          console.error(
            `${table.rows.length} artifacts${stale ? ` (${stale} stale: an older fingerprint's result)` : ""}` +
              `${table.notRun.length ? `; ${table.notRun.length} stages not run yet` : ""}${output ? `; written to ${output}` : ""}`,
          )
      }),
  ).pipe(Command.withDescription("one row per artifact: identity, differing params, metrics, fingerprint, wall time (table, csv, json or parquet)"))
