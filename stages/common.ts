// Small pieces every paper stage shares: running library code as a stage's Effect, the
// backend a plan will use (known before any tensor library loads), and weights files.
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { readFileSync } from "node:fs"
import { createRequire } from "node:module"
import { join } from "node:path"
import { StageFailure, type StageContext, type Upstream } from "../pipeline/stage.ts"
import { describeParseError } from "../pipeline/schema-errors.ts"
import { BACKEND_REQUESTS, describeAdapter, packageDir, packageVersion, type BackendRequest } from "../ml/backend-names.ts"
import { describeFmaSupport } from "../ml/kernels/fma-support.ts"
import { probeWebgpuAdapter } from "../ml/webgpu-probe.ts"

/** Runs a stage body written as async code; errors become StageFailures with their message. */
export const attempt = <A>(body: (signal: AbortSignal) => Promise<A>): Effect.Effect<A, StageFailure> =>
  Effect.tryPromise({
    try: body,
    catch: (e) => new StageFailure({ message: e instanceof Error ? e.message : String(e), cause: e }),
  })

/**
 * One input of a fan-in stage, whose inputs are of several kinds under one record type (the
 * report reads trained runs, similarity tables, datasets...): checked against the result
 * schema the stage expects of it, so a wiring mistake names the input and the field.
 */
export const inputOf = <A, I>(inputs: Readonly<Record<string, Upstream<unknown>>>, key: string, schema: Schema.Schema<A, I>): Upstream<A> => {
  const up = inputs[key]
  if (!up) throw new Error(`no input ${key} (inputs: ${Object.keys(inputs).join(", ")})`)
  const checked = Schema.validateEither(schema, { errors: "all" })(up.result)
  if (checked._tag === "Left") throw new Error(`input ${key} (${up.id}) is not the result expected here: ${describeParseError(checked.left, "result")}`)
  return { ...up, result: checked.right }
}

/** The backend names a config and a stage's parameters accept (ml/backend-names.ts is the list). */
export const BackendSchema = Schema.Literal(...BACKEND_REQUESTS)
export type { BackendRequest }

const installed = (pkg: string): boolean => packageVersion(pkg) !== undefined

/** The libvips sharp will load: its prebuilt package for this platform, else a system one (version unknown without loading sharp). */
const libvipsVersion = (): string => {
  try {
    const fromSharp = createRequire(join(packageDir("sharp")!, "package.json"))
    const glibc = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header?.glibcVersionRuntime
    const platform = `${process.platform}${process.platform === "linux" && !glibc ? "musl" : ""}-${process.arch}`
    const versions = JSON.parse(readFileSync(fromSharp.resolve(`@img/sharp-libvips-${platform}/versions`), "utf8")) as { vips?: string }
    return versions.vips ?? "unknown"
  } catch {
    return "system"
  }
}

/**
 * Versions of the libraries whose upgrade can change a stage's bytes (sharp's resize and
 * codecs, Arrow and Parquet encoders and readers), for its fingerprint's environment. Read
 * from package files at plan time; nothing is loaded.
 */
export const libraryVersions = (...libs: readonly ("sharp" | "apache-arrow" | "parquet-wasm")[]): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const lib of libs) {
    out[lib] = packageVersion(lib) ?? "missing"
    if (lib === "sharp") out.libvips = libvipsCache ??= libvipsVersion()
  }
  return out
}
let libvipsCache: string | undefined

/**
 * The backend a training stage will get, decided from what is installed (the same order
 * ml/backend.ts tries), plus what changes numbers: package versions and, for webgpu, the
 * adapter's identity (from a probe in a child process: no GPU device is created here). This
 * goes into fingerprints at plan time, so it must not load tfjs (planning 500 stages stays fast).
 */
export const plannedBackend = (request: BackendRequest): Record<string, string> => {
  // One resolution per request and process: a plan asks once per training stage.
  let planned = plannedByRequest.get(request)
  if (!planned) plannedByRequest.set(request, (planned = resolvePlannedBackend(request)))
  return planned
}
const plannedByRequest = new Map<BackendRequest, Record<string, string>>()

const PACKAGES: Record<Exclude<BackendRequest, "auto">, readonly string[]> = {
  "tensorflow-gpu": ["@tensorflow/tfjs-node-gpu"],
  webgpu: ["@tensorflow/tfjs-backend-webgpu", "webgpu"],
  tensorflow: ["@tensorflow/tfjs-node"],
  wasm: ["@tensorflow/tfjs-backend-wasm"],
  cpu: ["@tensorflow/tfjs-backend-cpu"],
}

/** The webgpu adapter a stage would open, or why there is none (one line). */
export const plannedAdapter = () => {
  const probe = probeWebgpuAdapter()
  return "adapter" in probe ? { adapter: probe.adapter } : { unavailable: probe.unavailable }
}

const hardwareWebgpu = (): boolean => {
  if (!installed("webgpu")) return false
  const planned = plannedAdapter()
  return planned.adapter !== undefined && !planned.adapter.software
}

const resolvePlannedBackend = (request: BackendRequest): Record<string, string> => {
  const name: Exclude<BackendRequest, "auto"> =
    request === "auto"
      ? installed("@tensorflow/tfjs-node-gpu")
        ? "tensorflow-gpu"
        : hardwareWebgpu()
          ? "webgpu"
          : installed("@tensorflow/tfjs-node")
            ? "tensorflow"
            : "wasm"
      : request
  const pkgs = ["@tensorflow/tfjs-core", "@tensorflow/tfjs-layers", ...PACKAGES[name]]
  const record: Record<string, string> = { backend: name, ...Object.fromEntries(pkgs.map((p) => [p, packageVersion(p) ?? "missing"])) }
  // Fused and unfused multiply-adds round differently (ml/kernels/fma-gemm.ts).
  if (name === "wasm") record["wasm-fma"] = describeFmaSupport()
  if (name === "webgpu") {
    const planned = plannedAdapter()
    record.adapter = planned.adapter ? describeAdapter(planned.adapter) : `unavailable: ${planned.unavailable}`
  }
  return record
}

/**
 * Selects the planned backend in a stage, failing if another one came up, or (webgpu) another
 * adapter than the plan probed: the fingerprint would lie, and GPU results would stand in for
 * another GPU's or wasm's.
 */
export const useBackend = async (request: BackendRequest, ctx: StageContext<unknown, unknown>) => {
  const { selectBackend, formatBackend } = await import("../ml/backend.ts")
  const planned = plannedBackend(request)
  const info = await selectBackend(planned.backend as BackendRequest)
  if (planned.adapter !== undefined && info.adapter !== undefined && describeAdapter(info.adapter) !== planned.adapter) {
    throw new Error(`the plan was fingerprinted for adapter ${planned.adapter} but this process opened ${describeAdapter(info.adapter)}`)
  }
  if (planned["wasm-fma"] !== undefined && info.versions["wasm-fma"] !== planned["wasm-fma"]) {
    throw new Error(`the plan was fingerprinted for wasm FMA kernels "${planned["wasm-fma"]}" but this process has "${info.versions["wasm-fma"]}" (is TRANSFUSION_WASM_FMA set differently for the workers?)`)
  }
  ctx.log(`backend ${formatBackend(info)}`)
  for (const skipped of info.skipped ?? []) ctx.log(`  not used: ${skipped}`)
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
