// Per-fingerprint locks, so two `run` processes on one store never run a stage twice.
// A lock is a file created with O_EXCL holding its holder's pid and host. A holder on
// this host whose pid is dead (kill -9, crash) leaves a stale lock, which the next
// process breaks with a message. Breaking is itself guarded by a short-lived
// `.break` file so two processes cannot both break and then both take the lock.
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeSync } from "node:fs"
import { hostname } from "node:os"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import { isAlive } from "./store.ts"

interface Holder {
  readonly pid: number
  readonly host: string
  readonly since: string
}

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
    return JSON.parse(readFileSync(path, "utf8")) as Holder
  } catch {
    return undefined
  }
}

const me = (): Holder => ({ pid: process.pid, host: hostname(), since: new Date().toISOString() })

/** True when the lock's holder is known to be gone (same host, dead pid, or unreadable and old). */
const isStale = (path: string, holder: Holder | undefined): boolean => {
  if (!holder) {
    try {
      return Date.now() - statSync(path).mtimeMs > 10_000
    } catch {
      return false
    }
  }
  return holder.host === hostname() && !isAlive(holder.pid)
}

export class Locks {
  constructor(
    readonly dir: string,
    private readonly say: (message: string) => void,
  ) {}

  private path(key: string): string {
    return join(this.dir, `${key}.lock`)
  }

  /** One attempt: true if we now hold the lock. Breaks a stale lock on the way. */
  tryAcquire(key: string): boolean {
    mkdirSync(this.dir, { recursive: true })
    const path = this.path(key)
    if (tryCreate(path, JSON.stringify(me()))) return true
    const holder = readHolder(path)
    if (!isStale(path, holder)) return false
    const guard = `${path}.break`
    if (!tryCreate(guard, JSON.stringify(me()))) {
      if (isStale(guard, readHolder(guard))) rmSync(guard, { force: true })
      return false
    }
    try {
      const again = readHolder(path)
      if (isStale(path, again)) {
        rmSync(path, { force: true })
        this.say(
          again
            ? `broke a stale lock on ${key}: its holder (pid ${again.pid} on ${again.host}, since ${again.since}) is no longer running`
            : `broke an unreadable stale lock on ${key}`,
        )
      }
    } finally {
      rmSync(guard, { force: true })
    }
    return tryCreate(path, JSON.stringify(me()))
  }

  release(key: string): void {
    const path = this.path(key)
    const holder = readHolder(path)
    if (holder && holder.pid === process.pid && holder.host === hostname()) rmSync(path, { force: true })
  }

  holder(key: string): Holder | undefined {
    return readHolder(this.path(key))
  }

  /**
   * Holds the lock for the scope's lifetime, waiting while another live process holds it.
   * `onWait` is called once when we start waiting.
   */
  hold(key: string, onWait: (holder: Holder | undefined) => void) {
    return Effect.acquireRelease(
      Effect.gen(this, function* () {
        let warned = false
        while (!this.tryAcquire(key)) {
          if (!warned) {
            onWait(this.holder(key))
            warned = true
          }
          yield* Effect.sleep("200 millis")
        }
      }),
      () => Effect.sync(() => this.release(key)),
    )
  }
}
