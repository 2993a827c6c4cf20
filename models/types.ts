// The one interface between model construction and everything that trains, transfers
// or compares models. Other modules code against these names; keep them stable.
import type * as tf from "@tensorflow/tfjs-layers"

export type ArchName = "resnet50" | "resnet50-slim" | "inception-v3" | "cbr-larget" | "cbr-largew" | "cbr-small" | "cbr-tiny"

export const ARCH_NAMES: readonly ArchName[] = ["resnet50", "resnet50-slim", "inception-v3", "cbr-larget", "cbr-largew", "cbr-small", "cbr-tiny"]

export interface ModelSpec {
  arch: ArchName
  /** Square input side in pixels; inputs are [batch, inputSize, inputSize, 3]. */
  inputSize: number
  /** Scales every conv's channel count (1 = the paper's width); for small test profiles. */
  widthMultiplier: number
  outputs: number
  outputActivation: "softmax" | "sigmoid"
  seed: number
}

/**
 * The paper's coarse layers in input->output order: for CBRs "conv1", "block2".."blockN"
 * (conv1 is block1's conv; name them so the paper's "conv1, block1, block2..." reading
 * works), for ResNet "conv1", "block1".."block4" (= Keras conv2_x..conv5_x), for
 * Inception "conv1", then the stem and mixed blocks; the last entry is "head" (the
 * output dense layer). `layers` are the tf layer names that belong to it (used for
 * weight transfusion and Mean Var); `output` is the layer whose activation represents
 * it (used for CCA).
 */
export interface Block {
  name: string
  layers: string[]
  output: string
}

export interface BuiltModel {
  model: tf.LayersModel
  spec: ModelSpec
  blocks: Block[]
}
