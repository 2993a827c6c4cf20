// Chooses the tfjs backend that every training and activation stage runs on.
//
// Order for "auto": native TensorFlow with CUDA, native TensorFlow on CPU, then the
// XNNPACK wasm backend with this project's extra kernels. The pure-JS "cpu" backend
// is about 100x slower than wasm on conv nets, so it is used only when asked for by
// name: a silent fall back would turn an hour's run into days without a word.
//
// The versions returned go into artifact fingerprints: a different tfjs build or a
// change of our kernels may change results in the last bits.
import { availableParallelism } from "node:os"
import * as tf from "@tensorflow/tfjs-core"
import { registerWasmKernels } from "./kernels/register.ts"

export type BackendRequest = "auto" | "tensorflow-gpu" | "tensorflow" | "wasm" | "cpu"

export interface BackendInfo {
  /** tfjs backend name as tf.getBackend() reports it: "tensorflow", "wasm" or "cpu". */
  name: string
  /** Versions that can change numerical results; part of artifact fingerprints. */
  versions: Record<string, string>
  /** Compute threads the backend uses inside this process. */
  threads: number
}

/** Bump when a kernel in ml/kernels/ changes what it computes (even in rounding). */
export const TRANSFUSION_KERNELS_VERSION = "1"

export const BACKEND_REQUESTS: readonly BackendRequest[] = ["auto", "tensorflow-gpu", "tensorflow", "wasm", "cpu"]

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
  return { name: "wasm", versions, threads: wasm.getThreadsCount() }
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
      return [["tensorflow-gpu", tryNative("@tensorflow/tfjs-node-gpu")], ["tensorflow", tryNative("@tensorflow/tfjs-node")], ["wasm", tryWasm]]
    case "tensorflow-gpu":
      return [["tensorflow-gpu", tryNative("@tensorflow/tfjs-node-gpu")]]
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
  if (selected?.requested === requested) return selected.info
  const info = (async () => {
    const failures: string[] = []
    for (const [label, attempt] of attemptsFor(requested)) {
      try {
        return await attempt()
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
