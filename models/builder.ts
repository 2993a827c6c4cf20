// Small helpers shared by the architectures: named layers with seeded default
// initialisers, and bookkeeping of which layer belongs to which of the paper's blocks.
import * as tfl from "@tensorflow/tfjs-layers"
import { Rng } from "../lib/random.ts"
import { batchNormalization } from "./batch-norm.ts"
import { conv2d } from "./conv.ts"
import type { Block, ModelSpec } from "./types.ts"

type Sym = tfl.SymbolicTensor

const asSym = (out: tfl.SymbolicTensor | tfl.SymbolicTensor[] | unknown): Sym => out as Sym

/**
 * Builds layers with explicit names and records them under the block currently open.
 * Initialisers are Keras's defaults, the paper's framework: glorot_uniform kernels,
 * zero biases, batch norm gamma 1 / beta 0 (tfjs-layers itself would default conv and
 * dense kernels to glorotNormal). Kernel seeds derive from the model seed and the
 * layer name, so a model's weights depend only on (spec.seed, layer name, shape).
 */
export class GraphBuilder {
  readonly blocks: Block[] = []
  private readonly rng: Rng
  private readonly names = new Set<string>()

  constructor(readonly spec: ModelSpec) {
    this.rng = new Rng(`model-init/${spec.seed}`)
  }

  /** Channels after the width multiplier (at least 1). */
  width(channels: number): number {
    return Math.max(1, Math.round(channels * this.spec.widthMultiplier))
  }

  openBlock(name: string): void {
    this.blocks.push({ name, layers: [], output: "" })
  }

  /** Marks the layer whose activation stands for the open block. */
  setOutput(layer: string): void {
    this.current().output = layer
  }

  private current(): Block {
    const b = this.blocks[this.blocks.length - 1]
    if (b === undefined) throw new Error("internal: layer created before any block was opened")
    return b
  }

  private track(name: string): string {
    if (this.names.has(name)) throw new Error(`internal: duplicate layer name '${name}'`)
    this.names.add(name)
    this.current().layers.push(name)
    return name
  }

  private kernelInit(name: string) {
    return tfl.initializers.glorotUniform({ seed: this.rng.seedFor(name) })
  }

  conv(x: Sym, name: string, filters: number, kernel: number | [number, number], opts: { strides?: number; padding?: "same" | "valid"; useBias?: boolean } = {}): Sym {
    return asSym(conv2d({
      name: this.track(name),
      filters,
      kernelSize: kernel,
      strides: opts.strides ?? 1,
      padding: opts.padding ?? "same",
      useBias: opts.useBias ?? true,
      kernelInitializer: this.kernelInit(name),
    }).apply(x))
  }

  bn(x: Sym, name: string, opts: { epsilon?: number; scale?: boolean } = {}): Sym {
    return asSym(batchNormalization({ name: this.track(name), axis: -1, epsilon: opts.epsilon ?? 1e-3, scale: opts.scale ?? true }).apply(x))
  }

  relu(x: Sym, name: string): Sym {
    return asSym(tfl.layers.activation({ name: this.track(name), activation: "relu" }).apply(x))
  }

  maxPool(x: Sym, name: string, pool: number, strides: number, padding: "same" | "valid"): Sym {
    return asSym(tfl.layers.maxPooling2d({ name: this.track(name), poolSize: pool, strides, padding }).apply(x))
  }

  avgPool(x: Sym, name: string, pool: number, strides: number, padding: "same" | "valid"): Sym {
    return asSym(tfl.layers.averagePooling2d({ name: this.track(name), poolSize: pool, strides, padding }).apply(x))
  }

  zeroPad(x: Sym, name: string, pad: number): Sym {
    return asSym(tfl.layers.zeroPadding2d({ name: this.track(name), padding: pad }).apply(x))
  }

  add(xs: Sym[], name: string): Sym {
    return asSym(tfl.layers.add({ name: this.track(name) }).apply(xs))
  }

  concat(xs: Sym[], name: string): Sym {
    return asSym(tfl.layers.concatenate({ name: this.track(name), axis: -1 }).apply(xs))
  }

  /** Global average pool + the output dense layer "head", in a block of its own. */
  head(x: Sym): Sym {
    this.openBlock("head")
    const pooled = asSym(tfl.layers.globalAveragePooling2d({ name: this.track("avg_pool") }).apply(x))
    const out = asSym(tfl.layers.dense({
      name: this.track("head"),
      units: this.spec.outputs,
      activation: this.spec.outputActivation,
      kernelInitializer: this.kernelInit("head"),
    }).apply(pooled))
    this.setOutput("head")
    return out
  }

  input(): Sym {
    return tfl.input({ shape: [this.spec.inputSize, this.spec.inputSize, 3], name: "input" })
  }

  finish(input: Sym, output: Sym): tfl.LayersModel {
    for (const b of this.blocks) if (b.output === "") throw new Error(`internal: block '${b.name}' has no output layer`)
    return tfl.model({ inputs: input, outputs: output, name: this.spec.arch })
  }
}
