// GPU slots in the local scheduler, on the toy graph: squares listed in the config's `gpu`
// need one GPU slot. Each square records its process, the device its worker was given and
// when it ran (TOY_PLACEMENT), so the tests see where stages landed and what overlapped.
import { test } from "uvu"
import * as assert from "uvu/assert"
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { detectGpuCount, gpuEnvironment } from "../../pipeline/gpus.ts"
import { batchScript } from "../../pipeline/slurm/batch.ts"
import { Workspace } from "./workspace.ts"

interface Placement {
  id: string
  pid: number
  device: string | null
  cuda: string | null
  startedAt: number
  endedAt: number
}

const placements = (w: Workspace): Map<string, Placement> => {
  const file = join(w.root, "placement.jsonl")
  if (!existsSync(file)) return new Map()
  const rows = readFileSync(file, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l) as Placement)
  return new Map(rows.map((p) => [p.id, p]))
}
const overlap = (a: Placement, b: Placement) => a.startedAt < b.endedAt && b.startedAt < a.endedAt
// No device list inherited from the machine running the tests: slot i is then device i.
const env = (w: Workspace, extra: Record<string, string> = {}) => ({ TOY_PLACEMENT: join(w.root, "placement.jsonl"), CUDA_VISIBLE_DEVICES: "", ...extra })

test("GPU stages run only on GPU workers, one device each; CPU stages run beside them", async () => {
  // Long enough that the four workers, started at about the same time, overlap even under load.
  const w = new Workspace({ n: 4, gpu: [0, 1], slowMs: 4000 })
  try {
    const r = w.cli(["run", "--gpus", "2", "--jobs", "4"], env(w))
    assert.is(await r.done, 0, r.output())
    const p = placements(w)
    const [g0, g1, c2, c3] = ["square/0", "square/1", "square/2", "square/3"].map((id) => p.get(id)!)
    assert.ok(g0 && g1 && c2 && c3, JSON.stringify([...p.values()]))
    assert.equal([g0!.device, g1!.device].sort(), ["0", "1"], "two GPU slots, two distinct devices")
    assert.is(g0!.cuda, g0!.device)
    assert.is(g1!.cuda, g1!.device)
    assert.ok(overlap(g0!, g1!), "both GPU stages ran at once, each on its own slot")
    assert.is(c2!.device, null)
    assert.is(c3!.device, null)
    const gpuPids = new Set([g0!.pid, g1!.pid])
    assert.ok(!gpuPids.has(c2!.pid) && !gpuPids.has(c3!.pid) && gpuPids.size === 2, "GPU workers serve only GPU stages")
    assert.ok([c2!, c3!].some((c) => overlap(c, g0!) || overlap(c, g1!)), "a CPU stage ran while a GPU stage did")
    assert.match(r.output(), /6 ran, 0 fresh, 0 failed, 0 not run/)
  } finally {
    w.dispose()
  }
})

test("a GPU stage in a run with no GPU slot fails at once with the fix; the rest of the graph runs", async () => {
  const w = new Workspace({ n: 2, gpu: [0] })
  try {
    const r = w.cli(["run", "--gpus", "0"], env(w))
    assert.is(await r.done, 1, r.output())
    assert.match(r.output(), /✗ square\/0: needs 1 GPU slot\(s\) but the run has 0 \(pass --gpus 1 on a machine with a GPU\)\n/)
    assert.match(r.output(), /2 ran, 0 fresh, 1 failed, 1 not run/)
    assert.equal(w.takeRuns(), ["source", "square/1"])
  } finally {
    w.dispose()
  }
})

test("without --gpus the project's GPU count applies; status and --dry-run show the GPU stages", async () => {
  const w = new Workspace({ n: 2, gpu: [1] })
  try {
    const st = w.cli(["status"], env(w, { TOY_GPUS: "1" }))
    assert.is(await st.done, 0, st.output())
    assert.match(st.output(), /missing square\/1  \[gpu\]\n/)
    assert.match(st.output(), /missing square\/0\n/)
    const none = w.cli(["run", "--dry-run"], env(w, { TOY_GPUS: "0" }))
    assert.is(await none.done, 0, none.output())
    assert.match(none.output(), /would run square\/1 on 1 GPU slot\(s\), but this run has 0: it would fail \(pass --gpus 1 on a machine with a GPU\)/)
    const dry = w.cli(["run", "--dry-run"], env(w, { TOY_GPUS: "1" }))
    assert.is(await dry.done, 0, dry.output())
    assert.match(dry.output(), /would run square\/1 on 1 GPU slot\(s\)\n/)
    assert.match(dry.output(), /would run square\/0\n/)
    // square/1 is an inline stage, but it needs a GPU: it runs on the GPU worker.
    const r = w.cli(["run"], env(w, { TOY_GPUS: "1" }))
    assert.is(await r.done, 0, r.output())
    assert.match(r.output(), /1 GPU slot\(s\) \(this machine's GPUs; --gpus overrides\)/)
    const p = placements(w)
    assert.is(p.get("square/1")?.device, "0")
    assert.is(p.get("square/1")?.pid === process.pid, false)
    assert.is(p.get("square/0")?.device, null)
  } finally {
    w.dispose()
  }
})

test("slot i is the i-th visible device; the machine's GPUs are counted from /dev or the variable", () => {
  assert.equal(gpuEnvironment([]), {})
  assert.equal(gpuEnvironment([1], undefined), { TRANSFUSION_GPU_DEVICE: "1", CUDA_VISIBLE_DEVICES: "1" })
  assert.equal(gpuEnvironment([1], "3,5"), { TRANSFUSION_GPU_DEVICE: "1", CUDA_VISIBLE_DEVICES: "5" })
  const dev = mkdtempSync(join(tmpdir(), "transfusion-dev-"))
  try {
    for (const name of ["nvidia0", "nvidia1", "nvidiactl", "nvidia-uvm", "null"]) writeFileSync(join(dev, name), "")
    mkdirSync(join(dev, "dri"))
    assert.is(detectGpuCount("GPUS", {}, dev), 2)
    assert.is(detectGpuCount("GPUS", { GPUS: "3" }, dev), 3)
    assert.is(detectGpuCount("GPUS", { GPUS: "0" }, dev), 0)
    assert.throws(() => detectGpuCount("GPUS", { GPUS: "two" }, dev), /GPUS=two is not a whole number of GPUs/)
    assert.is(detectGpuCount("GPUS", {}, join(dev, "absent")), 0)
  } finally {
    rmSync(dev, { recursive: true, force: true })
  }
  // A cluster job given one GPU names it to the stage as device 0, as a local GPU worker does.
  assert.match(batchScript("/n", [], "/m.mjs", ["exec", "x"], undefined, 1), /\nTRANSFUSION_GPU_DEVICE=0\nexport TRANSFUSION_GPU_DEVICE\nexec /)
  assert.not.match(batchScript("/n", [], "/m.mjs", ["exec", "x"]), /TRANSFUSION_GPU_DEVICE/)
})

test.run()
