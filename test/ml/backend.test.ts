// Backend selection: what "auto" picks here, what it refuses, and idempotence.
import { test } from "uvu"
import * as assert from "uvu/assert"
import { spawnSync } from "node:child_process"
import { createRequire } from "node:module"
import { fileURLToPath } from "node:url"
import * as tf from "@tensorflow/tfjs-core"
import { describeAdapter } from "../../ml/backend-names.ts"
import { describeFmaSupport } from "../../ml/kernels/fma-support.ts"
import { probeWebgpuAdapter } from "../../ml/webgpu-probe.ts"
import { plannedBackend } from "../../stages/common.ts"
import { describeBackend, formatBackend, selectBackend } from "../../ml/backend.ts"

const installed = (pkg: string): boolean => {
  try {
    createRequire(import.meta.url).resolve(pkg)
    return true
  } catch {
    return false
  }
}

test("auto picks tfjs-node-gpu, webgpu on a hardware adapter, tfjs-node, else wasm, and records versions", async () => {
  const info = await selectBackend("auto")
  const probe = probeWebgpuAdapter()
  const hardwareGpu = "adapter" in probe && !probe.adapter.software
  const expected = installed("@tensorflow/tfjs-node-gpu") ? "tensorflow" : hardwareGpu ? "webgpu" : installed("@tensorflow/tfjs-node") ? "tensorflow" : "wasm"
  assert.is(info.name, expected)
  assert.is(tf.getBackend(), expected)
  assert.is(info.versions["@tensorflow/tfjs-core"], "4.22.0")
  assert.is(info.versions["@tensorflow/tfjs-layers"], "4.22.0")
  if (expected === "wasm") {
    assert.is(info.versions["@tensorflow/tfjs-backend-wasm"], "4.22.0")
    assert.match(info.versions["transfusion-kernels"] ?? "", /Conv2DBackpropFilter/)
    assert.ok(info.threads >= 1)
  }
  assert.match(formatBackend(info), new RegExp(`^${expected} \\(`))
  // a software adapter or no Vulkan at all is passed over with the reason, in one line
  if (expected !== "webgpu" && !installed("@tensorflow/tfjs-node-gpu")) {
    const webgpu = info.skipped?.find((l) => l.startsWith("webgpu: "))
    assert.ok(webgpu !== undefined && !webgpu.includes("\n"), JSON.stringify(info.skipped))
    assert.match(webgpu!, "adapter" in probe ? /only a software adapter/ : new RegExp(probe.unavailable.slice(0, 20).replace(/[()]/g, ".")))
  }
})

test("the planned backend names webgpu's adapter and versions, probed without creating a device here", () => {
  const planned = plannedBackend("webgpu")
  assert.is(planned.backend, "webgpu")
  for (const pkg of ["@tensorflow/tfjs-core", "@tensorflow/tfjs-layers", "@tensorflow/tfjs-backend-webgpu", "webgpu"]) assert.ok(planned[pkg] && planned[pkg] !== "missing", pkg)
  const probe = probeWebgpuAdapter()
  assert.is(planned.adapter, "adapter" in probe ? describeAdapter(probe.adapter) : `unavailable: ${probe.unavailable}`)
  // wasm's record has no adapter; it names how its FMA convolutions round (fused and unfused differ)
  assert.equal(Object.keys(plannedBackend("wasm")), ["backend", "@tensorflow/tfjs-core", "@tensorflow/tfjs-layers", "@tensorflow/tfjs-backend-wasm", "wasm-fma"])
  assert.is(plannedBackend("wasm")["wasm-fma"], describeFmaSupport())
})

test("TRANSFUSION_WASM_FMA=0: the plan and the backend record the XNNPACK convolutions, and both agree", () => {
  const script = `
    import { plannedBackend } from "./stages/common.ts"
    import { selectBackend } from "./ml/backend.ts"
    const info = await selectBackend("wasm")
    console.log(JSON.stringify({ planned: plannedBackend("wasm")["wasm-fma"], selected: info.versions["wasm-fma"], kernels: info.versions["transfusion-kernels"] }))`
  const child = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { cwd: fileURLToPath(new URL("../..", import.meta.url)), encoding: "utf8", env: { ...process.env, TRANSFUSION_WASM_FMA: "0" } })
  assert.is(child.status, 0, child.stderr)
  const out = JSON.parse(child.stdout.trim().split("\n").at(-1)!) as { planned: string; selected: string; kernels: string }
  assert.is(out.planned, "off (TRANSFUSION_WASM_FMA=0)")
  assert.is(out.selected, out.planned)
  // XNNPACK's own Conv2D stays; the gradients are the XNNPACK forms
  assert.not.ok(out.kernels.includes("Conv2D,"), out.kernels)
  assert.ok(out.kernels.includes("Conv2DBackpropFilter"), out.kernels)
  assert.ok(describeFmaSupport() !== out.planned, "this process itself runs the FMA kernels")
})

test("selectBackend is idempotent and describeBackend reports the selection", async () => {
  const a = await selectBackend("wasm")
  const b = await selectBackend("wasm")
  assert.equal(a, b)
  assert.equal(await describeBackend(), a)
  // the kernel overrides are still the registered ones after a second selection
  assert.ok(tf.getKernel("Conv2DBackpropFilter", "wasm") !== undefined)
})

test("a missing native package fails with a clear message instead of falling back", async () => {
  if (installed("@tensorflow/tfjs-node")) return
  try {
    await selectBackend("tensorflow")
    assert.unreachable("should have thrown")
  } catch (e) {
    assert.instance(e, Error)
    assert.match((e as Error).message, /tensorflow: not installed/)
  }
  // the failed request did not change the current backend
  assert.is(tf.getBackend(), "wasm")
})

test("unknown requests are rejected; cpu only when asked for by name", async () => {
  try {
    await selectBackend("gpu" as never)
    assert.unreachable("should have thrown")
  } catch (e) {
    assert.match((e as Error).message, /unknown backend 'gpu'/)
  }
  const cpu = await selectBackend("cpu")
  assert.is(cpu.name, "cpu")
  assert.is(tf.getBackend(), "cpu")
  const wasm = await selectBackend("wasm")
  assert.is(wasm.name, "wasm")
  assert.is(tf.getBackend(), "wasm")
})

test.run()
