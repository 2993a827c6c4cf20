// Small pieces every paper stage shares: running library code as a stage's Effect, the
// backend a plan will use (known before any tensor library loads), and weights files.
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { readFileSync } from "node:fs"
import { createRequire } from "node:module"
import { StageFailure, type StageContext } from "../pipeline/stage.ts"

/** Runs a stage body written as async code; errors become StageFailures with their message. */
export const attempt = <A>(body: (signal: AbortSignal) => Promise<A>): Effect.Effect<A, StageFailure> =>
  Effect.tryPromise({
    try: body,
    catch: (e) => new StageFailure({ message: e instanceof Error ? e.message : String(e), cause: e }),
  })

/** A result whose shape is the library type it comes from (validated there, stored as JSON). */
export const opaque = <A>() => Schema.Unknown as unknown as Schema.Schema<A, A>

const require = createRequire(import.meta.url)
const versionOf = (pkg: string): string | undefined => {
  try {
    return (JSON.parse(readFileSync(require.resolve(`${pkg}/package.json`), "utf8")) as { version: string }).version
  } catch {
    return undefined
  }
}
const installed = (pkg: string): boolean => {
  try {
    require.resolve(pkg)
    return true
  } catch {
    return false
  }
}

export type BackendRequest = "auto" | "tensorflow-gpu" | "tensorflow" | "wasm" | "cpu"

/**
 * The backend a training stage will get, decided from what is installed (the same order
 * ml/backend.ts tries), plus the versions that change numbers. This goes into fingerprints
 * at plan time, so it must not load tfjs (planning 500 stages stays fast).
 */
export const plannedBackend = (request: BackendRequest): Record<string, string> => {
  // One resolution per request and process: a plan asks once per training stage.
  let planned = plannedByRequest.get(request)
  if (!planned) plannedByRequest.set(request, (planned = resolvePlannedBackend(request)))
  return planned
}
const plannedByRequest = new Map<BackendRequest, Record<string, string>>()

const resolvePlannedBackend = (request: BackendRequest): Record<string, string> => {
  const name =
    request === "auto"
      ? installed("@tensorflow/tfjs-node-gpu")
        ? "tensorflow-gpu"
        : installed("@tensorflow/tfjs-node")
          ? "tensorflow"
          : "wasm"
      : request
  const pkgs = ["@tensorflow/tfjs-core", "@tensorflow/tfjs-layers", name === "wasm" ? "@tensorflow/tfjs-backend-wasm" : name === "cpu" ? "@tensorflow/tfjs-backend-cpu" : name === "tensorflow-gpu" ? "@tensorflow/tfjs-node-gpu" : "@tensorflow/tfjs-node"]
  return { backend: name, ...Object.fromEntries(pkgs.map((p) => [p, versionOf(p) ?? "missing"])) }
}

/** Selects the planned backend in a stage, failing if another one came up (the fingerprint would lie). */
export const useBackend = async (request: BackendRequest, ctx: StageContext<unknown, unknown>) => {
  const { selectBackend } = await import("../ml/backend.ts")
  const planned = plannedBackend(request).backend!
  const info = await selectBackend(planned as BackendRequest)
  ctx.log(`backend ${info.name} (${Object.entries(info.versions).map(([k, v]) => `${k} ${v}`).join(", ")}), ${info.threads} thread(s)`)
  return info
}

/** Throttles progress calls from tight loops to a few per second. */
export const throttled = (progress: (done: number, total: number, unit?: string) => void, ms = 500) => {
  let last = 0
  return (done: number, total: number, unit?: string) => {
    const now = Date.now()
    if (done === total || now - last >= ms) {
      last = now
      progress(done, total, unit)
    }
  }
}
