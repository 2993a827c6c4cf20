// Is relaxed-SIMD FMA worth our own kernels? XNNPACK's wasm build has no FMA, and 128-bit
// SIMD without it caps well below what PyTorch reaches on the same core. This measures one
// matrix-product microkernel of ours (4 x 8 register tile, written in WAT through
// analysis/wasm.ts) twice, with f32x4.mul + f32x4.add and with f32x4.relaxed_madd, against
// XNNPACK's product (tfjs-backend-wasm's BatchMatMul) on the shapes of the hot convolutions
// as matrix products (im2col rows x kh*kw*Ci x Co). Single thread; GFLOP/s = 2 M N K / time.
// Node 20 needs --experimental-wasm-relaxed-simd (on by default from V8 11.4), so the
// measurement runs in a child process that has it.
// Options: --shapes 256x576x64,1024x288x32,4096x800x64,1024x1152x128 --reps 7
import { spawnSync } from "node:child_process"
import { fileURLToPath } from "node:url"
import { assemble, wasmApi, type FuncSource, type ValType, type WasmMemory } from "../analysis/wasm.ts"
import { median } from "./median.ts"

const MR = 4, NR = 8

/** C[M, N] = A[M, K] B[K, N], row-major float32 at byte addresses a, b, c; M % 4 == 0, N % 8 == 0, K > 0. */
const gemmKernel = (name: string, fused: boolean): FuncSource => {
  const rows = Array.from({ length: MR }, (_, r) => r)
  const acc = (r: number, h: number) => `acc${r}${h}`
  const update = (r: number, h: number) =>
    fused
      ? `local.get $s local.get $b${h} local.get $${acc(r, h)} f32x4.relaxed_madd local.set $${acc(r, h)}`
      : `local.get $s local.get $b${h} f32x4.mul local.get $${acc(r, h)} f32x4.add local.set $${acc(r, h)}`
  return {
    name,
    params: [["a", "i32"], ["b", "i32"], ["c", "i32"], ["m", "i32"], ["n", "i32"], ["k", "i32"]],
    locals: [
      ["m0", "i32"], ["n0", "i32"], ["kk", "i32"], ["pb", "i32"], ["nbytes", "i32"], ["kbytes", "i32"], ["pc", "i32"],
      ...rows.map((r) => [`pa${r}`, "i32"] as [string, ValType]),
      ["b0", "v128"], ["b1", "v128"], ["s", "v128"],
      ...rows.flatMap((r) => [0, 1].map((h) => [acc(r, h), "v128"] as [string, ValType])),
    ],
    body: `
    local.get $n i32.const 4 i32.mul local.set $nbytes
    local.get $k i32.const 4 i32.mul local.set $kbytes
    i32.const 0 local.set $m0
    loop $nextM
      i32.const 0 local.set $n0
      loop $nextN
        ${rows.flatMap((r) => [0, 1].map((h) => `v128.const f32x4 0 0 0 0 local.set $${acc(r, h)}`)).join(" ")}
        local.get $a local.get $m0 local.get $kbytes i32.mul i32.add local.set $pa0
        ${rows.slice(1).map((r) => `local.get $pa${r - 1} local.get $kbytes i32.add local.set $pa${r}`).join(" ")}
        local.get $b local.get $n0 i32.const 4 i32.mul i32.add local.set $pb
        local.get $k local.set $kk
        loop $nextK
          local.get $pb v128.load local.set $b0
          local.get $pb v128.load offset=16 local.set $b1
          ${rows.map((r) => `local.get $pa${r} v128.load32_splat local.set $s ${update(r, 0)} ${update(r, 1)} local.get $pa${r} i32.const 4 i32.add local.set $pa${r}`).join("\n          ")}
          local.get $pb local.get $nbytes i32.add local.set $pb
          local.get $kk i32.const 1 i32.sub local.tee $kk
          br_if $nextK
        end
        ${rows.map((r) => `local.get $c local.get $m0 i32.const ${r} i32.add local.get $nbytes i32.mul i32.add local.get $n0 i32.const 4 i32.mul i32.add local.tee $pc
        local.get $${acc(r, 0)} v128.store local.get $pc local.get $${acc(r, 1)} v128.store offset=16`).join("\n        ")}
        local.get $n0 i32.const ${NR} i32.add local.tee $n0 local.get $n i32.lt_u br_if $nextN
      end
      local.get $m0 i32.const ${MR} i32.add local.tee $m0 local.get $m i32.lt_u br_if $nextM
    end`,
  }
}

interface Row { shape: string; gflops: Record<string, number>; maxDiff: number }

const measureInChild = async (shapes: [number, number, number][], reps: number): Promise<Row[]> => {
  const tf = await import("@tensorflow/tfjs-core")
  const { selectBackend } = await import("../ml/backend.ts")
  await selectBackend("wasm")
  const api = wasmApi()
  const kernels = new api.Instance(new api.Module(assemble([gemmKernel("gemmMulAdd", false), gemmKernel("gemmFma", true)], { initialPages: 1, maxPages: 16384 }))).exports as unknown as {
    memory: WasmMemory; gemmMulAdd: (...a: number[]) => void; gemmFma: (...a: number[]) => void
  }
  const rows: Row[] = []
  for (const [m, k, n] of shapes) {
    const bytes = 4 * (m * k + k * n + 2 * m * n)
    const pages = Math.ceil(bytes / 65536) + 1
    if (kernels.memory.buffer.byteLength < pages * 65536) kernels.memory.grow(pages - kernels.memory.buffer.byteLength / 65536)
    const heap = new Float32Array(kernels.memory.buffer)
    const a = 0, b = m * k, c = b + k * n
    for (let i = 0; i < m * k + k * n; i++) heap[i] = Math.sin(i * 0.37)
    const at = tf.tensor2d(heap.slice(a, b), [m, k]), bt = tf.tensor2d(heap.slice(b, c), [k, n])
    const time = (run: () => void): number => {
      run()
      const ms: number[] = []
      for (let r = 0; r < reps; r++) {
        const t0 = performance.now()
        run()
        ms.push(performance.now() - t0)
      }
      return median(ms)
    }
    const gf = (ms: number) => (2 * m * n * k) / (ms * 1e6)
    // The wasm backend computes inside the op call, so the timed part excludes reading the result.
    const xnnMs = time(() => tf.matMul(at, bt).dispose())
    const product = tf.matMul(at, bt)
    const xnn = product.dataSync() as Float32Array
    product.dispose()
    const mulAddMs = time(() => kernels.gemmMulAdd(a * 4, b * 4, c * 4, m, n, k))
    const fmaMs = time(() => kernels.gemmFma(a * 4, b * 4, c * 4, m, n, k))
    const ours = new Float32Array(kernels.memory.buffer, c * 4, m * n)
    let maxDiff = 0
    for (let i = 0; i < m * n; i++) maxDiff = Math.max(maxDiff, Math.abs(ours[i]! - xnn[i]!) / (1 + Math.abs(xnn[i]!)))
    tf.dispose([at, bt])
    rows.push({ shape: `${m}x${k}x${n}`, gflops: { xnnpack: gf(xnnMs), "mul+add": gf(mulAddMs), relaxed_madd: gf(fmaMs) }, maxDiff })
  }
  return rows
}

const parseShapes = (text: string): [number, number, number][] =>
  text.split(",").map((s) => {
    const [m, k, n] = s.split("x").map(Number) as [number, number, number]
    if (![m, k, n].every((v) => Number.isInteger(v) && v > 0) || m % MR !== 0 || n % NR !== 0) {
      throw new Error(`bench relaxed-fma: shape '${s}' is not MxKxN with M a multiple of ${MR} and N of ${NR}`)
    }
    return [m, k, n]
  })

export default async function (options: Record<string, string> = {}): Promise<void> {
  const shapes = options.shapes ?? "256x576x64,1024x288x32,4096x800x64,1024x1152x128"
  const reps = options.reps ?? "7"
  parseShapes(shapes)
  const child = spawnSync(process.execPath, ["--experimental-wasm-relaxed-simd", "--import", "tsx", fileURLToPath(import.meta.url), shapes, reps], { encoding: "utf8" })
  if (child.status !== 0) {
    console.log(`relaxed-fma: the measuring process failed (exit ${child.status}); relaxed SIMD may be missing from this Node:\n${child.stderr.slice(-2000)}`)
    return
  }
  const rows = JSON.parse(child.stdout.trim().split("\n").at(-1)!) as Row[]
  console.log(`single thread, ${MR}x${NR} tile; GFLOP/s (2 M N K / median of ${reps} calls), MxKxN`)
  for (const r of rows) {
    const g = r.gflops
    console.log(
      `  ${r.shape.padEnd(16)} XNNPACK ${g.xnnpack!.toFixed(1).padStart(6)}   ours mul+add ${g["mul+add"]!.toFixed(1).padStart(6)}   ours relaxed_madd ${g.relaxed_madd!.toFixed(1).padStart(6)}` +
        `   relaxed_madd / XNNPACK x${(g.relaxed_madd! / g.xnnpack!).toFixed(2)}, / mul+add x${(g.relaxed_madd! / g["mul+add"]!).toFixed(2)}   (max rel. diff to XNNPACK ${r.maxDiff.toExponential(1)})`,
    )
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const rows = await measureInChild(parseShapes(process.argv[2]!), Number(process.argv[3]))
  console.log(JSON.stringify(rows))
}
