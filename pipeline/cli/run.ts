// `run [ids or globs]`: plan, then run every stale selected stage (and the upstreams it needs).
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { cpus } from "node:os"
import { join, relative } from "node:path"
import { matchIds, selectNodes } from "../graph.ts"
import { makeRunBook } from "../book.ts"
import { byIsolation, inlineExecutor, workerPool } from "../executors/local.ts"
import type { ExecEnv } from "../execute.ts"
import type { Fingerprinted } from "../fingerprint.ts"
import { progressReporter, formatDuration } from "../progress.ts"
import type { Project } from "../project.ts"
import { localScheduler, type Scheduler } from "../scheduler.ts"
import { slurmScheduler } from "../slurm/scheduler.ts"
import { defaultSlurmSettings, type SlurmSettings } from "../slurm/settings.ts"
import { describeOwner } from "../owner.ts"
import { statusOf } from "../status.ts"
import { describeUtilisation, utilisation, type TimelineSpan } from "../timeline.ts"
import { CliFailure, refuseUnknownFlags, tryPlan } from "./errors.ts"
import { globalOptions, openSession } from "./session.ts"

/** Where a dry run says a stage would go: nothing for a CPU stage. */
const placementNote = (needed: number, gpus: number, slurm: boolean): string => {
  if (needed === 0) return ""
  if (slurm) return ` (its job asks for --gres=gpu:${needed})`
  if (needed <= gpus) return ` on ${needed} GPU slot(s)`
  return ` on ${needed} GPU slot(s), but this run has ${gpus}: it would fail (pass --gpus ${needed} on a machine with a GPU)`
}

export const runCommand = (project: Project) =>
  Command.make(
    "run",
    {
      ...globalOptions,
      ids: Args.text({ name: "ids or globs" }).pipe(Args.repeated),
      jobs: Options.integer("jobs").pipe(Options.withAlias("j"), Options.withDescription("CPU slots (default: number of cores)"), Options.optional),
      gpus: Options.integer("gpus").pipe(
        Options.withDescription("GPU slots, one worker process per GPU (default: the project's count of this machine's GPUs)"),
        Options.optional,
      ),
      force: Options.boolean("force").pipe(Options.withDescription("rerun the named stages (or all selected) even if fresh")),
      dryRun: Options.boolean("dry-run").pipe(Options.withDescription("show what would run and why, run nothing")),
      inline: Options.boolean("inline").pipe(Options.withDescription("run every stage in this process, even those declared as workers")),
      verbose: Options.boolean("verbose").pipe(Options.withAlias("v"), Options.withDescription("print stages' log lines")),
      executor: Options.choice("executor", ["local", "slurm"]).pipe(
        Options.withDescription("where stale stages run: local processes, or one Slurm job each (default: the config's executor, else local)"),
        Options.optional,
      ),
      slurmPartition: Options.text("slurm-partition").pipe(Options.withDescription("sbatch --partition for every job"), Options.optional),
      slurmAccount: Options.text("slurm-account").pipe(Options.withDescription("sbatch --account for every job"), Options.optional),
      slurmTime: Options.text("slurm-time").pipe(Options.withDescription("sbatch --time per job (e.g. 2:00:00)"), Options.optional),
      slurmFlags: Options.text("slurm-flags").pipe(
        Options.withDescription("further sbatch flags, space-separated (e.g. \"--qos=high --constraint=a100\")"),
        Options.optional,
      ),
      slurmPoll: Options.float("slurm-poll").pipe(Options.withDescription("seconds between squeue polls (default 5)"), Options.optional),
    },
    (args) =>
      Effect.gen(function* () {
        yield* refuseUnknownFlags("run", args.ids)
        const started = Date.now()
        const reporter = progressReporter({ tty: process.stdout.isTTY === true, write: (s) => process.stdout.write(s), verbose: args.verbose })
        yield* Effect.addFinalizer(() => Effect.sync(() => reporter.stop()))
        let session = yield* openSession(project, args, reporter.say)
        const configured = session.executor
        const executorName = Option.getOrElse(args.executor, () => configured?.type ?? "local")
        let slurm: SlurmSettings | undefined
        if (executorName === "slurm") {
          const fromConfig: Partial<SlurmSettings> = configured?.type === "slurm" ? configured : {}
          const flags = Option.map(args.slurmFlags, (f) => f.split(/\s+/).filter(Boolean))
          slurm = {
            ...defaultSlurmSettings,
            ...fromConfig,
            ...Option.match(args.slurmPartition, { onNone: () => ({}), onSome: (partition) => ({ partition }) }),
            ...Option.match(args.slurmAccount, { onNone: () => ({}), onSome: (account) => ({ account }) }),
            ...Option.match(args.slurmTime, { onNone: () => ({}), onSome: (timeLimit) => ({ timeLimit }) }),
            ...Option.match(flags, { onNone: () => ({}), onSome: (extraFlags) => ({ extraFlags }) }),
            ...Option.match(args.slurmPoll, { onNone: () => ({}), onSome: (pollSeconds) => ({ pollSeconds }) }),
          }
          // The config's shared store, unless --store names one.
          if (slurm.store && Option.isNone(args.store)) session = yield* openSession(project, { ...args, store: Option.some(slurm.store) }, reporter.say)
        }
        const { graph, fps, store } = session
        const selected = yield* tryPlan(() => selectNodes(graph, args.ids))
        const force = args.force ? (args.ids.length ? yield* tryPlan(() => matchIds(graph, args.ids)) : new Set(selected.map((n) => n.id))) : new Set<string>()
        // Registered on the store before touching it, so a gc waits for this run and this run for a gc.
        if (!args.dryRun)
          yield* session.locks
            .holdStoreForRun((gc) => reporter.say(`waiting for gc (${gc ? describeOwner(gc) : "unreadable holder"}) to finish with the store`))
            .pipe(Effect.mapError((e) => new CliFailure({ message: e.message })))
        if (!args.dryRun) for (const name of store.cleanOrphanTempDirs()) reporter.say(`removed an unfinished run's temp dir .tmp/${name} (its process is gone)`)
        for (const o of session.overrides) reporter.say(`override: ${o}`)
        // The Slurm scheduler asks the cluster for each job's GPUs (--gres); the slots are local.
        const gpus = slurm
          ? 0
          : yield* Option.match(args.gpus, {
              onSome: (n) => Effect.succeed(n),
              onNone: () => Effect.try({ try: () => project.gpuCount?.() ?? 0, catch: (e) => new CliFailure({ message: (e as Error).message }) }),
            })
        if (gpus < 0) return yield* new CliFailure({ message: `--gpus ${gpus}: the number of GPU slots is 0 or more` })
        if (!slurm && gpus > 0) reporter.say(`${gpus} GPU slot(s)${Option.isNone(args.gpus) ? " (this machine's GPUs; --gpus overrides)" : ""}`)

        if (args.dryRun) {
          let stale = 0
          for (const node of selected) {
            const st = statusOf(store, fps.get(node.id)!)
            if (st.state === "fresh" && !force.has(node.id)) continue
            stale++
            console.log(`would run ${node.id}${force.has(node.id) ? " (forced)" : ""}${placementNote(node.resources.gpu, gpus, slurm !== undefined)}`)
            for (const r of st.reasons) console.log(`    ${r}`)
          }
          console.log(`${stale} of ${selected.length} selected stages would run (profile ${session.profile})`)
          return
        }

        const env: ExecEnv = { store, locks: session.locks, reporter, root: project.root }
        const jobs = Math.max(1, Option.getOrElse(args.jobs, () => cpus().length))
        const argv = session.argv
        const scheduler: Scheduler = yield* Effect.gen(function* () {
          if (slurm) {
            const argsFor = (target: Fingerprinted, forced: boolean) => ["exec", target.node.id, "--expect", target.fingerprint, ...argv, ...(forced ? ["--force"] : [])]
            return slurmScheduler(env, { settings: slurm, entry: project.entry, project: project.name, argsFor })
          }
          const inline = inlineExecutor(env)
          const workers = workerPool(env, { entry: project.entry.script, execArgv: project.entry.execArgv, argv })
          yield* Effect.addFinalizer(() => workers.close)
          return localScheduler(env, args.inline ? inline : byIsolation(inline, workers), { jobs, gpus })
        })
        // Nothing to run (a no-op run): every stage is only booked fresh, which is done here
        // without a fiber per stage (a cold process pays for those).
        const nothingStale = !slurm && selected.every((n) => !force.has(n.id) && store.isComplete(n.id, fps.get(n.id)!.fingerprint))
        const summary = nothingStale
          ? (() => {
              const book = makeRunBook(env)
              for (const node of selected) book.fresh(fps.get(node.id)!)
              return book.summary()
            })()
          : yield* scheduler({ nodes: selected, fps }, { force })
        reporter.stop()
        const took = formatDuration((Date.now() - started) / 1000)
        console.log(
          `\n${session.profile}: ${summary.ran.length} ran, ${summary.fresh.length} fresh, ${summary.failed.length} failed, ${summary.notRun.length} not run (${took})`,
        )
        // The run's own timeline: how long CPU slots sat idle, and where (issue 15's figure).
        if (!slurm && summary.ran.length > 0) {
          const spans = summary.ran.flatMap((r): TimelineSpan[] => {
            const target = fps.get(r.id)!
            const m = store.readManifest(r.id, target.fingerprint)
            if (m === undefined) return []
            return [{ id: r.id, start: Date.parse(m.startedAt), end: Date.parse(m.finishedAt), slots: Math.min(Math.max(1, target.node.resources.cpu), jobs) }]
          })
          console.log(describeUtilisation(utilisation(spans, jobs, started, Date.now())))
        }
        // Stable paths into the completed stages' artifacts (e.g. the report).
        const done = new Set([...summary.fresh, ...summary.ran.map((r) => r.id)])
        for (const node of selected) {
          if (!done.has(node.id)) continue
          for (const link of Object.keys(node.links)) console.log(`${node.id}: ${relative(process.cwd(), join(project.root, link)) || link}`)
        }
        if (summary.failed.length) {
          console.log("\nFailed stages:")
          for (const f of summary.failed) console.log(`  ✗ ${f.id}: ${f.message.split("\n")[0]}${f.logPath ? `\n      log: ${f.logPath}` : ""}`)
          if (summary.notRun.length) console.log(`Not run because an input failed: ${summary.notRun.map((n) => n.id).join(", ")}`)
          return yield* new CliFailure({ message: `${summary.failed.length} stage(s) failed` })
        }
      }).pipe(Effect.scoped),
  ).pipe(Command.withDescription("run the stale stages of a profile (or those matching ids/globs, with their upstreams)"))
