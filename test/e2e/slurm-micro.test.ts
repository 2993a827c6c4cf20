// The whole `micro` profile through the Slurm scheduler (issue #7), on a real cluster (CI
// starts a single-node one with .ci/slurm/start.sh; skipped, with the reason printed, where
// there is none): every stage runs as its own job, and the artifacts are the local run's:
// a local run in the same store finds everything fresh, `verify` passes, and every stage
// has the fingerprint, result and output files of the e2e micro suite's local run (shared
// through ./project.ts, so a full `npm test` runs micro locally once).
import { test } from "uvu"
import * as assert from "uvu/assert"
import { execFileSync } from "node:child_process"
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { sbatchFlags } from "../../pipeline/slurm/batch.ts"
import { slurmAvailable } from "../../pipeline/slurm/commands.ts"
import { profiles } from "../../stages/config.ts"
import { expandGraph } from "../../stages/grid.ts"
import { cancelLeftovers, queued } from "./cluster.ts"
import { artifactsIn, cli, cliAsync, compareStores, copyProject, localMicroWork, removeAtExit, sharedLocalMicro } from "./project.ts"

/** Generous: the run measured 6-15 min on a loaded 2-core machine (a process start-up per stage). */
const RUN_TIMEOUT_MS = 45 * 60_000

const available = slurmAvailable()
if (!available.ok) {
  console.log(`  slurm-micro.test.ts: skipping the micro profile on Slurm: ${available.reason} (CI starts a cluster with .ci/slurm/start.sh)`)
} else {
  // Copied from the local run's copy, so both plan from the same sources.
  const work = copyProject("transfusion-slurm-micro-", localMicroWork)
  removeAtExit(work)
  const store = join(work, "artifacts")
  /** Stage id -> fingerprint, as `status` plans them before anything ran. */
  let planned = new Map<string, string>()
  /** Stage id -> the Slurm job that ran it. */
  const jobs = new Map<string, string>()

  test("every micro stage's job request fits the cluster's node, so none can stay pending for want of resources", () => {
    // One line per node: CPUTot=2 ... RealMemory=21694 ... Gres=gpu:1 ...
    const nodes = execFileSync("scontrol", ["show", "node", "-o"], { encoding: "utf8" }).split("\n").filter(Boolean)
    const field = (line: string, key: string) => new RegExp(`\\b${key}=(\\S*)`).exec(line)?.[1] ?? ""
    const capacity = nodes.map((l) => ({
      cpus: Number(field(l, "CPUTot")),
      memMiB: Number(field(l, "RealMemory")),
      gpus: Number(/gpu(?::[^:(,]+)?:(\d+)/.exec(field(l, "Gres"))?.[1] ?? 0),
    }))
    const graph = expandGraph(profiles.micro!, "micro", [], work)
    for (const node of graph) {
      const flags = sbatchFlags(node, { pollSeconds: 1 }, "log-%j", work, [], "fp", "transfusion")
      const value = (name: string) => flags.find((f) => f.startsWith(`--${name}=`))?.slice(name.length + 3)
      const cpus = Number(value("cpus-per-task") ?? 1)
      const gpus = Number(/(\d+)$/.exec(value("gres") ?? "gpu:0")?.[1])
      const memMiB = value("mem") ? Number(value("mem")!.replace(/M$/, "")) : 0
      assert.ok(
        capacity.some((c) => cpus <= c.cpus && gpus <= c.gpus && memMiB <= c.memMiB),
        `${node.id} asks for ${cpus} CPUs, ${gpus} GPUs, ${memMiB} MiB; the nodes have ${JSON.stringify(capacity)}`,
      )
    }
  })

  test("micro runs through Slurm: exit 0, one job per stage, each job committing the fingerprint the driver planned", async () => {
    const status = cli(work, "status", "--profile", "micro", "--json")
    assert.is(status.code, 0, status.out)
    const stages = (JSON.parse(status.out) as { stages: { id: string; fingerprint: string; state: string }[] }).stages
    assert.ok(stages.every((s) => s.state === "missing"), "the store starts empty")
    planned = new Map(stages.map((s) => [s.id, s.fingerprint]))

    let out = ""
    try {
      const r = await cliAsync(work, ["run", "--profile", "micro", "--executor", "slurm", "--slurm-poll", "1"], RUN_TIMEOUT_MS)
      out = r.out
      console.log(`  slurm-micro: ${planned.size} stages as Slurm jobs in ${r.seconds.toFixed(0)} s`)
      assert.not.ok(r.timedOut, `the Slurm run did not finish in ${RUN_TIMEOUT_MS / 60_000} min:\n${out.slice(-4000)}`)
      assert.is(r.code, 0, out.slice(-4000))
      assert.match(out, new RegExp(`micro: ${planned.size} ran, 0 fresh, 0 failed, 0 not run`))
      for (const m of out.matchAll(/^(\S+): submitted job (\d+)/gm)) {
        assert.not.ok(jobs.has(m[1]!), `${m[1]} submitted twice`)
        jobs.set(m[1]!, m[2]!)
      }
      assert.equal([...jobs.keys()].sort(), [...planned.keys()].sort(), "every stage submitted as a job")
      assert.is(new Set(jobs.values()).size, jobs.size, "one job per stage")
      // Each job's own output ends with what `transfusion exec` committed: the planned fingerprint.
      for (const [id, job] of jobs) {
        const log = join(store, ".slurm", "logs", `${id}-${job}.out`)
        assert.ok(existsSync(log), `job log ${log}`)
        assert.ok(readFileSync(log, "utf8").includes(`${id}: ran ${planned.get(id)}\n`), `${id}: job ${job} ran it and committed ${planned.get(id)} (${log})`)
      }
      assert.equal(queued([...jobs.values()]), [], "nothing left queued")
    } finally {
      const left = cancelLeftovers(store, [...out.matchAll(/submitted job (\d+)/g)].map((m) => m[1]!))
      if (left.length) console.log(`  slurm-micro: cancelled leftover jobs ${left.join(", ")}`)
    }
  })

  test("a local run in the same store finds every artifact fresh (the same fingerprints, complete); verify passes", () => {
    const local = cli(work, "run", "--profile", "micro")
    assert.is(local.code, 0, local.out.slice(-4000))
    assert.match(local.out, new RegExp(`micro: 0 ran, ${planned.size} fresh, 0 failed, 0 not run`))
    assert.not.match(local.out, /submitted job/)
    const verify = cli(work, "verify")
    assert.is(verify.code, 0, verify.out)
    assert.match(verify.out, new RegExp(`^${planned.size} artifacts checked, 0 problem\\(s\\)`, "m"))
  })

  test("every stage equals the local run's: fingerprint, result, output files (see compareStores for what may differ)", async () => {
    const localRun = sharedLocalMicro()
    assert.is(localRun.code, 0, localRun.out.slice(-4000))
    const viaSlurm = artifactsIn(store)
    assert.equal([...viaSlurm.keys()].sort(), [...planned.keys()].sort())
    assert.equal(Object.fromEntries([...viaSlurm].map(([id, a]) => [id, a.fingerprint]).sort()), Object.fromEntries([...planned].sort()))
    const c = await compareStores(store, join(localMicroWork, "artifacts"))
    assert.equal(c.differences, [], `the Slurm run's artifacts differ from the local run's:\n${c.differences.slice(0, 20).join("\n")}`)
    assert.is(c.stages, planned.size)
    console.log(
      `  slurm-micro: ${c.stages} stages with the fingerprints and results of the local run (${localRun.seconds.toFixed(0)} s); ${c.files} output files: ${c.identical} byte-identical, ` +
        `${c.parquetByContent} Parquet equal in content only (metadata order), ${c.textMasked} equal but for store paths and the generation time`,
    )
  })
}

test.run()
