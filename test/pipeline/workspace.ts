// A throwaway copy of the toy project (test/fixtures/toy) in a temp dir, so tests can edit
// its source files, config and external file, and run it in-process or as a real CLI.
import { spawn, type ChildProcess } from "node:child_process"
import fs from "node:fs"
import { syncBuiltinESMExports } from "node:module"
import { mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync, mkdirSync, existsSync, appendFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { pathToFileURL } from "node:url"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { openSession, type Session } from "../../pipeline/cli/session.ts"
import { inlineExecutor } from "../../pipeline/executors/local.ts"
import type { RunSummary } from "../../pipeline/outcome.ts"
import { localScheduler } from "../../pipeline/scheduler.ts"
import { selectNodes } from "../../pipeline/graph.ts"
import type { Project } from "../../pipeline/project.ts"

const repo = resolve(import.meta.dirname, "../..")
const fixture = join(repo, "test/fixtures/toy")

export interface ToyConfig {
  n: number
  scale: number
  fail: number[]
  slowMs: number
  chains?: number
  gpu?: number[]
  estimates?: Record<string, number>
}

export class Workspace {
  readonly root: string
  readonly runsFile: string
  private project: Project | undefined

  /** `name` starts the temp dir's name (a test of odd paths puts spaces, quotes, `$` in it). */
  constructor(config: Partial<ToyConfig> = {}, name = "transfusion-toy-") {
    this.root = mkdtempSync(join(tmpdir(), name))
    this.runsFile = join(this.root, "runs.log")
    mkdirSync(join(this.root, "toy"))
    for (const name of readdirSync(fixture)) {
      const text = readFileSync(join(fixture, name), "utf8").replaceAll("../../../", `${repo}/`)
      writeFileSync(join(this.root, "toy", name), text)
    }
    symlinkSync(join(repo, "node_modules"), join(this.root, "node_modules"))
    this.setConfig({ n: 3, scale: 1, fail: [], slowMs: 0, ...config })
    writeFileSync(join(this.root, "offset.txt"), "10")
  }

  setConfig(config: ToyConfig): void {
    writeFileSync(join(this.root, "toy.config.json"), JSON.stringify(config))
  }

  /** Appends a comment to one of the toy's source files (a code change that changes nothing else). */
  edit(file: string, note = `${Date.now()}`): void {
    appendFileSync(join(this.root, "toy", file), `\n// edited ${note}\n`)
  }

  write(rel: string, text: string): void {
    writeFileSync(join(this.root, rel), text)
  }

  /** Stage ids that ran since the last call, sorted. */
  takeRuns(): string[] {
    if (!existsSync(this.runsFile)) return []
    const ids = readFileSync(this.runsFile, "utf8").split("\n").filter(Boolean).sort()
    rmSync(this.runsFile)
    return ids
  }

  async load(): Promise<Project> {
    if (!this.project) {
      const mod = (await import(pathToFileURL(join(this.root, "toy", "project.ts")).href)) as { toyProject: (root: string) => Project }
      this.project = mod.toyProject(this.root)
    }
    return this.project
  }

  async session(): Promise<Session> {
    const project = await this.load()
    return Effect.runPromise(openSession(project, { profile: Option.none(), config: Option.none(), store: Option.none() }, () => {}))
  }

  /** Plans and runs in this process (inline executor); returns the scheduler's summary. */
  async run(patterns: string[] = [], force: string[] = [], jobs = 2): Promise<RunSummary> {
    const project = await this.load()
    const s = await this.session()
    process.env.TOY_RUNS = this.runsFile
    const env = { store: s.store, locks: s.locks, reporter: { event: () => {} }, root: project.root }
    return Effect.runPromise(localScheduler(env, inlineExecutor(env), { jobs, gpus: 0 })({ nodes: selectNodes(s.graph, patterns), fps: s.fps }, { force: new Set(force) }))
  }

  /** Starts the real CLI (`run` etc.) on this workspace, through the launcher users get (a cached bundle). */
  cli(args: string[], env: Record<string, string> = {}): ChildProcess & { output: () => string; done: Promise<number | null> } {
    const child = spawn(process.execPath, [join(this.root, "toy", "transfusion.mjs"), ...args], {
      cwd: this.root,
      env: { ...process.env, TOY_ROOT: this.root, TOY_RUNS: this.runsFile, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    })
    let out = ""
    child.stdout.on("data", (d) => (out += d))
    child.stderr.on("data", (d) => (out += d))
    const done = new Promise<number | null>((res) => child.on("exit", (code) => res(code)))
    return Object.assign(child, { output: () => out, done })
  }

  dispose(): void {
    rmSync(this.root, { recursive: true, force: true })
  }
}

export const waitFor = async (cond: () => boolean, ms: number, what: string): Promise<void> => {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** Makes fs.renameSync throw `code` for renames `when` picks (what a full disk, another mount or a read-only folder does), for the duration of `body`. */
export const failingRename = async <A>(code: string, when: (from: string, to: string) => boolean, body: () => Promise<A>): Promise<A> => {
  const real = fs.renameSync
  fs.renameSync = (from: fs.PathLike, to: fs.PathLike) => {
    if (when(String(from), String(to))) throw Object.assign(new Error(`${code}: injected, rename '${String(from)}' -> '${String(to)}'`), { code })
    real(from, to)
  }
  syncBuiltinESMExports()
  try {
    return await body()
  } finally {
    fs.renameSync = real
    syncBuiltinESMExports()
  }
}

/** Processes (Linux /proc) that `keep` picks by pid, parent pid, state letter and command line. */
export const processesWhere = (keep: (p: { pid: number; ppid: number; state: string; cmdline: string }) => boolean): number[] =>
  readdirSync("/proc")
    .filter((n) => /^\d+$/.test(n))
    .filter((n) => {
      try {
        const stat = readFileSync(`/proc/${n}/stat`, "utf8")
        const [state, ppid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
        return keep({ pid: Number(n), ppid: Number(ppid), state: state!, cmdline: readFileSync(`/proc/${n}/cmdline`, "utf8") })
      } catch {
        return false
      }
    })
    .map(Number)

/** Processes whose parent is `pid`. */
export const childrenOf = (pid: number): number[] => processesWhere((p) => p.ppid === pid)

/**
 * Live processes (other than this one) whose command line names `dir`: a killed driver's
 * workers, re-parented and no longer its children, are found by the project copy they run from.
 */
export const processesRunningFrom = (dir: string): number[] =>
  processesWhere((p) => p.pid !== process.pid && p.state !== "Z" && p.cmdline.includes(dir))
