// Which WebGPU adapter this machine would give, found without creating a GPU device in this
// process: plan-time fingerprints need the adapter's identity (GPU and wasm results must
// never stand in for each other), and planning must not load tfjs or hold a GPU. A child
// process asks Dawn for its default adapter and prints GPUAdapterInfo; no device is created.
import { spawnSync } from "node:child_process"
import { existsSync, readdirSync } from "node:fs"
import { createRequire } from "node:module"
import { pathToFileURL } from "node:url"
import type { AdapterIdentity } from "./backend-names.ts"

export type AdapterProbe = { readonly adapter: AdapterIdentity } | { readonly unavailable: string }

/** Where the Vulkan loader looks for driver manifests (VK_DRIVER_FILES / VK_ICD_FILENAMES override them). */
const ICD_DIRS = ["/etc/vulkan/icd.d", "/usr/local/share/vulkan/icd.d", "/usr/share/vulkan/icd.d"]

const vulkanDrivers = (env: NodeJS.ProcessEnv): string[] => {
  const listed = env.VK_DRIVER_FILES ?? env.VK_ICD_FILENAMES
  if (listed) return listed.split(":").filter((f) => f !== "" && existsSync(f))
  return ICD_DIRS.flatMap((d) => (existsSync(d) ? readdirSync(d).filter((f) => f.endsWith(".json")).map((f) => `${d}/${f}`) : []))
}

/** Why Dawn cannot find a Vulkan device here, when that is clear without loading it (no driver manifest on Linux). */
export const missingVulkanDriver = (env: NodeJS.ProcessEnv = process.env): string | undefined => {
  if (process.platform !== "linux" || vulkanDrivers(env).length > 0) return undefined
  const listed = env.VK_DRIVER_FILES !== undefined ? "VK_DRIVER_FILES" : env.VK_ICD_FILENAMES !== undefined ? "VK_ICD_FILENAMES" : undefined
  return `no Vulkan driver (${listed ? `${listed} names no existing manifest` : `no ICD manifest in ${ICD_DIRS.join(", ")}`}); see README, GPU`
}

/** Dawn's CPU implementations: lavapipe (llvmpipe) and SwiftShader. */
export const isSoftwareAdapter = (info: { architecture?: string; device?: string; description?: string; isFallbackAdapter?: boolean }): boolean =>
  info.isFallbackAdapter === true || info.architecture === "software" || /llvmpipe|lavapipe|swiftshader/i.test(`${info.device} ${info.description}`)

// Runs in the child: the adapter Dawn gives for the options tfjs-backend-webgpu uses.
const childScript = (webgpuEntry: string) => `
import { create } from ${JSON.stringify(pathToFileURL(webgpuEntry).href)}
const adapter = await create([]).requestAdapter({ powerPreference: "high-performance" })
const i = adapter?.info
process.stdout.write(JSON.stringify(i ? { vendor: i.vendor, architecture: i.architecture, device: i.device, description: i.description, isFallbackAdapter: i.isFallbackAdapter } : null))
process.exit(0)
`

const require = createRequire(import.meta.url)

/** One probe per process: the answer cannot change while it runs. */
let probed: AdapterProbe | undefined

export const probeWebgpuAdapter = (env: NodeJS.ProcessEnv = process.env): AdapterProbe => (probed ??= runProbe(env))

const runProbe = (env: NodeJS.ProcessEnv): AdapterProbe => {
  let entry: string
  try {
    entry = require.resolve("webgpu")
  } catch {
    return { unavailable: "the webgpu package (Dawn for Node) is not installed" }
  }
  const missing = missingVulkanDriver(env)
  if (missing) return { unavailable: missing }
  const child = spawnSync(process.execPath, ["--input-type=module", "-e", childScript(entry)], { encoding: "utf8", timeout: 60_000, env })
  if (child.error) return { unavailable: `the adapter probe failed to run: ${child.error.message}` }
  if (child.status !== 0) return { unavailable: `the adapter probe exited ${child.status ?? child.signal}: ${(child.stderr.trim().split("\n").pop() ?? "").slice(0, 200)}` }
  const info = JSON.parse(child.stdout.trim().split("\n").pop() ?? "null") as Record<string, string | boolean | undefined> | null
  if (info === null) return { unavailable: "Dawn found no Vulkan adapter (the installed Vulkan driver offers no device Dawn accepts)" }
  return { adapter: adapterIdentity(info) }
}

export const adapterIdentity = (info: { vendor?: unknown; architecture?: unknown; device?: unknown; description?: unknown; isFallbackAdapter?: unknown }): AdapterIdentity => ({
  vendor: String(info.vendor ?? ""),
  architecture: String(info.architecture ?? ""),
  device: String(info.device ?? ""),
  description: String(info.description ?? ""),
  software: isSoftwareAdapter(info as never),
})
