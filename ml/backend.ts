// Chooses the tfjs backend that every training and activation stage runs on.
//
// Order for "auto": native TensorFlow with CUDA, WebGPU (Dawn over Vulkan) on a hardware
// adapter, native TensorFlow on CPU, then the XNNPACK wasm backend with this project's
// extra kernels. A software WebGPU adapter (lavapipe, SwiftShader) is slower than wasm, so
// it is used only when "webgpu" is asked for by name. The pure-JS "cpu" backend
// is about 100x slower than wasm on conv nets, so it is used only when asked for by
// name: a silent fall back would turn an hour's run into days without a word.
//
// The versions returned go into artifact fingerprints: a different tfjs build or a
// change of our kernels may change results in the last bits.
import { availableParallelism } from "node:os"
import * as tf from "@tensorflow/tfjs-core"
import { registerWasmKernels } from "./kernels/register.ts"
import { describeFmaSupport } from "./kernels/fma-support.ts"
import { BACKEND_REQUESTS, describeAdapter, gpuDeviceIndex, packageVersion, type AdapterIdentity, type BackendRequest } from "./backend-names.ts"
import { adapterIdentity, missingVulkanDriver, probeWebgpuAdapter } from "./webgpu-probe.ts"

export { BACKEND_REQUESTS, type BackendRequest }

export interface BackendInfo {
  /** tfjs backend name as tf.getBackend() reports it: "tensorflow", "webgpu", "wasm" or "cpu". */
  name: string
  /** Versions that can change numerical results; part of artifact fingerprints. */
  versions: Record<string, string>
  /** Compute threads the backend uses inside this process. */
  threads: number
  /** The GPU a webgpu backend runs on (its numerics differ between adapters and drivers). */
  adapter?: AdapterIdentity
  /** The backends "auto" tried before this one, each with why it was not used (one line each). */
  skipped?: string[]
}

/** Bump when a kernel in ml/kernels/ changes what it computes (even in rounding). */
export const TRANSFUSION_KERNELS_VERSION = "2"

// A module name held in a variable keeps tsc and bundlers from resolving an optional package.
const importOptional = async (name: string): Promise<Record<string, unknown>> => (await import(name)) as Record<string, unknown>

const baseVersions = async (): Promise<Record<string, string>> => {
  const layers = await import("@tensorflow/tfjs-layers")
  return { "@tensorflow/tfjs-core": tf.version_core, "@tensorflow/tfjs-layers": layers.version_layers }
}

type Attempt = () => Promise<BackendInfo>

const tryNative = (pkg: "@tensorflow/tfjs-node-gpu" | "@tensorflow/tfjs-node"): Attempt => async () => {
  const mod = await importOptional(pkg)
  // Both packages register their backend under the name "tensorflow".
  if (!(await tf.setBackend("tensorflow"))) throw new Error(`${pkg} loaded but the "tensorflow" backend failed to initialise`)
  await tf.ready()
  const versions = await baseVersions()
  const v = mod.version as Record<string, string> | undefined
  versions[pkg] = v?.["tfjs-node"] ?? v?.["tfjs"] ?? "unknown"
  if (v?.["tfjs-core"] !== undefined && v["tfjs-core"] !== tf.version_core) {
    throw new Error(`${pkg} bundles tfjs-core ${v["tfjs-core"]} but the project runs ${tf.version_core}; install matching versions`)
  }
  return { name: "tensorflow", versions, threads: availableParallelism() }
}

const tryWasm: Attempt = async () => {
  const wasm = await import("@tensorflow/tfjs-backend-wasm")
  if (!(await tf.setBackend("wasm"))) throw new Error("the wasm backend failed to initialise (is tfjs-backend-wasm's .wasm file present?)")
  await tf.ready()
  const kernels = registerWasmKernels()
  const versions = await baseVersions()
  versions["@tensorflow/tfjs-backend-wasm"] = wasm.version_wasm
  versions["wasm-simd"] = String(tf.env().getBool("WASM_HAS_SIMD_SUPPORT"))
  versions["transfusion-kernels"] = `${TRANSFUSION_KERNELS_VERSION}:${kernels.join(",")}`
  versions["wasm-fma"] = describeFmaSupport()
  return { name: "wasm", versions, threads: wasm.getThreadsCount() }
}

const refuseSoftware = (adapter: AdapterIdentity): void => {
  if (adapter.software) throw new Error(`only a software adapter (${describeAdapter(adapter)}); ask for backend "webgpu" by name to use it`)
}

// Dawn's Node bindings provide navigator.gpu and the WebGPU globals tfjs-backend-webgpu
// expects in a browser; the backend is registered here with the adapter chosen here.
const tryWebgpu = (hardwareOnly: boolean): Attempt => async () => {
  const device = gpuDeviceIndex()
  if (device !== 0) {
    throw new Error(`TRANSFUSION_GPU_DEVICE=${device}: Dawn for Node opens only its default adapter (device 0); run with --gpus 1 or one machine per GPU`)
  }
  // Without a driver manifest Dawn would only print loader warnings before finding nothing;
  // for "auto" the adapter is first probed in a child process, so Dawn's warnings about a
  // software adapter stay out of this process's output when it is not used.
  const missing = missingVulkanDriver()
  if (missing) throw new Error(missing)
  if (hardwareOnly) {
    const probe = probeWebgpuAdapter()
    if (!("adapter" in probe)) throw new Error(probe.unavailable)
    refuseSoftware(probe.adapter)
  }
  const { create, globals } = (await importOptional("webgpu")) as unknown as typeof import("webgpu")
  Object.assign(globalThis, globals)
  const gpu = create([])
  Object.defineProperty(globalThis, "navigator", { value: { ...((globalThis as { navigator?: object }).navigator ?? {}), gpu }, configurable: true, writable: true })
  const adapter = await gpu.requestAdapter({ powerPreference: "high-performance" })
  if (adapter === null) throw new Error("Dawn found no Vulkan adapter (is a Vulkan driver installed? see README, GPU)")
  const identity = adapterIdentity(adapter.info)
  if (hardwareOnly) refuseSoftware(identity)
  const webgpu = await import("@tensorflow/tfjs-backend-webgpu")
  const limits = adapter.limits
  const gpuDevice = await adapter.requestDevice({
    requiredLimits: {
      maxComputeWorkgroupStorageSize: limits.maxComputeWorkgroupStorageSize,
      maxComputeWorkgroupsPerDimension: limits.maxComputeWorkgroupsPerDimension,
      maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
      maxBufferSize: limits.maxBufferSize,
      maxComputeWorkgroupSizeX: limits.maxComputeWorkgroupSizeX,
      maxComputeInvocationsPerWorkgroup: limits.maxComputeInvocationsPerWorkgroup,
    },
  })
  tf.removeBackend("webgpu")
  tf.registerBackend("webgpu", () => new webgpu.WebGPUBackend(gpuDevice, adapter.info))
  if (!(await tf.setBackend("webgpu"))) throw new Error("the webgpu backend failed to initialise")
  await tf.ready()
  const versions = await baseVersions()
  versions["@tensorflow/tfjs-backend-webgpu"] = packageVersion("@tensorflow/tfjs-backend-webgpu") ?? "unknown"
  versions["webgpu"] = packageVersion("webgpu") ?? "unknown"
  versions["adapter"] = describeAdapter(identity)
  return { name: "webgpu", versions, threads: 1, adapter: identity }
}

const tryCpu: Attempt = async () => {
  const cpu = await import("@tensorflow/tfjs-backend-cpu")
  if (!(await tf.setBackend("cpu"))) throw new Error("the cpu backend failed to initialise")
  await tf.ready()
  const versions = await baseVersions()
  versions["@tensorflow/tfjs-backend-cpu"] = cpu.version_cpu
  return { name: "cpu", versions, threads: 1 }
}

const attemptsFor = (requested: BackendRequest): Array<[string, Attempt]> => {
  switch (requested) {
    case "auto":
      return [
        ["tensorflow-gpu", tryNative("@tensorflow/tfjs-node-gpu")],
        ["webgpu", tryWebgpu(true)],
        ["tensorflow", tryNative("@tensorflow/tfjs-node")],
        ["wasm", tryWasm],
      ]
    case "tensorflow-gpu":
      return [["tensorflow-gpu", tryNative("@tensorflow/tfjs-node-gpu")]]
    case "webgpu":
      return [["webgpu", tryWebgpu(false)]]
    case "tensorflow":
      return [["tensorflow", tryNative("@tensorflow/tfjs-node")]]
    case "wasm":
      return [["wasm", tryWasm]]
    case "cpu":
      return [["cpu", tryCpu]]
  }
}

let selected: { requested: BackendRequest; info: Promise<BackendInfo> } | undefined

const reason = (e: unknown): string => {
  const message = e instanceof Error ? e.message : String(e)
  return /Cannot find (module|package)|ERR_MODULE_NOT_FOUND/.test(message) ? "not installed" : message.split("\n")[0]!
}

/**
 * Makes the requested backend current and returns what it is. Idempotent: a second
 * call with the same request returns the first result; a different request
 * switches backends (tfjs allows one current backend per process).
 */
export const selectBackend = (requested: BackendRequest = "auto"): Promise<BackendInfo> => {
  if (!BACKEND_REQUESTS.includes(requested)) {
    return Promise.reject(new Error(`unknown backend '${String(requested)}'; use one of ${BACKEND_REQUESTS.join(", ")}`))
  }
  // Someone may have switched tf's backend since (tf.setBackend in a test, a library): the
  // cached choice is made current again, so the caller computes where it asked to.
  if (selected?.requested === requested) {
    return selected.info.then(async (info) => {
      if (tf.getBackend() !== info.name) await tf.setBackend(info.name)
      return info
    })
  }
  const info = (async () => {
    const failures: string[] = []
    for (const [label, attempt] of attemptsFor(requested)) {
      try {
        const info = await attempt()
        return failures.length > 0 ? { ...info, skipped: failures } : info
      } catch (e) {
        failures.push(`${label}: ${reason(e)}`)
      }
    }
    const hint = requested === "auto"
      ? ` Not falling back to the pure-JS "cpu" backend (about 100x slower); pass backend "cpu" explicitly to accept that.`
      : ""
    throw new Error(`no usable tfjs backend for request '${requested}' (${failures.join("; ")}).${hint}`)
  })()
  selected = { requested, info }
  info.catch(() => {
    if (selected?.info === info) selected = undefined
  })
  return info
}

/** The backend selected by selectBackend, for manifests and logs; throws if none was selected yet. */
export const describeBackend = async (): Promise<BackendInfo> => {
  if (selected === undefined) throw new Error("no backend selected yet: call selectBackend() first")
  return selected.info
}

/** One line for logs, e.g. "wasm (1 thread; @tensorflow/tfjs-core 4.22.0, ...)". */
export const formatBackend = (info: BackendInfo): string =>
  `${info.name} (${info.threads} thread${info.threads === 1 ? "" : "s"}; ${Object.entries(info.versions).map(([k, v]) => `${k} ${v}`).join(", ")})`
