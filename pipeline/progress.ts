// Progress for people: on a terminal, a live block with one bar per running stage (rate,
// ETA); elsewhere (CI, logs) plain lines, at most one per stage every `interval` seconds.
import type { Reporter, StageEvent } from "./events.ts"

interface Running {
  readonly started: number
  done: number
  total: number
  unit: string
  lastLine: number
}

export const formatDuration = (seconds: number): string => {
  if (!Number.isFinite(seconds)) return "?"
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)}s`
  const m = Math.floor(seconds / 60)
  if (m < 60) return `${m}m${String(Math.round(seconds % 60)).padStart(2, "0")}s`
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}m`
}

const describe = (id: string, r: Running, now: number, width: number): string => {
  const elapsed = (now - r.started) / 1000
  if (r.total <= 0) return `${id}  ${formatDuration(elapsed)}`
  const frac = Math.min(1, r.done / r.total)
  const rate = elapsed > 0 ? r.done / elapsed : 0
  const eta = rate > 0 ? (r.total - r.done) / rate : Infinity
  const bar = width > 0 ? `[${"#".repeat(Math.round(frac * width)).padEnd(width, "-")}] ` : ""
  return `${id}  ${bar}${(frac * 100).toFixed(0)}% ${r.done}/${r.total} ${r.unit}, ${rate.toFixed(rate < 10 ? 2 : 0)} ${r.unit}/s, ETA ${formatDuration(eta)}`
}

export interface ProgressReporter extends Reporter {
  /** A line above the live block (stage finished, failed, a message). */
  readonly say: (line: string) => void
  readonly stop: () => void
}

export const progressReporter = (options: {
  readonly tty: boolean
  readonly write: (text: string) => void
  /** Seconds between plain progress lines for one stage. */
  readonly interval?: number
  /** Print stages' log lines too. */
  readonly verbose?: boolean
}): ProgressReporter => {
  const running = new Map<string, Running>()
  const interval = (options.interval ?? 15) * 1000
  let drawn = 0
  let timer: NodeJS.Timeout | undefined

  const clear = () => {
    if (drawn > 0) options.write(`\x1b[${drawn}A\x1b[0J`)
    drawn = 0
  }
  const draw = () => {
    if (!options.tty) return
    clear()
    const now = Date.now()
    const cols = process.stdout.columns ?? 100
    const lines = [...running].map(([id, r]) => describe(id, r, now, 20).slice(0, cols - 1))
    if (lines.length) options.write(lines.join("\n") + "\n")
    drawn = lines.length
  }
  const say = (line: string) => {
    if (options.tty) {
      clear()
      options.write(line + "\n")
      draw()
    } else options.write(line + "\n")
  }
  if (options.tty) timer = setInterval(draw, 250)
  timer?.unref()

  const event = (e: StageEvent) => {
    const now = Date.now()
    switch (e.type) {
      case "started":
        running.set(e.id, { started: now, done: 0, total: 0, unit: "", lastLine: now })
        say(`▶ ${e.id}`)
        break
      case "progress": {
        const r = running.get(e.id)
        if (!r) break
        r.done = e.done
        r.total = e.total
        r.unit = e.unit ?? r.unit
        if (!options.tty && (now - r.lastLine >= interval || e.done === e.total)) {
          r.lastLine = now
          say(`  ${describe(e.id, r, now, 0)}`)
        }
        break
      }
      case "log":
        if (options.verbose) say(`  ${e.id}: ${e.line}`)
        break
      case "message":
        say(e.text)
        break
      case "finished":
        running.delete(e.id)
        if (e.state === "ran") say(`✓ ${e.id}  ${formatDuration(e.seconds)}`)
        else if (e.state === "failed") say(`✗ ${e.id}: ${e.message}${e.logPath ? `\n    log: ${e.logPath}` : ""}`)
        else say(`- ${e.id} not run: ${e.because}`)
        break
    }
  }
  return {
    event,
    say,
    stop: () => {
      if (timer) clearInterval(timer)
      clear()
    },
  }
}
