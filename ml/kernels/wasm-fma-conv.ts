// Convolution forward and both gradients for the wasm backend on this project's FMA tile
// kernels (fma-gemm.ts), where relaxed SIMD is available (fmaSupport); otherwise XNNPACK's
// convolution and wasm-conv-grads.ts serve, as before.
//
// Every convolution here is one forward pass of the tile kernel over a (zero-padded) NHWC
// input, or the filter-gradient pass over the same patches:
//   Conv2D:                 x padded by the layer's padding, filter as is;
//   Conv2DBackpropInput:    dy zero-stuffed by the stride and padded by (k - 1 - pad), with
//                           the filter rotated 180 degrees and its channels swapped; a 1x1
//                           filter needs neither: dy times the filter's transpose, scattered
//                           to every stride-th pixel;
//   Conv2DBackpropFilter:   the forward pass's patches against dy.
// Channel counts not divisible by 4 are padded with zeros in scratch copies (the tiles are 4
// or 8 channels wide). Scratch lives on the wasm heap (the backend's malloc) for one call.
// Sums run in a fixed order that depends on shapes only, so results are deterministic; they
// differ from XNNPACK's in rounding (different order, and fused multiply-adds).
import { backend_util, Conv2D, Conv2DBackpropFilter, Conv2DBackpropInput } from "@tensorflow/tfjs-core"
import type { KernelConfig, KernelFunc, TensorInfo } from "@tensorflow/tfjs-core"
import type { WasmMemory } from "../../analysis/wasm.ts"
import { fmaKernels, MR, NR_NARROW, NR_WIDE, type FmaKernels } from "./fma-gemm.ts"
import { assertNhwc, inputGradPadding, rotateInto, type Conv2DBackpropFilterPad } from "./wasm-conv-grads.ts"
import { stockKernel } from "./stock.ts"

/** The part of tfjs-backend-wasm 4.22.0 these kernels use: its heap, allocator and outputs. */
interface WasmHeapBackend {
  wasm: { _malloc(bytes: number): number; _free(address: number): void; asm: { memory: WasmMemory } }
  makeOutput(shape: number[], dtype: "float32"): TensorInfo
  typedArrayFromHeap(info: TensorInfo): Float32Array | Int32Array | Uint8Array
}

type ConvInfo = backend_util.Conv2DInfo

const roundUp4 = (n: number) => Math.ceil(n / 4) * 4

/** One call's scratch blocks on the wasm heap; views are taken after the last allocation (growth detaches them). */
class Scratch {
  private readonly blocks: number[] = []
  constructor(private readonly backend: WasmHeapBackend) {}
  /** Byte address of `count` 4-byte elements. */
  alloc(count: number): number {
    const address = this.backend.wasm._malloc(4 * Math.max(1, count)) >>> 0
    if (address === 0) throw new Error(`wasm heap: could not allocate ${4 * count} bytes of convolution scratch`)
    this.blocks.push(address)
    return address
  }
  free(): void {
    for (const address of this.blocks) this.backend.wasm._free(address)
    this.blocks.length = 0
  }
}

const heapViews = (backend: WasmHeapBackend) => {
  const buffer = backend.wasm.asm.memory.buffer
  return { f32: new Float32Array(buffer), i32: new Int32Array(buffer) }
}

const addressOf = (backend: WasmHeapBackend, info: TensorInfo): number => backend.typedArrayFromHeap(info).byteOffset

/** An NHWC image block on the heap: byte address and dimensions (height, width, channels). */
interface Planes { readonly address: number; readonly n: number; readonly h: number; readonly w: number; readonly c: number }

/** Into the int32 table at byte address `tab`: the address of each output pixel's patch (its top-left input value). */
const patchTable = (i32: Int32Array, tab: number, x: Planes, s: number, ho: number, wo: number): void => {
  const pixel = 4 * x.c
  let t = tab >>> 2
  for (let n = 0; n < x.n; n++) for (let i = 0; i < ho; i++) {
    let address = x.address + (n * x.h + i * s) * x.w * pixel
    for (let j = 0; j < wo; j++, address += s * pixel) i32[t++] = address
  }
}

/**
 * The [rows, c] matrix at byte address `src` as column panels at `dst`: the panel of columns
 * n0.. is [rows, 8] (or [rows, 4] for the last one when cP % 8 == 4) from dst + 4 n0 rows,
 * zeros past column c; cP is c rounded up to 4.
 */
const packPanels = (k: FmaKernels, f32: Float32Array, src: number, c: number, dst: number, rows: number): void => {
  const cP = roundUp4(c), whole = Math.floor(c / NR_WIDE)
  if (whole > 0) k.pack8(src, 4 * c, dst, rows, whole)
  for (let n0 = whole * NR_WIDE; n0 < cP; n0 += NR_WIDE) {
    const width = Math.min(NR_WIDE, cP - n0), s0 = src >>> 2
    let d = (dst >>> 2) + n0 * rows
    for (let r = 0; r < rows; r++) {
      const from = s0 + r * c + n0
      for (let j = 0; j < width; j++) f32[d++] = n0 + j < c ? f32[from + j]! : 0
    }
  }
}

/**
 * Forward tile passes: y[m, 0..coP) = sum over (a, b, ci) of x[patch(m) + (a, b, ci)] w[(a, b, ci), ..],
 * for the output pixels of a kh x kw, stride-s correlation of `x` (already padded) with the
 * filter packed as panels at `w` (packPanels of [kh kw ci, co]), into rows of `yld` floats
 * from `y`. The table of patch addresses is built here (int32, in scratch `tab`). One panel
 * at a time, so that it stays in cache while all row tiles pass over it.
 */
const forwardPasses = (k: FmaKernels, i32: Int32Array, tab: number, x: Planes, kh: number, kw: number, s: number, ho: number, wo: number, w: number, coP: number, y: number, yld: number): void => {
  const m = x.n * ho * wo
  patchTable(i32, tab, x, s, ho, wo)
  const m4 = m - (m % MR), co8 = coP - (coP % NR_WIDE)
  const rowStride = 4 * x.w * x.c, kwci = kw * x.c, rows = kh * kwci
  for (let n0 = 0; n0 < coP; n0 += NR_WIDE) {
    const nr = n0 < co8 ? NR_WIDE : NR_NARROW
    const panel = w + 4 * n0 * rows
    if (m4 > 0) k.forward[MR]![nr]!(tab, panel, y + 4 * n0, m4, 4 * yld, kh, kwci, rowStride)
    if (m > m4) k.forward[m - m4]![nr]!(tab + 4 * m4, panel, y + 4 * (m4 * yld + n0), m - m4, 4 * yld, kh, kwci, rowStride)
  }
}

/** The first c of every ld-float row at `src` into the dense [rows, c] block at `dst`. */
const dropColumns = (f32: Float32Array, src: number, dst: number, rows: number, c: number, ld: number): void => {
  const s = src >>> 2, d = dst >>> 2
  for (let r = 0; r < rows; r++) f32.copyWithin(d + r * c, s + r * ld, s + r * ld + c)
}

/**
 * `src` ([n, h, w, c] at a byte address) placed into a zeroed [n, hp, wp, c] block at `dst`
 * with pixel (i, j) at (top + i * s, left + j * s).
 */
const spread = (f32: Float32Array, src: number, dst: number, n: number, h: number, w: number, c: number, hp: number, wp: number, top: number, left: number, s: number): void => {
  const so = src >>> 2, d = dst >>> 2
  f32.fill(0, d, d + n * hp * wp * c)
  for (let b = 0; b < n; b++) for (let i = 0; i < h; i++) {
    const from = so + ((b * h + i) * w) * c
    const to = d + ((b * hp + top + i * s) * wp + left) * c
    if (s === 1) f32.copyWithin(to, from, from + w * c)
    else for (let j = 0; j < w; j++) f32.copyWithin(to + j * s * c, from + j * c, from + j * c + c)
  }
}

/** The layer's input with its padding made explicit (or the input itself when it needs none). */
const paddedInput = (backend: WasmHeapBackend, scratch: Scratch, x: TensorInfo, info: ConvInfo): { planes: Planes; fill?: (f32: Float32Array) => void } => {
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, strideHeight, strideWidth, filterHeight, filterWidth } = info
  const top = info.padInfo.top, left = info.padInfo.left
  // Rows and columns past the input that the last output pixel still reaches are zeros too.
  const bottom = Math.max(0, (outHeight - 1) * strideHeight + filterHeight - inHeight - top)
  const right = Math.max(0, (outWidth - 1) * strideWidth + filterWidth - inWidth - left)
  const source = addressOf(backend, x)
  if (top === 0 && left === 0 && bottom === 0 && right === 0) return { planes: { address: source, n: batchSize, h: inHeight, w: inWidth, c: inChannels } }
  const hp = inHeight + top + bottom, wp = inWidth + left + right
  const address = scratch.alloc(batchSize * hp * wp * inChannels)
  return {
    planes: { address, n: batchSize, h: hp, w: wp, c: inChannels },
    fill: (f32) => spread(f32, source, address, batchSize, inHeight, inWidth, inChannels, hp, wp, top, left, 1),
  }
}

/** The convolution's geometry; the tile kernels take one stride for both axes. */
const convInfo = (kernel: string, xShape: number[], filterShape: number[], strides: [number, number] | number, pad: Conv2DBackpropFilterPad, dimRoundingMode?: "floor" | "round" | "ceil"): ConvInfo => {
  const info = backend_util.computeConv2DInfo(xShape as [number, number, number, number], filterShape as [number, number, number, number], strides, 1, pad, dimRoundingMode, false, "channelsLast")
  if (info.strideHeight !== info.strideWidth) throw new Error(`${kernel} on the FMA kernels needs equal strides, got ${info.strideHeight} x ${info.strideWidth}`)
  return info
}

/** y = conv(x, filter): one forward pass over the padded input. */
export const conv2dFma = (backend: WasmHeapBackend, x: TensorInfo, filter: TensorInfo, info: ConvInfo): TensorInfo => {
  const { batchSize, outHeight, outWidth, outChannels: co, filterHeight: kh, filterWidth: kw, inChannels: ci, strideHeight } = info
  const y = backend.makeOutput([batchSize, outHeight, outWidth, co], "float32")
  const m = batchSize * outHeight * outWidth, coP = roundUp4(co)
  const scratch = new Scratch(backend)
  try {
    const input = paddedInput(backend, scratch, x, info)
    const tab = scratch.alloc(m)
    const padded = coP !== co
    const w = scratch.alloc(kh * kw * ci * coP)
    const out = padded ? scratch.alloc(m * coP) : addressOf(backend, y)
    const k = fmaKernels(backend.wasm.asm.memory)
    const { f32, i32 } = heapViews(backend)
    input.fill?.(f32)
    packPanels(k, f32, addressOf(backend, filter), co, w, kh * kw * ci)
    forwardPasses(k, i32, tab, input.planes, kh, kw, strideHeight, outHeight, outWidth, w, coP, out, coP)
    if (padded) dropColumns(f32, out, addressOf(backend, y), m, co, coP)
  } finally {
    scratch.free()
  }
  return y
}

/** dx for x of `inputShape`: a stride-1 forward pass over dy stuffed and padded, with the rotated filter. */
export const conv2dBackpropInputFma = (backend: WasmHeapBackend, dy: TensorInfo, filter: TensorInfo, info: ConvInfo): TensorInfo => {
  const { batchSize: n, inHeight: h, inWidth: wd, inChannels: ci, outHeight: ho, outWidth: wo, outChannels: co, strideHeight: s, filterHeight: kh, filterWidth: kw } = info
  const dx = backend.makeOutput([n, h, wd, ci], "float32")
  const ciP = roundUp4(ci)
  const scratch = new Scratch(backend)
  try {
    const rotated = scratch.alloc(kh * kw * co * ci), panels = scratch.alloc(kh * kw * co * ciP)
    const k = fmaKernels(backend.wasm.asm.memory)
    if (kh === 1 && kw === 1 && info.padInfo.top === 0 && info.padInfo.left === 0) {
      // dx at every stride-th pixel is dy times the filter's transpose; the others are zero.
      const m = n * ho * wo
      const direct = s === 1 && ciP === ci
      const out = direct ? addressOf(backend, dx) : scratch.alloc(m * ciP)
      const tab = scratch.alloc(m)
      const { f32, i32 } = heapViews(backend)
      rotateInto(f32, addressOf(backend, filter) >>> 2, rotated >>> 2, 1, 1, ci, co, ci)
      packPanels(k, f32, rotated, ci, panels, co)
      forwardPasses(k, i32, tab, { address: addressOf(backend, dy), n, h: ho, w: wo, c: co }, 1, 1, 1, ho, wo, panels, ciP, out, ciP)
      if (s === 1 && !direct) dropColumns(f32, out, addressOf(backend, dx), m, ci, ciP)
      else if (s > 1) {
        const dense = ciP === ci ? out : scratch.alloc(m * ci)
        const views = heapViews(backend).f32 // after the allocation
        if (dense !== out) dropColumns(views, out, dense, m, ci, ciP)
        spread(views, dense, addressOf(backend, dx), n, ho, wo, ci, h, wd, 0, 0, s)
      }
      return dx
    }
    // bottom and right padding follow from the block's size, h + kh - 1 by wd + kw - 1
    const { top, left } = inputGradPadding(info)
    const hp = h + kh - 1, wp = wd + kw - 1
    const stuffed = scratch.alloc(n * hp * wp * co)
    const tab = scratch.alloc(n * h * wd)
    const out = ciP === ci ? addressOf(backend, dx) : scratch.alloc(n * h * wd * ciP)
    const { f32, i32 } = heapViews(backend)
    spread(f32, addressOf(backend, dy), stuffed, n, ho, wo, co, hp, wp, top, left, s)
    rotateInto(f32, addressOf(backend, filter) >>> 2, rotated >>> 2, kh, kw, ci, co, ci)
    packPanels(k, f32, rotated, ci, panels, kh * kw * co)
    forwardPasses(k, i32, tab, { address: stuffed, n, h: hp, w: wp, c: co }, kh, kw, 1, h, wd, panels, ciP, out, ciP)
    if (ciP !== ci) dropColumns(f32, out, addressOf(backend, dx), n * h * wd, ci, ciP)
    return dx
  } finally {
    scratch.free()
  }
}

/** Output pixels per filter-gradient block: their dy panel rows (8 KiB) and patch rows stay in L1/L2 while every k-tile passes. */
const PIXELS_PER_BLOCK = 256

/** dW = the forward patches of x against dy, summed over output pixels in fixed blocks. */
export const conv2dBackpropFilterFma = (backend: WasmHeapBackend, x: TensorInfo, dy: TensorInfo, info: ConvInfo): TensorInfo => {
  const { batchSize, outHeight, outWidth, outChannels: co, filterHeight: kh, filterWidth: kw, inChannels: ci, strideHeight: s } = info
  const dw = backend.makeOutput([kh, kw, ci, co], "float32")
  const m = batchSize * outHeight * outWidth, coP = roundUp4(co), kwci = kw * ci, rows = kh * kwci
  const scratch = new Scratch(backend)
  try {
    const input = paddedInput(backend, scratch, x, info)
    const padded = coP !== co
    const dyPanels = scratch.alloc(m * coP)
    const dwAt = padded ? scratch.alloc(rows * coP) : addressOf(backend, dw)
    const tab = scratch.alloc(m)
    const k = fmaKernels(backend.wasm.asm.memory)
    const { f32, i32 } = heapViews(backend)
    input.fill?.(f32)
    packPanels(k, f32, addressOf(backend, dy), co, dyPanels, m)
    f32.fill(0, dwAt >>> 2, (dwAt >>> 2) + rows * coP)
    const planes = input.planes
    patchTable(i32, tab, planes, s, outHeight, outWidth)
    const kk4 = kwci - (kwci % MR), co8 = coP - (coP % NR_WIDE), rowStride = 4 * planes.w * planes.c, ld = 4 * coP
    for (let p0 = 0; p0 < m; p0 += PIXELS_PER_BLOCK) {
      const p1 = Math.min(m, p0 + PIXELS_PER_BLOCK)
      for (let n0 = 0; n0 < coP; n0 += NR_WIDE) {
        const nr = n0 < co8 ? NR_WIDE : NR_NARROW, panel = dyPanels + 4 * n0 * m
        if (kk4 > 0) k.filterGrad[MR]![nr]!(tab, panel, dwAt + 4 * n0, p0, p1, kh, kwci, 0, kk4, ld, rowStride)
        if (kwci > kk4) k.filterGrad[1]![nr]!(tab, panel, dwAt + 4 * n0, p0, p1, kh, kwci, kk4, kwci, ld, rowStride)
      }
    }
    if (padded) dropColumns(f32, dwAt, addressOf(backend, dw), rows, co, coP)
  } finally {
    scratch.free()
  }
  return dw
}

// ---------------------------------------------------------------- kernel configs

type ConvAttrs = { strides: [number, number] | number; pad: Conv2DBackpropFilterPad; dataFormat: string; dimRoundingMode?: "floor" | "round" | "ceil"; dilations?: [number, number] | number }

export const conv2DFmaWasm: KernelConfig = {
  kernelName: Conv2D,
  backendName: "wasm",
  kernelFunc: ((args) => {
    const { inputs, backend, attrs } = args
    const a = attrs as unknown as ConvAttrs
    assertNhwc(Conv2D, a.dataFormat)
    const dilated = a.dilations !== undefined && (Array.isArray(a.dilations) ? a.dilations.some((d) => d !== 1) : a.dilations !== 1)
    // XNNPACK's own Conv2D keeps the dilated convolutions (the models have none)
    if (dilated) return stockKernel(Conv2D).kernelFunc(args)
    const info = convInfo(Conv2D, inputs.x!.shape, inputs.filter!.shape, a.strides, a.pad, a.dimRoundingMode)
    return conv2dFma(backend as unknown as WasmHeapBackend, inputs.x!, inputs.filter!, info)
  }) as KernelFunc,
}

export const conv2DBackpropInputFmaWasm: KernelConfig = {
  kernelName: Conv2DBackpropInput,
  backendName: "wasm",
  kernelFunc: (({ inputs, backend, attrs }) => {
    const a = attrs as unknown as ConvAttrs & { inputShape: [number, number, number, number] }
    assertNhwc(Conv2DBackpropInput, a.dataFormat)
    const info = convInfo(Conv2DBackpropInput, a.inputShape, inputs.filter!.shape, a.strides, a.pad, a.dimRoundingMode)
    return conv2dBackpropInputFma(backend as unknown as WasmHeapBackend, inputs.dy!, inputs.filter!, info)
  }) as KernelFunc,
}

export const conv2DBackpropFilterFmaWasm: KernelConfig = {
  kernelName: Conv2DBackpropFilter,
  backendName: "wasm",
  kernelFunc: (({ inputs, backend, attrs }) => {
    const a = attrs as unknown as ConvAttrs & { filterShape: [number, number, number, number] }
    assertNhwc(Conv2DBackpropFilter, a.dataFormat)
    const info = convInfo(Conv2DBackpropFilter, inputs.x!.shape, a.filterShape, a.strides, a.pad, a.dimRoundingMode)
    return conv2dBackpropFilterFma(backend as unknown as WasmHeapBackend, inputs.x!, inputs.dy!, info)
  }) as KernelFunc,
}
