// Hand-written WebAssembly SIMD kernels (assembled by analysis/wasm.ts) for the steps of
// the similarity measures whose cost is cubic or grows with the number of datapoints:
// - the Gram matrix of the (shifted) activations, Z Z^T, float32 products (gram32, pack);
// - Float64 products of the d x d matrices (gram64 through productF64);
// - the O(n^3) inner loops of the symmetric eigendecomposition in analysis/linalg.ts
//   (tred2Symv, tred2Rank2, hhAccumulate, rotations: analysis/eigen-kernels.ts), which
//   keeps its control flow in JS.
// Plain JS loops run ~1 GFLOP/s here; these work on 2 (Float64) or 4 (float32) lanes per
// instruction with no bounds checks: the float32 Gram tiles reach ~25-30 GFLOP/s per core.
//
// Gram numerics: products and the running sums over one chunk (CHUNK datapoints, each
// of 4 lanes summing a quarter of them) are float32; every chunk's sums are added to a
// Float64 Gram. Callers subtract a per-row shift close to the row mean before the
// products (and correct for the exact mean afterwards), so there is no cancellation.
// Tested against naive Float64 loops in test/analysis/kernels.test.ts.
import { hhAccumulate, rotations, tred2Rank2, tred2Symv } from "./eigen-kernels.ts"
import { assemble, wasmApi, type FuncSource, type ValType, type WasmMemory } from "./wasm.ts"

/** Rows are packed in groups of 4 (interleaved by 16-byte vectors); tiles are 2 rows x 4 rows. */
export const GROUP = 4
/** Datapoints per chunk (multiple of 4): one chunk of all rows, packed, is what the tile loops stream over. */
export const CHUNK = 256

const acc = (r: number, s: number): string => `acc${r}${s}`
const R = [0, 1], S = [0, 1, 2, 3]

/** Adds the lanes of v128 local `v` (4 float32 summed in Float64, or 2 Float64) to the f64 at `address` + offset. */
const addLanesTo = (type: "f32" | "f64", v: string, offset: number, tmp: string, address: string): string =>
  type === "f32"
    ? `
        ${address} ${address} f64.load offset=${offset}
        local.get $${v} f64x2.promote_low_f32x4
        local.get $${v} local.get $${v} i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 f64x2.promote_low_f32x4
        f64x2.add local.tee $${tmp} f64x2.extract_lane 0 local.get $${tmp} f64x2.extract_lane 1 f64.add
        f64.add f64.store offset=${offset}`
    : `
        ${address} ${address} f64.load offset=${offset}
        local.get $${v} f64x2.extract_lane 0 local.get $${v} f64x2.extract_lane 1 f64.add
        f64.add f64.store offset=${offset}`

/**
 * gram32 / gram64 (a, b, hi0, hi1, gj0, gj1, nvec, c, ldc, tri): tiles of A B^T added
 * to the Float64 matrix c (leading dimension ldc), for A and B packed as groups of 4
 * rows interleaved by 16-byte vectors (4 float32 or 2 Float64): group g, vector v, row
 * r at base + ((g * nvec + v) * 4 + r) * 16. Rows of A come in pairs (half-groups hi in
 * [hi0, hi1): rows 2 hi, 2 hi + 1), rows of B in groups of 4 (gj in [gj0, gj1), or
 * [max(hi / 2, gj0), gj1) when `tri` is set: with b = a, only the upper block triangle
 * of A A^T). A 2 x 4 tile keeps its 8 accumulators and 6 operands in registers (V8 has
 * 15 vector registers on x64; a 3 x 3 tile spills one accumulator every iteration).
 */
const dotTiles = (type: "f32" | "f64"): FuncSource => {
  const v = type === "f32" ? "f32x4" : "f64x2"
  return {
    name: `gram${type.slice(1)}`,
    params: [["a", "i32"], ["b", "i32"], ["hi0", "i32"], ["hi1", "i32"], ["gj0", "i32"], ["gj1", "i32"], ["nvec", "i32"], ["c", "i32"], ["ldc", "i32"], ["tri", "i32"]],
    locals: [
      ["hi", "i32"], ["gj", "i32"], ["pa", "i32"], ["pb", "i32"], ["end", "i32"], ["gbytes", "i32"], ["cr", "i32"], ["rowBytes", "i32"],
      ["a0", "v128"], ["a1", "v128"], ["b0", "v128"], ["b1", "v128"], ["b2", "v128"], ["b3", "v128"],
      ...R.flatMap((r) => S.map((s) => [acc(r, s), "v128"] as [string, ValType])),
    ],
    body: `
    local.get $nvec i32.const 64 i32.mul local.set $gbytes
    local.get $ldc i32.const 8 i32.mul local.set $rowBytes
    local.get $hi0 local.set $hi
    block $doneI loop $nextI
      local.get $hi local.get $hi1 i32.ge_u br_if $doneI
      ;; gj starts at gj0, or at max(hi / 2, gj0) for a triangle
      local.get $gj0 local.set $gj
      local.get $tri
      if
        local.get $hi i32.const 1 i32.shr_u local.get $gj0 local.get $hi i32.const 1 i32.shr_u local.get $gj0 i32.gt_u select local.set $gj
      end
      block $doneJ loop $nextJ
        local.get $gj local.get $gj1 i32.ge_u br_if $doneJ
        ;; pa = a + (hi / 2) * gbytes + (hi % 2) * 32
        local.get $a local.get $hi i32.const 1 i32.shr_u local.get $gbytes i32.mul i32.add
        local.get $hi i32.const 1 i32.and i32.const 32 i32.mul i32.add local.tee $pa
        local.get $gbytes i32.add local.set $end
        local.get $b local.get $gj local.get $gbytes i32.mul i32.add local.set $pb
        ${R.flatMap((r) => S.map((s) => `v128.const f32x4 0 0 0 0 local.set $${acc(r, s)}`)).join(" ")}
        loop $k
          local.get $pa v128.load local.set $a0
          local.get $pa v128.load offset=16 local.set $a1
          ${S.map((s) => `local.get $pb v128.load offset=${16 * s} local.set $b${s}`).join(" ")}
          ${R.flatMap((r) => S.map((s) => `local.get $${acc(r, s)} local.get $a${r} local.get $b${s} ${v}.mul ${v}.add local.set $${acc(r, s)}`)).join("\n          ")}
          local.get $pb i32.const 64 i32.add local.set $pb
          local.get $pa i32.const 64 i32.add local.tee $pa
          local.get $end i32.lt_u br_if $k
        end
        ;; c[(2 hi + r) * ldc + 4 gj + s] += sum of the lanes of acc_rs, in Float64
        local.get $c local.get $hi i32.const 2 i32.mul local.get $ldc i32.mul local.get $gj i32.const 4 i32.mul i32.add i32.const 8 i32.mul i32.add local.set $cr
        ${R.map((r) => S.map((s) => addLanesTo(type, acc(r, s), 8 * s, "b0", "local.get $cr")).join("") + "\n        local.get $cr local.get $rowBytes i32.add local.set $cr").join("")}
        local.get $gj i32.const 1 i32.add local.set $gj
        br $nextJ
      end end
      local.get $hi i32.const 1 i32.add local.set $hi
      br $nextI
    end end`,
  }
}

/**
 * pack(src, groups, nvec, shift, dst, sums): rows of src (groups * 4 rows of nvec * 4
 * floats, row-major) minus shift[row] (float32) into the interleaved layout gram reads;
 * adds each shifted row's sum to sums[row] (Float64).
 */
const pack: FuncSource = {
  name: "pack",
  params: [["src", "i32"], ["groups", "i32"], ["nvec", "i32"], ["shift", "i32"], ["dst", "i32"], ["sums", "i32"]],
  locals: [["row", "i32"], ["rows", "i32"], ["r", "i32"], ["gbase", "i32"], ["ps", "i32"], ["pd", "i32"], ["end", "i32"], ["s", "v128"], ["x", "v128"], ["sum", "v128"]],
  body: `
    local.get $groups i32.const 4 i32.mul local.set $rows
    local.get $dst local.set $gbase
    block $done loop $nextRow
      local.get $row local.get $rows i32.ge_u br_if $done
      local.get $shift local.get $row i32.const 4 i32.mul i32.add v128.load32_splat local.set $s
      local.get $src local.get $row local.get $nvec i32.mul i32.const 16 i32.mul i32.add local.tee $ps
      local.get $nvec i32.const 16 i32.mul i32.add local.set $end
      ;; row r of group g goes to dst + g * nvec * 64 + r * 16, then every 64 bytes
      local.get $gbase local.get $r i32.const 16 i32.mul i32.add local.set $pd
      v128.const f32x4 0 0 0 0 local.set $sum
      loop $v
        local.get $ps v128.load local.get $s f32x4.sub local.set $x
        local.get $pd local.get $x v128.store
        local.get $sum local.get $x f32x4.add local.set $sum
        local.get $pd i32.const 64 i32.add local.set $pd
        local.get $ps i32.const 16 i32.add local.tee $ps
        local.get $end i32.lt_u br_if $v
      end
      local.get $sums local.get $row i32.const 8 i32.mul i32.add
      local.get $sums local.get $row i32.const 8 i32.mul i32.add f64.load
      local.get $sum f64x2.promote_low_f32x4
      local.get $sum local.get $sum i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 f64x2.promote_low_f32x4
      f64x2.add local.tee $x f64x2.extract_lane 0 local.get $x f64x2.extract_lane 1 f64.add
      f64.add f64.store
      local.get $row i32.const 1 i32.add local.set $row
      ;; next lane of the group, or the next group
      local.get $r i32.const 1 i32.add local.tee $r i32.const 4 i32.eq
      if
        i32.const 0 local.set $r
        local.get $gbase local.get $nvec i32.const 64 i32.mul i32.add local.set $gbase
      end
      br $nextRow
    end end`,
}

export const KERNELS: readonly FuncSource[] = [dotTiles("f32"), dotTiles("f64"), pack, tred2Symv, tred2Rank2, hhAccumulate, rotations]

/** Row groups per block of the j loop: 16 groups of 4 rows x CHUNK floats (64 KiB) stay in L2 while every i row streams past. */
const J_BLOCK = 16

export interface Kernels {
  readonly memory: WasmMemory
  readonly gram32: (a: number, b: number, hi0: number, hi1: number, gj0: number, gj1: number, nvec: number, c: number, ldc: number, tri: number) => void
  readonly gram64: (a: number, b: number, hi0: number, hi1: number, gj0: number, gj1: number, nvec: number, c: number, ldc: number, tri: number) => void
  readonly pack: (src: number, groups: number, nvec: number, shift: number, dst: number, sums: number) => void
  readonly tred2Symv: (v: number, ld: number, i: number, d: number, e: number) => void
  readonly tred2Rank2: (v: number, ld: number, i: number, d: number, e: number) => void
  readonly hhAccumulate: (v: number, ld: number, i: number, d: number) => void
  readonly rotations: (v: number, ld: number, l: number, m: number, cs: number) => void
}

let instance: Kernels | undefined
/** The kernels, compiled once per thread (well under a millisecond: the module is a few KB). */
export const kernels = (): Kernels => {
  if (instance) return instance
  const api = wasmApi()
  instance = new api.Instance(new api.Module(assemble(KERNELS, { initialPages: 1, maxPages: 65536 }))).exports as unknown as Kernels
  return instance
}

/** The kernels' memory grown to at least `bytes`, with fresh views (growing detaches the old ones). Every call lays out its own data from byte 0. */
export const workspace = (bytes: number): { k: Kernels; f32: Float32Array; f64: Float64Array } => {
  const k = kernels()
  const have = k.memory.buffer.byteLength
  if (bytes > have) k.memory.grow(Math.ceil((bytes - have) / 65536))
  return { k, f32: new Float32Array(k.memory.buffer), f64: new Float64Array(k.memory.buffer) }
}

// One loop per small function, so V8 optimises each after a few rows (see covariance.ts).
const packRow = (f64: Float64Array, base: number, src: Float64Array, from: number, cols: number): void => {
  for (let p = 0; p < cols; p++) f64[base + (p >> 1) * 8 + (p & 1)] = src[from + p]!
}
const packColumn = (f64: Float64Array, base: number, src: Float64Array, column: number, stride: number, cols: number): void => {
  for (let p = 0; p < cols; p++) f64[base + (p >> 1) * 8 + (p & 1)] = src[p * stride + column]!
}

/** Rows of the row-major r x cols matrix `src` (or of its transpose when `transposed`: src is cols x r) packed for gram64 at f64[at...]: groups of 4 rows by 2-double vectors. */
const pack64 = (f64: Float64Array, at: number, src: Float64Array, r: number, cols: number, transposed: boolean): void => {
  const nvec = Math.ceil(cols / 2)
  const rp = Math.ceil(r / GROUP) * GROUP
  f64.fill(0, at, at + rp * nvec * 2)
  for (let i = 0; i < r; i++) {
    const base = at + Math.floor(i / GROUP) * nvec * 8 + (i % GROUP) * 2
    if (transposed) packColumn(f64, base, src, i, r, cols)
    else packRow(f64, base, src, i * cols, cols)
  }
}

/** Copies the upper triangle of the n x n matrix a into its lower triangle. */
export const mirrorUpper = (a: Float64Array, n: number): void => {
  for (let i = 1; i < n; i++) for (let j = 0; j < i; j++) a[i * n + j] = a[j * n + i]!
}

/**
 * Float64 A B (A r x k, B k x c, row-major; with `bTransposed`, b holds B^T, c x k)
 * with the SIMD dot-product tiles; with `b` undefined, A A^T (c = r), computed as its
 * upper triangle and mirrored. Sums run pairwise by vector lane, so results differ from
 * a sequential loop only by rounding.
 */
export const productF64 = (a: Float64Array, b: Float64Array | undefined, r: number, k: number, c: number, bTransposed = false): Float64Array => {
  const rp = Math.ceil(r / GROUP) * GROUP, cp = Math.ceil(c / GROUP) * GROUP
  const nvec = Math.ceil(k / 2)
  const packA = 0, packB = packA + rp * nvec * 16, outAt = packB + (b ? cp * nvec * 16 : 0)
  const { k: kern, f64 } = workspace(outAt + rp * cp * 8)
  pack64(f64, packA / 8, a, r, k, false)
  if (b) pack64(f64, packB / 8, b, c, k, !bTransposed)
  f64.fill(0, outAt / 8, outAt / 8 + rp * cp)
  const groupsJ = cp / GROUP
  for (let gj0 = 0; gj0 < groupsJ; gj0 += J_BLOCK) {
    const gj1 = Math.min(groupsJ, gj0 + J_BLOCK)
    kern.gram64(packA, b ? packB : packA, 0, b ? rp / 2 : 2 * gj1, gj0, gj1, nvec, outAt, cp, b ? 0 : 1)
  }
  const out = new Float64Array(r * c)
  for (let i = 0; i < r; i++) {
    const from = outAt / 8 + i * cp
    if (b) out.set(f64.subarray(from, from + c), i * c)
    else out.set(f64.subarray(from + i, from + c), i * c + i)
  }
  if (!b) mirrorUpper(out, r)
  return out
}

/** Rows of a matrix, each `length` long (the joint rows of two activation matrices, without copying them). */
export interface RowSource {
  readonly rows: number
  readonly length: number
  row(r: number): Float32Array | Float64Array
}

export interface ShiftedGram {
  /** Upper triangle (j >= i; leading dimension ld) of the rows x rows sums over the columns of (a_i - shift_i)(a_j - shift_j). */
  readonly gram: Float64Array
  readonly ld: number
  /** Per row, sum over the columns of (a_i - shift_i). */
  readonly sums: Float64Array
}

/** Columns [c0, c0 + w) of every row into f32[at...], `stride` apart; padding columns equal the row's shift, so they add nothing. */
const stage = (f32: Float32Array, at: number, rows: readonly (Float32Array | Float64Array)[], c0: number, w: number, stride: number, shift: Float32Array): void => {
  for (let r = 0; r < rows.length; r++) {
    f32.set(rows[r]!.subarray(c0, c0 + w), at + r * stride)
    if (stride > w) f32.fill(shift[r]!, at + r * stride + w, at + (r + 1) * stride)
  }
}

/**
 * Gram matrix of the rows of `source` over columns [colStart, colEnd), each row minus
 * shift[row] first (float32 products, Float64 sums per chunk of CHUNK columns; see above).
 * With the sums, the Gram of the exactly centred rows over n columns is gram - sums sums^T / n.
 */
export const shiftedGram = (source: RowSource, colStart: number, colEnd: number, shift: ArrayLike<number>): ShiftedGram => {
  const d = source.rows
  const groups = Math.ceil(d / GROUP), rp = groups * GROUP
  // Layout (bytes): staging rows | packed rows | shift (f32) | sums (f64) | gram (f64, rp x rp)
  const chunkBytes = rp * CHUNK * 4
  const staging = 0, packed = chunkBytes, shiftAt = 2 * chunkBytes, sumsAt = shiftAt + rp * 8, gramAt = sumsAt + rp * 8
  const total = gramAt + rp * rp * 8
  const { k, f32, f64 } = workspace(total)
  f64.fill(0, sumsAt / 8, total / 8)
  f32.fill(0, shiftAt / 4, shiftAt / 4 + rp)
  for (let r = 0; r < d; r++) f32[shiftAt / 4 + r] = shift[r]!
  const rows = Array.from({ length: d }, (_, r) => source.row(r))
  for (let c0 = colStart; c0 < colEnd; c0 += CHUNK) {
    const w = Math.min(CHUNK, colEnd - c0)
    const stride = Math.ceil(w / 4) * 4
    stage(f32, staging / 4, rows, c0, w, stride, f32.subarray(shiftAt / 4, shiftAt / 4 + d))
    f32.fill(0, staging / 4 + d * stride, staging / 4 + rp * stride)
    const nvec = stride / 4
    k.pack(staging, groups, nvec, shiftAt, packed, sumsAt)
    for (let gj0 = 0; gj0 < groups; gj0 += J_BLOCK) {
      const gj1 = Math.min(groups, gj0 + J_BLOCK)
      k.gram32(packed, packed, 0, 2 * gj1, gj0, gj1, nvec, gramAt, rp, 1)
    }
  }
  return { gram: f64.slice(gramAt / 8, gramAt / 8 + rp * rp), ld: rp, sums: f64.slice(sumsAt / 8, sumsAt / 8 + d) }
}
