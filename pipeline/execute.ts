// Running one stage to a committed artifact: lock, fresh temp dir, run, hash, manifest,
// atomic rename. Every executor (inline, worker process, cluster job) ends up here, so the
// commit protocol exists exactly once. Pointing `latest` and the node's links at the
// artifact is the run's bookkeeping (book.ts), done by the driver for fresh and ran alike.
import { appendFileSync, copyFileSync, existsSync, mkdirSync, rmSync } from "node:fs"
import { dirname, join } from "node:path"
import * as Cause from "effect/Cause"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Schema from "effect/Schema"
import type { Fingerprinted } from "./fingerprint.ts"
import type { Locks } from "./lock.ts"
import type { Reporter } from "./events.ts"
import { describeParseError } from "./schema-errors.ts"
import { describeFailure, type Failure } from "./outcome.ts"
import { LOG, type Manifest, type Store } from "./store.ts"
import type { StageContext, Upstream } from "./stage.ts"

export class StageError extends Data.TaggedError("StageError")<{
  readonly id: string
  readonly failure: Failure
  readonly message: string
  /** Where the failed attempt's full log was kept. */
  readonly logPath?: string
}> {}

export const stageError = (id: string, failure: Failure, logPath?: string): StageError =>
  new StageError({ id, failure, message: describeFailure(failure), ...(logPath ? { logPath } : {}) })

/** What executing a stage came to: its artifact was there already (`fresh`), or it ran and committed one. */
export type Execution =
  | { readonly state: "fresh"; readonly manifest: Manifest }
  | { readonly state: "ran"; readonly manifest: Manifest }

export interface ExecEnv {
  readonly store: Store
  readonly locks: Locks
  readonly reporter: Reporter
  /** Project root, against which nodes' `links` are made. */
  readonly root: string
}

const decodeStoredResult = <R, RI>(schema: Schema.Schema<R, RI>, stored: unknown, what: string): R => {
  const decoded = Schema.decodeUnknownEither(schema, { errors: "all" })(stored)
  if (decoded._tag === "Left") throw new Error(`${what}: stored result does not match its schema: ${describeParseError(decoded.left, "result")}`)
  return decoded.right
}

/**
 * A stage's return value as its manifest stores it. Every issue is named by field path; a
 * field the schema does not declare is one too (it would otherwise be dropped from the
 * stored result without a word).
 */
const encodeResult = <R, RI>(schema: Schema.Schema<R, RI>, value: R): Either.Either<RI, string> =>
  Either.mapLeft(Schema.encodeEither(schema, { errors: "all", onExcessProperty: "error" })(value), (e) => describeParseError(e, "result"))

/** Upstream views for a node from the store (its inputs must be complete). */
export const upstreamsOf = (store: Store, target: Fingerprinted, fps: ReadonlyMap<string, Fingerprinted>) => {
  const out: Record<string, Upstream<unknown>> = {}
  for (const [name, up] of Object.entries(target.node.inputs)) {
    const f = fps.get(up.id)!
    const manifest = store.readManifest(up.id, f.fingerprint)
    if (!manifest) throw new Error(`input ${name} (${up.id}) of ${target.node.id} has no committed artifact ${f.fingerprint}`)
    out[name] = {
      id: up.id,
      dir: store.artifactDir(up.id, f.fingerprint),
      fingerprint: f.fingerprint,
      result: decodeStoredResult(up.kind.result, manifest.result, `input ${name} (${up.id})`),
    }
  }
  return out
}

const describeCause = (cause: Cause.Cause<unknown>): string => {
  const failure = Cause.failureOption(cause)
  if (failure._tag === "Some") {
    const e = failure.value as { message?: unknown; cause?: unknown }
    const inner = e.cause instanceof Error ? `\n  caused by: ${e.cause.stack ?? e.cause.message}` : ""
    return `${typeof e.message === "string" ? e.message : String(failure.value)}${inner}`
  }
  return Cause.pretty(cause)
}

/**
 * Runs `target` unless an artifact with its fingerprint exists (or appears while we wait
 * for another process's lock). `force` replaces an existing artifact.
 */
export const executeStage = (
  env: ExecEnv,
  target: Fingerprinted,
  fps: ReadonlyMap<string, Fingerprinted>,
  force = false,
): Effect.Effect<Execution, StageError> =>
  Effect.scoped(
    Effect.gen(function* () {
      const { store, locks, reporter } = env
      const { node, fingerprint, parts } = target
      const fresh = (): Execution | undefined => {
        if (force || !store.isComplete(node.id, fingerprint)) return undefined
        return { state: "fresh", manifest: store.readManifest(node.id, fingerprint)! }
      }
      const before = fresh()
      if (before) return before
      yield* locks.hold(fingerprint, (holder) =>
        reporter.event({
          type: "message",
          text: `${node.id}: waiting for pid ${holder?.pid ?? "?"} on ${holder?.host ?? "?"}, which is running it`,
        }),
      ).pipe(Effect.mapError((e) => stageError(node.id, { reason: "lock-timeout", message: e.message })))
      const after = fresh()
      if (after) return after

      const inputs = yield* Effect.try({
        try: () => upstreamsOf(store, target, fps),
        catch: (e) => stageError(node.id, { reason: "inputs-unreadable", message: (e as Error).message }),
      })
      const outDir = store.makeTempDir(fingerprint)
      // On success the directory has been renamed away and this is a no-op.
      yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(outDir, { recursive: true, force: true })))
      const logPath = join(outDir, LOG)
      const log = (line: string): void => {
        appendFileSync(logPath, `${line}\n`)
        reporter.event({ type: "log", id: node.id, line })
      }
      const controller = new AbortController()
      yield* Effect.addFinalizer(() => Effect.sync(() => controller.abort()))
      const startedAt = new Date()
      log(`# ${node.id} (${node.kind.kind}) fingerprint ${fingerprint}, pid ${process.pid}, ${startedAt.toISOString()}`)
      reporter.event({ type: "started", id: node.id, fingerprint, pid: process.pid })
      const scratchDir = store.scratchDir(fingerprint)
      mkdirSync(scratchDir, { recursive: true })
      const ctx: StageContext<unknown, Record<string, unknown>> = {
        id: node.id,
        params: node.params,
        outDir,
        scratchDir,
        inputs,
        files: node.files,
        log,
        progress: (done, total, unit) => reporter.event({ type: "progress", id: node.id, done, total, ...(unit ? { unit } : {}) }),
        signal: controller.signal,
      }
      /**
       * Ends the attempt as failed (its own failure, a result its schema rejects, or a commit
       * the store refused: ENOSPC, EXDEV, EACCES): the log gets the reason and is kept as the
       * failed log, since the temp dir holding it is removed; nothing is committed. Where even
       * that copy fails (the disk that refused the commit may refuse it too), the error says so
       * rather than name a missing log.
       */
      const failed = (failure: Extract<Failure, { readonly message: string }>): StageError => {
        const failedLog = store.failedLogPath(node.id, fingerprint)
        try {
          log(`# FAILED: ${describeFailure(failure)}`)
          mkdirSync(dirname(failedLog), { recursive: true })
          if (existsSync(logPath)) copyFileSync(logPath, failedLog)
        } catch (e) {
          return stageError(node.id, { ...failure, message: `${failure.message}\n  (its log could not be kept either: ${(e as Error).message})` })
        }
        return stageError(node.id, failure, failedLog)
      }
      const exit = yield* Effect.exit(Effect.suspend(() => node.kind.run(ctx)))
      if (Exit.isFailure(exit)) {
        if (Cause.isInterruptedOnly(exit.cause)) return yield* Effect.interrupt
        return yield* failed({ reason: "stage-failed", message: describeCause(exit.cause) })
      }
      const encoded = encodeResult(node.kind.result, exit.value)
      if (Either.isLeft(encoded)) return yield* failed({ reason: "invalid-result", message: encoded.left })
      const finishedAt = new Date()
      log(`# done in ${((finishedAt.getTime() - startedAt.getTime()) / 1000).toFixed(1)} s`)
      const committed = yield* Effect.either(Effect.try({
        try: () =>
          store.commit(
            outDir,
            {
              stage: node.id,
              kind: node.kind.kind,
              fingerprint,
              parts,
              result: encoded.right,
              startedAt: startedAt.toISOString(),
              finishedAt: finishedAt.toISOString(),
              durationMs: finishedAt.getTime() - startedAt.getTime(),
            },
            force,
          ),
        catch: (e) => (e as Error).message,
      }))
      if (committed._tag === "Left") return yield* failed({ reason: "commit-failed", message: committed.left })
      const manifest = committed.right
      rmSync(store.failedLogPath(node.id, fingerprint), { force: true })
      rmSync(scratchDir, { recursive: true, force: true })
      return { state: "ran", manifest } satisfies Execution
    }),
  )
