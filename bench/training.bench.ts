// Training throughput (default: the wasm backend with the transfusion kernels): images/s and
// effective GFLOP/s (3 x forward FLOPs per image x images/s; the backward pass costs
// about twice the forward) for the paper's CBRs and ResNet-50, batch 16, one Adam +
// softmax cross-entropy step on random data. Target: >= 15 GFLOP/s per core for CBRs.
// Then two training processes at once, to show both cores busy (wasm only).
// Options: --backend webgpu (or a list, "webgpu,wasm": each model on each, with the ratio),
// --models cbr-small:224,resnet50:224 (arch:pixels), --batch 32, --seconds 5.
import { fork } from "node:child_process"
import { availableParallelism } from "node:os"
import { fileURLToPath, pathToFileURL } from "node:url"
import * as tf from "@tensorflow/tfjs-core"
import { BACKEND_REQUESTS, selectBackend, type BackendRequest } from "../ml/backend.ts"
import { flopsPerImage } from "../models/count.ts"
import { ARCH_NAMES, buildModel } from "../models/index.ts"
import type { ArchName } from "../models/index.ts"

const DEFAULT_BATCH = 16
const TARGET_GFLOPS_PER_CORE = 15

interface Config { arch: ArchName; size: number; request: BackendRequest; batch: number }
interface Result extends Config {
  backend: string
  threads: number
  steps: number
  seconds: number
  /** CPU seconds this process used while timing: under load it gets less than one core. */
  cpuSeconds: number
  imagesPerSec: number
  gflops: number
}

const DEFAULT_MODELS = "cbr-tiny:32,cbr-small:32,cbr-tiny:64,cbr-small:64,resnet50:64"

/** A trainer for one config; `step()` runs one optimisation step and waits for its result. */
const makeTrainer = (config: Config) => {
  const built = buildModel({ arch: config.arch, inputSize: config.size, widthMultiplier: 1, outputs: 5, outputActivation: "softmax", seed: 1 })
  const optimizer = tf.train.adam(1e-3)
  const x = tf.randomNormal([config.batch, config.size, config.size, 3], 0, 1, "float32", 7)
  const y = tf.oneHot(tf.tensor1d(Array.from({ length: config.batch }, (_, i) => i % 5), "int32"), 5)
  const step = async () => {
    const loss = optimizer.minimize(() => tf.losses.softmaxCrossEntropy(y, built.model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar, true)!
    await loss.data() // wait for the step to finish (webgpu reads only asynchronously)
    loss.dispose()
  }
  const dispose = () => {
    tf.dispose([x, y])
    optimizer.dispose()
    built.model.dispose()
  }
  return { flops: flopsPerImage(built), step, dispose }
}

/** Warm up, then time steps until both `minSeconds` and `minSteps` are reached. */
const measure = async (config: Config, minSeconds: number, minSteps: number, beforeTiming?: () => Promise<void>): Promise<Result> => {
  const info = await selectBackend(config.request)
  const trainer = makeTrainer(config)
  await trainer.step()
  await trainer.step()
  await beforeTiming?.()
  let steps = 0
  const t0 = performance.now()
  const cpu0 = process.cpuUsage()
  while (steps < minSteps || performance.now() - t0 < minSeconds * 1000) {
    await trainer.step()
    steps++
  }
  const seconds = (performance.now() - t0) / 1000
  const cpu = process.cpuUsage(cpu0)
  trainer.dispose()
  const imagesPerSec = (steps * config.batch) / seconds
  return {
    ...config, backend: info.name, threads: info.threads, steps, seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6,
    imagesPerSec, gflops: (3 * trainer.flops * imagesPerSec) / 1e9,
  }
}

/**
 * Per core = GFLOP/s over the cores the backend uses. On a shared machine the process
 * may get much less than its cores, so the per-CPU-second rate (work / CPU time the
 * process actually got) is printed too; it is the figure that compares across loads.
 */
const fmt = (r: Result): string => {
  const perCore = r.gflops / r.threads
  const share = r.cpuSeconds / r.seconds
  const perCpuSecond = (r.gflops * r.seconds) / r.cpuSeconds
  const isCbr = r.arch.startsWith("cbr")
  const ratio = (v: number) => (isCbr ? ` (x${(v / TARGET_GFLOPS_PER_CORE).toFixed(2)} of ${TARGET_GFLOPS_PER_CORE})` : "")
  return `${r.arch.padEnd(9)} ${String(r.size).padStart(3)}px  ${r.imagesPerSec.toFixed(1).padStart(6)} img/s  ${r.gflops.toFixed(2).padStart(6)} GFLOP/s eff.  ` +
    `${perCore.toFixed(2)}/core${ratio(perCore)}  ${perCpuSecond.toFixed(2)}/CPU-s${ratio(perCpuSecond)}  ` +
    `[${r.backend}, ${r.threads} thread(s), ${r.steps} steps in ${r.seconds.toFixed(1)} s, got ${(100 * share).toFixed(0)}% of a core]`
}

/** Child-process mode: measure one config, starting the timed part only when the parent says "go". */
const runChild = async (): Promise<void> => {
  const [arch, size, seconds] = process.argv.slice(2)
  const result = await measure({ arch: arch as ArchName, size: Number(size), request: "wasm", batch: DEFAULT_BATCH }, Number(seconds), 3, () =>
    new Promise<void>((resolve) => {
      process.once("message", () => resolve())
      process.send!({ ready: true })
    }))
  process.send!({ result })
  process.disconnect()
}

/** Runs `count` children on the same config at once; all start timing together. */
const runConcurrent = (config: Config, count: number, seconds: number): Promise<Result[]> => {
  const file = fileURLToPath(import.meta.url)
  const children = Array.from({ length: count }, () =>
    fork(file, [config.arch, String(config.size), String(seconds)], { execArgv: ["--import", "tsx"], stdio: ["ignore", "ignore", "inherit", "ipc"] }))
  let ready = 0
  return Promise.all(children.map((child) => new Promise<Result>((resolve, reject) => {
    child.on("message", (m: { ready?: boolean; result?: Result }) => {
      if (m.ready && ++ready === count) for (const c of children) c.send("go")
      if (m.result) resolve(m.result)
    })
    child.on("exit", (code) => { if (code !== 0) reject(new Error(`bench child exited with ${code}`)) })
  })))
}

const parseModels = (list: string): { arch: ArchName; size: number }[] =>
  list.split(",").map((item) => {
    const [arch, size] = item.split(":")
    if (!ARCH_NAMES.includes(arch as ArchName) || !Number.isInteger(Number(size)) || Number(size) <= 0) {
      throw new Error(`bench training: --models item '${item}' is not arch:pixels (arch one of ${ARCH_NAMES.join(", ")})`)
    }
    return { arch: arch as ArchName, size: Number(size) }
  })

export default async function (options: Record<string, string> = {}): Promise<void> {
  const backends = (options.backend ?? "wasm").split(",") as BackendRequest[]
  for (const b of backends) if (!BACKEND_REQUESTS.includes(b)) throw new Error(`bench training: --backend '${b}' is none of ${BACKEND_REQUESTS.join(", ")}`)
  const batch = Number(options.batch ?? DEFAULT_BATCH)
  const seconds = options.seconds === undefined ? undefined : Number(options.seconds)
  console.log(`batch ${batch}, Adam + softmax cross-entropy on random data; effective GFLOP/s = 3 x forward FLOPs x images/s`)
  console.log(`target for CBRs: ${TARGET_GFLOPS_PER_CORE} GFLOP/s per core; "/CPU-s" divides by the CPU time the process actually got (shared machines)`)
  for (const model of parseModels(options.models ?? DEFAULT_MODELS)) {
    const results: Result[] = []
    for (const backend of backends) {
      const r = await measure({ ...model, request: backend, batch }, seconds ?? (model.arch === "resnet50" ? 8 : 5), 3)
      results.push(r)
      console.log(fmt(r))
    }
    if (results.length > 1) {
      console.log(`  ${model.arch} ${model.size}px img/s ratio: ${results.slice(1).map((r) => `${results[0]!.backend}/${r.backend} x${(results[0]!.imagesPerSec / r.imagesPerSec).toFixed(2)}`).join(", ")}`)
    }
  }
  if (!backends.includes("wasm") || options.models !== undefined) return
  const cores = availableParallelism()
  const concurrent: Config = { arch: "cbr-tiny", size: 32, request: "wasm", batch: DEFAULT_BATCH }
  const single = await runConcurrent(concurrent, 1, 6)
  const pair = await runConcurrent(concurrent, 2, 6)
  const aggregate = pair.reduce((s, r) => s + r.imagesPerSec, 0)
  console.log(`two processes at once (${concurrent.arch} ${concurrent.size}px, ${cores} cores):`)
  for (const r of pair) console.log(`  ${fmt(r)}`)
  console.log(`  aggregate ${aggregate.toFixed(1)} img/s, ${pair.reduce((s, r) => s + r.gflops, 0).toFixed(2)} GFLOP/s eff.; ` +
    `one process alone ${single[0]!.imagesPerSec.toFixed(1)} img/s; scaling x${(aggregate / single[0]!.imagesPerSec).toFixed(2)} (ideal x${Math.min(2, cores)})`)
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href && process.send !== undefined) {
  await runChild()
}
