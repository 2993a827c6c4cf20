// Who owns a lock or a temp dir, and whether that process still runs. A pid alone says
// little: on another host (a second login node, a Slurm job) or in another PID namespace
// (a container) it names a different process, and on this machine the kernel reuses it.
// So an owner records its host, PID namespace and process start time; only an owner on
// this machine can be judged by its pid, and only when its start time still matches.
import { readFileSync, readlinkSync } from "node:fs"
import { hostname } from "node:os"
import { isAlive } from "../lib/process-alive.mjs"

export interface ProcessOwner {
  readonly pid: number
  readonly host: string
  /** `pid:[inode]` of the owner's PID namespace (Linux); absent on other systems and in old records. */
  readonly pidNamespace?: string
  /** The owner's start time as the kernel reports it (boot id + clock ticks since boot); absent where unknown. */
  readonly started?: string
}

const readOr = (read: () => string): string | undefined => {
  try {
    return read()
  } catch {
    return undefined
  }
}

const bootId = readOr(() => readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim())

/** When `pid` started, in a form that differs for a later process given the same pid; undefined where unknown. */
export const processStarted = (pid: number): string | undefined => {
  const stat = readOr(() => readFileSync(`/proc/${pid}/stat`, "utf8"))
  if (!stat || !bootId) return undefined
  // Fields after the command name (which may hold spaces and parentheses); starttime is field 22.
  const ticks = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]
  return ticks ? `${bootId}/${ticks}` : undefined
}

const pidNamespace = readOr(() => readlinkSync("/proc/self/ns/pid"))

export const currentProcess = (): ProcessOwner => {
  const started = processStarted(process.pid)
  return { pid: process.pid, host: hostname(), ...(pidNamespace ? { pidNamespace } : {}), ...(started ? { started } : {}) }
}

/** True when `owner`'s pid means the same thing here: same host and (where both are known) the same PID namespace. */
export const onThisMachine = (owner: ProcessOwner): boolean =>
  owner.host === hostname() && (owner.pidNamespace === undefined || pidNamespace === undefined || owner.pidNamespace === pidNamespace)

/**
 * "running" or "gone" for an owner on this machine; "unknown" for one elsewhere, which
 * only its heartbeat can tell about.
 */
export const ownerState = (owner: ProcessOwner): "running" | "gone" | "unknown" => {
  if (!onThisMachine(owner)) return "unknown"
  if (!isAlive(owner.pid)) return "gone"
  if (owner.started === undefined) return "running"
  const now = processStarted(owner.pid)
  return now === undefined || now === owner.started ? "running" : "gone"
}

export const describeOwner = (owner: ProcessOwner): string => `pid ${owner.pid} on ${owner.host}`
