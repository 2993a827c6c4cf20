// Transpose for the wasm backend: plain matrix transposes as a tiled JS loop over
// the wasm heap, everything else to wasm's own kernel.
//
// tfjs-backend-wasm 4.22.0's Transpose is fast on 4-D activations but slow on
// matrices: 1024 x 256 took 10 ms against 3 ms here, 4096 x 256 32 ms against 6 ms
// (same process, under load). Matrix transposes come from matMul gradients and the
// 1x1-conv gradients. Axes that stay adjacent are merged first, so any permutation
// that is a matrix transpose in disguise (e.g. [N, H, W, C] -> [C, N, H, W]) takes
// this path.
import { Transpose, util } from "@tensorflow/tfjs-core"
import type { KernelConfig, KernelFunc, TensorInfo } from "@tensorflow/tfjs-core"
import { stockKernel } from "./stock.ts"

interface WasmHeapBackend {
  makeOutput(shape: number[], dtype: "float32" | "int32" | "bool"): TensorInfo
  typedArrayFromHeap(info: TensorInfo): Float32Array | Int32Array | Uint8Array
}

/** Merges input axes that remain neighbours, in order, after the permutation. */
export const collapseTranspose = (shape: readonly number[], perm: readonly number[]): { shape: number[]; perm: number[] } => {
  // drop size-1 axes: they do not move data
  const keep = perm.filter((p) => shape[p] !== 1)
  if (keep.length === 0) return { shape: [1], perm: [0] }
  const groups: number[][] = []
  for (const p of keep) {
    const last = groups[groups.length - 1]
    if (last !== undefined && nextKept(shape, last[last.length - 1]!) === p) last.push(p)
    else groups.push([p])
  }
  // groups are in output order; number them by input order
  const byInput = [...groups].sort((a, b) => a[0]! - b[0]!)
  const newShape = byInput.map((g) => g.reduce((s, p) => s * shape[p]!, 1))
  const newPerm = groups.map((g) => byInput.indexOf(g))
  return { shape: newShape, perm: newPerm }
}

const nextKept = (shape: readonly number[], axis: number): number => {
  let a = axis + 1
  while (a < shape.length && shape[a] === 1) a++
  return a
}

export const transposeArray = <T extends Float32Array | Int32Array | Uint8Array>(src: T, dst: T, shape: readonly number[], perm: readonly number[]): void => {
  const c = collapseTranspose(shape, perm)
  const rank = c.shape.length
  if (rank === 1) {
    dst.set(src.subarray(0, dst.length))
    return
  }
  const inStrides = new Array<number>(rank)
  inStrides[rank - 1] = 1
  for (let i = rank - 2; i >= 0; i--) inStrides[i] = inStrides[i + 1]! * c.shape[i + 1]!
  const outShape = c.perm.map((p) => c.shape[p]!)
  const stride = c.perm.map((p) => inStrides[p]!) // input stride of each output axis
  const inner = outShape[rank - 1]!, innerStride = stride[rank - 1]!
  const outer = dst.length / inner
  if (rank === 2) {
    // plain matrix transpose: tiles keep both sides in cache
    const rows = outShape[0]!, cols = inner, tile = 32, rowStride = stride[0]!
    for (let r0 = 0; r0 < rows; r0 += tile) {
      const r1 = Math.min(r0 + tile, rows)
      for (let c0 = 0; c0 < cols; c0 += tile) {
        const c1 = Math.min(c0 + tile, cols)
        for (let r = r0; r < r1; r++) {
          const d = r * cols, s = r * rowStride
          for (let col = c0; col < c1; col++) dst[d + col] = src[s + col * innerStride]!
        }
      }
    }
    return
  }
  const idx = new Array<number>(rank - 1).fill(0)
  let srcBase = 0
  for (let o = 0; o < outer; o++) {
    const d = o * inner
    for (let j = 0; j < inner; j++) dst[d + j] = src[srcBase + j * innerStride]!
    // odometer over the outer output axes
    for (let a = rank - 2; a >= 0; a--) {
      idx[a]!++
      srcBase += stride[a]!
      if (idx[a]! < outShape[a]!) break
      srcBase -= stride[a]! * outShape[a]!
      idx[a] = 0
    }
  }
}

export const transposeWasm: KernelConfig = {
  kernelName: Transpose,
  backendName: "wasm",
  kernelFunc: ((args) => {
    const { inputs, backend, attrs } = args
    const x = inputs.x!
    const perm = (attrs as unknown as { perm: number[] }).perm
    const b = backend as unknown as WasmHeapBackend
    const outShape = perm.map((p) => x.shape[p]!)
    const isMatrix = collapseTranspose(x.shape, perm).shape.length === 2
    if (!isMatrix || x.dtype === "string" || x.dtype === "complex64") {
      return stockKernel(Transpose).kernelFunc(args)
    }
    const out = b.makeOutput(outShape, x.dtype as "float32" | "int32" | "bool")
    if (util.sizeFromShape(outShape) === 0) return out
    // views after makeOutput: allocation may grow the heap and detach older views
    transposeArray(b.typedArrayFromHeap(x), b.typedArrayFromHeap(out), x.shape, perm)
    return out
  }) as KernelFunc,
}
