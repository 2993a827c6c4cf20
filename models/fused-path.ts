// Which path the training-mode layers with wasm kernels of their own take (batch norm in
// models/batch-norm.ts, the conv bias add in models/conv.ts): "auto" = those kernels on
// the wasm backend when registered, the stock ops elsewhere; "ops" = the stock ops
// everywhere. Process-wide, as the kernel registry is; benches and tests set "ops" to
// compare both paths in one run.
import * as tf from "@tensorflow/tfjs-core"

export type LayerPath = "auto" | "ops"

let current: LayerPath = "auto"

/** Sets the path from now on and returns the previous one. */
export const setLayerPath = (path: LayerPath): LayerPath => {
  const previous = current
  current = path
  return previous
}

/** Whether a layer with its own wasm kernel `kernelName` runs it now. */
export const runsWasmKernel = (kernelName: string, path: LayerPath = current): boolean =>
  path === "auto" && tf.getBackend() === "wasm" && tf.getKernel(kernelName, "wasm") !== undefined
