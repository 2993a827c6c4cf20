// Headless Chromium driven over the DevTools protocol on a pipe (--remote-debugging-pipe:
// commands on fd 3, replies and events on fd 4, NUL-separated JSON), so no port is opened
// and no browser-automation package is needed. Network access is refused by a host rule.
import { spawn, spawnSync, type ChildProcess } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { Readable, Writable } from "node:stream"

/** The Chromium binary ($CHROMIUM, else `chromium` or `chromium-browser` on PATH), or undefined. */
export const findChromium = (): string | undefined => {
  for (const candidate of [process.env.CHROMIUM, "chromium", "chromium-browser"]) {
    if (!candidate) continue
    const r = spawnSync(candidate, ["--version"], { encoding: "utf8", timeout: 30_000 })
    if (r.status === 0) return candidate
  }
  return undefined
}

type Message = { id?: number; method?: string; params?: Record<string, unknown>; result?: Record<string, unknown>; error?: { message: string }; sessionId?: string }

export interface PageReport {
  /** Console errors, uncaught exceptions and error log entries, as text. */
  readonly errors: string[]
  /** What `evaluate` returned. */
  readonly evaluated: unknown
  /** PNG of the first screen. */
  readonly screenshot: Buffer
}

/**
 * Opens `url` in a fresh headless Chromium with a `width` x `height` viewport, waits for the
 * load event, evaluates `expression` (its JSON-able value is returned) and screenshots the
 * first screen. Every console error and exception is collected.
 */
export const inspectPage = async (binary: string, url: string, expression: string, width = 1280, height = 900, timeoutMs = 60_000): Promise<PageReport> => {
  const profile = mkdtempSync(join(tmpdir(), "transfusion-chromium-"))
  const child: ChildProcess = spawn(
    binary,
    [
      "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check",
      "--disable-extensions", "--host-resolver-rules=MAP * ~NOTFOUND", `--user-data-dir=${profile}`, `--window-size=${width},${height}`,
      "--remote-debugging-pipe", "about:blank",
    ],
    { stdio: ["ignore", "ignore", "pipe", "pipe", "pipe"] },
  )
  let stderr = ""
  child.stderr!.on("data", (d) => (stderr = (stderr + d).slice(-4000)))
  const toBrowser = child.stdio[3] as Writable, fromBrowser = child.stdio[4] as Readable
  const pending = new Map<number, { resolve: (m: Message) => void; reject: (e: Error) => void }>()
  const listeners: ((m: Message) => void)[] = []
  let buffered = ""
  fromBrowser.setEncoding("utf8")
  fromBrowser.on("data", (chunk: string) => {
    buffered += chunk
    let end: number
    while ((end = buffered.indexOf("\0")) >= 0) {
      const m = JSON.parse(buffered.slice(0, end)) as Message
      buffered = buffered.slice(end + 1)
      if (m.id !== undefined && pending.has(m.id)) {
        const p = pending.get(m.id)!
        pending.delete(m.id)
        if (m.error) p.reject(new Error(`DevTools: ${m.error.message}`))
        else p.resolve(m)
      } else for (const l of listeners) l(m)
    }
  })
  const exited = new Promise<never>((_, reject) => child.on("exit", (code) => reject(new Error(`chromium exited (${code}) before the page was inspected:\n${stderr}`))))
  exited.catch(() => {})
  let nextId = 0
  const send = (method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<Record<string, unknown>> =>
    Promise.race([
      exited,
      new Promise<Message>((resolve, reject) => {
        const id = ++nextId
        pending.set(id, { resolve, reject })
        toBrowser.write(`${JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) })}\0`)
      }),
    ]).then((m) => m.result ?? {})
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs)
  try {
    const { targetId } = (await send("Target.createTarget", { url: "about:blank" })) as { targetId: string }
    const { sessionId } = (await send("Target.attachToTarget", { targetId, flatten: true })) as { sessionId: string }
    const errors: string[] = []
    let loaded: () => void = () => {}
    const load = new Promise<void>((r) => (loaded = r))
    listeners.push((m) => {
      if (m.sessionId !== sessionId) return
      const p = m.params ?? {}
      if (m.method === "Page.loadEventFired") loaded()
      else if (m.method === "Runtime.consoleAPICalled" && (p.type === "error" || p.type === "assert"))
        errors.push(`console.${String(p.type)}: ${((p.args as { value?: unknown; description?: string }[]) ?? []).map((a) => a.description ?? String(a.value)).join(" ")}`)
      else if (m.method === "Runtime.exceptionThrown") {
        const d = p.exceptionDetails as { text: string; exception?: { description?: string } }
        errors.push(`exception: ${d.exception?.description ?? d.text}`)
      } else if (m.method === "Log.entryAdded") {
        const e = p.entry as { level: string; text: string; url?: string }
        if (e.level === "error") errors.push(`log: ${e.text}${e.url ? ` (${e.url})` : ""}`)
      }
    })
    for (const domain of ["Page", "Runtime", "Log"]) await send(`${domain}.enable`, {}, sessionId)
    await send("Emulation.setDeviceMetricsOverride", { width, height, deviceScaleFactor: 1, mobile: false }, sessionId)
    await send("Page.navigate", { url }, sessionId)
    await Promise.race([exited, load])
    const evaluated = ((await send("Runtime.evaluate", { expression, returnByValue: true, awaitPromise: true }, sessionId)) as { result: { value: unknown } }).result.value
    const { data } = (await send("Page.captureScreenshot", { format: "png" }, sessionId)) as { data: string }
    return { errors, evaluated, screenshot: Buffer.from(data, "base64") }
  } finally {
    clearTimeout(timer)
    toBrowser.write(`${JSON.stringify({ id: ++nextId, method: "Browser.close", params: {} })}\0`)
    await new Promise((r) => {
      const kill = setTimeout(() => child.kill("SIGKILL"), 5000)
      child.on("exit", () => r(clearTimeout(kill)))
      if (child.exitCode !== null) r(clearTimeout(kill))
    })
    rmSync(profile, { recursive: true, force: true })
  }
}
