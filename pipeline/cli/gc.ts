// `gc`: delete artifacts that no profile's current graph references, and the leftovers
// of killed runs (temp dirs, failed logs, scratch state, finished or abandoned Slurm jobs' records and events). It refuses, unless --force, when
// a profile cannot be planned (its artifacts would look unreferenced) or while a run or a
// stage is using the store (it may use artifacts no profile gc planned references, e.g.
// under another --config). It holds the store meanwhile, so a run started during gc waits
// for it (lock.ts, holdStoreForRun).
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { Locks, StoreUsers } from "../lock.ts"
import { describeOwner } from "../owner.ts"
import type { Project } from "../project.ts"
import { sweepAbandonedEvents, sweepFinishedJobRecords } from "../slurm/jobs.ts"
import { CliFailure } from "./errors.ts"
import { globalOptions, locksFor, openSession, storeFor } from "./session.ts"

export const gcCommand = (project: Project) =>
  Command.make(
    "gc",
    {
      ...globalOptions,
      dryRun: Options.boolean("dry-run").pipe(Options.withDescription("list what would be removed, remove nothing")),
      force: Options.boolean("force").pipe(Options.withDescription("remove even when a profile cannot be planned or a stage is running")),
    },
    (args) =>
      Effect.gen(function* () {
        // Keep what any profile (or just the named one) references now.
        const profiles = Option.isSome(args.profile) ? [args.profile.value] : project.profiles
        const keep = new Set<string>()
        const unplanned: string[] = []
        let locks: Locks | undefined
        for (const profile of profiles) {
          const session = yield* Effect.either(openSession(project, { ...args, profile: Option.some(profile) }, (l) => console.error(l)))
          if (session._tag === "Left") {
            unplanned.push(`${profile} (${session.left.message})`)
            continue
          }
          locks = session.right.locks
          for (const f of session.right.fps.values()) keep.add(`${f.node.id}/${f.fingerprint}`)
        }
        const store = storeFor(project, args.store)
        if (unplanned.length && !args.force) {
          return yield* new CliFailure({
            message: `gc removed nothing: profile ${unplanned.join("; profile ")} could not be planned, so its artifacts would look unreferenced; fix it (or pass the --config it needs), or run gc --force`,
          })
        }
        locks ??= yield* locksFor(store, (l) => console.error(l))
        // A dry run removes nothing, so it neither takes the store nor keeps runs waiting.
        if (!args.dryRun) {
          const { runs, stages } = yield* locks
            .holdStoreForGc((h) => console.error(`gc: waiting for another gc (${h ? describeOwner(h) : "unreadable holder"}) to finish`))
            .pipe(Effect.mapError((e) => new CliFailure({ message: e.message })))
          const who = (users: StoreUsers["runs"]) => users.map((l) => `${l.key} (${l.holder ? describeOwner(l.holder) : "unreadable holder"})`).join(", ")
          const busy = [...(stages.length ? [`stages are running (${who(stages)})`] : []), ...(runs.length ? [`runs are in progress (${who(runs)})`] : [])]
          if (busy.length && !args.force)
            return yield* new CliFailure({ message: `gc removed nothing: ${busy.join("; ")} and may use artifacts it would remove; run gc when they finish, or gc --force` })
        }
        const swept = store.gc(keep, args.dryRun, locks)
        const { removed, bytes, tempDirs } = swept
        const finishedJobs = sweepFinishedJobRecords(store.root, (id, fp) => store.readManifest(id, fp)?.finishedAt, args.dryRun)
        // Events files are swept after the records: a finished job's events go with its record.
        const leaks = [...swept.leaks, ...finishedJobs.paths, ...sweepAbandonedEvents(store.root, args.dryRun, locks.timing.staleAfterMs, finishedJobs.jobIds)]
        const verb = args.dryRun ? "would remove" : "removed"
        for (const r of tempDirs.restored) console.log(`${args.dryRun ? "would restore" : "restored"} ${r} (set aside by a --force run that was killed)`)
        for (const t of tempDirs.orphans) console.log(`${verb} .tmp/${t} (its process is gone)`)
        for (const l of leaks) console.log(`${verb} ${l}`)
        for (const r of removed) console.log(`${verb} ${r.id}/${r.fingerprint}`)
        console.log(
          `${removed.length} artifacts, ${(bytes / 1e6).toFixed(1)} MB ${args.dryRun ? "would be " : ""}freed; ` +
            `${tempDirs.orphans.length} orphan temp dirs, ${leaks.length} leftovers; ${keep.size} referenced`,
        )
      }).pipe(Effect.scoped),
  ).pipe(Command.withDescription("remove artifacts no profile references, and killed runs' leftovers"))
