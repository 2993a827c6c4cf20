// A small assembler for the subset of WebAssembly text the analysis kernels use
// (analysis/kernels.ts), so the kernels are reviewable source rather than a binary blob
// and need no compiler toolchain. Bodies are linear (not folded) instruction lists:
// `local.get $a  v128.load offset=16  f32x4.add ...`, with named locals, named or
// numbered block/loop labels, `;;` comments. One module: its memory (exported, or imported
// as env.memory to work on another module's heap) and the exported functions; no other
// imports, no globals or tables.
//
// Only the opcodes below are known; anything else is an error naming the token, and
// WebAssembly.validate/compile checks the rest (types, stack shapes).

// The project's TypeScript libs (ES2023 + node) do not declare WebAssembly; this is the part used here.
export interface WasmMemory { readonly buffer: ArrayBuffer; grow(pages: number): number }
interface WasmApi {
  Module: new (bytes: Uint8Array) => object
  Instance: new (module: object, imports?: Record<string, Record<string, unknown>>) => { readonly exports: Record<string, unknown> }
  validate(bytes: Uint8Array): boolean
}
export const wasmApi = (): WasmApi => {
  const api = (globalThis as { WebAssembly?: WasmApi }).WebAssembly
  if (!api) throw new Error("this JavaScript runtime has no WebAssembly")
  return api
}

export type ValType = "i32" | "i64" | "f32" | "f64" | "v128"

export interface FuncSource {
  readonly name: string
  /** Parameter names and types, in order. */
  readonly params: readonly (readonly [string, ValType])[]
  readonly result?: ValType
  readonly locals?: readonly (readonly [string, ValType])[]
  /** Linear instruction text. */
  readonly body: string
}

const VALTYPE: Record<ValType, number> = { i32: 0x7f, i64: 0x7e, f32: 0x7d, f64: 0x7c, v128: 0x7b }

type Imm = "none" | "local" | "label" | "block" | "memarg" | "i32" | "f32" | "f64" | "lane" | "func" | "shuffle" | "v128"
// [opcode bytes (0xfd prefix = SIMD, opcode as LEB128 after it), immediate kind, natural alignment log2 for memargs]
const OPS: Record<string, readonly [number[], Imm, number?]> = {
  unreachable: [[0x00], "none"], nop: [[0x01], "none"],
  block: [[0x02], "block"], loop: [[0x03], "block"], if: [[0x04], "block"], else: [[0x05], "none"], end: [[0x0b], "none"],
  br: [[0x0c], "label"], br_if: [[0x0d], "label"], return: [[0x0f], "none"], call: [[0x10], "func"],
  drop: [[0x1a], "none"], select: [[0x1b], "none"],
  "local.get": [[0x20], "local"], "local.set": [[0x21], "local"], "local.tee": [[0x22], "local"],
  "i32.load": [[0x28], "memarg", 2], "f32.load": [[0x2a], "memarg", 2], "f64.load": [[0x2b], "memarg", 3],
  "i32.store": [[0x36], "memarg", 2], "f32.store": [[0x38], "memarg", 2], "f64.store": [[0x39], "memarg", 3],
  "i32.const": [[0x41], "i32"], "f32.const": [[0x43], "f32"], "f64.const": [[0x44], "f64"],
  "i32.eqz": [[0x45], "none"], "i32.eq": [[0x46], "none"], "i32.ne": [[0x47], "none"],
  "i32.lt_s": [[0x48], "none"], "i32.lt_u": [[0x49], "none"], "i32.gt_s": [[0x4a], "none"], "i32.gt_u": [[0x4b], "none"],
  "i32.le_s": [[0x4c], "none"], "i32.le_u": [[0x4d], "none"], "i32.ge_s": [[0x4e], "none"], "i32.ge_u": [[0x4f], "none"],
  "f64.lt": [[0x63], "none"], "f64.gt": [[0x64], "none"],
  "i32.add": [[0x6a], "none"], "i32.sub": [[0x6b], "none"], "i32.mul": [[0x6c], "none"],
  "i32.and": [[0x71], "none"], "i32.or": [[0x72], "none"], "i32.shl": [[0x74], "none"], "i32.shr_u": [[0x76], "none"],
  "f32.add": [[0x92], "none"], "f32.sub": [[0x93], "none"], "f32.mul": [[0x94], "none"],
  "f64.abs": [[0x99], "none"], "f64.neg": [[0x9a], "none"], "f64.sqrt": [[0x9f], "none"],
  "f64.add": [[0xa0], "none"], "f64.sub": [[0xa1], "none"], "f64.mul": [[0xa2], "none"], "f64.div": [[0xa3], "none"],
  "f32.demote_f64": [[0xb6], "none"], "f64.promote_f32": [[0xbb], "none"],
  "v128.load": [[0xfd, 0x00], "memarg", 4], "v128.load32_splat": [[0xfd, 0x09], "memarg", 2], "v128.load64_splat": [[0xfd, 0x0a], "memarg", 3],
  "v128.store": [[0xfd, 0x0b], "memarg", 4], "v128.const": [[0xfd, 0x0c], "v128"], "i8x16.shuffle": [[0xfd, 0x0d], "shuffle"],
  "i32x4.splat": [[0xfd, 0x11], "none"], "f32x4.splat": [[0xfd, 0x13], "none"], "f64x2.splat": [[0xfd, 0x14], "none"],
  "i32x4.extract_lane": [[0xfd, 0x1b], "lane"], "f32x4.gt": [[0xfd, 0x44], "none"], "v128.bitselect": [[0xfd, 0x52], "none"],
  "f32x4.extract_lane": [[0xfd, 0x1f], "lane"], "f64x2.extract_lane": [[0xfd, 0x21], "lane"],
  "f64x2.promote_low_f32x4": [[0xfd, 0x5f], "none"],
  "f32x4.sqrt": [[0xfd, 0xe3], "none"], "f32x4.add": [[0xfd, 0xe4], "none"], "f32x4.sub": [[0xfd, 0xe5], "none"], "f32x4.mul": [[0xfd, 0xe6], "none"], "f32x4.div": [[0xfd, 0xe7], "none"],
  "f64x2.add": [[0xfd, 0xf0], "none"], "f64x2.sub": [[0xfd, 0xf1], "none"], "f64x2.mul": [[0xfd, 0xf2], "none"],
  // Relaxed SIMD (Node 20: behind --experimental-wasm-relaxed-simd; on by default from V8 11.4).
  "f32x4.relaxed_madd": [[0xfd, 0x105], "none"],
}

const uleb = (n: number): number[] => {
  if (!(Number.isInteger(n) && n >= 0)) throw new RangeError(`wasm: ${n} is not an unsigned integer`)
  const out: number[] = []
  do {
    let b = n % 128
    n = Math.floor(n / 128)
    if (n > 0) b |= 0x80
    out.push(b)
  } while (n > 0)
  return out
}

const sleb = (n: number): number[] => {
  if (!Number.isInteger(n)) throw new RangeError(`wasm: ${n} is not an integer`)
  const out: number[] = []
  for (;;) {
    const b = n & 0x7f
    n >>= 7
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) { out.push(b); return out }
    out.push(b | 0x80)
  }
}

const bytesOf = (array: Float32Array | Float64Array): number[] => Array.from(new Uint8Array(array.buffer))
const str = (s: string): number[] => { const b = Array.from(new TextEncoder().encode(s)); return [...uleb(b.length), ...b] }
const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()]
const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body]

const assembleBody = (f: FuncSource, funcIndex: ReadonlyMap<string, number>): number[] => {
  const locals = new Map<string, number>()
  for (const [name, _] of [...f.params, ...(f.locals ?? [])]) {
    if (locals.has(name)) throw new Error(`wasm ${f.name}: local $${name} declared twice`)
    locals.set(name, locals.size)
  }
  const tokens = f.body.replace(/;;[^\n]*/g, " ").split(/\s+/).filter((t) => t.length > 0)
  const out: number[] = []
  const labels: (string | undefined)[] = [] // innermost last
  let i = 0
  const next = (what: string): string => {
    const t = tokens[i++]
    if (t === undefined) throw new Error(`wasm ${f.name}: expected ${what} at the end of the body`)
    return t
  }
  const number = (t: string): number => {
    const v = Number(t)
    if (Number.isNaN(v)) throw new Error(`wasm ${f.name}: "${t}" is not a number`)
    return v
  }
  while (i < tokens.length) {
    const op = tokens[i++]!
    const spec = OPS[op]
    if (!spec) throw new Error(`wasm ${f.name}: unknown instruction "${op}" (token ${i})`)
    const [code, imm, align] = spec
    out.push(code[0]!, ...(code.length > 1 ? uleb(code[1]!) : []))
    switch (imm) {
      case "none":
        if (op === "end") {
          if (labels.length === 0 && i < tokens.length) throw new Error(`wasm ${f.name}: "end" without an open block (token ${i})`)
          labels.pop()
        }
        break
      case "block": {
        const label = tokens[i]?.startsWith("$") ? tokens[i++]!.slice(1) : undefined
        labels.push(label)
        out.push(0x40) // no result
        break
      }
      case "label": {
        const t = next("a label")
        let depth: number
        if (t.startsWith("$")) {
          const at = labels.lastIndexOf(t.slice(1))
          if (at < 0) throw new Error(`wasm ${f.name}: no enclosing block or loop named ${t}`)
          depth = labels.length - 1 - at
        } else depth = number(t)
        out.push(...uleb(depth))
        break
      }
      case "local": {
        const t = next("a local")
        const index = locals.get(t.replace(/^\$/, ""))
        if (index === undefined) throw new Error(`wasm ${f.name}: unknown local ${t}`)
        out.push(...uleb(index))
        break
      }
      case "func": {
        const t = next("a function").replace(/^\$/, "")
        const index = funcIndex.get(t)
        if (index === undefined) throw new Error(`wasm ${f.name}: unknown function ${t}`)
        out.push(...uleb(index))
        break
      }
      case "memarg": {
        let offset = 0, alignLog = align!
        while (tokens[i]?.startsWith("offset=") || tokens[i]?.startsWith("align=")) {
          const [k, v] = tokens[i++]!.split("=") as [string, string]
          if (k === "offset") offset = number(v)
          else alignLog = Math.log2(number(v))
        }
        out.push(...uleb(alignLog), ...uleb(offset))
        break
      }
      case "i32": out.push(...sleb(number(next("an i32")) | 0)); break
      case "f32": out.push(...bytesOf(Float32Array.of(number(next("an f32"))))); break
      case "f64": out.push(...bytesOf(Float64Array.of(number(next("an f64"))))); break
      case "lane": out.push(number(next("a lane index"))); break
      case "shuffle": for (let k = 0; k < 16; k++) out.push(number(next("16 shuffle lanes"))); break
      case "v128": {
        const shape = next("a v128 shape")
        if (shape === "f32x4") out.push(...bytesOf(Float32Array.from({ length: 4 }, () => number(next("4 f32 lanes")))))
        else if (shape === "f64x2") out.push(...bytesOf(Float64Array.from({ length: 2 }, () => number(next("2 f64 lanes")))))
        else throw new Error(`wasm ${f.name}: v128.const shape ${shape} not supported (f32x4, f64x2)`)
        break
      }
    }
  }
  if (labels.length > 0) throw new Error(`wasm ${f.name}: ${labels.length} block(s) not closed with "end"`)
  out.push(0x0b) // function end
  // Locals beyond the parameters, one group per declaration.
  const declared = (f.locals ?? []).map(([, t]) => [1, VALTYPE[t]])
  const body = [...vec(declared), ...out]
  return [...uleb(body.length), ...body]
}

/**
 * Binary module with every function exported by name and either its own exported `memory`
 * (initial pages of 64 KiB, growable to maxPages) or, with `{ imported: true }`, the
 * instantiator's `env.memory` (no maximum declared, so any non-shared memory fits).
 */
export const assemble = (funcs: readonly FuncSource[], memory: { initialPages: number; maxPages: number } | { imported: true }): Uint8Array => {
  const funcIndex = new Map(funcs.map((f, i) => [f.name, i]))
  const types = funcs.map((f) => [0x60, ...vec(f.params.map(([, t]) => [VALTYPE[t]])), ...vec(f.result ? [[VALTYPE[f.result]]] : [])])
  const fnExports = funcs.map((f, i) => [...str(f.name), 0x00, ...uleb(i)])
  const memorySections = "imported" in memory
    ? [...section(2, vec([[...str("env"), ...str("memory"), 0x02, 0x00, ...uleb(1)]]))]
    : []
  const bytes = [
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec(types)),
    ...memorySections,
    ...section(3, vec(funcs.map((_, i) => uleb(i)))),
    ...("imported" in memory ? [] : section(5, vec([[0x01, ...uleb(memory.initialPages), ...uleb(memory.maxPages)]]))),
    ...section(7, vec("imported" in memory ? fnExports : [[...str("memory"), 0x02, 0x00], ...fnExports])),
    ...section(10, vec(funcs.map((f) => assembleBody(f, funcIndex)))),
  ]
  return Uint8Array.from(bytes)
}
