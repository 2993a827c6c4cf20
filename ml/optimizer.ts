// The optimisers are written here rather than taken from tf.train: tf.train.adam keeps
// beta^t as a running product that its setWeights recomputes with pow(), so a restored
// optimiser differs from the uninterrupted one in the last bits. Ours derive the bias
// correction from the step count alone.
//
// On the wasm backend the update is one JS pass per variable over the wasm heap
// (var, m, v or the momentum, and the gradient; m and v updated in place), instead of ~10 tfjs kernels per
// variable (the Adam update was 3,000 of a ResNet-50 step's 6,683 kernel calls). Each
// operation is rounded to float32 in the same order as the op-by-op path, so both give
// the same bits. Other backends (webgpu, cpu, tfjs-node) keep the op-by-op path.

import * as tf from "@tensorflow/tfjs-core"
import type { WasmMemory } from "../analysis/wasm.ts"
import { toRecords, type OptimizerState } from "./checkpoint.ts"
import { optimizerKernels } from "./kernels/wasm-optimizer.ts"

// ---------------------------------------------------------------- optimisers

/** Float32 constants of one Adam step, rounded as tfjs rounds the scalars of the op path. */
export interface AdamScalars { readonly beta1: number; readonly oneMinusBeta1: number; readonly beta2: number; readonly oneMinusBeta2: number; readonly lrT: number; readonly epsilon: number }

export const adamScalars = (learningRate: number, beta1: number, beta2: number, epsilon: number, t: number): AdamScalars => ({
  beta1: Math.fround(beta1),
  oneMinusBeta1: Math.fround(1 - beta1),
  beta2: Math.fround(beta2),
  oneMinusBeta2: Math.fround(1 - beta2),
  lrT: Math.fround((learningRate * Math.sqrt(1 - beta2 ** t)) / (1 - beta1 ** t)),
  epsilon: Math.fround(epsilon),
})

/**
 * One Adam step, m and v in place and the new weights into `out` (x itself by default),
 * every operation rounded to float32 in the op path's order:
 * m = m b1 + g (1 - b1); v = v b2 + g^2 (1 - b2); out = x - (m lrT) / (sqrt(v) + eps).
 */
export const adamUpdate = (x: Float32Array, m: Float32Array, v: Float32Array, g: Float32Array, k: AdamScalars, out: Float32Array = x): void => {
  const f = Math.fround
  const { beta1, oneMinusBeta1, beta2, oneMinusBeta2, lrT, epsilon } = k
  for (let i = 0; i < x.length; i++) {
    const gi = g[i]
    const mi = f(f(m[i] * beta1) + f(gi * oneMinusBeta1))
    const vi = f(f(v[i] * beta2) + f(f(gi * gi) * oneMinusBeta2))
    m[i] = mi
    v[i] = vi
    out[i] = f(x[i] - f(f(mi * lrT) / f(f(Math.sqrt(vi)) + epsilon)))
  }
}

/** One heavy-ball momentum step (TF form), acc in place: a = a momentum + g; out = x - a lr, float32 throughout. */
export const momentumUpdate = (x: Float32Array, acc: Float32Array, g: Float32Array, momentum: number, learningRate: number, out: Float32Array = x): void => {
  const f = Math.fround
  const mu = f(momentum), lr = f(learningRate)
  for (let i = 0; i < x.length; i++) {
    const a = f(f(acc[i] * mu) + g[i])
    acc[i] = a
    out[i] = f(x[i] - f(a * lr))
  }
}

// ---------------------------------------------------------------- learning-rate schedules

/**
 * How the learning rate changes over a run (the standard ImageNet recipes decay it):
 * constant; "step": multiplied by `factor` every `every` steps (ResNet's x0.1 every 30 epochs);
 * "cosine": linear warm-up over `warmupSteps`, then half a cosine from the base rate down to
 * `finalFraction` of it at the last step.
 */
export type LearningRateSchedule =
  | { readonly kind: "constant" }
  | { readonly kind: "step"; readonly every: number; readonly factor: number }
  | { readonly kind: "cosine"; readonly warmupSteps: number; readonly finalFraction: number }

export const CONSTANT_RATE: LearningRateSchedule = { kind: "constant" }

/** The rate for step `step` (0-based: the update that makes step + 1) of `totalSteps`. */
export const learningRateAt = (schedule: LearningRateSchedule, base: number, step: number, totalSteps: number): number => {
  if (!(Number.isInteger(step) && step >= 0 && Number.isInteger(totalSteps) && step < totalSteps)) {
    throw new RangeError(`learningRateAt: step ${step} is not in 0..${totalSteps - 1}`)
  }
  switch (schedule.kind) {
    case "constant":
      return base
    case "step":
      return base * schedule.factor ** Math.floor(step / schedule.every)
    case "cosine": {
      const warm = Math.min(schedule.warmupSteps, totalSteps - 1)
      if (step < warm) return (base * (step + 1)) / (warm + 1)
      // Progress 0 at the first step after warm-up, 1 at the last step.
      const progress = totalSteps - 1 === warm ? 1 : (step - warm) / (totalSteps - 1 - warm)
      return base * (schedule.finalFraction + (1 - schedule.finalFraction) * 0.5 * (1 + Math.cos(Math.PI * progress)))
    }
  }
}

/** What the in-place path needs of tfjs-backend-wasm (4.22.0): heap views, reference counts and its memory. */
interface WasmHeapBackend {
  wasm: { asm: { memory: WasmMemory } }
  makeOutput(shape: number[], dtype: "float32"): tf.TensorInfo
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array | Int32Array | Uint8Array
  refCount(dataId: object): number
}

/** How the optimiser updates: "auto" = one JS pass over the wasm heap when the backend is wasm, op by op elsewhere. */
export type UpdatePath = "auto" | "ops"

export type OptimizerConfig =
  | { readonly kind: "adam"; readonly learningRate: number; readonly beta1?: number; readonly beta2?: number; readonly epsilon?: number }
  | { readonly kind: "sgd-momentum"; readonly learningRate: number; readonly momentum: number }

/** Adam (Keras/TF form: lr_t = lr sqrt(1 - b2^t) / (1 - b1^t), eps outside the sqrt) or SGD with heavy-ball momentum (TF form). */
export class Optimizer {
  private readonly slots: tf.Variable[][]
  iterations = 0
  readonly config: Required<OptimizerConfig>

  constructor(config: OptimizerConfig, private readonly variables: readonly tf.Variable[], private readonly names: readonly string[], private readonly path: UpdatePath = "auto") {
    this.config = config.kind === "adam"
      ? { kind: "adam", learningRate: config.learningRate, beta1: config.beta1 ?? 0.9, beta2: config.beta2 ?? 0.999, epsilon: config.epsilon ?? 1e-7 }
      : { kind: "sgd-momentum", learningRate: config.learningRate, momentum: config.momentum }
    const perVar = this.config.kind === "adam" ? 2 : 1
    this.slots = variables.map((v) => Array.from({ length: perVar }, () => {
      const zeros = tf.zerosLike(v)
      const slot = tf.variable(zeros, false)
      zeros.dispose() // the variable holds its own reference to the data
      return slot
    }))
  }

  private slotNames(): string[] {
    const suffixes = this.config.kind === "adam" ? ["m", "v"] : ["momentum"]
    return this.names.flatMap((n) => suffixes.map((s) => `${n}/${s}`))
  }

  /** The backend whose heap the update can run on, or null for the op-by-op path. */
  private heapBackend(): WasmHeapBackend | null {
    if (this.path !== "auto" || tf.getBackend() !== "wasm") return null
    return tf.backend() as unknown as WasmHeapBackend
  }

  /** Whether the last apply() ran on the wasm heap (for tests and benches). */
  lastUpdateOnHeap = false

  /**
   * One update from gradients aligned with the variables (null = no gradient, left unchanged),
   * at `learningRate` (a schedule's rate for this step; default the configured rate).
   */
  apply(grads: readonly (tf.Tensor | null | undefined)[], learningRate = this.config.learningRate): void {
    this.iterations++
    const c = this.config
    const heap = this.heapBackend()
    this.lastUpdateOnHeap = heap !== null
    if (heap) return this.applyOnHeap(heap, grads, learningRate)
    tf.tidy(() => {
      if (c.kind === "adam") {
        const t = this.iterations
        const lrT = (learningRate * Math.sqrt(1 - c.beta2 ** t)) / (1 - c.beta1 ** t)
        this.variables.forEach((v, i) => {
          const g = grads[i]
          if (!g) return
          const [m, s] = this.slots[i]
          const m1 = tf.add(tf.mul(m, c.beta1), tf.mul(g, 1 - c.beta1))
          const v1 = tf.add(tf.mul(s, c.beta2), tf.mul(tf.square(g), 1 - c.beta2))
          m.assign(m1)
          s.assign(v1)
          v.assign(tf.sub(v, tf.div(tf.mul(m1, lrT), tf.add(tf.sqrt(v1), c.epsilon))))
        })
      } else {
        this.variables.forEach((v, i) => {
          const g = grads[i]
          if (!g) return
          const [acc] = this.slots[i]
          const a1 = tf.add(tf.mul(acc, c.momentum), g)
          acc.assign(a1)
          v.assign(tf.sub(v, tf.mul(a1, learningRate)))
        })
      }
    })
  }

  private applyOnHeap(heap: WasmHeapBackend, grads: readonly (tf.Tensor | null | undefined)[], learningRate: number): void {
    const c = this.config
    const k = c.kind === "adam" ? adamScalars(learningRate, c.beta1, c.beta2, c.epsilon, this.iterations) : null
    const simd = optimizerKernels(heap.wasm.asm.memory)
    this.variables.forEach((v, i) => {
      const g = grads[i]
      if (!g) return
      const slots = this.slots[i]
      if (v.dtype !== "float32" || g.dtype !== "float32" || g.size !== v.size) throw new Error(`optimiser: variable ${this.names[i]} (${v.dtype}, ${v.size}) and its gradient (${g.dtype}, ${g.size}) must be float32 of the same size`)
      // The slots are written in place; only this optimiser reads them, but a restored slot
      // could share its data with a live tensor, which then gets its own copy first.
      for (const t of slots) {
        if (heap.refCount(t.dataId) > 1) tf.tidy(() => t.assign(tf.mul(t, 1))) // tf.clone would share the data again
      }
      // The weights go to fresh data, never in place: the wasm backend caches XNNPACK
      // operators with the weights packed inside, keyed by their data, and drops them when
      // that data is disposed. An in-place write would leave convolutions on stale weights.
      const next = heap.makeOutput([...v.shape], "float32")
      // Views only now: makeOutput may have grown the heap and detached older views.
      const out = heap.typedArrayFromHeap(next) as Float32Array
      const x = heap.typedArrayFromHeap(v) as Float32Array
      const gv = heap.typedArrayFromHeap(g) as Float32Array
      const s0 = heap.typedArrayFromHeap(slots[0]) as Float32Array
      // Groups of four on the SIMD kernels (the same bits), the last n % 4 weights in JS.
      const n4 = x.length >> 2, done = 4 * n4
      const tail = (a: Float32Array) => a.subarray(done)
      if (k) {
        const s1 = heap.typedArrayFromHeap(slots[1]) as Float32Array
        if (n4 > 0) simd.adam(x.byteOffset, s0.byteOffset, s1.byteOffset, gv.byteOffset, out.byteOffset, n4, k.beta1, k.oneMinusBeta1, k.beta2, k.oneMinusBeta2, k.lrT, k.epsilon)
        adamUpdate(tail(x), tail(s0), tail(s1), tail(gv), k, tail(out))
      } else if (c.kind === "sgd-momentum") {
        if (n4 > 0) simd.momentum(x.byteOffset, s0.byteOffset, gv.byteOffset, out.byteOffset, n4, c.momentum, learningRate)
        momentumUpdate(tail(x), tail(s0), tail(gv), c.momentum, learningRate, tail(out))
      }
      const nextTensor = tf.engine().makeTensorFromTensorInfo(next)
      v.assign(nextTensor)
      nextTensor.dispose() // the variable holds its own reference
    })
  }

  async state(): Promise<OptimizerState> {
    const names = this.slotNames()
    return {
      kind: this.config.kind,
      iterations: this.iterations,
      config: { ...this.config },
      slots: await toRecords(this.slots.flat().map((tensor, i) => ({ name: names[i], tensor }))),
    }
  }

  restore(state: OptimizerState, source: string): void {
    const c = this.config as Record<string, unknown>
    for (const [key, value] of Object.entries(state.config)) {
      if (c[key] !== value) throw new Error(`${source}: the checkpoint's optimiser has ${key} = ${value} but this run asks for ${String(c[key])}; resume with the same settings or use a fresh checkpoint directory`)
    }
    const names = this.slotNames()
    const byName = new Map(state.slots.map((s) => [s.name, s]))
    const flat = this.slots.flat()
    const values = names.map((name, i) => {
      const r = byName.get(name)
      if (!r) throw new Error(`${source}: optimiser slot "${name}" is missing from the checkpoint`)
      if (r.shape.join("x") !== flat[i].shape.join("x")) throw new Error(`${source}: optimiser slot "${name}" has shape [${r.shape.join("x")}] in the checkpoint but [${flat[i].shape.join("x")}] here`)
      return tf.tensor(r.data, [...r.shape], r.dtype)
    })
    flat.forEach((v, i) => v.assign(values[i]))
    tf.dispose(values)
    this.iterations = state.iterations
  }

  dispose(): void {
    tf.dispose(this.slots.flat())
  }
}
