// Float64 WebAssembly SIMD kernels for the O(n^3) inner loops of the symmetric
// eigendecomposition in analysis/linalg.ts (Householder tridiagonalisation: tred2Symv,
// tred2Rank2, hhAccumulate; the QL iterations' Givens rotations: rotations), which keeps
// its control flow in JS. Assembled with the Gram kernels into one module by
// analysis/kernels.ts; tested against naive Float64 loops in test/analysis/kernels.test.ts.
// Matrices are row-major with a leading dimension `ld` (elements); d and e are Float64 vectors.
import type { FuncSource, ValType } from "./wasm.ts"

/** Loop over k in [0, cnt) two at a time (SIMD body) with a scalar last element; pointers advance by 16 bytes. */
const pairs = (cnt: string, ptrs: readonly string[], simd: string, scalar: string): string => `
      block $pairsDone loop $pairsNext
        local.get $${cnt} i32.const 2 i32.lt_s br_if $pairsDone
        ${simd}
        ${ptrs.map((p) => `local.get $${p} i32.const 16 i32.add local.set $${p}`).join(" ")}
        local.get $${cnt} i32.const 2 i32.sub local.set $${cnt}
        br $pairsNext
      end end
      local.get $${cnt} i32.const 1 i32.eq
      if
        ${scalar}
      end`

const at = (base: string, index: string): string => `local.get $${base} local.get $${index} i32.const 8 i32.mul i32.add`
const hsum = (vec: string): string => `local.get $${vec} f64x2.extract_lane 0 local.get $${vec} f64x2.extract_lane 1 f64.add`

/**
 * tred2Symv(V, ld, i, d, e): the matrix-vector step of Householder step i in tred2:
 * for j < i (in order): g = e[j] + V[j][j] d[j] + sum_{j<k<i} V[j][k] d[k], with
 * e[k] += V[j][k] d[j] for j < k < i; then e[j] = g.
 */
export const tred2Symv: FuncSource = {
  name: "tred2Symv",
  params: [["v", "i32"], ["ld", "i32"], ["i", "i32"], ["d", "i32"], ["e", "i32"]],
  locals: [["j", "i32"], ["row", "i32"], ["p", "i32"], ["pd", "i32"], ["pe", "i32"], ["cnt", "i32"], ["f", "f64"], ["g", "f64"], ["vf", "v128"], ["vg", "v128"], ["x", "v128"]],
  body: `
    block $done loop $nextJ
      local.get $j local.get $i i32.ge_s br_if $done
      ${at("d", "j")} f64.load local.set $f
      local.get $v local.get $j local.get $ld i32.mul i32.const 8 i32.mul i32.add local.set $row
      ${at("e", "j")} f64.load ${at("row", "j")} f64.load local.get $f f64.mul f64.add local.set $g
      ${at("row", "j")} i32.const 8 i32.add local.set $p
      ${at("d", "j")} i32.const 8 i32.add local.set $pd
      ${at("e", "j")} i32.const 8 i32.add local.set $pe
      local.get $i local.get $j i32.sub i32.const 1 i32.sub local.set $cnt
      local.get $f f64x2.splat local.set $vf
      v128.const f32x4 0 0 0 0 local.set $vg
      ${pairs(
        "cnt",
        ["p", "pd", "pe"],
        `local.get $p v128.load local.set $x
        local.get $vg local.get $x local.get $pd v128.load f64x2.mul f64x2.add local.set $vg
        local.get $pe local.get $pe v128.load local.get $x local.get $vf f64x2.mul f64x2.add v128.store`,
        `local.get $g local.get $p f64.load local.get $pd f64.load f64.mul f64.add local.set $g
        local.get $pe local.get $pe f64.load local.get $p f64.load local.get $f f64.mul f64.add f64.store`,
      )}
      ${at("e", "j")} local.get $g ${hsum("vg")} f64.add f64.store
      local.get $j i32.const 1 i32.add local.set $j
      br $nextJ
    end end`,
}

/**
 * tred2Rank2(V, ld, i, d, e): the rank-2 update of Householder step i in tred2: for
 * j < i: V[j][k] -= d[j] e[k] + e[j] d[k] for j <= k < i; then d[j] = V[j][i-1], V[j][i] = 0.
 */
export const tred2Rank2: FuncSource = {
  name: "tred2Rank2",
  params: [["v", "i32"], ["ld", "i32"], ["i", "i32"], ["d", "i32"], ["e", "i32"]],
  locals: [["j", "i32"], ["row", "i32"], ["p", "i32"], ["pd", "i32"], ["pe", "i32"], ["cnt", "i32"], ["f", "f64"], ["g", "f64"], ["vf", "v128"], ["vg", "v128"], ["im1", "i32"]],
  body: `
    local.get $i i32.const 1 i32.sub local.set $im1
    block $done loop $nextJ
      local.get $j local.get $i i32.ge_s br_if $done
      ${at("d", "j")} f64.load local.tee $f f64x2.splat local.set $vf
      ${at("e", "j")} f64.load local.tee $g f64x2.splat local.set $vg
      local.get $v local.get $j local.get $ld i32.mul i32.const 8 i32.mul i32.add local.set $row
      ${at("row", "j")} local.set $p
      ${at("d", "j")} local.set $pd
      ${at("e", "j")} local.set $pe
      local.get $i local.get $j i32.sub local.set $cnt
      ${pairs(
        "cnt",
        ["p", "pd", "pe"],
        `local.get $p local.get $p v128.load local.get $vf local.get $pe v128.load f64x2.mul local.get $vg local.get $pd v128.load f64x2.mul f64x2.add f64x2.sub v128.store`,
        `local.get $p local.get $p f64.load local.get $f local.get $pe f64.load f64.mul local.get $g local.get $pd f64.load f64.mul f64.add f64.sub f64.store`,
      )}
      ${at("d", "j")} ${at("row", "im1")} f64.load f64.store
      ${at("row", "i")} f64.const 0 f64.store
      local.get $j i32.const 1 i32.add local.set $j
      br $nextJ
    end end`,
}

/**
 * hhAccumulate(V, ld, i, d): applies Householder vector i+1 (row i+1 of V, first i+1
 * entries) in tred2's accumulation: for j <= i: g = sum_{k<=i} V[i+1][k] V[j][k];
 * V[j][k] -= g d[k] for k <= i.
 */
export const hhAccumulate: FuncSource = {
  name: "hhAccumulate",
  params: [["v", "i32"], ["ld", "i32"], ["i", "i32"], ["d", "i32"]],
  locals: [["j", "i32"], ["row", "i32"], ["next", "i32"], ["p", "i32"], ["q", "i32"], ["cnt", "i32"], ["g", "f64"], ["vg", "v128"]],
  body: `
    local.get $v local.get $i i32.const 1 i32.add local.get $ld i32.mul i32.const 8 i32.mul i32.add local.set $next
    block $done loop $nextJ
      local.get $j local.get $i i32.gt_s br_if $done
      local.get $v local.get $j local.get $ld i32.mul i32.const 8 i32.mul i32.add local.set $row
      ;; g = dot(V[i+1][0..i], V[j][0..i])
      local.get $next local.set $p local.get $row local.set $q
      local.get $i i32.const 1 i32.add local.set $cnt
      v128.const f32x4 0 0 0 0 local.set $vg
      f64.const 0 local.set $g
      ${pairs("cnt", ["p", "q"], `local.get $vg local.get $p v128.load local.get $q v128.load f64x2.mul f64x2.add local.set $vg`, `local.get $p f64.load local.get $q f64.load f64.mul local.set $g`)}
      local.get $g ${hsum("vg")} f64.add local.tee $g f64x2.splat local.set $vg
      ;; V[j][k] -= g d[k]
      local.get $row local.set $p local.get $d local.set $q
      local.get $i i32.const 1 i32.add local.set $cnt
      ${pairs(
        "cnt",
        ["p", "q"],
        `local.get $p local.get $p v128.load local.get $vg local.get $q v128.load f64x2.mul f64x2.sub v128.store`,
        `local.get $p local.get $p f64.load local.get $g local.get $q f64.load f64.mul f64.sub f64.store`,
      )}
      local.get $j i32.const 1 i32.add local.set $j
      br $nextJ
    end end`,
}

/**
 * rotations(V, ld, l, m, cs): one QL sweep of tql2 applied to the rows of V: for i from
 * m-1 down to l, with (c, s) = cs[i - l] (16 bytes each), rows i and i+1 become
 * (c v_i - s v_{i+1}, s v_i + c v_{i+1}), 8 columns per step (ld must be a multiple of 8).
 * Row by row, so both rows stream sequentially; carrying row i+1 down the sweep in
 * registers 8 columns at a time (one load and store per entry) was 4x slower here,
 * its 4 KiB-strided accesses defeating the prefetchers.
 */
export const rotations: FuncSource = {
  name: "rotations",
  params: [["v", "i32"], ["ld", "i32"], ["l", "i32"], ["m", "i32"], ["cs", "i32"]],
  locals: [
    ["ldBytes", "i32"], ["prow", "i32"], ["pnext", "i32"], ["stop", "i32"], ["pcs", "i32"], ["c", "v128"], ["s", "v128"],
    ...[0, 1, 2, 3].flatMap((k) => [[`h${k}`, "v128"], [`x${k}`, "v128"]] as [string, ValType][]),
  ],
  body: `
    local.get $ld i32.const 8 i32.mul local.set $ldBytes
    local.get $cs local.get $m local.get $l i32.sub i32.const 1 i32.sub i32.const 16 i32.mul i32.add local.set $pcs
    local.get $v local.get $m i32.const 1 i32.sub local.get $ldBytes i32.mul i32.add local.set $prow
    local.get $v local.get $l local.get $ldBytes i32.mul i32.add local.set $stop
    block $done loop $nextRow
      local.get $prow local.get $stop i32.lt_s br_if $done
      local.get $pcs v128.load64_splat local.set $c
      local.get $pcs v128.load64_splat offset=8 local.set $s
      local.get $prow local.get $ldBytes i32.add local.set $pnext
      block $colsDone loop $cols
        local.get $prow local.get $pnext i32.ge_u br_if $colsDone
        ${[0, 1, 2, 3].map((k) => `local.get $prow v128.load offset=${16 * k} local.set $x${k} local.get $prow local.get $ldBytes i32.add v128.load offset=${16 * k} local.set $h${k}`).join("\n        ")}
        ${[0, 1, 2, 3]
          .map(
            (k) => `local.get $prow local.get $ldBytes i32.add local.get $s local.get $x${k} f64x2.mul local.get $c local.get $h${k} f64x2.mul f64x2.add v128.store offset=${16 * k}
        local.get $prow local.get $c local.get $x${k} f64x2.mul local.get $s local.get $h${k} f64x2.mul f64x2.sub v128.store offset=${16 * k}`,
          )
          .join("\n        ")}
        local.get $prow i32.const 64 i32.add local.set $prow
        br $cols
      end end
      ;; back to the start of row i, then up one row
      local.get $prow local.get $ldBytes i32.sub local.get $ldBytes i32.sub local.set $prow
      local.get $pcs i32.const 16 i32.sub local.set $pcs
      br $nextRow
    end end`,
}
