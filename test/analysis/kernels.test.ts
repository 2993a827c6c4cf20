// The hand-written WebAssembly kernels (analysis/kernels.ts, assembled by analysis/wasm.ts)
// against naive Float64 loops and ml-matrix.
import { test } from "uvu"
import * as assert from "uvu/assert"
import { EigenvalueDecomposition, Matrix } from "ml-matrix"
import { Rng } from "../../lib/random.ts"
import { CHUNK, productF64, shiftedGram } from "../../analysis/kernels.ts"
import { jointCovariance, rowShifts } from "../../analysis/covariance.ts"
import { jointRows } from "../../analysis/matrix.ts"
import { symmetricEigen } from "../../analysis/linalg.ts"
import { closeAnalysisWorkers } from "../../analysis/pool.ts"
import { assemble } from "../../analysis/wasm.ts"
import { spawnSync } from "node:child_process"
import { acts, gaussian, mul } from "./helpers.ts"

const transposeOf = (a: Float64Array, r: number, c: number): Float64Array => {
  const out = new Float64Array(r * c)
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = a[i * c + j]!
  return out
}

const maxAbs = (a: ArrayLike<number>): number => {
  let m = 0
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!))
  return m
}

test("the assembler builds a valid module and names what it cannot assemble", () => {
  const ok = assemble([{ name: "add", params: [["a", "i32"], ["b", "i32"]], result: "i32", body: "local.get $a local.get $b i32.add" }], { initialPages: 1, maxPages: 1 })
  const wa = (globalThis as unknown as { WebAssembly: { Module: new (b: Uint8Array) => object; Instance: new (m: object) => { exports: { add: (a: number, b: number) => number } } } }).WebAssembly
  assert.is(new wa.Instance(new wa.Module(ok)).exports.add(2, 40), 42)
  assert.throws(() => assemble([{ name: "f", params: [], body: "f32x4.fma" }], { initialPages: 1, maxPages: 1 }), /f: unknown instruction "f32x4.fma"/)
  assert.throws(() => assemble([{ name: "f", params: [], body: "local.get $nope drop" }], { initialPages: 1, maxPages: 1 }), /f: unknown local \$nope/)
  assert.throws(() => assemble([{ name: "f", params: [], body: "block br $missing end" }], { initialPages: 1, maxPages: 1 }), /no enclosing block or loop named \$missing/)
  assert.throws(() => assemble([{ name: "f", params: [], body: "block" }], { initialPages: 1, maxPages: 1 }), /not closed/)
})

test("f32x4.relaxed_madd assembles to a module that computes a*b+c (run where relaxed SIMD is on)", () => {
  const script = `
    import { assemble } from ${JSON.stringify(new URL("../../analysis/wasm.ts", import.meta.url).href)}
    const m = new WebAssembly.Instance(new WebAssembly.Module(assemble([{ name: "madd", params: [["p", "i32"]], body:
      "local.get $p local.get $p v128.load local.get $p v128.load offset=16 local.get $p v128.load offset=32 f32x4.relaxed_madd v128.store offset=48" }],
      { initialPages: 1, maxPages: 1 }))).exports
    const f = new Float32Array(m.memory.buffer, 0, 16)
    f.set([1, 2, 3, -4, 5, 6, 0.5, 8, 10, 20, 30, 40])
    m.madd(0)
    console.log(JSON.stringify(Array.from(f.subarray(12))))`
  const child = spawnSync(process.execPath, ["--experimental-wasm-relaxed-simd", "--import", "tsx", "--input-type=module", "-e", script], { encoding: "utf8" })
  assert.is(child.status, 0, child.stderr)
  assert.equal(JSON.parse(child.stdout), [15, 32, 31.5, 8])
})

test("shiftedGram (float32 SIMD tiles, Float64 chunk sums) matches a Float64 loop on its upper triangle: odd sizes, a column range, rows far from zero", () => {
  const rng = new Rng("kernel-gram")
  for (const [rows, m, c0, c1] of [[1, 5, 0, 5], [7, 2 * CHUNK + 3, 0, 2 * CHUNK + 3], [13, 1001, 17, 990], [66, 700, 0, 700]] as const) {
    const data = new Float32Array(rows * m)
    for (let r = 0; r < rows; r++) for (let c = 0; c < m; c++) data[r * m + c] = 500 * (r % 3) + rng.normal() * (1 + r)
    const source = { rows, length: m, row: (r: number) => data.subarray(r * m, (r + 1) * m) }
    const shift = rowShifts(source)
    const { gram, ld, sums } = shiftedGram(source, c0, c1, shift)
    for (let i = 0; i < rows; i++) {
      let s = 0
      for (let c = c0; c < c1; c++) s += data[i * m + c]! - shift[i]!
      assert.ok(Math.abs(sums[i]! - s) <= 1e-5 * (c1 - c0) * (1 + i), `sum ${i}: ${sums[i]} vs ${s}`)
      for (let j = i; j < rows; j++) {
        let g = 0
        for (let c = c0; c < c1; c++) g += (data[i * m + c]! - shift[i]!) * (data[j * m + c]! - shift[j]!)
        const scale = Math.sqrt(gram[i * ld + i]! * gram[j * ld + j]!)
        assert.ok(Math.abs(gram[i * ld + j]! - g) <= 1e-6 * scale, `${rows} x ${m}, entry ${i},${j}: ${gram[i * ld + j]} vs ${g}`)
      }
    }
  }
})

test("the wasm joint covariance matches the Float64 JS one, on this thread and split over the workers, with means far from zero", async () => {
  const rng = new Rng("kernel-cov")
  const layer = (d: number, m: number, offset: number) => {
    const data = gaussian(rng, d, m)
    for (let i = 0; i < data.length; i++) data[i] = data[i]! + offset * ((Math.floor(i / m) % 5) - 2)
    return acts(Float32Array.from(data), d)
  }
  // 60 x 900 stays on this thread; 320 + 300 rows over 3,000 datapoints (5.8e8 multiply-adds) goes to the workers.
  for (const [dx, dy, m] of [[60, 37, 900], [320, 300, 3000]] as const) {
    const x = layer(dx, m, 1000), y = layer(dy, m, 3)
    const exact = await jointCovariance(x, y, "js")
    const fast = await jointCovariance(x, y, "wasm")
    for (const key of ["sxx", "syy", "sxy"] as const) {
      const scale = Math.max(maxAbs(exact.sxx), maxAbs(exact.syy))
      let worst = 0
      for (let i = 0; i < exact[key].length; i++) worst = Math.max(worst, Math.abs(fast[key][i]! - exact[key][i]!))
      assert.ok(worst < 1e-6 * scale, `${dx}+${dy} x ${m} ${key}: worst difference ${worst} (scale ${scale})`)
    }
  }
  // jointRows reads x's rows then y's without copying.
  const x = layer(2, 4, 0), y = layer(1, 4, 0)
  const rows = jointRows(x, y)
  assert.is(rows.rows, 3)
  assert.is(rows.row(2)[1], y.data[1])
})

test("productF64 (Float64 SIMD tiles) matches a naive product: plain, B transposed, and A A^T", () => {
  const rng = new Rng("kernel-product")
  for (const [r, k, c] of [[1, 1, 1], [3, 5, 2], [9, 17, 13], [64, 33, 70], [130, 129, 67]] as const) {
    const a = gaussian(rng, r, k), b = gaussian(rng, k, c)
    const want = mul(a, b, r, k, c)
    const tol = 1e-12 * k
    const got = productF64(a, b, r, k, c)
    const gotT = productF64(a, transposeOf(b, k, c), r, k, c, true)
    for (let i = 0; i < want.length; i++) {
      assert.ok(Math.abs(got[i]! - want[i]!) < tol, `${r}x${k}x${c} entry ${i}: ${got[i]} vs ${want[i]}`)
      assert.ok(Math.abs(gotT[i]! - want[i]!) < tol)
    }
    const gram = productF64(a, undefined, r, k, r)
    const wantGram = mul(a, transposeOf(a, r, k), r, k, r)
    for (let i = 0; i < wantGram.length; i++) assert.ok(Math.abs(gram[i]! - wantGram[i]!) < tol, `A A^T ${r}x${k} entry ${i}`)
  }
})

test("symmetricEigen (SIMD tred2/tql2 loops) agrees with ml-matrix at sizes that are not multiples of the kernels' widths", () => {
  const rng = new Rng("kernel-eigen")
  for (const n of [1, 2, 9, 37, 203]) {
    const b = gaussian(rng, n, n + 5)
    const a = mul(b, transposeOf(b, n, n + 5), n, n + 5, n)
    const ref = new EigenvalueDecomposition(new Matrix(Array.from({ length: n }, (_, i) => Array.from(a.subarray(i * n, (i + 1) * n)))), { assumeSymmetric: true })
    const refValues = [...ref.realEigenvalues].sort((p, q) => q - p)
    const { values, vectors } = symmetricEigen(a, n)
    const valuesOnly = symmetricEigen(a, n, { vectors: false }).values
    for (let k = 0; k < n; k++) {
      assert.ok(Math.abs(values[k]! - refValues[k]!) < 1e-10 * refValues[0]!, `n=${n} eigenvalue ${k}: ${values[k]} vs ${refValues[k]}`)
      assert.ok(Math.abs(valuesOnly[k]! - refValues[k]!) < 1e-10 * refValues[0]!)
    }
    // A = V^T diag(values) V and V V^T = I.
    let worst = 0, orth = 0
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++) {
        let s = 0, o = 0
        for (let k = 0; k < n; k++) {
          s += vectors[k * n + i]! * values[k]! * vectors[k * n + j]!
          o += vectors[i * n + k]! * vectors[j * n + k]!
        }
        worst = Math.max(worst, Math.abs(s - a[i * n + j]!))
        orth = Math.max(orth, Math.abs(o - (i === j ? 1 : 0)))
      }
    assert.ok(worst < 1e-10 * values[0]!, `n=${n} reconstruction error ${worst}`)
    assert.ok(orth < 1e-10, `n=${n} orthogonality error ${orth}`)
  }
})

test.after(async () => {
  await closeAnalysisWorkers()
})

test.run()
