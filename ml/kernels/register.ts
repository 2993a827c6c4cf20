// Installs the transfusion kernels into the tfjs kernel registry for the wasm backend.
// Idempotent: the registry is process-global, so a second call is a no-op.
import { getKernel, registerKernel, unregisterKernel } from "@tensorflow/tfjs-core"
import type { KernelConfig } from "@tensorflow/tfjs-core"
import { conv2DBackpropFilterWasm, conv2DBackpropInputWasm } from "./wasm-conv-grads.ts"
import { maxPoolGradWasm } from "./wasm-maxpool-grad.ts"
import { batchNormTrainingGradWasm, batchNormTrainingWasm } from "./wasm-batch-norm.ts"
import { biasAddGradWasm, biasAddWasm } from "./wasm-bias-add.ts"
import { batchMatMulWasm, captureStockBatchMatMul } from "./wasm-matmul.ts"
import { captureStockTranspose, transposeWasm } from "./wasm-transpose.ts"

/** Kernels this project adds to or replaces in tfjs-backend-wasm 4.22.0, with why. */
export const wasmKernelOverrides: ReadonlyArray<{ config: KernelConfig; reason: string }> = [
  { config: conv2DBackpropFilterWasm, reason: "missing in tfjs-backend-wasm (training a conv net throws)" },
  { config: conv2DBackpropInputWasm, reason: "wasm's own is a scalar loop, several times slower than XNNPACK forward conv" },
  { config: batchMatMulWasm, reason: "wasm's transposeA/transposeB path is ~8x slower than Transpose + its plain product (matMul gradients use it)" },
  { config: transposeWasm, reason: "wasm's own is slow on matrix transposes (3-5x slower than a tiled JS loop); other permutations still use it" },
  { config: maxPoolGradWasm, reason: "wasm's own took ~10% of a CBR training step; one channel-contiguous JS pass is ~3x faster" },
  { config: batchNormTrainingWasm, reason: "training-mode batch norm forward in one kernel (models/batch-norm.ts; ~10 op kernels otherwise)" },
  { config: batchNormTrainingGradWasm, reason: "its backward (dx, dgamma, dbeta) in one kernel (~12 op kernels otherwise)" },
  { config: biasAddWasm, reason: "a conv layer's bias add (models/conv.ts) without the tape's input copies" },
  { config: biasAddGradWasm, reason: "its bias gradient in one pass (wasm's Sum over leading axes transposes first)" },
]

/** Registers every override; returns the kernel names now served by transfusion code. */
export const registerWasmKernels = (): string[] => {
  captureStockBatchMatMul()
  captureStockTranspose()
  for (const { config } of wasmKernelOverrides) {
    const current = getKernel(config.kernelName, "wasm")
    if (current === config) continue
    if (current !== undefined) unregisterKernel(config.kernelName, "wasm")
    registerKernel(config)
  }
  return wasmKernelOverrides.map(({ config }) => config.kernelName)
}
