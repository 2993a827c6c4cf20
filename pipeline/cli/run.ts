// `run [ids or globs]`: plan, then run every stale selected stage (and the upstreams it needs).
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { cpus } from "node:os"
import { matchIds, selectNodes } from "../graph.ts"
import { byIsolation, inlineExecutor, processExecutor } from "../executors/local.ts"
import { progressReporter, formatDuration } from "../progress.ts"
import { runPlan } from "../scheduler.ts"
import { statusOf } from "../status.ts"
import type { Project } from "../project.ts"
import type { ExecEnv } from "../execute.ts"
import { CliFailure, tryPlan } from "./errors.ts"
import { globalOptions, openSession } from "./session.ts"

export const runCommand = (project: Project) =>
  Command.make(
    "run",
    {
      ...globalOptions,
      ids: Args.text({ name: "ids or globs" }).pipe(Args.repeated),
      jobs: Options.integer("jobs").pipe(Options.withAlias("j"), Options.withDescription("CPU slots (default: number of cores)"), Options.optional),
      gpus: Options.integer("gpus").pipe(Options.withDescription("GPU slots"), Options.withDefault(0)),
      force: Options.boolean("force").pipe(Options.withDescription("rerun the named stages (or all selected) even if fresh")),
      dryRun: Options.boolean("dry-run").pipe(Options.withDescription("show what would run and why, run nothing")),
      inline: Options.boolean("inline").pipe(Options.withDescription("run every stage in this process, even those declared as workers")),
      verbose: Options.boolean("verbose").pipe(Options.withAlias("v"), Options.withDescription("print stages' log lines")),
    },
    (args) =>
      Effect.gen(function* () {
        const started = Date.now()
        const reporter = progressReporter({ tty: process.stdout.isTTY === true, write: (s) => process.stdout.write(s), verbose: args.verbose })
        yield* Effect.addFinalizer(() => Effect.sync(() => reporter.stop()))
        const session = yield* openSession(project, args, reporter.say)
        const { graph, fps, store } = session
        const selected = yield* tryPlan(() => selectNodes(graph, args.ids))
        const force = args.force ? (args.ids.length ? yield* tryPlan(() => matchIds(graph, args.ids)) : new Set(selected.map((n) => n.id))) : new Set<string>()
        for (const name of store.cleanOrphanTempDirs()) reporter.say(`removed an unfinished run's temp dir .tmp/${name} (its process is gone)`)
        for (const o of session.overrides) reporter.say(`override: ${o}`)

        if (args.dryRun) {
          let stale = 0
          for (const node of selected) {
            const st = statusOf(store, fps.get(node.id)!)
            if (st.state === "fresh" && !force.has(node.id)) continue
            stale++
            console.log(`would run ${node.id}${force.has(node.id) ? " (forced)" : ""}`)
            for (const r of st.reasons) console.log(`    ${r}`)
          }
          console.log(`${stale} of ${selected.length} selected stages would run (profile ${session.profile})`)
          return
        }

        const env: ExecEnv = { store, locks: session.locks, reporter, root: project.root }
        const inline = inlineExecutor(env)
        const workers = processExecutor(env, {
          entry: project.entry.script,
          execArgv: project.entry.execArgv,
          argsFor: (target, forced) => ["exec", target.node.id, "--expect", target.fingerprint, ...session.argv, ...(forced ? ["--force"] : [])],
        })
        const executor = args.inline ? inline : byIsolation(inline, workers)
        const jobs = Option.getOrElse(args.jobs, () => cpus().length)
        const summary = yield* runPlan(selected, fps, env, executor, { jobs, gpus: args.gpus, force })
        reporter.stop()
        const took = formatDuration((Date.now() - started) / 1000)
        console.log(
          `\n${session.profile}: ${summary.ran.length} ran, ${summary.fresh.length} fresh, ${summary.failed.length} failed, ${summary.notRun.length} not run (${took})`,
        )
        if (summary.failed.length) {
          console.log("\nFailed stages:")
          for (const f of summary.failed) console.log(`  ✗ ${f.id}: ${f.message.split("\n")[0]}${f.logPath ? `\n      log: ${f.logPath}` : ""}`)
          if (summary.notRun.length) console.log(`Not run because an input failed: ${summary.notRun.map((n) => n.id).join(", ")}`)
          return yield* new CliFailure({ message: `${summary.failed.length} stage(s) failed` })
        }
      }).pipe(Effect.scoped),
  ).pipe(Command.withDescription("run the stale stages of a profile (or those matching ids/globs, with their upstreams)"))
