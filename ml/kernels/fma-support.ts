// Whether this process can run the relaxed-SIMD FMA kernels (fma-gemm.ts), and how the CPU
// rounds them. Kept apart from the kernels so that planning (stages/common.ts, which puts
// the answer into training stages' fingerprints) imports only this and the assembler.
//
// Node 20 has relaxed SIMD behind --experimental-wasm-relaxed-simd: the process turns it on
// for itself (v8.setFlagsFromString, before any module using it is compiled), so neither
// users nor the launcher pass flags, and where V8 lacks it the XNNPACK convolutions serve.
// "Relaxed" means a CPU without FMA may round the product first; which one ran is detected
// and recorded, because the bits differ.
import v8 from "node:v8"
import { assemble, wasmApi } from "../../analysis/wasm.ts"

export type FmaMode = "fused" | "unfused"

/** Whether relaxed-SIMD FMA kernels can run in this process, and how the CPU rounds them. */
export type FmaSupport = { readonly mode: FmaMode } | { readonly unavailable: string }

const probeModule = (): Uint8Array =>
  assemble([{
    name: "madd",
    params: [["a", "f32"], ["b", "f32"], ["c", "f32"]],
    result: "f32",
    body: "local.get $a f32x4.splat local.get $b f32x4.splat local.get $c f32x4.splat f32x4.relaxed_madd f32x4.extract_lane 0",
  }], { initialPages: 0, maxPages: 0 })

let support: FmaSupport | undefined

/**
 * Turns relaxed SIMD on for this process where V8 has it behind a flag, then evaluates one
 * relaxed_madd whose fused and unfused results differ: (1 + 2^-12)(1 - 2^-12) - 1 is -2^-24
 * exactly, but 0 when the product is rounded to float32 first. TRANSFUSION_WASM_FMA=0 turns
 * the kernels off (XNNPACK's convolutions then run, as before they existed).
 */
export const fmaSupport = (): FmaSupport => {
  if (support) return support
  if (process.env.TRANSFUSION_WASM_FMA === "0") return (support = { unavailable: "TRANSFUSION_WASM_FMA=0" })
  const api = wasmApi(), bytes = probeModule()
  if (!api.validate(bytes)) v8.setFlagsFromString("--experimental-wasm-relaxed-simd")
  if (!api.validate(bytes)) return (support = { unavailable: `relaxed SIMD is not available in Node ${process.version}` })
  const madd = new api.Instance(new api.Module(bytes)).exports.madd as (a: number, b: number, c: number) => number
  const r = madd(Math.fround(1 + 2 ** -12), Math.fround(1 - 2 ** -12), -1)
  return (support = { mode: r === -(2 ** -24) ? "fused" : "unfused" })
}

/** For fingerprints and logs: "fused", "unfused" or "off (why)"; plan and stage must agree. */
export const describeFmaSupport = (): string => {
  const s = fmaSupport()
  return "mode" in s ? s.mode : `off (${s.unavailable})`
}

/** For tests: forget the cached answer (after changing TRANSFUSION_WASM_FMA). */
export const resetFmaSupport = (): void => {
  support = undefined
}
