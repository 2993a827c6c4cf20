// Training throughput (default: the wasm backend with the transfusion kernels): images/s and
// effective GFLOP/s (training FLOPs per image x images/s; models/count.ts
// trainingFlopsPerImage: forward + weight gradient + input gradient of conv and dense layers)
// for the paper's CBRs, ResNet-50 and Inception-v3, batch 16, one Adam + softmax
// cross-entropy step on random data. Target: >= 15 GFLOP/s per core for CBRs.
// When /usr/bin/python3 has torch, each row is followed by the same step in PyTorch
// (bench/torch_reference.py: the same architectures layer for layer, FLOPs counted by the
// same rule) at 1 thread and at one thread per core, and the img/s ratios ours / torch;
// the parameter counts of both sides are printed so a mismatch shows.
// Then two training processes at once, to show how they scale on this machine's cores
// (wasm only).
// Options: --backend webgpu (or a list, "webgpu,wasm": each model on each, with the ratio),
// --conv fma,xnnpack (wasm's convolutions: our FMA tiles, XNNPACK's, or both with the ratio;
// default: what training uses here),
// --models cbr-small:224,resnet50:224 (arch:pixels), --batch 32, --seconds 5, --width 0.125.
import { fork, spawn, spawnSync } from "node:child_process"
import { availableParallelism } from "node:os"
import { createInterface } from "node:readline"
import { fileURLToPath, pathToFileURL } from "node:url"
import * as tf from "@tensorflow/tfjs-core"
import { BACKEND_REQUESTS, selectBackend, type BackendRequest } from "../ml/backend.ts"
import { Optimizer, type UpdatePath } from "../ml/optimizer.ts"
import { defaultConvKernels, registerWasmKernels, type ConvKernels } from "../ml/kernels/register.ts"
import { trainingFlopsPerImage } from "../models/count.ts"
import { ARCH_NAMES, buildModel } from "../models/index.ts"
import type { ArchName } from "../models/index.ts"

const DEFAULT_BATCH = 16
const TARGET_GFLOPS_PER_CORE = 15

export interface Config {
  arch: ArchName; size: number; request: BackendRequest; batch: number; width: number
  /** The project's optimiser path (ml/optimizer.ts): "auto" = its heap update on wasm, "ops" = op by op everywhere. */
  updatePath?: UpdatePath
  /** wasm's convolutions (ml/kernels/register.ts); default: what training uses in this process. */
  conv?: ConvKernels
}
interface Result extends Config {
  /** Trainable parameters, head included (compared with the PyTorch reference's). */
  params: number
  backend: string
  threads: number
  steps: number
  seconds: number
  /** CPU seconds this process used while timing: under load it gets less than one core. */
  cpuSeconds: number
  imagesPerSec: number
  gflops: number
}

const DEFAULT_MODELS = "cbr-tiny:32,cbr-small:32,cbr-tiny:64,cbr-small:64,resnet50:64,inception-v3:75"

/** A trainer for one config; `step()` runs one optimisation step and waits for its result. */
export const makeTrainer = (config: Config) => {
  const built = buildModel({ arch: config.arch, inputSize: config.size, widthMultiplier: config.width, outputs: 5, outputActivation: "softmax", seed: 1 })
  // The project's own Adam (what ml/train.ts trains with), not tf.train.adam.
  const trainable = built.model.trainableWeights
  const variables = trainable.map((w) => w.read() as tf.Variable)
  const optimizer = new Optimizer({ kind: "adam", learningRate: 1e-3 }, variables, trainable.map((w) => w.originalName), config.updatePath ?? "auto")
  const x = tf.randomNormal([config.batch, config.size, config.size, 3], 0, 1, "float32", 7)
  const y = tf.oneHot(tf.tensor1d(Array.from({ length: config.batch }, (_, i) => i % 5), "int32"), 5)
  const lossOf = () => tf.losses.softmaxCrossEntropy(y, built.model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar
  const step = async () => {
    const { value, grads } = tf.variableGrads(lossOf, variables)
    optimizer.apply(variables.map((v) => grads[v.name]))
    tf.dispose(Object.values(grads))
    await value.data() // wait for the step to finish (webgpu reads only asynchronously)
    value.dispose()
  }
  const dispose = () => {
    tf.dispose([x, y])
    optimizer.dispose()
    built.model.dispose()
  }
  const params = built.model.trainableWeights.reduce((sum, w) => sum + w.shape.reduce<number>((a, b) => a * (b ?? 1), 1), 0)
  return { flops: trainingFlopsPerImage(built), params, step, lossOf, optimizer, variables, dispose }
}

/** Warm up, then time steps until both `minSeconds` and `minSteps` are reached. */
const measure = async (config: Config, minSeconds: number, minSteps: number, beforeTiming?: () => Promise<void>): Promise<Result> => {
  const info = await selectBackend(config.request)
  const wasm = info.name === "wasm"
  if (wasm) registerWasmKernels(config.conv ?? defaultConvKernels())
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
  if (wasm) registerWasmKernels()
  const imagesPerSec = (steps * config.batch) / seconds
  return {
    ...config, params: trainer.params, backend: wasm ? `wasm/${config.conv ?? defaultConvKernels()}` : info.name, threads: info.threads, steps, seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6,
    imagesPerSec, gflops: (trainer.flops * imagesPerSec) / 1e9,
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
  const result = await measure({ arch: arch as ArchName, size: Number(size), request: "wasm", batch: DEFAULT_BATCH, width: 1 }, Number(seconds), 3, () =>
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

const PYTHON = "/usr/bin/python3"
const TORCH_INSTALL = "apt-get install -y python3-torch (Debian, as root)"

interface TorchResult {
  imagesPerSec: number
  steps: number
  seconds: number
  cpuSeconds: number
  threads: number
  params: number
  trainingFlops: number
  torch: string
}

/**
 * bench/torch_reference.py as one long-lived process (torch is imported once), asked for one
 * measurement at a time over stdin/stdout JSON lines; null when python3 or torch is missing.
 */
const startTorchReference = () => {
  const probe = spawnSync(PYTHON, ["-c", "import torch"], { encoding: "utf8" })
  if (probe.error !== undefined || probe.status !== 0) return null
  const child = spawn(PYTHON, [fileURLToPath(new URL("torch_reference.py", import.meta.url))], { stdio: ["pipe", "pipe", "inherit"] })
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]()
  const measureTorch = async (config: Config, threads: number, seconds: number): Promise<TorchResult> => {
    child.stdin.write(JSON.stringify({ arch: config.arch, size: config.size, width: config.width, batch: config.batch, seconds, threads }) + "\n")
    const next = await lines.next()
    if (next.done === true) throw new Error(`bench training: ${PYTHON} bench/torch_reference.py exited (code ${child.exitCode})`)
    const reply = JSON.parse(next.value) as TorchResult | { error: string }
    if ("error" in reply) throw new Error(`bench training: torch reference failed on ${config.arch} ${config.size}px: ${reply.error}`)
    return reply
  }
  return { measure: measureTorch, close: () => child.stdin.end() }
}

const fmtTorch = (r: TorchResult, config: Config): string =>
  `${"".padEnd(9)} torch ${r.torch}, ${r.threads} thread(s)`.padEnd(15) +
  `  ${r.imagesPerSec.toFixed(1).padStart(6)} img/s  ${((r.trainingFlops * r.imagesPerSec) / 1e9).toFixed(2).padStart(6)} GFLOP/s eff.  ` +
  `[${r.steps} steps in ${r.seconds.toFixed(1)} s, ${r.cpuSeconds.toFixed(1)} CPU-s, batch ${config.batch}]`

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
  const convs = options.conv === undefined ? [undefined] : options.conv.split(",").map((c) => {
    if (c !== "fma" && c !== "xnnpack") throw new Error(`bench training: --conv takes fma, xnnpack or both ("fma,xnnpack"), not '${c}'`)
    return c
  })
  const batch = Number(options.batch ?? DEFAULT_BATCH)
  const seconds = options.seconds === undefined ? undefined : Number(options.seconds)
  const width = Number(options.width ?? 1)
  if (!(width > 0)) throw new Error(`bench training: --width '${options.width}' is not a positive number (1 = the paper's width)`)
  const cores = availableParallelism()
  console.log(`batch ${batch}, width x${width}, Adam + softmax cross-entropy on random data; effective GFLOP/s = training FLOPs (forward + weight grad + input grad, conv and dense) x images/s`)
  console.log(`target for CBRs: ${TARGET_GFLOPS_PER_CORE} GFLOP/s per core; "/CPU-s" divides by the CPU time the process actually got (shared machines)`)
  const torch = startTorchReference()
  if (torch === null) console.log(`PyTorch reference skipped: ${PYTHON} has no torch (install: ${TORCH_INSTALL}); ours alone`)
  try {
    for (const model of parseModels(options.models ?? DEFAULT_MODELS)) {
      const results: Result[] = []
      const rowSeconds = seconds ?? (model.arch === "resnet50" || model.arch === "inception-v3" ? 8 : 5)
      for (const backend of backends) for (const conv of backend === "wasm" ? convs : [undefined]) {
        const r = await measure({ ...model, request: backend, batch, width, conv }, rowSeconds, 3)
        results.push(r)
        console.log(fmt(r))
      }
      if (results.length > 1) {
        console.log(`  ${model.arch} ${model.size}px img/s ratio: ${results.slice(1).map((r) => `${results[0]!.backend}/${r.backend} x${(results[0]!.imagesPerSec / r.imagesPerSec).toFixed(2)}`).join(", ")}`)
      }
      if (torch === null) continue
      // Alternating: each row's torch runs right after ours, so both see the same load.
      const config: Config = { ...model, request: backends[0]!, batch, width, conv: convs[0] }
      const torchRuns = [await torch.measure(config, 1, rowSeconds)]
      if (cores > 1) torchRuns.push(await torch.measure(config, cores, rowSeconds))
      for (const t of torchRuns) console.log(fmtTorch(t, config))
      const ours = results[0]!
      const oursFlops = ours.gflops * 1e9 / ours.imagesPerSec
      const t1 = torchRuns[0]!
      const check = (what: string, a: number, b: number) => `${what} ours ${a.toLocaleString("en-US")} / torch ${b.toLocaleString("en-US")}${Math.round(a) === b ? "" : " MISMATCH"}`
      // Per CPU-second: images per CPU second each side actually got (under load a process gets
      // a varying share of a core, so this is the 1-thread comparison that survives load).
      const perCpu = (images: number, cpuSeconds: number) => images / cpuSeconds
      const cpuRatio = perCpu(ours.imagesPerSec * ours.seconds, ours.cpuSeconds) / perCpu(t1.imagesPerSec * t1.seconds, t1.cpuSeconds)
      console.log(`  ${model.arch} ${model.size}px ${ours.backend}/torch img/s: ${torchRuns.map((t) => `x${(ours.imagesPerSec / t.imagesPerSec).toFixed(2)} vs ${t.threads} thread(s)`).join(", ")}` +
        ` (ours: 1 process), x${cpuRatio.toFixed(2)} per CPU-second vs 1 thread; ${check("params", ours.params, t1.params)}; ${check("training FLOPs/img", oursFlops, t1.trainingFlops)}`)
    }
  } finally {
    torch?.close()
  }
  if (!backends.includes("wasm") || options.models !== undefined) return
  const concurrent: Config = { arch: "cbr-tiny", size: 32, request: "wasm", batch: DEFAULT_BATCH, width: 1 }
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
