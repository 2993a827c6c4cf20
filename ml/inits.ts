// The paper's initialisation schemes (Sections 3 and 5) as seeded functions over a
// freshly built model. The fresh model already holds the framework's default random
// weights (seeded by its ModelSpec), so every scheme only OVERWRITES the layers it
// is about and leaves the rest as they are: "the rest random" means "as built".
//
// Pretrained weights arrive as a map from layer name to that layer's weight tensors
// in Keras order (kernel, bias; gamma, beta, moving mean, moving variance), from our
// own pretraining checkpoint (ml/checkpoint.ts) or a Keras .h5 (models/keras-h5.ts).

import * as tf from "@tensorflow/tfjs-core"
import type { LayersModel } from "@tensorflow/tfjs-layers"
import { Rng } from "../lib/random.ts"
import { gaborFilterBank, type GaborParams, type GaborRanges } from "./gabor.ts"

/** Layer name -> that layer's weights in the layer's own order. The caller owns (and disposes) the tensors. */
export type PretrainedWeights = ReadonlyMap<string, readonly tf.Tensor[]>

/** The parts of models/types.ts BuiltModel that initialisation needs (BuiltModel satisfies it). */
export interface InitTarget {
  readonly model: LayersModel
  readonly spec: { readonly arch: string }
  readonly blocks: readonly { readonly name: string; readonly layers: readonly string[]; readonly output: string }[]
}

export interface InitReport {
  readonly scheme: string
  /** Layers whose weights were copied from the pretrained set. */
  readonly pretrained: readonly string[]
  /** Layers re-drawn from the pretrained weights' per-tensor mean and variance (Mean Var). */
  readonly meanVar: readonly string[]
  /** Batch-norm layers reset to identity (gamma 1, beta 0, moving mean 0, moving variance 1). */
  readonly batchNormReset: readonly string[]
  /** Layers holding synthetic Gabor filters, with the drawn parameters. */
  readonly gabor: readonly { readonly layer: string; readonly params: readonly GaborParams[] }[]
  /** Layers with weights left as the framework's random initialisation. */
  readonly random: readonly string[]
}

const HEAD = "head"

const layersWithWeights = (target: InitTarget): string[] => target.model.layers.filter((l) => l.weights.length > 0).map((l) => l.name)

const headLayers = (target: InitTarget): Set<string> => new Set(target.blocks.find((b) => b.name === HEAD)?.layers ?? [])

const finish = (target: InitTarget, scheme: string, parts: Partial<Omit<InitReport, "scheme" | "random">>): InitReport => {
  const touched = new Set([...(parts.pretrained ?? []), ...(parts.meanVar ?? []), ...(parts.batchNormReset ?? []), ...(parts.gabor ?? []).map((g) => g.layer)])
  return {
    scheme,
    pretrained: parts.pretrained ?? [],
    meanVar: parts.meanVar ?? [],
    batchNormReset: parts.batchNormReset ?? [],
    gabor: parts.gabor ?? [],
    random: layersWithWeights(target).filter((n) => !touched.has(n)),
  }
}

/**
 * The pretrained tensors for `layer`, checked against the model's weights: a missing
 * layer or a count/shape mismatch throws naming the layer and both shapes.
 */
const checkedPretrained = (target: InitTarget, pretrained: PretrainedWeights, layerName: string, scheme: string): readonly tf.Tensor[] => {
  const layer = target.model.getLayer(layerName)
  const weights = pretrained.get(layerName)
  if (!weights) {
    throw new Error(
      `${scheme}: the pretrained weights have no layer "${layerName}" (model ${target.spec.arch}); ` +
        `they hold ${pretrained.size} layers, e.g. ${[...pretrained.keys()].slice(0, 5).join(", ")}. ` +
        `Use weights from the same architecture (layer names must match).`,
    )
  }
  const want = layer.weights.map((w) => w.shape)
  const got = weights.map((w) => w.shape)
  if (want.length !== got.length || want.some((s, i) => s.join("x") !== got[i].join("x"))) {
    throw new Error(
      `${scheme}: layer "${layerName}" of ${target.spec.arch} has weight shapes [${want.map((s) => s.join("x")).join(", ")}] ` +
        `but the pretrained weights have [${got.map((s) => s.join("x")).join(", ")}]. ` +
        `Were they made for a different architecture, width or number of outputs?`,
    )
  }
  return weights
}

const copyPretrained = (target: InitTarget, pretrained: PretrainedWeights, layers: readonly string[], scheme: string): string[] => {
  // Check every layer before writing any, so a bad file leaves the model untouched.
  const values = layers.map((name) => checkedPretrained(target, pretrained, name, scheme))
  layers.forEach((name, i) => target.model.getLayer(name).setWeights(values[i] as tf.Tensor[]))
  return [...layers]
}

/** Random: the framework's default initialisers, i.e. the freshly built model unchanged. */
export const randomInit = (target: InitTarget): InitReport => finish(target, "random", {})

/** Transfer: every pretrained weight except the output layer ("head"), which stays random. */
export const transferInit = (target: InitTarget, pretrained: PretrainedWeights): InitReport => {
  const head = headLayers(target)
  const layers = layersWithWeights(target).filter((n) => !head.has(n))
  return finish(target, "transfer", { pretrained: copyPretrained(target, pretrained, layers, "transferInit") })
}

const blockIndex = (target: InitTarget, upTo: number | string, scheme: string): number => {
  const body = target.blocks.filter((b) => b.name !== HEAD)
  const names = body.map((b) => b.name)
  const k = typeof upTo === "number" ? upTo : names.indexOf(upTo)
  if (!(Number.isInteger(k) && k >= 0 && k < body.length)) {
    throw new Error(`${scheme}: no block ${JSON.stringify(upTo)} in ${target.spec.arch}; its blocks are ${names.join(", ")} (index 0..${body.length - 1})`)
  }
  return k
}

/**
 * Weight transfusion: pretrained weights for the contiguous prefix of blocks
 * blocks[0..upTo] (inclusive; by index or name, e.g. "conv1", "block2"), the rest random.
 * The head is never transfused; transfusing every body block equals transferInit.
 */
export const transfusionInit = (target: InitTarget, pretrained: PretrainedWeights, upTo: number | string): InitReport => {
  const k = blockIndex(target, upTo, "transfusionInit")
  const body = target.blocks.filter((b) => b.name !== HEAD)
  const withWeights = new Set(layersWithWeights(target))
  const layers = body.slice(0, k + 1).flatMap((b) => b.layers.filter((l) => withWeights.has(l)))
  return finish(target, `transfusion(${body[k].name})`, { pretrained: copyPretrained(target, pretrained, layers, "transfusionInit") })
}

/**
 * ResNet-50-slim: ResNet-50 pretrained weights up to and including block2; blocks 3 and 4
 * (half width in this architecture) and the head random.
 */
export const slimInit = (target: InitTarget, pretrained: PretrainedWeights): InitReport => {
  if (target.spec.arch !== "resnet50-slim") {
    throw new Error(`slimInit applies only to arch "resnet50-slim" (with resnet50 pretrained weights), not "${target.spec.arch}"; for a prefix of pretrained blocks on other models use transfusionInit`)
  }
  const report = transfusionInit(target, pretrained, "block2")
  return { ...report, scheme: "slim" }
}

export interface MeanVarOptions {
  readonly rng: Rng
  /**
   * "identity" (default; the paper found it slightly best): gamma 1, beta 0, moving mean 0,
   * moving variance 1. "pretrained": batch-norm layers keep their pretrained values.
   */
  readonly batchNorm?: "identity" | "pretrained"
}

const isBatchNorm = (target: InitTarget, layerName: string): boolean => target.model.getLayer(layerName).getClassName() === "BatchNormalization"

/** Identity value of a batch-norm weight, from its Keras name. */
const batchNormIdentity = (weightName: string): number => {
  const role = weightName.split("/").pop() ?? ""
  if (role.startsWith("gamma") || role.startsWith("moving_variance")) return 1
  if (role.startsWith("beta") || role.startsWith("moving_mean")) return 0
  throw new Error(`meanVarInit: batch-norm weight "${weightName}" is none of gamma, beta, moving_mean, moving_variance`)
}

/**
 * Mean Var: for each non-head layer, every weight tensor is replaced by iid draws from
 * N(mean, variance) of the corresponding pretrained tensor (kernel and bias separately).
 * Batch norm is reset to identity by default. Seeded per layer, so the draws of one
 * layer do not depend on the others.
 */
export const meanVarInit = async (target: InitTarget, pretrained: PretrainedWeights, options: MeanVarOptions): Promise<InitReport> => {
  const head = headLayers(target)
  const layers = layersWithWeights(target).filter((n) => !head.has(n))
  const sources = layers.map((name) => checkedPretrained(target, pretrained, name, "meanVarInit"))
  // Read before drawing: webgpu reads only asynchronously in Node.
  const read = await Promise.all(sources.map((ts) => Promise.all(ts.map((t) => t.data()))))
  const meanVar: string[] = [], batchNormReset: string[] = [], copied: string[] = []
  layers.forEach((name, li) => {
    const layer = target.model.getLayer(name)
    if (isBatchNorm(target, name)) {
      if ((options.batchNorm ?? "identity") === "pretrained") {
        layer.setWeights(sources[li] as tf.Tensor[])
        copied.push(name)
      } else {
        const values = layer.weights.map((w) => tf.fill(w.shape as number[], batchNormIdentity(w.originalName)))
        layer.setWeights(values)
        tf.dispose(values)
        batchNormReset.push(name)
      }
      return
    }
    const rng = options.rng.fork(`meanvar/${name}`)
    const values = sources[li].map((src, si) => {
      const data = read[li]![si]!
      let s = 0
      for (let i = 0; i < data.length; i++) s += data[i]
      const mean = s / data.length
      let v = 0
      for (let i = 0; i < data.length; i++) v += (data[i] - mean) ** 2
      const std = Math.sqrt(v / data.length)
      const out = new Float32Array(data.length)
      for (let i = 0; i < out.length; i++) out[i] = rng.normal(mean, std)
      return tf.tensor(out, src.shape, "float32")
    })
    layer.setWeights(values)
    tf.dispose(values)
    meanVar.push(name)
  })
  return finish(target, `meanvar(batchnorm=${options.batchNorm ?? "identity"})`, { meanVar, batchNormReset, pretrained: copied })
}

export interface GaborOptions {
  readonly rng: Rng
  /** Which layer gets the filters; default the first 2-D convolution of the first block ("conv1"). */
  readonly layer?: string
  /** Layer standard deviation to scale to; default the std of the layer's current (random) kernel. */
  readonly targetStd?: number
  readonly ranges?: GaborRanges
}

/**
 * Synthetic Gabor conv1: the first convolution's kernel replaced by Gabor filters
 * (ml/gabor.ts; zero-mean per filter, same kernel on each input channel, layer scaled to
 * the random initialiser's std), its bias (if any) left as built, everything else random.
 */
export const gaborInit = async (target: InitTarget, options: GaborOptions): Promise<InitReport> => {
  const first = target.blocks[0]
  const candidates = options.layer ? [options.layer] : (first?.layers ?? [])
  const name = candidates.find((n) => {
    const l = target.model.getLayer(n)
    return l.weights.length > 0 && l.weights[0].shape.length === 4
  })
  if (!name) {
    throw new Error(
      `gaborInit: ${options.layer ? `layer "${options.layer}"` : `the first block "${first?.name}"`} of ${target.spec.arch} has no 2-D convolution with a 4-D kernel to fill with Gabor filters`,
    )
  }
  const layer = target.model.getLayer(name)
  const [kh, kw, inChannels, filters] = layer.weights[0].shape as number[]
  if (kh !== kw) throw new Error(`gaborInit: layer "${name}" has a ${kh}x${kw} kernel; Gabor filters need a square one`)
  // Clones: getWeights returns the live variables, and the kernel is replaced below.
  const current = layer.getWeights().map((t) => t.clone())
  let targetStd = options.targetStd
  if (targetStd === undefined) {
    const data = await current[0].data()
    let s = 0, s2 = 0
    for (let i = 0; i < data.length; i++) { s += data[i]; s2 += data[i] * data[i] }
    const mean = s / data.length
    targetStd = Math.sqrt(Math.max(0, s2 / data.length - mean * mean))
  }
  const bank = gaborFilterBank(options.rng.fork(`gabor/${name}`), { size: kh, inChannels, filters, targetStd, ranges: options.ranges })
  const kernel = tf.tensor(bank.kernel, [kh, kw, inChannels, filters], "float32")
  layer.setWeights([kernel, ...current.slice(1)])
  tf.dispose([kernel, ...current])
  return finish(target, "gabor", { gabor: [{ layer: name, params: bank.params }] })
}

/** A serialisable choice of scheme, for stage parameters and manifests. */
export type InitScheme =
  | { readonly kind: "random" }
  | { readonly kind: "transfer" }
  | { readonly kind: "meanvar"; readonly batchNorm?: "identity" | "pretrained" }
  | { readonly kind: "transfusion"; readonly upTo: number | string }
  | { readonly kind: "slim" }
  | { readonly kind: "gabor"; readonly targetStd?: number }

/** Applies `scheme`; `pretrained` is required by every scheme except random and gabor. */
export const applyInit = async (target: InitTarget, scheme: InitScheme, args: { pretrained?: PretrainedWeights; seed: number | string }): Promise<InitReport> => {
  const need = (): PretrainedWeights => {
    if (!args.pretrained) throw new Error(`init "${scheme.kind}" needs pretrained weights, but none were given`)
    return args.pretrained
  }
  const rng = new Rng(args.seed).fork(`init/${scheme.kind}`)
  switch (scheme.kind) {
    case "random": return randomInit(target)
    case "transfer": return transferInit(target, need())
    case "meanvar": return meanVarInit(target, need(), { rng, batchNorm: scheme.batchNorm })
    case "transfusion": return transfusionInit(target, need(), scheme.upTo)
    case "slim": return slimInit(target, need())
    case "gabor": return gaborInit(target, { rng, targetStd: scheme.targetStd })
  }
}

/** A model's weights as PretrainedWeights (copies; dispose them when done). */
export const layerWeightsOf = (model: LayersModel): Map<string, tf.Tensor[]> =>
  new Map(model.layers.filter((l) => l.weights.length > 0).map((l) => [l.name, l.getWeights().map((t) => t.clone())]))
