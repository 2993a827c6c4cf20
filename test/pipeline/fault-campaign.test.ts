// A seeded kill -9 campaign on the toy graph (source -> 8 slow squares in worker
// processes -> sum): the driver or one of its workers is killed at random moments, then
// the graph is run again. After each kill `verify` finds nothing wrong, and no stage that
// had completed before a kill ever runs again; at the end the result is the uninterrupted
// one and, after gc, nothing is left in the store's temp and lock folders. This is the
// engine's campaign; the micro graph's (training, activations, report) is not run here.
import { test } from "uvu"
import * as assert from "uvu/assert"
import { existsSync, readdirSync } from "node:fs"
import { join } from "node:path"
import { Rng } from "../../lib/random.ts"
import { childrenOf, processesRunningFrom, Workspace, waitFor } from "./workspace.ts"

const KILLS = 8
const N = 8
const ids = ["source", ...Array.from({ length: N }, (_, i) => `square/${i}`), "sum"]


test(`kill -9 of the driver or a worker at ${KILLS} seeded moments: the store stays whole and nothing completed reruns`, async () => {
  if (!existsSync("/proc/self/stat")) {
    console.log("fault campaign skipped: needs /proc to find worker processes")
    return
  }
  const w = new Workspace({ n: N, slowMs: 3000 })
  const rng = new Rng("fault-campaign")
  const tmp = join(w.root, "artifacts", ".tmp")
  const points: string[] = []
  let reruns = 0
  try {
    const s = await w.session()
    const idOf = new Map(ids.map((id) => [s.fps.get(id)!.fingerprint, id]))
    const completed = () => ids.filter((id) => s.store.isComplete(id, s.fps.get(id)!.fingerprint))
    for (let k = 0; k < KILLS; k++) {
      const done = new Set(completed())
      if (done.size === ids.length) break
      const driver = w.cli(["run", "--jobs", "2"])
      const delay = rng.uniform(1200, 3500)
      await new Promise((r) => setTimeout(r, delay))
      const workers = childrenOf(driver.pid!)
      // What the wait after the kill looks for: this round's processes, found by workspace.
      const found = processesRunningFrom(w.root)
      assert.ok(workers.every((pid) => found.includes(pid)), `workers ${workers} are among the workspace's processes ${found}`)
      const killWorker = workers.length > 0 && rng.next() < 0.5
      const victim = killWorker ? workers[rng.int(workers.length)]! : driver.pid!
      // What was in flight: each temp dir's stage and how far it got.
      const inFlight = (existsSync(tmp) ? readdirSync(tmp) : []).map((d) => {
        const files = existsSync(join(tmp, d)) ? readdirSync(join(tmp, d)) : []
        const steps = files.filter((f) => f.startsWith("partial-")).length
        return `${idOf.get(d.slice(0, 20)) ?? d} ${files.includes("manifest.json") ? "committing" : steps ? `at step ${steps}/10` : "starting"}`
      })
      try {
        process.kill(victim, "SIGKILL")
      } catch (e) {
        // The victim finished on its own just before: no kill this round.
        if ((e as NodeJS.ErrnoException).code !== "ESRCH") throw e
        await driver.done
        assert.equal(w.takeRuns().filter((id) => done.has(id)), [], `round ${k + 1}: stages completed before it ran again`)
        continue
      }
      // After a worker's kill the driver books its stage failed and finishes the rest.
      await driver.done
      // Orphaned workers notice their driver is gone and remove their temp dirs. A dead
      // driver's workers are re-parented, so they are found by the workspace they run in.
      await waitFor(() => processesRunningFrom(w.root).length === 0, 30_000, "workers to exit")
      points.push(`kill ${k + 1}: ${killWorker ? "a worker" : "the driver"} after ${(delay / 1000).toFixed(1)} s; in flight: ${inFlight.join(", ") || "nothing"}`)
      assert.equal(s.store.verify(), [], `after kill ${k + 1}`)
      const ran = w.takeRuns()
      const again = ran.filter((id) => done.has(id))
      assert.equal(again, [], `kill ${k + 1}: stages completed before it ran again`)
      reruns += ran.filter((id) => !done.has(id) && !completed().includes(id)).length
    }
    const last = w.cli(["run", "--jobs", "2"])
    assert.is(await last.done, 0, last.output())
    assert.equal(completed(), ids)
    const sum = s.store.readManifest("sum", s.fps.get("sum")!.fingerprint)!.result as { total: number }
    assert.is(sum.total, ids.slice(1, -1).reduce((t, _, i) => t + (10 + i) ** 2, 0))
    assert.equal(s.store.verify(), [])
    const gc = w.cli(["gc"])
    assert.is(await gc.done, 0, gc.output())
    assert.equal(existsSync(tmp) ? readdirSync(tmp) : [], [])
    const locks = join(w.root, "artifacts", ".locks")
    assert.equal(existsSync(locks) ? readdirSync(locks) : [], [])
    console.log(`fault campaign: ${points.length} kills, ${reruns} stages interrupted (run again later), 0 completed stages rerun, 0 corrupt artifacts\n  ${points.join("\n  ")}`)
  } finally {
    w.dispose()
  }
})

test.run()
