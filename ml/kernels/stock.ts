// wasm's own kernels that ours replace but still call for the cases they leave to them
// (transposed products, general permutations, dilated convolutions, strings), captured from
// the registry by registerWasmKernels before it installs ours.
import { getKernel } from "@tensorflow/tfjs-core"
import type { KernelConfig } from "@tensorflow/tfjs-core"

const stock = new Map<string, KernelConfig>()

/** Remembers the registered wasm kernel of each name unless it is one of `ours` (a re-registration). */
export const captureStockKernels = (ours: readonly KernelConfig[]): void => {
  const mine = new Set(ours)
  for (const config of ours) {
    const current = getKernel(config.kernelName, "wasm")
    if (current !== undefined && !mine.has(current)) stock.set(config.kernelName, current)
  }
}

/** wasm's own kernel of that name, if it has one and it was captured. */
export const capturedStockKernel = (name: string): KernelConfig | undefined => stock.get(name)

/** wasm's own kernel of that name; throws if registerWasmKernels() has not captured it. */
export const stockKernel = (name: string): KernelConfig => {
  const k = stock.get(name)
  if (k === undefined) throw new Error(`transfusion ${name} used before registerWasmKernels() captured wasm's own kernel`)
  return k
}
