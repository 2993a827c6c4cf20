// Where a training step's time goes on the wasm backend: tf.profile of one Adam + softmax
// cross-entropy step (the training bench's step) for ResNet-50 and Inception-v3 at the mini
// profile's sizes (width x0.125, batch 16; ResNet-50 40 px as its fine-tunes, Inception-v3
// 75 px), kernels summed by name, and the step's time outside kernels (wall - kernel time:
// tape, tidy, layer bookkeeping, small-tensor allocation), and the Adam update's share.
// Options: --models resnet50:40,inception-v3:75 --width 0.125 --batch 16 --top 12 --steps 3
// --optimizer auto|ops (ml/optimizer.ts: its wasm heap update, or op by op as before).
// --layers auto,ops (models/fused-path.ts: batch norm and conv bias on their own wasm
// kernels, or the stock ops; a list profiles each model once per path, alternating, so
// both see the same machine load).
import * as tf from "@tensorflow/tfjs-core"
import { selectBackend } from "../ml/backend.ts"
import type { ArchName } from "../models/index.ts"
import { makeTrainer } from "./training.bench.ts"
import type { UpdatePath } from "../ml/optimizer.ts"
import { setLayerPath, type LayerPath } from "../models/fused-path.ts"

interface KernelTotal { name: string; ms: number; calls: number }

export default async function (options: Record<string, string> = {}): Promise<void> {
  const info = await selectBackend("wasm")
  const width = Number(options.width ?? 0.125)
  const batch = Number(options.batch ?? 16)
  const top = Number(options.top ?? 12)
  const steps = Number(options.steps ?? 3)
  const updatePath: UpdatePath = options.optimizer === "ops" ? "ops" : "auto"
  const layerPaths = (options.layers ?? "auto").split(",").map((p): LayerPath => {
    if (p !== "auto" && p !== "ops") throw new Error(`step-profile: --layers takes auto, ops or a list of them, not "${p}"`)
    return p
  })
  console.log(`${info.name}, ${info.threads} thread(s); width x${width}, batch ${batch}; ${steps} profiled steps per model after 2 warm-up steps`)
  for (const item of (options.models ?? "resnet50:40,inception-v3:75").split(",")) for (const layerPath of layerPaths) {
    const [arch, size] = item.split(":") as [ArchName, string]
    setLayerPath(layerPath)
    const trainer = makeTrainer({ arch, size: Number(size), request: "wasm", batch, width, updatePath })
    await trainer.step()
    await trainer.step()
    const totals = new Map<string, KernelTotal>()
    let wallMs = 0, kernelMs = 0, calls = 0, nestedMs = 0, adamMs = 0, adamCalls = 0, adamWallMs = 0
    const cpu0 = process.cpuUsage()
    for (let s = 0; s < steps; s++) {
      const t0 = performance.now()
      const profile = await tf.profile(trainer.step)
      wallMs += performance.now() - t0
      for (const k of profile.kernels) {
        const ms = typeof k.kernelTimeMs === "number" ? k.kernelTimeMs : 0
        // A customGrad's forward body (our batch norm, the wasm conv bias) is recorded as "unnamed scope" around
        // the kernels it runs, which are recorded too: kept out of the sum.
        if (k.name === "unnamed scope") {
          nestedMs += ms
          continue
        }
        const t = totals.get(k.name) ?? { name: k.name, ms: 0, calls: 0 }
        t.ms += ms
        t.calls++
        totals.set(k.name, t)
        kernelMs += ms
        calls++
      }
      // The optimiser's share: the same Adam update alone, on gradients computed outside the profile.
      const { value, grads } = tf.variableGrads(trainer.lossOf, trainer.variables)
      const t1 = performance.now()
      const adam = await tf.profile(() => trainer.optimizer.apply(trainer.variables.map((v) => grads[v.name])))
      adamWallMs += performance.now() - t1
      for (const k of adam.kernels) adamMs += typeof k.kernelTimeMs === "number" ? k.kernelTimeMs : 0
      adamCalls += adam.kernels.length
      tf.dispose([value, ...Object.values(grads)])
    }
    const cpu = process.cpuUsage(cpu0)
    const cpuMs = (cpu.user + cpu.system) / 1000
    const per = (v: number) => (v / steps).toFixed(1)
    console.log(`\n${arch} ${size}px, layers ${layerPath}: ${per(wallMs)} ms/step wall (${(100 * cpuMs / wallMs).toFixed(0)}% of a core over the run), ${per(kernelMs)} ms in ${Math.round(calls / steps)} kernel calls, ` +
      `${per(wallMs - kernelMs)} ms outside kernels (${(100 * (wallMs - kernelMs) / wallMs).toFixed(0)}%); ` +
      `Adam update alone (${updatePath}) ${per(adamWallMs)} ms wall, ${per(adamMs)} ms in ${Math.round(adamCalls / steps)} kernel calls; customGrad forward bodies ${per(nestedMs)} ms (their kernels are in the list)`)
    for (const t of [...totals.values()].sort((a, b) => b.ms - a.ms).slice(0, top)) {
      console.log(`  ${t.name.padEnd(28)} ${per(t.ms).padStart(8)} ms/step  ${(100 * t.ms / kernelMs).toFixed(1).padStart(5)}% of kernel time  ${String(Math.round(t.calls / steps)).padStart(5)} calls/step`)
    }
    trainer.dispose()
  }
}
