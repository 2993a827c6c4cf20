// A few micro training stages on webgpu and on wasm, in one store (the data stages are
// shared, the training stages are fingerprinted per backend and adapter): both commit, the
// fingerprints differ, and the results agree within the bound measured on the whole micro
// profile (README, GPU). Skips, saying why, where no Vulkan adapter exists.
import { test } from "uvu"
import * as assert from "uvu/assert"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { probeWebgpuAdapter } from "../../ml/webgpu-probe.ts"
import type { TrainedResult } from "../../stages/training.ts"
import { cli, copyProject, removeAtExit } from "./project.ts"

// Micro, webgpu (lavapipe) against wasm, over its 24 CBR stages that train from random init
// or pretrain (the deep models and anything fine-tuned from a pretrained upstream diverge
// chaotically at this scale, as wasm and cpu do too): test loss within 0.003, AUC within
// 0.021. The bounds leave about 3x headroom.
const LOSS_BOUND = 0.01
const AUC_BOUND = 0.05
const STAGES = ["finetune/retina/cbr-tiny/random/seed1", "finetune/retina/cbr-small/random/seed1"]

const probe = probeWebgpuAdapter()
if (!("adapter" in probe)) {
  console.log(`  webgpu-micro.test.ts: skipping the webgpu micro stages: ${probe.unavailable}`)
} else {
  test("micro CBR stages on webgpu agree with wasm within the measured bound; fingerprints differ", () => {
    const work = copyProject("transfusion-webgpu-micro-")
    removeAtExit(work)
    const configs = { wasm: join(work, "wasm.json"), webgpu: join(work, "webgpu.json") }
    writeFileSync(configs.wasm, JSON.stringify({ micro: { backend: "wasm" } }))
    writeFileSync(configs.webgpu, JSON.stringify({ micro: { backend: "webgpu" } }))
    const runOn = (backend: "wasm" | "webgpu") => {
      const r = cli(work, "run", ...STAGES, "--profile", "micro", "--config", configs[backend], "--gpus", backend === "webgpu" ? "1" : "0")
      assert.is(r.code, 0, r.out.slice(-4000))
      return Object.fromEntries(STAGES.map((id) => {
        const shown = cli(work, "show", id, "--json", "--profile", "micro", "--config", configs[backend])
        assert.is(shown.code, 0, shown.out)
        return [id, JSON.parse(shown.out) as TrainedResult]
      }))
    }
    const wasm = runOn("wasm"), webgpu = runOn("webgpu")
    for (const id of STAGES) {
      const [a, b] = [webgpu[id]!, wasm[id]!]
      assert.is(a.backend.name, "webgpu", id)
      assert.is(b.backend.name, "wasm", id)
      assert.ok(a.backend.versions.adapter?.includes(probe.adapter.device), `${id}: adapter recorded`)
      const dLoss = Math.abs(a.test.loss! - b.test.loss!), dAuc = Math.abs(a.test.auc! - b.test.auc!)
      assert.ok(dLoss <= LOSS_BOUND, `${id}: test loss ${a.test.loss} on webgpu vs ${b.test.loss} on wasm`)
      assert.ok(dAuc <= AUC_BOUND, `${id}: test AUC ${a.test.auc} on webgpu vs ${b.test.auc} on wasm`)
    }
    // both stay fresh side by side: a wasm result never stands in for a webgpu one
    const fingerprints = (backend: "wasm" | "webgpu") => {
      const status = JSON.parse(cli(work, "status", ...STAGES, "--json", "--profile", "micro", "--config", configs[backend]).out) as { stages: { id: string; state: string; fingerprint: string }[] }
      for (const s of status.stages) assert.is(s.state, "fresh", `${s.id} on ${backend}`)
      return new Map(status.stages.map((s) => [s.id, s.fingerprint]))
    }
    const [fw, fg] = [fingerprints("wasm"), fingerprints("webgpu")]
    for (const id of STAGES) assert.is.not(fw.get(id), fg.get(id), id)
    assert.is(fw.get("ingest/retina/32px"), fg.get("ingest/retina/32px"), "the data stages are shared")
  })
}

test.run()
