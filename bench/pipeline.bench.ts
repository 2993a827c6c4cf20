// Engine overhead on a generated 500-stage DAG (100 chains of source -> 3 squares -> sum):
// a no-op `run` and `status`, in-process (plan + fingerprint + freshness) and as whole CLI
// processes (including Node, tsx and Effect start-up). Target: under 1 s each.
import { spawnSync } from "node:child_process"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import * as Effect from "effect/Effect"
import { Workspace } from "../test/pipeline/workspace.ts"
import { statusOf } from "../pipeline/status.ts"
import { selectNodes } from "../pipeline/graph.ts"
import { runPlan } from "../pipeline/scheduler.ts"
import { inlineExecutor } from "../pipeline/executors/local.ts"

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

export default async function (): Promise<void> {
  const w = new Workspace({ n: 3, chains: 100 })
  try {
    const cold = await time(() => w.run())
    const s = await w.session()
    console.log(`graph: ${s.graph.nodes.length} stages; cold run (inline, toy stages) ${cold.toFixed(2)} s`)
    const noopRun = await best(3, async () => {
      const session = await w.session()
      const env = { store: session.store, locks: session.locks, reporter: { event: () => {} }, root: session.project.root }
      const summary = await Effect.runPromise(runPlan(selectNodes(session.graph, []), session.fps, env, inlineExecutor(env), { jobs: 2, gpus: 0, force: new Set() }))
      if (summary.ran.length) throw new Error("no-op run ran stages")
    })
    const status = await best(3, async () => {
      const session = await w.session()
      const rows = session.graph.nodes.map((n) => statusOf(session.store, session.fps.get(n.id)!))
      if (rows.some((r) => r.state !== "fresh")) throw new Error("status not fresh")
    })
    const tsx = pathToFileURL(join(process.cwd(), "node_modules/tsx/dist/loader.mjs")).href
    const cli = (verb: string) => {
      const t = performance.now()
      const r = spawnSync(process.execPath, ["--import", tsx, join(w.root, "toy", "main.ts"), verb], { cwd: w.root, env: { ...process.env, TOY_ROOT: w.root }, encoding: "utf8" })
      if (r.status !== 0) throw new Error(r.stdout + r.stderr)
      return (performance.now() - t) / 1000
    }
    const cliRun = Math.min(cli("run"), cli("run"))
    const cliStatus = Math.min(cli("status"), cli("status"))
    const row = (what: string, s: number) => console.log(`${what.padEnd(38)} ${s.toFixed(3)} s   ratio to 1 s target: ${s.toFixed(2)}`)
    row("no-op run, in-process (plan+check)", noopRun)
    row("status, in-process (plan+explain)", status)
    row("no-op `run`, whole CLI process", cliRun)
    row("`status`, whole CLI process", cliStatus)
  } finally {
    w.dispose()
  }
}
