// A conv layer's bias add on the wasm backend (models/conv.ts) as two kernels of JS passes
// over the wasm heap, channels last:
//   forward:  y = x + bias, one pass (the same float32 sums as wasm's broadcasting Add);
//   backward: dbias = the per-channel sum of dy over batch and space, one pass; dx is dy
//             itself, no kernel.
// The op path (tf.add) keeps copies of both inputs for the tape (two Identity kernels)
// and its gradient is a Sum over the leading axes, which wasm runs as a transpose then a
// sum, plus a Reshape: ~5 kernel calls per conv layer become 2. The sum accumulates in
// float64 and rounds once (wasm's Sum adds in float32), so dbias agrees to float32 rounding.
import type { KernelConfig, KernelFunc, TensorInfo } from "@tensorflow/tfjs-core"
// Blocks of rows that fit in L1, one channel at a time within a block.
import { BLOCK_ELEMENTS } from "./wasm-batch-norm.ts"

export const BIAS_ADD = "TransfusionBiasAdd"
export const BIAS_ADD_GRAD = "TransfusionBiasAddGrad"

interface WasmHeapBackend {
  makeOutput(shape: number[], dtype: "float32"): TensorInfo
  typedArrayFromHeap(info: TensorInfo): Float32Array | Int32Array | Uint8Array
}

/** y = x + bias per channel (x [m, C] row-major), rounded to float32 on store as Add does. */
export const addBias = (x: Float32Array, bias: Float32Array, y: Float32Array): void => {
  const C = bias.length, n = x.length
  const block = Math.max(1, Math.floor(BLOCK_ELEMENTS / C)) * C
  for (let r0 = 0; r0 < n; r0 += block) {
    const r1 = Math.min(n, r0 + block)
    for (let c = 0; c < C; c++) {
      const b = bias[c]!
      for (let i = r0 + c; i < r1; i += C) y[i] = x[i]! + b
    }
  }
}

/** Per-channel sums of dy ([m, C] row-major) into `out` ([C]). */
export const channelSums = (dy: Float32Array, out: Float32Array): void => {
  const C = out.length, n = dy.length
  const block = Math.max(1, Math.floor(BLOCK_ELEMENTS / C)) * C
  const acc = new Float64Array(C)
  for (let r0 = 0; r0 < n; r0 += block) {
    const r1 = Math.min(n, r0 + block)
    for (let c = 0; c < C; c++) {
      let a = 0
      for (let i = r0 + c; i < r1; i += C) a += dy[i]!
      acc[c] += a
    }
  }
  out.set(acc)
}

const floatInput = (kernel: string, name: string, t: TensorInfo | undefined): TensorInfo => {
  if (t === undefined || t.dtype !== "float32") throw new Error(`${kernel}: input ${name} must be a float32 tensor (got ${t?.dtype ?? "none"})`)
  return t
}

/** Inputs x (channels last), bias ([C]). Output y (x's shape). */
export const biasAddWasm: KernelConfig = {
  kernelName: BIAS_ADD,
  backendName: "wasm",
  kernelFunc: (({ inputs, backend }) => {
    const heap = backend as unknown as WasmHeapBackend
    const x = floatInput(BIAS_ADD, "x", inputs.x), bias = floatInput(BIAS_ADD, "bias", inputs.bias)
    const channels = x.shape[x.shape.length - 1]
    if (bias.shape.length !== 1 || bias.shape[0] !== channels) throw new Error(`${BIAS_ADD}: bias has shape [${bias.shape.join(", ")}] but x has ${channels} channels`)
    const y = heap.makeOutput([...x.shape], "float32")
    // Views only after makeOutput: allocation may grow the heap and detach older views.
    const view = (t: TensorInfo) => heap.typedArrayFromHeap(t) as Float32Array
    addBias(view(x), view(bias), view(y))
    return y
  }) as KernelFunc,
}

/** Input dy (channels last). Output dbias ([C]). */
export const biasAddGradWasm: KernelConfig = {
  kernelName: BIAS_ADD_GRAD,
  backendName: "wasm",
  kernelFunc: (({ inputs, backend }) => {
    const heap = backend as unknown as WasmHeapBackend
    const dy = floatInput(BIAS_ADD_GRAD, "dy", inputs.dy)
    const dbias = heap.makeOutput([dy.shape[dy.shape.length - 1]!], "float32")
    const view = (t: TensorInfo) => heap.typedArrayFromHeap(t) as Float32Array
    channelSums(view(dy), view(dbias))
    return dbias
  }) as KernelFunc,
}
