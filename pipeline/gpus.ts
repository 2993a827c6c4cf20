// GPU slots and the devices behind them. A run has N GPU slots (`run --gpus N`, or the
// project's `gpuCount` hook); slot i is served by its own long-lived worker process whose
// environment names the device, so whatever backend the stage loads opens that device and
// no other. The engine only counts and names devices; what a backend does with them is the
// project's business.
import { readdirSync } from "node:fs"

/**
 * The environment of a worker for these GPU slots (none: a CPU worker keeps the driver's).
 * Slot i is the driver's i-th visible CUDA device: device i, or the i-th entry of a
 * CUDA_VISIBLE_DEVICES the driver was started with (as a cluster allocation sets it).
 */
export const gpuEnvironment = (gpus: readonly number[], visible = process.env.CUDA_VISIBLE_DEVICES): Record<string, string> => {
  if (gpus.length === 0) return {}
  const devices = visible?.trim() ? visible.split(",").map((d) => d.trim()) : undefined
  return { TRANSFUSION_GPU_DEVICE: gpus.join(","), CUDA_VISIBLE_DEVICES: gpus.map((i) => devices?.[i] ?? String(i)).join(",") }
}

/**
 * How many GPUs this machine offers a run: the variable `envName` if set (a whole number),
 * else the NVIDIA device files `/dev/nvidia0`, `/dev/nvidia1`, ... (not `nvidiactl` and
 * the like), else 0. Throws on a variable that is not a whole number, naming it.
 */
export const detectGpuCount = (envName: string, env: NodeJS.ProcessEnv = process.env, devDir = "/dev"): number => {
  const given = env[envName]
  if (given !== undefined && given.trim() !== "") {
    if (!/^\d+$/.test(given.trim())) throw new Error(`${envName}=${given} is not a whole number of GPUs (e.g. ${envName}=1, or 0 for none)`)
    return Number(given.trim())
  }
  try {
    return readdirSync(devDir).filter((name) => /^nvidia\d+$/.test(name)).length
  } catch {
    return 0
  }
}
