// The optimisers' per-variable update (ml/optimizer.ts) as SIMD loops on the wasm heap. Each
// f32x4 operation rounds to float32 exactly as Math.fround does after each JS operation,
// and WebAssembly never contracts a multiply and an add, so these give the bits of
// adamUpdate / momentumUpdate (and so of the op-by-op path) four lanes at a time; the JS
// loop was ~10 ns per weight (20-30 ms of a 340 ms CBR-Small step at width 1).
import type { FuncSource, WasmMemory } from "../../analysis/wasm.ts"
import { heapModule, onHeap } from "./heap-module.ts"

const adam: FuncSource = {
  name: "adam",
  // x, m, v, g, out: byte addresses; n4: groups of 4 floats; then the AdamScalars.
  params: [["x", "i32"], ["m", "i32"], ["v", "i32"], ["g", "i32"], ["out", "i32"], ["n4", "i32"],
    ["beta1", "f32"], ["oneMinusBeta1", "f32"], ["beta2", "f32"], ["oneMinusBeta2", "f32"], ["lrT", "f32"], ["epsilon", "f32"]],
  locals: [["b1", "v128"], ["c1", "v128"], ["b2", "v128"], ["c2", "v128"], ["lr", "v128"], ["eps", "v128"], ["gi", "v128"], ["mi", "v128"], ["vi", "v128"]],
  body: `
    local.get $beta1 f32x4.splat local.set $b1
    local.get $oneMinusBeta1 f32x4.splat local.set $c1
    local.get $beta2 f32x4.splat local.set $b2
    local.get $oneMinusBeta2 f32x4.splat local.set $c2
    local.get $lrT f32x4.splat local.set $lr
    local.get $epsilon f32x4.splat local.set $eps
    loop $next
      local.get $g v128.load local.set $gi
      ;; m = m b1 + g (1 - b1)
      local.get $m v128.load local.get $b1 f32x4.mul local.get $gi local.get $c1 f32x4.mul f32x4.add local.set $mi
      ;; v = v b2 + g^2 (1 - b2)
      local.get $v v128.load local.get $b2 f32x4.mul local.get $gi local.get $gi f32x4.mul local.get $c2 f32x4.mul f32x4.add local.set $vi
      local.get $m local.get $mi v128.store
      local.get $v local.get $vi v128.store
      ;; out = x - (m lrT) / (sqrt(v) + eps)
      local.get $out
      local.get $x v128.load
      local.get $mi local.get $lr f32x4.mul
      local.get $vi f32x4.sqrt local.get $eps f32x4.add
      f32x4.div f32x4.sub v128.store
      local.get $x i32.const 16 i32.add local.set $x
      local.get $m i32.const 16 i32.add local.set $m
      local.get $v i32.const 16 i32.add local.set $v
      local.get $g i32.const 16 i32.add local.set $g
      local.get $out i32.const 16 i32.add local.set $out
      local.get $n4 i32.const 1 i32.sub local.tee $n4
      br_if $next
    end`,
}

const momentum: FuncSource = {
  name: "momentum",
  params: [["x", "i32"], ["acc", "i32"], ["g", "i32"], ["out", "i32"], ["n4", "i32"], ["mu", "f32"], ["lr", "f32"]],
  locals: [["muv", "v128"], ["lrv", "v128"], ["a", "v128"]],
  body: `
    local.get $mu f32x4.splat local.set $muv
    local.get $lr f32x4.splat local.set $lrv
    loop $next
      ;; a = a momentum + g; out = x - a lr
      local.get $acc v128.load local.get $muv f32x4.mul local.get $g v128.load f32x4.add local.set $a
      local.get $acc local.get $a v128.store
      local.get $out local.get $x v128.load local.get $a local.get $lrv f32x4.mul f32x4.sub v128.store
      local.get $x i32.const 16 i32.add local.set $x
      local.get $acc i32.const 16 i32.add local.set $acc
      local.get $g i32.const 16 i32.add local.set $g
      local.get $out i32.const 16 i32.add local.set $out
      local.get $n4 i32.const 1 i32.sub local.tee $n4
      br_if $next
    end`,
}

const OPTIMIZER_MODULE = heapModule(() => [adam, momentum])

export interface HeapOptimizerKernels {
  /** n4 > 0 groups of four weights; addresses in bytes. */
  readonly adam: (x: number, m: number, v: number, g: number, out: number, n4: number, beta1: number, oneMinusBeta1: number, beta2: number, oneMinusBeta2: number, lrT: number, epsilon: number) => void
  readonly momentum: (x: number, acc: number, g: number, out: number, n4: number, mu: number, lr: number) => void
}

export const optimizerKernels = (memory: WasmMemory): HeapOptimizerKernels =>
  onHeap(OPTIMIZER_MODULE, memory, (e) => ({ adam: e.adam as HeapOptimizerKernels["adam"], momentum: e.momentum as HeapOptimizerKernels["momentum"] }))
