// Installs the transfusion kernels into the tfjs kernel registry for the wasm backend.
// Idempotent: the registry is process-global, so a second call is a no-op.
import { Conv2D, getKernel, registerKernel, unregisterKernel } from "@tensorflow/tfjs-core"
import type { KernelConfig } from "@tensorflow/tfjs-core"
import { conv2DBackpropFilterWasm, conv2DBackpropInputWasm } from "./wasm-conv-grads.ts"
import { conv2DBackpropFilterFmaWasm, conv2DBackpropInputFmaWasm, conv2DFmaWasm } from "./wasm-fma-conv.ts"
import { fmaSupport } from "./fma-support.ts"
import { maxPoolGradWasm } from "./wasm-maxpool-grad.ts"
import { batchNormTrainingGradWasm, batchNormTrainingWasm } from "./wasm-batch-norm.ts"
import { biasAddGradWasm, biasAddWasm } from "./wasm-bias-add.ts"
import { batchMatMulWasm } from "./wasm-matmul.ts"
import { transposeWasm } from "./wasm-transpose.ts"
import { identityWasm } from "./wasm-identity.ts"
import { captureStockKernels, capturedStockKernel } from "./stock.ts"

type Override = { readonly config: KernelConfig; readonly reason: string }

/** The convolutions: our FMA tile kernels where relaxed SIMD runs, else XNNPACK and its gradient forms. */
export type ConvKernels = "fma" | "xnnpack"

const CONV_KERNELS: Record<ConvKernels, readonly Override[]> = {
  fma: [
    { config: conv2DFmaWasm, reason: "fused multiply-add tiles (relaxed SIMD) beat XNNPACK's mul + add convolution (bench relaxed-fma, training)" },
    { config: conv2DBackpropInputFmaWasm, reason: "the same tiles over the stuffed, padded dy (wasm's own is a scalar loop)" },
    { config: conv2DBackpropFilterFmaWasm, reason: "the same tiles over the forward patches (missing in tfjs-backend-wasm: training a conv net throws)" },
  ],
  xnnpack: [
    { config: conv2DBackpropFilterWasm, reason: "missing in tfjs-backend-wasm (training a conv net throws)" },
    { config: conv2DBackpropInputWasm, reason: "wasm's own is a scalar loop, several times slower than XNNPACK forward conv" },
  ],
}

const OTHER_KERNELS: readonly Override[] = [
  { config: batchMatMulWasm, reason: "wasm's transposeA/transposeB path is ~8x slower than Transpose + its plain product (matMul gradients use it)" },
  { config: transposeWasm, reason: "wasm's own is slow on matrix transposes (3-5x slower than a tiled JS loop); other permutations still use it" },
  { config: maxPoolGradWasm, reason: "wasm's own took ~10% of a CBR training step; one channel-contiguous JS pass is ~3x faster" },
  { config: batchNormTrainingWasm, reason: "training-mode batch norm forward in one kernel (models/batch-norm.ts; ~10 op kernels otherwise)" },
  { config: batchNormTrainingGradWasm, reason: "its backward (dx, dgamma, dbeta) in one kernel (~12 op kernels otherwise)" },
  { config: biasAddWasm, reason: "a conv layer's bias add (models/conv.ts) without the tape's input copies" },
  { config: biasAddGradWasm, reason: "its bias gradient in one pass (wasm's Sum over leading axes transposes first)" },
  { config: identityWasm, reason: "shares the data as the cpu backend does; wasm's copies it (the tape clones every saved input: 12% of a ResNet-50 mini step)" },
]

/** Kernels this project adds to or replaces in tfjs-backend-wasm 4.22.0, with why. */
export const wasmKernelOverrides = (conv: ConvKernels): readonly Override[] => [...CONV_KERNELS[conv], ...OTHER_KERNELS]

/** The convolutions this process runs by default: FMA where fmaSupport() finds relaxed SIMD. */
export const defaultConvKernels = (): ConvKernels => ("mode" in fmaSupport() ? "fma" : "xnnpack")

/**
 * Registers every override; returns the kernel names now served by transfusion code.
 * `conv` switches the convolutions (benches and tests compare both in one process).
 */
export const registerWasmKernels = (conv: ConvKernels = defaultConvKernels()): string[] => {
  captureStockKernels([...CONV_KERNELS.fma, ...CONV_KERNELS.xnnpack, ...OTHER_KERNELS].map((o) => o.config))
  // The XNNPACK set has no Conv2D of ours: wasm's own goes back in.
  const stock = capturedStockKernel(Conv2D)
  if (conv === "xnnpack" && stock !== undefined && getKernel(Conv2D, "wasm") !== stock) {
    unregisterKernel(stock.kernelName, "wasm")
    registerKernel(stock)
  }
  const overrides = wasmKernelOverrides(conv)
  for (const { config } of overrides) {
    const installed = getKernel(config.kernelName, "wasm")
    if (installed === config) continue
    if (installed !== undefined) unregisterKernel(config.kernelName, "wasm")
    registerKernel(config)
  }
  return overrides.map(({ config }) => config.kernelName)
}
