// Per-fingerprint locks, so two `run` processes on one store never run a stage twice.
// A lock is a file created with O_EXCL holding its holder (host, PID namespace, pid and
// process start time, see owner.ts). While held, its mtime is refreshed every few seconds
// (a heartbeat, from a worker thread so a busy event loop cannot starve it). A lock is
// stale when its holder is known to be gone: on this machine, its pid is dead or now
// names a later process; elsewhere (another host, a container, a Slurm job killed for
// OOM), its heartbeat is older than `staleAfterMs`. The next process breaks a stale lock
// with a message. Breaking is itself guarded by a short-lived `.break` file so two
// processes cannot both break and then both take the lock.
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeSync } from "node:fs"
import { join } from "node:path"
import { Worker } from "node:worker_threads"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { currentProcess, describeOwner, ownerState, type ProcessOwner } from "./owner.ts"

export interface Holder extends ProcessOwner {
  readonly since: string
}

export class LockTimeout extends Data.TaggedError("LockTimeout")<{ readonly key: string; readonly message: string }> {}

export interface LockTiming {
  /** How often a holder refreshes its lock's mtime. */
  readonly heartbeatMs: number
  /** A lock held from another machine whose mtime is older than this is stale. */
  readonly staleAfterMs: number
  /** Give up waiting for a live holder after this long (undefined: wait as long as it runs). */
  readonly waitTimeoutMs?: number
}

export const defaultLockTiming: LockTiming = { heartbeatMs: 10_000, staleAfterMs: 120_000 }

/** A lock file being written (created, content not yet there) is given this long before it counts as garbage. */
const unreadableGraceMs = 10_000

const tryCreate = (path: string, content: string): boolean => {
  try {
    const fd = openSync(path, "wx")
    try {
      writeSync(fd, content)
    } finally {
      closeSync(fd)
    }
    return true
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") return false
    throw e
  }
}

const readHolder = (path: string): Holder | undefined => {
  try {
    const h = JSON.parse(readFileSync(path, "utf8")) as Holder
    return typeof h?.pid === "number" && typeof h.host === "string" ? h : undefined
  } catch {
    return undefined
  }
}

const ageMs = (path: string): number | undefined => {
  try {
    return Date.now() - statSync(path).mtimeMs
  } catch {
    return undefined
  }
}

const me = (): Holder => ({ ...currentProcess(), since: new Date().toISOString() })

// One thread per process refreshes the mtime of every lock the process holds, as often as
// the most frequent heartbeat any of its Locks asked for.
const heartbeatSource = `
const { parentPort } = require("node:worker_threads")
const { utimesSync } = require("node:fs")
const paths = new Set()
let every = Infinity, timer
const touch = () => { const now = new Date(); for (const p of paths) { try { utimesSync(p, now, now) } catch {} } }
parentPort.on("message", (m) => {
  if (m.remove) paths.delete(m.remove)
  if (m.add) paths.add(m.add)
  if (m.everyMs < every) { every = m.everyMs; clearInterval(timer); timer = setInterval(touch, every) }
})
`
let heartbeat: Worker | undefined
const beat = (message: { add: string; everyMs: number } | { remove: string }): void => {
  if (!heartbeat) {
    heartbeat = new Worker(heartbeatSource, { eval: true })
    heartbeat.unref()
  }
  heartbeat.postMessage(message)
}

export class Locks {
  readonly timing: LockTiming

  constructor(
    readonly dir: string,
    private readonly say: (message: string) => void,
    timing: Partial<LockTiming> = {},
  ) {
    this.timing = { ...defaultLockTiming, ...timing }
  }

  private path(key: string): string {
    return join(this.dir, `${key}.lock`)
  }

  /** Why the lock at `path` is stale, or undefined while its holder may still be running. */
  private staleReason(path: string, holder: Holder | undefined): string | undefined {
    const age = ageMs(path)
    if (age === undefined) return undefined
    if (!holder) return age > unreadableGraceMs ? "its content is unreadable" : undefined
    const state = ownerState(holder)
    if (state === "gone") return `its holder (${describeOwner(holder)}, since ${holder.since}) is no longer running`
    if (state === "unknown" && age > this.timing.staleAfterMs)
      return `its holder (${describeOwner(holder)}, since ${holder.since}) runs on another machine and its heartbeat stopped ${(age / 1000).toFixed(0)} s ago`
    return undefined
  }

  /** One attempt: true if we now hold the lock. Breaks a stale lock on the way. */
  tryAcquire(key: string): boolean {
    mkdirSync(this.dir, { recursive: true })
    const path = this.path(key)
    if (tryCreate(path, JSON.stringify(me()))) return true
    if (!this.staleReason(path, readHolder(path))) return false
    const guard = `${path}.break`
    if (!tryCreate(guard, JSON.stringify(me()))) {
      if (this.staleReason(guard, readHolder(guard))) rmSync(guard, { force: true })
      return false
    }
    try {
      const reason = this.staleReason(path, readHolder(path))
      if (reason) {
        rmSync(path, { force: true })
        this.say(`broke a stale lock on ${key}: ${reason}`)
      }
    } finally {
      rmSync(guard, { force: true })
    }
    return tryCreate(path, JSON.stringify(me()))
  }

  release(key: string): void {
    const path = this.path(key)
    beat({ remove: path })
    const holder = readHolder(path)
    const self = currentProcess()
    if (holder && holder.pid === self.pid && holder.host === self.host) rmSync(path, { force: true })
  }

  holder(key: string): Holder | undefined {
    return readHolder(this.path(key))
  }

  /** True while `key` is held by a process that may still be running (and, if given, has pid `pid`). */
  isHeld(key: string, pid?: number): boolean {
    const path = this.path(key)
    const holder = readHolder(path)
    if (ageMs(path) === undefined) return false
    if (pid !== undefined && holder && holder.pid !== pid) return false
    return this.staleReason(path, holder) === undefined
  }

  /** Every lock whose holder may still be running, with its holder. */
  live(): { key: string; holder: Holder | undefined }[] {
    return this.keys()
      .filter((key) => this.isHeld(key))
      .sort()
      .map((key) => ({ key, holder: this.holder(key) }))
  }

  /**
   * Removes the lock on `key` whoever holds it (the `unlock` verb), unless its holder is
   * running on this machine and `force` is false. Returns what was removed, or why not.
   */
  unlock(key: string, force: boolean): { removed: boolean; message: string } {
    const path = this.path(key)
    if (ageMs(path) === undefined) return { removed: false, message: `no lock on ${key}` }
    const holder = readHolder(path)
    const held = holder ? `held by ${describeOwner(holder)} since ${holder.since}` : "with unreadable content"
    if (holder && ownerState(holder) === "running" && !force)
      return { removed: false, message: `the lock on ${key} is ${held}, which is still running here; stop it first, or pass --force` }
    rmSync(path, { force: true })
    return { removed: true, message: `removed the lock on ${key} (${held})` }
  }

  /** Gives up on waiting for `key` (held by `holder`) after `waitedMs`, naming the holder and `unlock`. */
  private timeout(key: string, what: string, waitedMs: number): LockTimeout {
    const h = this.holder(key)
    const age = ageMs(this.path(key))
    return new LockTimeout({
      key,
      message:
        `gave up after ${(waitedMs / 1000).toFixed(0)} s waiting for ${what}, ` +
        `${h ? `held by ${describeOwner(h)} since ${h.since}` : "whose holder is unreadable"}` +
        `${age === undefined ? "" : ` (heartbeat ${(age / 1000).toFixed(0)} s ago)`}; ` +
        `if that process is gone, remove the lock with \`unlock ${key}\``,
    })
  }

  /**
   * Holds the lock for the scope's lifetime (refreshing its heartbeat), waiting while
   * another live process holds it. `onWait` is called once when we start waiting; after
   * `timing.waitTimeoutMs` of waiting, fails with LockTimeout naming the holder.
   */
  hold(key: string, onWait: (holder: Holder | undefined) => void): Effect.Effect<void, LockTimeout, Scope.Scope> {
    return Effect.acquireRelease(
      Effect.gen(this, function* () {
        const start = Date.now()
        let warned = false
        while (!this.tryAcquire(key)) {
          if (!warned) {
            onWait(this.holder(key))
            warned = true
          }
          const { waitTimeoutMs } = this.timing
          if (waitTimeoutMs !== undefined && Date.now() - start >= waitTimeoutMs) return yield* this.timeout(key, `the lock on ${key}`, waitTimeoutMs)
          yield* Effect.sleep("200 millis")
        }
        beat({ add: this.path(key), everyMs: this.timing.heartbeatMs })
      }),
      () => Effect.sync(() => this.release(key)),
    )
  }

  /**
   * Registers a run on the store for the scope's lifetime (a lock of its own, with a
   * heartbeat), waiting while `gc` holds the store, for at most `timing.waitTimeoutMs`
   * (default `defaultStoreWaitMs`: a gc takes seconds). The run registers first and then
   * looks for gc, while gc takes its lock first and then looks for runs (`storeUsers`):
   * whichever comes second sees the other, so the two never both go on.
   */
  holdStoreForRun(onWait: (gc: Holder | undefined) => void): Effect.Effect<void, LockTimeout, Scope.Scope> {
    const key = `${RUN_KEY_PREFIX}${currentProcess().host}-${process.pid}-${++runCounter}`
    const waitMs = this.timing.waitTimeoutMs ?? defaultStoreWaitMs
    return Effect.acquireRelease(
      Effect.gen(this, function* () {
        const start = Date.now()
        let warned = false
        for (;;) {
          if (!this.tryAcquire(key)) throw new Error(`${this.path(key)} exists and names a live holder: run keys are unique per process`)
          if (!this.isHeld(GC_KEY)) break
          this.release(key)
          if (!warned) {
            onWait(this.holder(GC_KEY))
            warned = true
          }
          if (Date.now() - start >= waitMs) return yield* this.timeout(GC_KEY, "gc to finish with the store", waitMs)
          yield* Effect.sleep("200 millis")
        }
        beat({ add: this.path(key), everyMs: this.timing.heartbeatMs })
      }),
      () => Effect.sync(() => this.release(key)),
    )
  }

  /**
   * Holds the store for `gc` for the scope's lifetime: its lock (waiting for another gc as
   * for any lock), then the runs and stages using the store, which gc must not delete
   * under (see holdStoreForRun for why this order).
   */
  holdStoreForGc(onWait: (holder: Holder | undefined) => void): Effect.Effect<StoreUsers, LockTimeout, Scope.Scope> {
    return Effect.map(this.hold(GC_KEY, onWait), () => this.storeUsers())
  }

  /**
   * The lock files of registered runs whose holder is gone (a driver killed with kill -9).
   * Nobody takes a run's key again, so unlike a stage lock no later run breaks them: gc
   * removes them.
   */
  staleRunLocks(): string[] {
    return this.keys()
      .filter((key) => key.startsWith(RUN_KEY_PREFIX) && !this.isHeld(key))
      .sort()
      .map((key) => join(this.dir, `${key}.lock`))
  }

  /** The keys of the lock files in the folder (none when it does not exist yet). */
  private keys(): string[] {
    let names: string[] = []
    try {
      names = readdirSync(this.dir)
    } catch {
      return []
    }
    return names.filter((n) => n.endsWith(".lock")).map((n) => n.slice(0, -".lock".length))
  }

  /** The live runs and stages using the store, apart from gc itself. */
  storeUsers(): StoreUsers {
    const live = this.live().filter((l) => l.key !== GC_KEY)
    return {
      runs: live.filter((l) => l.key.startsWith(RUN_KEY_PREFIX)),
      stages: live.filter((l) => !l.key.startsWith(RUN_KEY_PREFIX)),
    }
  }
}

/** The key of the lock `gc` holds on the whole store (`unlock gc` removes one a killed gc left elsewhere). */
export const GC_KEY = "gc"
const RUN_KEY_PREFIX = "run-"
let runCounter = 0
/** How long a run waits for a gc by default before it gives up (TRANSFUSION_LOCK_TIMEOUT overrides it). */
export const defaultStoreWaitMs = 600_000

export interface StoreUsers {
  /** Runs registered on the store (their drivers). */
  readonly runs: readonly { readonly key: string; readonly holder: Holder | undefined }[]
  /** Stage locks (by fingerprint) and other per-key locks, such as a Slurm driver's submission. */
  readonly stages: readonly { readonly key: string; readonly holder: Holder | undefined }[]
}
