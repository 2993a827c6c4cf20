// The optimisers are written here rather than taken from tf.train: tf.train.adam keeps
// beta^t as a running product that its setWeights recomputes with pow(), so a restored
// optimiser differs from the uninterrupted one in the last bits. Ours derive the bias
// correction from the step count alone.

import * as tf from "@tensorflow/tfjs-core"
import { toRecords, type OptimizerState } from "./checkpoint.ts"

// ---------------------------------------------------------------- optimisers

export type OptimizerConfig =
  | { readonly kind: "adam"; readonly learningRate: number; readonly beta1?: number; readonly beta2?: number; readonly epsilon?: number }
  | { readonly kind: "sgd-momentum"; readonly learningRate: number; readonly momentum: number }

/** Adam (Keras/TF form: lr_t = lr sqrt(1 - b2^t) / (1 - b1^t), eps outside the sqrt) or SGD with heavy-ball momentum (TF form). */
export class Optimizer {
  private readonly slots: tf.Variable[][]
  iterations = 0
  readonly config: Required<OptimizerConfig>

  constructor(config: OptimizerConfig, private readonly variables: readonly tf.Variable[], private readonly names: readonly string[]) {
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

  /** One update from gradients aligned with the variables (null = no gradient, left unchanged). */
  apply(grads: readonly (tf.Tensor | null | undefined)[]): void {
    this.iterations++
    const c = this.config
    tf.tidy(() => {
      if (c.kind === "adam") {
        const t = this.iterations
        const lrT = (c.learningRate * Math.sqrt(1 - c.beta2 ** t)) / (1 - c.beta1 ** t)
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
          v.assign(tf.sub(v, tf.mul(a1, c.learningRate)))
        })
      }
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
