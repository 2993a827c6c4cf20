// The backend names a config, a stage's parameters and ml/backend.ts accept: the one list
// every schema is derived from. Plain data, so plan-time code can import it without tfjs.
import { existsSync, readFileSync } from "node:fs"
import { createRequire } from "node:module"
import { join } from "node:path"

/** What a config or stage may ask for; "auto" picks the fastest one that works (ml/backend.ts). */
export const BACKEND_REQUESTS = ["auto", "tensorflow-gpu", "webgpu", "tensorflow", "wasm", "cpu"] as const
export type BackendRequest = (typeof BACKEND_REQUESTS)[number]

/** Backends that compute on a GPU: their training and activation stages hold a GPU slot. */
export const GPU_BACKENDS: readonly string[] = ["tensorflow-gpu", "webgpu"]

/** What identifies a WebGPU adapter's numerics: GPUAdapterInfo's fields as Dawn reports them. */
export interface AdapterIdentity {
  readonly vendor: string
  readonly architecture: string
  readonly device: string
  readonly description: string
  /** Dawn's CPU implementations (lavapipe, SwiftShader) report isFallbackAdapter or "software". */
  readonly software: boolean
}

export const describeAdapter = (a: AdapterIdentity): string =>
  `${a.vendor || "?"}/${a.architecture || "?"}/${a.device || "?"} (${a.description || "no description"})${a.software ? ", software" : ""}`

/**
 * The GPU a worker is given (the engine sets TRANSFUSION_GPU_DEVICE=i per GPU slot), default 0.
 * Dawn's Node bindings expose only their default adapter per process, so only device 0 can be
 * opened; another index fails with that reason instead of silently sharing GPU 0.
 */
export const gpuDeviceIndex = (env: NodeJS.ProcessEnv = process.env): number => {
  const raw = env.TRANSFUSION_GPU_DEVICE
  if (raw === undefined || raw.trim() === "") return 0
  // A worker holding several slots gets "i,j,..."; a stage computes on the first.
  const i = Number(raw.split(",")[0]!.trim())
  if (!Number.isInteger(i) || i < 0) throw new Error(`TRANSFUSION_GPU_DEVICE='${raw}' is not a GPU index (0, 1, ...)`)
  return i
}

const require = createRequire(import.meta.url)

/** An installed package's version (from its package.json), or undefined when it is not installed. */
/** A package's folder, found as Node's resolver would, without its `exports` map (which may hide package.json, as sharp's and apache-arrow's do). */
export const packageDir = (pkg: string): string | undefined =>
  (require.resolve.paths(pkg) ?? []).map((d) => join(d, pkg)).find((d) => existsSync(join(d, "package.json")))

export const packageVersion = (pkg: string): string | undefined => {
  try {
    const dir = packageDir(pkg)
    return dir ? (JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { version: string }).version : undefined
  } catch {
    return undefined
  }
}
