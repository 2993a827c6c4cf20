// Engine overhead on a generated 500-stage DAG (100 chains of source -> 3 squares -> sum):
// a no-op `run` and `status`, in-process (plan + fingerprint + freshness) and as whole CLI
// processes started the way users start them (the launcher's cached bundle, as
// bin/transfusion.mjs does; tsx alone for comparison). Target: under 1 s each.
// Whole-process times are medians (and minima) of interleaved repetitions; the load
// average is printed because other work on the machine inflates them.
import { spawnSync } from "node:child_process"
import { loadavg } from "node:os"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import { Workspace } from "../test/pipeline/workspace.ts"
import { statusOf } from "../pipeline/status.ts"
import { selectNodes } from "../pipeline/graph.ts"
import { localScheduler } from "../pipeline/scheduler.ts"
import { inlineExecutor } from "../pipeline/executors/local.ts"
import { median } from "./median.ts"

const REPS = 5

const time = async (f: () => Promise<unknown>): Promise<number> => {
  const t = performance.now()
  await f()
  return (performance.now() - t) / 1000
}
const best = async (n: number, f: () => Promise<unknown>) => {
  let m = Infinity
  for (let i = 0; i < n; i++) m = Math.min(m, await time(f))
  return m
}
const load = () => loadavg().map((l) => l.toFixed(1)).join(" ")

export default async function (): Promise<void> {
  const w = new Workspace({ n: 3, chains: 100 })
  try {
    const cold = await time(() => w.run())
    const s = await w.session()
    console.log(`graph: ${s.graph.nodes.length} stages; cold run (inline, toy stages) ${cold.toFixed(2)} s`)
    const noopRun = await best(3, async () => {
      const session = await w.session()
      const env = { store: session.store, locks: session.locks, reporter: { event: () => {} }, root: session.project.root }
      const summary = await Effect.runPromise(localScheduler(env, inlineExecutor(env), { jobs: 2, gpus: 0 })({ nodes: selectNodes(session.graph, []), fps: session.fps }, { force: new Set() }))
      if (summary.ran.length) throw new Error("no-op run ran stages")
    })
    const status = await best(3, async () => {
      const session = await w.session()
      const rows = session.graph.nodes.map((n) => statusOf(session.store, session.fps.get(n.id)!))
      if (rows.some((r) => r.state !== "fresh")) throw new Error("status not fresh")
    })

    /** One whole process (node with these arguments); its wall time in seconds. */
    const node = (args: string[], env: Record<string, string> = {}) => {
      const t = performance.now()
      const r = spawnSync(process.execPath, args, { cwd: w.root, env: { ...process.env, TOY_ROOT: w.root, ...env }, encoding: "utf8" })
      if (r.status !== 0) throw new Error(`${args.join(" ")}: ${r.stdout}${r.stderr}`)
      if (/could not bundle/.test(r.stderr)) throw new Error(r.stderr)
      return (performance.now() - t) / 1000
    }
    const toy = (verb: string, env: Record<string, string> = {}) => node([join(w.root, "toy", "transfusion.mjs"), verb], env)
    const real = join(process.cwd(), "bin", "transfusion.mjs")
    const loadBefore = load()
    // The first start builds the bundle; so does the first start after any source edit.
    const firstStart = toy("status")
    w.edit("square.ts")
    const afterEdit = toy("status")
    node([real, "--help"]) // builds the real CLI's bundle if needed
    const variants: [string, () => number][] = [
      ["no-op `run`", () => toy("run")],
      ["`status`", () => toy("status")],
      ["no-op `run`, tsx (no bundle)", () => toy("run", { TRANSFUSION_LAUNCH: "tsx" })],
      ["`status`, tsx (no bundle)", () => toy("status", { TRANSFUSION_LAUNCH: "tsx" })],
      ["real CLI `--help`", () => node([real, "--help"])],
      ["`node -e 0` (the floor)", () => node(["-e", "0"])],
    ]
    const samples: Record<string, number[]> = {}
    for (let rep = 0; rep < REPS; rep++) for (const [label, f] of variants) (samples[label] ??= []).push(f())
    const row = (what: string, s: number, extra = "") =>
      console.log(`${what.padEnd(48)} ${s.toFixed(3)} s   ratio to 1 s target: ${s.toFixed(2)}${extra}`)
    row("no-op run, in-process (plan+check)", noopRun)
    row("status, in-process (plan+explain)", status)
    for (const [label] of variants) {
      const xs = samples[label]!
      row(`${label}, whole process`, median(xs), `   (median of ${xs.length}; min ${Math.min(...xs).toFixed(3)} s)`)
    }
    row("first start (bundle built)", firstStart)
    row("first start after a source edit (rebuilt)", afterEdit)
    console.log(`load average (1/5/15 min): before ${loadBefore}, after ${load()}`)
  } finally {
    w.dispose()
  }
}
