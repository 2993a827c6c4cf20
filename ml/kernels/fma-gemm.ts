// The register-tiled products behind the FMA convolutions (wasm-fma-conv.ts), as WebAssembly
// written through analysis/wasm.ts and instantiated on tfjs-backend-wasm's own memory, so
// they read and write tensors where they lie.
//
// Why our own: XNNPACK's wasm build multiplies and adds separately, and 128-bit SIMD without
// fused multiply-add caps at about 25-30 GFLOP/s per core here; f32x4.relaxed_madd runs the
// same 4 x 8 tile at 44-54 (bench/relaxed-fma.bench.ts, 2-core EPYC, 2026-12-04). Whether
// relaxed SIMD runs here, and how it rounds, is fma-support.ts's question.
//
// Both kernels keep an MR x NR tile of the output in registers (NR output channels as NR/4
// vectors, MR rows as splatted scalars) and walk the reduction in memory order:
//   forward: y[m, n0..n0+NR) += x_patch[m, k] * w[k, n0..n0+NR), the patch of output pixel m
//            read straight from the (padded) NHWC input: for each filter row a, its
//            KW x Ci values are contiguous, so no im2col copy is made;
//   filter gradient: dw[k..k+MR, n0..n0+NR) += x_patch[p, k..k+MR] * dy[p, n0..n0+NR) over
//            output pixels p, the MR patch values contiguous within a filter row.
// The NR-column operand (filter, or dy) is first packed into contiguous panels (pack8): read
// in place, a 7x7x128x256 filter's rows are 1 KiB apart and the 6 MiB it spans left the
// forward pass at ~27 GFLOP/s on CBR-Small, bound by cache misses.
import type { FuncSource, ValType, WasmMemory } from "../../analysis/wasm.ts"
import { fmaSupport } from "./fma-support.ts"
import { heapModule, onHeap } from "./heap-module.ts"

// ---------------------------------------------------------------- kernels

/** Output rows per tile; 4 x 8 uses 8 accumulators + 2 filter vectors + 1 splat of 16 registers. */
export const MR = 4
/** Output channels per tile; a 4-wide tile serves the remainder (channels are padded to 4). */
export const NR_WIDE = 8, NR_NARROW = 4

const fma = (a: string, b: string, acc: string) => `local.get $${a} local.get $${b} local.get $${acc} f32x4.relaxed_madd local.set $${acc}`
const range = (n: number) => Array.from({ length: n }, (_, i) => i)

/**
 * Forward tile kernel for `mr` rows and one panel of `nr` channels. For each output row m of
 * [0, m) (a multiple of mr), `tab` holds the byte address of its patch's first input value;
 * the patch is kh filter rows `rowStride` bytes apart, each `kwci` contiguous floats. The
 * panel at `w` is the filter's nr columns, [kh * kwci, nr] contiguous (packPanels), so it is
 * read in order and stays in cache while every row tile passes over it. Row m of the output
 * starts at y + m * yld (bytes). Loops test at their ends: every range is non-empty.
 * Unrolling the reduction loop by 2 or 4 (steps as memarg offsets, pointers moved once per
 * pass) was measured slower, not faster: 32 against 52 GFLOP/s on a 16x16x32 -> 64, 7x7
 * layer (best of 24 calls, both in one process, 2026-12-04).
 */
const forwardKernel = (mr: number, nr: number): FuncSource => {
  const rows = range(mr), halves = range(nr / 4)
  const acc = (r: number, h: number) => `acc${r}_${h}`
  return {
    name: `forward${mr}x${nr}`,
    params: [["tab", "i32"], ["w", "i32"], ["y", "i32"], ["m", "i32"], ["yld", "i32"], ["kh", "i32"], ["kwci", "i32"], ["rowStride", "i32"]],
    locals: [
      ["m0", "i32"], ["a", "i32"], ["kk", "i32"], ["pb", "i32"], ["py", "i32"], ["pt", "i32"],
      ...rows.flatMap((r) => [[`row${r}`, "i32"], [`p${r}`, "i32"]] as [string, ValType][]),
      ...halves.map((h) => [`b${h}`, "v128"] as [string, ValType]),
      ["s", "v128"],
      ...rows.flatMap((r) => halves.map((h) => [acc(r, h), "v128"] as [string, ValType])),
    ],
    body: `
    local.get $tab local.set $pt
    local.get $y local.set $py
    i32.const 0 local.set $m0
    loop $nextM
      ${rows.flatMap((r) => halves.map((h) => `v128.const f32x4 0 0 0 0 local.set $${acc(r, h)}`)).join(" ")}
      ${rows.map((r) => `local.get $pt i32.load offset=${4 * r} local.set $row${r}`).join(" ")}
      local.get $w local.set $pb
      local.get $kh local.set $a
      loop $nextA
        ${rows.map((r) => `local.get $row${r} local.set $p${r}`).join(" ")}
        local.get $kwci local.set $kk
        loop $nextK
          ${halves.map((h) => `local.get $pb v128.load offset=${16 * h} local.set $b${h}`).join(" ")}
          ${rows.map((r) => `local.get $p${r} v128.load32_splat local.set $s ${halves.map((h) => fma("s", `b${h}`, acc(r, h))).join(" ")} local.get $p${r} i32.const 4 i32.add local.set $p${r}`).join("\n          ")}
          local.get $pb i32.const ${4 * nr} i32.add local.set $pb
          local.get $kk i32.const 1 i32.sub local.tee $kk
          br_if $nextK
        end
        ${rows.map((r) => `local.get $row${r} local.get $rowStride i32.add local.set $row${r}`).join(" ")}
        local.get $a i32.const 1 i32.sub local.tee $a
        br_if $nextA
      end
      ${rows.map((r) => halves.map((h) => `local.get $py local.get $${acc(r, h)} v128.store offset=${16 * h}`).join(" ") + ` local.get $py local.get $yld i32.add local.set $py`).join("\n      ")}
      local.get $pt i32.const ${4 * mr} i32.add local.set $pt
      local.get $m0 i32.const ${mr} i32.add local.tee $m0 local.get $m i32.lt_u br_if $nextM
    end`,
  }
}

/**
 * Filter-gradient tile kernel for `mr` filter rows (consecutive k within one filter row of
 * the patch) and one panel of `nr` channels, accumulating into dw over output pixels
 * [p0, p1): for each filter row a of kh and each k-tile kk of [kk0, kk1) (step mr), rows
 * a * kwci + kk.. of dw (stride `ld` bytes, from the panel's first column) get the sum over
 * p of x[tab[p] + a * rowStride + 4 (kk + r)] * dy[p, 0..nr), dy being the panel of those
 * channels ([pixels, nr] contiguous). `tab` is the forward kernel's table. Every range is
 * non-empty.
 */
const filterGradKernel = (mr: number, nr: number): FuncSource => {
  const rows = range(mr), halves = range(nr / 4)
  const acc = (r: number, h: number) => `acc${r}_${h}`
  return {
    name: `filterGrad${mr}x${nr}`,
    params: [["tab", "i32"], ["dy", "i32"], ["dw", "i32"], ["p0", "i32"], ["p1", "i32"], ["kh", "i32"], ["kwci", "i32"], ["kk0", "i32"], ["kk1", "i32"], ["ld", "i32"], ["rowStride", "i32"]],
    locals: [
      ["a", "i32"], ["aOff", "i32"], ["kk", "i32"], ["koff", "i32"], ["pq", "i32"],
      ["pt", "i32"], ["pd", "i32"], ["cnt", "i32"], ["base", "i32"],
      ...halves.map((h) => [`b${h}`, "v128"] as [string, ValType]),
      ["s", "v128"],
      ...rows.flatMap((r) => halves.map((h) => [acc(r, h), "v128"] as [string, ValType])),
    ],
    body: `
    i32.const 0 local.set $a
    i32.const 0 local.set $aOff
    loop $nextA
      local.get $kk0 local.set $kk
      loop $nextKK
        local.get $aOff local.get $kk i32.const 4 i32.mul i32.add local.set $koff
        local.get $dw local.get $a local.get $kwci i32.mul local.get $kk i32.add local.get $ld i32.mul i32.add local.set $pq
        ${rows.map((r) => halves.map((h) => `local.get $pq v128.load offset=${16 * h} local.set $${acc(r, h)}`).join(" ") + ` local.get $pq local.get $ld i32.add local.set $pq`).join("\n        ")}
        local.get $tab local.get $p0 i32.const 4 i32.mul i32.add local.set $pt
        local.get $dy local.get $p0 i32.const ${4 * nr} i32.mul i32.add local.set $pd
        local.get $p1 local.get $p0 i32.sub local.set $cnt
        loop $nextP
          local.get $pt i32.load local.get $koff i32.add local.set $base
          ${halves.map((h) => `local.get $pd v128.load offset=${16 * h} local.set $b${h}`).join(" ")}
          ${rows.map((r) => `local.get $base v128.load32_splat offset=${4 * r} local.set $s ${halves.map((h) => fma("s", `b${h}`, acc(r, h))).join(" ")}`).join("\n          ")}
          local.get $pt i32.const 4 i32.add local.set $pt
          local.get $pd i32.const ${4 * nr} i32.add local.set $pd
          local.get $cnt i32.const 1 i32.sub local.tee $cnt
          br_if $nextP
        end
        local.get $dw local.get $a local.get $kwci i32.mul local.get $kk i32.add local.get $ld i32.mul i32.add local.set $pq
        ${rows.map((r) => halves.map((h) => `local.get $pq local.get $${acc(r, h)} v128.store offset=${16 * h}`).join(" ") + ` local.get $pq local.get $ld i32.add local.set $pq`).join("\n        ")}
        local.get $kk i32.const ${mr} i32.add local.tee $kk local.get $kk1 i32.lt_u br_if $nextKK
      end
      local.get $aOff local.get $rowStride i32.add local.set $aOff
      local.get $a i32.const 1 i32.add local.tee $a local.get $kh i32.lt_u br_if $nextA
    end`,
  }
}

/**
 * Copies whole 8-wide panels: for each panel q of `panels`, rows [0, rows) of columns
 * 8q..8q+8 of the [rows, ld-byte rows] matrix at `src` into [rows, 8] contiguous at
 * dst + q * rows * 32. Columns past the last whole panel are packPanels' (JS) job.
 */
const pack8Kernel: FuncSource = {
  name: "pack8",
  params: [["src", "i32"], ["ld", "i32"], ["dst", "i32"], ["rows", "i32"], ["panels", "i32"]],
  locals: [["q", "i32"], ["r", "i32"], ["ps", "i32"], ["pd", "i32"]],
  body: `
    local.get $dst local.set $pd
    i32.const 0 local.set $q
    loop $nextQ
      local.get $src local.get $q i32.const 32 i32.mul i32.add local.set $ps
      local.get $rows local.set $r
      loop $nextR
        local.get $pd local.get $ps v128.load v128.store
        local.get $pd local.get $ps v128.load offset=16 v128.store offset=16
        local.get $ps local.get $ld i32.add local.set $ps
        local.get $pd i32.const 32 i32.add local.set $pd
        local.get $r i32.const 1 i32.sub local.tee $r
        br_if $nextR
      end
      local.get $q i32.const 1 i32.add local.tee $q local.get $panels i32.lt_u br_if $nextQ
    end`,
}

type Forward = (tab: number, w: number, y: number, m: number, yld: number, kh: number, kwci: number, rowStride: number) => void
type FilterGrad = (tab: number, dy: number, dw: number, p0: number, p1: number, kh: number, kwci: number, kk0: number, kk1: number, ld: number, rowStride: number) => void
type Pack8 = (src: number, ld: number, dst: number, rows: number, panels: number) => void

/** The kernels, by [rows][channels] tile; rows 1..MR for the forward tail, 1 and MR for filter gradients. */
export interface FmaKernels {
  readonly forward: Readonly<Record<number, Readonly<Record<number, Forward>>>>
  readonly filterGrad: Readonly<Record<number, Readonly<Record<number, FilterGrad>>>>
  readonly pack8: Pack8
}

const FMA_MODULE = heapModule(() => [
  ...range(MR).flatMap((r) => [forwardKernel(r + 1, NR_WIDE), forwardKernel(r + 1, NR_NARROW)]),
  ...[1, MR].flatMap((r) => [filterGradKernel(r, NR_WIDE), filterGradKernel(r, NR_NARROW)]),
  pack8Kernel,
])

/** The kernels instantiated on `memory` (tfjs-backend-wasm's heap); needs fmaSupport() to have a mode. */
export const fmaKernels = (memory: WasmMemory): FmaKernels => {
  const s = fmaSupport()
  if (!("mode" in s)) throw new Error(`the FMA convolution kernels cannot run: ${s.unavailable}`)
  return onHeap(FMA_MODULE, memory, (e) => {
    const table = <F>(prefix: string, rows: readonly number[]): Record<number, Record<number, F>> =>
      Object.fromEntries(rows.map((r) => [r, { [NR_WIDE]: e[`${prefix}${r}x${NR_WIDE}`] as F, [NR_NARROW]: e[`${prefix}${r}x${NR_NARROW}`] as F }]))
    return { forward: table<Forward>("forward", range(MR).map((r) => r + 1)), filterGrad: table<FilterGrad>("filterGrad", [1, MR]), pack8: e.pack8 as Pack8 }
  })
}
