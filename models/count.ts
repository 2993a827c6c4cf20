// Parameter and FLOP counts, and the table behind `transfusion models`.
//
// Table 1 of the paper lists parameter counts that match no standard count for the
// CBRs; spec.md found the one rule that reproduces all four exactly (conv kernels
// without the first conv, plus a 5-way dense without bias, batch norm and biases not
// counted). We print that "Table 1 convention" beside the true counts.
import type * as tfl from "@tensorflow/tfjs-layers"
import { CBR_CONFIGS } from "./cbr.ts"
import { buildModel, minInputSize } from "./index.ts"
import { ARCH_NAMES } from "./types.ts"
import type { ArchName, BuiltModel } from "./types.ts"

export interface ParamCounts {
  /** spec.md's rule that reproduces Table 1 for the CBRs; null for ResNet/Inception (no rule found). */
  table1Convention: number | null
  /** Trainable weights without the output layer (Keras include_top=False), at full width. */
  trainable: number
  /** All weights without the output layer, batch-norm moving statistics included. */
  total: number
}

/** The numbers printed in the paper's Table 1 (no entry for Slim, which Table 1 does not list). */
export const PAPER_TABLE1: Record<ArchName, number | null> = {
  "resnet50": 23_570_408,
  "resnet50-slim": null,
  "inception-v3": 22_881_424,
  "cbr-larget": 8_532_480,
  "cbr-largew": 8_432_128,
  "cbr-small": 2_108_672,
  "cbr-tiny": 1_076_480,
}

const isCbr = (arch: ArchName): arch is keyof typeof CBR_CONFIGS => arch in CBR_CONFIGS

/** Table 1 convention, from the architecture's definition alone. */
export const table1Convention = (arch: ArchName): number | null => {
  if (!isCbr(arch)) return null
  const { kernel, channels } = CBR_CONFIGS[arch]
  let sum = 0
  for (let i = 1; i < channels.length; i++) sum += kernel * kernel * channels[i - 1]! * channels[i]!
  return sum + channels[channels.length - 1]! * 5
}

const size = (shape: readonly (number | null)[]): number => shape.reduce<number>((a, b) => a * (b ?? 1), 1)

/** True counts of a built model, without its "head" layer. */
export const countWithoutHead = (model: tfl.LayersModel): { trainable: number; total: number } => {
  let trainable = 0, total = 0
  for (const layer of model.layers) {
    if (layer.name === "head") continue
    for (const w of layer.trainableWeights) trainable += size(w.shape)
    for (const w of layer.weights) total += size(w.shape)
  }
  return { trainable, total }
}

/** Multiply-adds x 2 of every conv and dense layer for one image at the model's input size. */
export const flopsPerImage = (built: BuiltModel): number =>
  built.model.layers.reduce((sum, layer) => sum + layerFlops(layer), 0)

/** Multiply-adds x 2 of one conv or dense layer's forward pass for one image; 0 for other layers. */
const layerFlops = (layer: tfl.layers.Layer): number => {
  const cls = layer.getClassName()
  if (cls !== "Conv2D" && cls !== "Dense") return 0
  const kernel = layer.weights.find((w) => w.originalName.endsWith("kernel"))
  if (kernel === undefined) throw new Error(`layer ${layer.name} has no kernel weight`)
  const out = layer.outputShape as (number | null)[]
  const positions = cls === "Conv2D" ? (out[1] as number) * (out[2] as number) : 1
  return 2 * positions * size(kernel.shape)
}

/**
 * FLOPs of one training step per image: the forward multiply-adds x 2 of every conv and dense
 * layer, the same again for its weight gradient, and again for its input gradient unless
 * nothing before it is trainable (the first conv: backprop never asks for the image's
 * gradient). bench/torch_reference.py counts the PyTorch side by the same rule.
 */
export const trainingFlopsPerImage = (built: BuiltModel): number => {
  const trainableUpstream = new Map<tfl.layers.Layer, boolean>()
  const hasTrainableUpstream = (layer: tfl.layers.Layer): boolean => {
    const known = trainableUpstream.get(layer)
    if (known !== undefined) return known
    const inputs = layer.inboundNodes.flatMap((node) => node.inboundLayers)
    const result = inputs.some((l) => l.trainableWeights.length > 0 || hasTrainableUpstream(l))
    trainableUpstream.set(layer, result)
    return result
  }
  let flops = 0
  for (const layer of built.model.layers) {
    const forward = layerFlops(layer)
    if (forward === 0) continue
    flops += 2 * forward + (hasTrainableUpstream(layer) ? forward : 0)
  }
  return flops
}

const countsCache = new Map<ArchName, ParamCounts>()

/** Counts at full width (input size does not change them). Builds the model once per arch; needs a tfjs backend. */
export const paramCounts = (arch: ArchName): ParamCounts => {
  const cached = countsCache.get(arch)
  if (cached !== undefined) return cached
  const built = buildModel({ arch, inputSize: minInputSize(arch), widthMultiplier: 1, outputs: 5, outputActivation: "softmax", seed: 0 })
  const counts = { table1Convention: table1Convention(arch), ...countWithoutHead(built.model) }
  built.model.dispose()
  countsCache.set(arch, counts)
  return counts
}

const fmt = (n: number | null): string => (n === null ? "-" : n.toLocaleString("en-US"))

/** The `transfusion models` table: counts at full width, GFLOPs per image at `inputSize` px (5-way head). */
export const modelsTable = (inputSize: number): string => {
  const header = ["model", "Table-1 conv.", "paper Table 1", "trainable", "total", `GFLOPs/img @${inputSize}px`]
  const rows = ARCH_NAMES.map((arch) => {
    let gflops = "-"
    if (inputSize >= minInputSize(arch)) {
      const built = buildModel({ arch, inputSize, widthMultiplier: 1, outputs: 5, outputActivation: "softmax", seed: 0 })
      gflops = (flopsPerImage(built) / 1e9).toFixed(3)
      const counts = { table1Convention: table1Convention(arch), ...countWithoutHead(built.model) }
      if (!countsCache.has(arch)) countsCache.set(arch, counts)
      built.model.dispose()
    } else {
      gflops = `- (min ${minInputSize(arch)}px)`
    }
    const c = paramCounts(arch)
    return [arch, fmt(c.table1Convention), fmt(PAPER_TABLE1[arch]), fmt(c.trainable), fmt(c.total), gflops]
  })
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ")
  return [
    line(header),
    line(widths.map((w) => "-".repeat(w))),
    ...rows.map(line),
    "",
    "Table-1 conv.: conv kernels without the first conv + 5-way dense without bias (spec.md); reproduces Table 1 for the CBRs.",
    "trainable/total: true counts at full width without the output layer (Keras include_top=False); total adds batch-norm moving statistics.",
    "GFLOPs: 2 x multiply-adds of conv and dense layers per image.",
  ].join("\n")
}
