// Convolution gradients for the tfjs wasm backend, written as forward convolutions
// (or, for 1x1 filters, matrix products) so that they run on XNNPACK instead of a
// scalar loop. Where relaxed SIMD runs, the FMA kernels (wasm-fma-conv.ts) serve instead;
// these are the fallback (no relaxed SIMD, or TRANSFUSION_WASM_FMA=0).
//
// tfjs-backend-wasm 4.22.0 has no Conv2DBackpropFilter at all (training any conv net
// throws "Kernel 'Conv2DBackpropFilter' not registered"), and its Conv2DBackpropInput
// is a plain C++ loop several times slower than the forward conv of the same size.
//
// Both kernels call other wasm kernels (Conv2D, BatchMatMul, Transpose, MaxPool,
// PadV2, Slice, Reshape) through the kernel registry, plus one JS loop on the wasm
// heap, so every intermediate lives in the wasm heap and is released with
// backend.disposeData. They touch engine internals (backend.disposeData,
// makeOutput, typedArrayFromHeap, the kernel registry); tfjs is pinned at 4.22.0.
import {
  backend_util,
  Conv2D,
  Conv2DBackpropFilter,
  Conv2DBackpropInput,
  getKernel,
  MaxPool,
  PadV2,
  Reshape,
  Slice,
  Transpose,
} from "@tensorflow/tfjs-core"
import type { KernelConfig, KernelFunc, NamedAttrMap, TensorInfo } from "@tensorflow/tfjs-core"
import { matMulOnWasm } from "./wasm-matmul.ts"

/** The part of the wasm backend these kernels use (BackendWasm is not exported as a value we need). */
interface WasmBackendLike {
  disposeData(dataId: object, force?: boolean): boolean
  makeOutput(shape: number[], dtype: "float32"): TensorInfo
  typedArrayFromHeap(info: TensorInfo): Float32Array | Int32Array | Uint8Array
}

type Pad4 = [[number, number], [number, number], [number, number], [number, number]]

/** Calls an already registered wasm kernel directly (no tape, no engine bookkeeping). */
const call = (backend: WasmBackendLike, name: string, inputs: Record<string, TensorInfo>, attrs: NamedAttrMap): TensorInfo => {
  const kernel = getKernel(name, "wasm")
  if (kernel === undefined) throw new Error(`wasm kernel '${name}' is not registered; load @tensorflow/tfjs-backend-wasm before registering the transfusion kernels`)
  return kernel.kernelFunc({ inputs, backend: backend as never, attrs }) as TensorInfo
}

const free = (backend: WasmBackendLike, ...infos: TensorInfo[]): void => {
  for (const info of infos) backend.disposeData(info.dataId)
}

/**
 * dW[a, b, ci, co] = sum over n, i, j of x[n, i*s + a - padTop, j*s + b - padLeft, ci] * dy[n, i, j, co].
 * Read with ci as the batch and n as the channel, that is a forward convolution of x^T
 * ([Ci, H, W, N]) with dy^T ([Ho, Wo, N, Co]) as the filter, dilated by the stride,
 * whose output ([Ci, kh, kw, Co]) is dW with its first axis moved.
 */
export const conv2dBackpropFilterByForwardConv = (
  backend: WasmBackendLike,
  x: TensorInfo,
  dy: TensorInfo,
  filterShape: [number, number, number, number],
  strides: [number, number] | number,
  pad: Conv2DBackpropFilterPad,
  dimRoundingMode?: "floor" | "round" | "ceil",
): TensorInfo => {
  const info = backend_util.computeConv2DInfo(x.shape as [number, number, number, number], filterShape, strides, 1, pad, dimRoundingMode, false, "channelsLast")
  const { inHeight, inWidth, outHeight, outWidth, strideHeight, strideWidth, filterHeight, filterWidth } = info
  if (filterHeight === 1 && filterWidth === 1 && info.padInfo.top === 0 && info.padInfo.left === 0) {
    return conv1x1BackpropFilter(backend, x, dy, info)
  }
  const top = info.padInfo.top, left = info.padInfo.left
  // The rows/cols of (padded) x that the last output position still reaches; beyond them x is unused.
  let bottom = (outHeight - 1) * strideHeight + filterHeight - inHeight - top
  let right = (outWidth - 1) * strideWidth + filterWidth - inWidth - left
  const temps: TensorInfo[] = []
  let xUsed = x
  if (bottom < 0 || right < 0) {
    const h = inHeight + Math.min(bottom, 0), w = inWidth + Math.min(right, 0)
    xUsed = call(backend, Slice, { x }, { begin: [0, 0, 0, 0], size: [x.shape[0], h, w, x.shape[3]] })
    temps.push(xUsed)
    bottom = Math.max(bottom, 0)
    right = Math.max(right, 0)
  }
  const xT = call(backend, Transpose, { x: xUsed }, { perm: [3, 1, 2, 0] })
  const dyT = call(backend, Transpose, { x: dy }, { perm: [1, 2, 0, 3] })
  temps.push(xT, dyT)
  const explicit: Pad4 = [[0, 0], [top, bottom], [left, right], [0, 0]]
  const dwT = call(backend, Conv2D, { x: xT, filter: dyT }, {
    strides: [1, 1], pad: explicit as never, dataFormat: "NHWC", dilations: [strideHeight, strideWidth], dimRoundingMode: undefined as never,
  })
  temps.push(dwT)
  const dw = call(backend, Transpose, { x: dwT }, { perm: [1, 2, 0, 3] })
  free(backend, ...temps)
  return dw
}

// An im2col form of the KxK filter gradient (the transposed patch matrix gathered in JS on
// the heap, then one XNNPACK product with dy) was tried against this one on 2026-12-04
// (2-core EPYC, batch 16, whole training steps, paths alternating): slower in every mini
// model (ResNet-50 40 px x0.125 67.9 vs 62.2 ms/step, Inception-v3 75 px 93.8 vs 81.0,
// CBR-Small 40 px 36.5 vs 20.7) and at width 1 for CBR-Small 32 px (377.9 vs 343.9); only
// ResNet-50 64 px at width 1 gained 3% (2095 vs 2159). So the forward convolution stays.

// A 1x1 convolution is a matrix product over positions (M = N * Ho * Wo):
// y[M, Co] = x_s[M, Ci] w[Ci, Co], with x_s the strided subsample of x. Its gradients
// are products too; as convolutions they ran 3-8x slower than the forward pass
// (dy as a huge dilated filter; 4x zero-stuffed dy for stride 2).
type ConvInfo = backend_util.Conv2DInfo

const conv1x1BackpropFilter = (backend: WasmBackendLike, x: TensorInfo, dy: TensorInfo, info: ConvInfo): TensorInfo => {
  const { batchSize, inChannels, outHeight, outWidth, outChannels, strideHeight, strideWidth } = info
  const m = batchSize * outHeight * outWidth
  const temps: TensorInfo[] = []
  let xs = x
  if (strideHeight > 1 || strideWidth > 1) {
    // A 1x1 max pool is the strided subsample; wasm's StridedSlice was ~100x slower.
    xs = call(backend, MaxPool, { x }, { filterSize: [1, 1], strides: [strideHeight, strideWidth], pad: "valid", dimRoundingMode: undefined as never })
    temps.push(xs)
  }
  const x2 = call(backend, Reshape, { x: xs }, { shape: [m, inChannels] })
  const dy2 = call(backend, Reshape, { x: dy }, { shape: [m, outChannels] })
  temps.push(x2, dy2)
  let dw2: TensorInfo
  if (inChannels <= outChannels) {
    dw2 = matMulOnWasm(backend, x2, dy2, true, false) // x^T dy: transposes the smaller operand
  } else {
    const dwT = matMulOnWasm(backend, dy2, x2, true, false) // (dy^T x)^T
    temps.push(dwT)
    dw2 = call(backend, Transpose, { x: dwT }, { perm: [1, 0] })
  }
  temps.push(dw2)
  const dw = call(backend, Reshape, { x: dw2 }, { shape: [1, 1, inChannels, outChannels] })
  free(backend, ...temps)
  return dw
}

const conv1x1BackpropInput = (backend: WasmBackendLike, dy: TensorInfo, filter: TensorInfo, info: ConvInfo): TensorInfo => {
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels, strideHeight, strideWidth } = info
  const m = batchSize * outHeight * outWidth
  const dy2 = call(backend, Reshape, { x: dy }, { shape: [m, outChannels] })
  const w2 = call(backend, Reshape, { x: filter }, { shape: [inChannels, outChannels] })
  const dx2 = matMulOnWasm(backend, dy2, w2, false, true)
  free(backend, dy2, w2)
  if (strideHeight === 1 && strideWidth === 1) {
    const dx = call(backend, Reshape, { x: dx2 }, { shape: [batchSize, inHeight, inWidth, inChannels] })
    free(backend, dx2)
    return dx
  }
  // Every stride-th position got a gradient; the rest of dx is zero.
  const r6 = call(backend, Reshape, { x: dx2 }, { shape: [batchSize, outHeight, 1, outWidth, 1, inChannels] })
  const p6 = call(backend, PadV2, { x: r6 }, { paddings: [[0, 0], [0, 0], [0, strideHeight - 1], [0, 0], [0, strideWidth - 1], [0, 0]], constantValue: 0 })
  const r4 = call(backend, Reshape, { x: p6 }, { shape: [batchSize, outHeight * strideHeight, outWidth * strideWidth, inChannels] })
  const dx = call(backend, Slice, { x: r4 }, { begin: [0, 0, 0, 0], size: [batchSize, inHeight, inWidth, inChannels] })
  free(backend, dx2, r6, p6, r4)
  return dx
}

/**
 * out[a, b, co, ci] = w[kh-1-a, kw-1-b, ci, co], written straight into the wasm heap.
 * wasm's Reverse kernel took 40 ms on a 5x5x128x256 filter; this loop takes about 1 ms.
 */
export const rotateFilter = (backend: WasmBackendLike, filter: TensorInfo): TensorInfo => {
  const [kh, kw, ci, co] = filter.shape as [number, number, number, number]
  const out = backend.makeOutput([kh, kw, co, ci], "float32")
  // Views after makeOutput: allocating may grow (and detach) the heap.
  const src = backend.typedArrayFromHeap(filter) as Float32Array
  const dst = backend.typedArrayFromHeap(out) as Float32Array
  rotateInto(new Float32Array(src.buffer), src.byteOffset >>> 2, dst.byteOffset >>> 2, kh, kw, ci, co, ci)
  return out
}

/**
 * The rotation on a heap view: the [kh, kw, ci, co] filter at float index `src` into rows of
 * `ld` >= ci floats from float index `dst` ([kh, kw, co, ld], zeros past ci). The (ci, co)
 * transpose goes in 32 x 32 tiles so that reads and writes both stay in cache.
 */
export const rotateInto = (heap: Float32Array, src: number, dst: number, kh: number, kw: number, ci: number, co: number, ld: number): void => {
  const taps = kh * kw, plane = ci * co, tile = 32
  if (ld !== ci) heap.fill(0, dst, dst + taps * co * ld)
  for (let t = 0; t < taps; t++) {
    const s0 = src + (taps - 1 - t) * plane, d0 = dst + t * co * ld
    for (let i0 = 0; i0 < ci; i0 += tile) {
      const i1 = Math.min(i0 + tile, ci)
      for (let o0 = 0; o0 < co; o0 += tile) {
        const o1 = Math.min(o0 + tile, co)
        for (let i = i0; i < i1; i++) {
          const si = s0 + i * co
          for (let o = o0; o < o1; o++) heap[d0 + o * ld + i] = heap[si + o]!
        }
      }
    }
  }
}

/**
 * The padding of dy (zero-stuffed by the stride) whose full correlation with the rotated
 * filter is dx: k - 1 - pad before, the rest after. Both input-gradient forms use it.
 */
export const inputGradPadding = (info: backend_util.Conv2DInfo): { top: number; left: number; bottom: number; right: number } => {
  const { inHeight, inWidth, outHeight, outWidth, strideHeight, strideWidth, filterHeight, filterWidth } = info
  const top = filterHeight - 1 - info.padInfo.top, left = filterWidth - 1 - info.padInfo.left
  const stuffedH = (outHeight - 1) * strideHeight + 1, stuffedW = (outWidth - 1) * strideWidth + 1
  const bottom = inHeight + filterHeight - 1 - stuffedH - top
  const right = inWidth + filterWidth - 1 - stuffedW - left
  if (top < 0 || left < 0 || bottom < 0 || right < 0) {
    throw new Error(`Conv2DBackpropInput: padding ${JSON.stringify(info.padInfo)} larger than the filter is not supported by the transfusion wasm kernel`)
  }
  return { top, left, bottom, right }
}

export type Conv2DBackpropFilterPad = "valid" | "same" | number | backend_util.ExplicitPadding

/**
 * dx is the "full" correlation of dy (zero-stuffed by the stride) with the filter
 * rotated 180 degrees and its in/out channels swapped.
 */
export const conv2dBackpropInputByForwardConv = (
  backend: WasmBackendLike,
  dy: TensorInfo,
  filter: TensorInfo,
  inputShape: [number, number, number, number],
  strides: [number, number] | number,
  pad: Conv2DBackpropFilterPad,
  dimRoundingMode?: "floor" | "round" | "ceil",
): TensorInfo => {
  const fShape = filter.shape as [number, number, number, number]
  const info = backend_util.computeConv2DInfo(inputShape, fShape, strides, 1, pad, dimRoundingMode, false, "channelsLast")
  const { outHeight, outWidth, strideHeight, strideWidth, filterHeight, filterWidth, batchSize, outChannels } = info
  if (filterHeight === 1 && filterWidth === 1 && info.padInfo.top === 0 && info.padInfo.left === 0) {
    return conv1x1BackpropInput(backend, dy, filter, info)
  }
  const { top, left, bottom, right } = inputGradPadding(info)
  const temps: TensorInfo[] = []
  let stuffed = dy
  if (strideHeight > 1 || strideWidth > 1) {
    // [N, Ho, 1, Wo, 1, C] padded to [N, Ho, sh, Wo, sw, C] puts s-1 zeros after every dy value.
    const r6 = call(backend, Reshape, { x: dy }, { shape: [batchSize, outHeight, 1, outWidth, 1, outChannels] })
    const p6 = call(backend, PadV2, { x: r6 }, { paddings: [[0, 0], [0, 0], [0, strideHeight - 1], [0, 0], [0, strideWidth - 1], [0, 0]], constantValue: 0 })
    const r4 = call(backend, Reshape, { x: p6 }, { shape: [batchSize, outHeight * strideHeight, outWidth * strideWidth, outChannels] })
    // Reshape shares data with its input, so only the padded buffer is a real allocation.
    free(backend, r6)
    stuffed = call(backend, Slice, { x: r4 }, { begin: [0, 0, 0, 0], size: [batchSize, (outHeight - 1) * strideHeight + 1, (outWidth - 1) * strideWidth + 1, outChannels] })
    free(backend, p6, r4)
    temps.push(stuffed)
  }
  const rotated = rotateFilter(backend, filter)
  temps.push(rotated)
  const explicit: Pad4 = [[0, 0], [top, bottom], [left, right], [0, 0]]
  const dx = call(backend, Conv2D, { x: stuffed, filter: rotated }, {
    strides: [1, 1], pad: explicit as never, dataFormat: "NHWC", dilations: [1, 1], dimRoundingMode: undefined as never,
  })
  free(backend, ...temps)
  return dx
}

export const assertNhwc = (kernel: string, dataFormat: unknown): void => {
  if (dataFormat !== undefined && dataFormat !== "NHWC" && dataFormat !== "channelsLast") {
    throw new Error(`${kernel} on wasm supports only NHWC (channelsLast) data, got dataFormat '${String(dataFormat)}'`)
  }
}

export const conv2DBackpropFilterWasm: KernelConfig = {
  kernelName: Conv2DBackpropFilter,
  backendName: "wasm",
  kernelFunc: (({ inputs, backend, attrs }) => {
    const a = attrs as unknown as { strides: [number, number] | number; pad: Conv2DBackpropFilterPad; dataFormat: string; dimRoundingMode?: "floor" | "round" | "ceil"; filterShape: [number, number, number, number] }
    assertNhwc(Conv2DBackpropFilter, a.dataFormat)
    return conv2dBackpropFilterByForwardConv(backend as unknown as WasmBackendLike, inputs.x!, inputs.dy!, a.filterShape, a.strides, a.pad, a.dimRoundingMode)
  }) as KernelFunc,
}

export const conv2DBackpropInputWasm: KernelConfig = {
  kernelName: Conv2DBackpropInput,
  backendName: "wasm",
  kernelFunc: (({ inputs, backend, attrs }) => {
    const a = attrs as unknown as { strides: [number, number] | number; pad: Conv2DBackpropFilterPad; dataFormat: string; dimRoundingMode?: "floor" | "round" | "ceil"; inputShape: [number, number, number, number] }
    assertNhwc(Conv2DBackpropInput, a.dataFormat)
    return conv2dBackpropInputByForwardConv(backend as unknown as WasmBackendLike, inputs.dy!, inputs.filter!, a.inputShape, a.strides, a.pad, a.dimRoundingMode)
  }) as KernelFunc,
}

