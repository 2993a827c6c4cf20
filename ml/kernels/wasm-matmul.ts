// BatchMatMul for the wasm backend: transposed operands are transposed explicitly
// first, then multiplied on the fast path.
//
// tfjs-backend-wasm 4.22.0 sends transposeA/transposeB products to a slow path: a
// [4096, 64]^T x [4096, 256] product took 117 ms against 15.5 ms for Transpose +
// plain BatchMatMul (measured under load). tfjs's matMul gradients always use the
// transposed forms (dA = dy B^T, dB = A^T dy), as do the 1x1-conv gradients below.
import { BatchMatMul, getKernel, Transpose } from "@tensorflow/tfjs-core"
import type { KernelConfig, KernelFunc, NamedAttrMap, TensorInfo } from "@tensorflow/tfjs-core"
import { stockKernel } from "./stock.ts"

interface WasmBackendLike {
  disposeData(dataId: object, force?: boolean): boolean
}

const swapLastTwo = (rank: number): number[] => {
  const perm = Array.from({ length: rank }, (_, i) => i)
  perm[rank - 2] = rank - 1
  perm[rank - 1] = rank - 2
  return perm
}

/** a (optionally ^T) x b (optionally ^T) on wasm's fast path; usable from other kernels. */
export const matMulOnWasm = (backend: WasmBackendLike, a: TensorInfo, b: TensorInfo, transposeA: boolean, transposeB: boolean): TensorInfo => {
  // wasm's own BatchMatMul: the fast untransposed path
  const stockBatchMatMul = stockKernel(BatchMatMul)
  const transpose = getKernel(Transpose, "wasm")!.kernelFunc
  const temps: TensorInfo[] = []
  const plain = (t: TensorInfo, flag: boolean): TensorInfo => {
    if (!flag) return t
    const out = transpose({ inputs: { x: t }, backend: backend as never, attrs: { perm: swapLastTwo(t.shape.length) } }) as TensorInfo
    temps.push(out)
    return out
  }
  const out = stockBatchMatMul.kernelFunc({
    inputs: { a: plain(a, transposeA), b: plain(b, transposeB) },
    backend: backend as never,
    attrs: { transposeA: false, transposeB: false } as unknown as NamedAttrMap,
  }) as TensorInfo
  for (const t of temps) backend.disposeData(t.dataId)
  return out
}

export const batchMatMulWasm: KernelConfig = {
  kernelName: BatchMatMul,
  backendName: "wasm",
  kernelFunc: (({ inputs, backend, attrs }) => {
    const { transposeA, transposeB } = attrs as unknown as { transposeA: boolean; transposeB: boolean }
    return matMulOnWasm(backend as unknown as WasmBackendLike, inputs.a!, inputs.b!, transposeA, transposeB)
  }) as KernelFunc,
}
