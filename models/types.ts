// The one interface between model construction and everything that trains, transfers
// or compares models. Other modules code against these names; keep them stable.
import type * as tf from "@tensorflow/tfjs-layers"

/**
 * The one list of model ids (configs, stage ids, report keys all use these spellings), in
 * the paper's Table 1 order; `resnet50-slim` is Section 5's Slim ResNet-50 (blocks 3-4 at
 * half width) and is built only by Section 5's stages; `TABLE_MODELS` are the ones a config
 * may list for Tables 1-3. Everything else derives from it (Schema.Literal(...ARCH_NAMES), typeof).
 */
export const TABLE_MODELS = ["resnet50", "inception-v3", "cbr-larget", "cbr-largew", "cbr-small", "cbr-tiny"] as const
export const ARCH_NAMES = [...TABLE_MODELS, "resnet50-slim"] as const

export type ArchName = (typeof ARCH_NAMES)[number]

/** Display names as the paper writes them. */
export const MODEL_NAMES: Record<ArchName, string> = {
  "resnet50": "ResNet-50",
  "inception-v3": "Inception-v3",
  "cbr-larget": "CBR-LargeT",
  "cbr-largew": "CBR-LargeW",
  "cbr-small": "CBR-Small",
  "cbr-tiny": "CBR-Tiny",
  "resnet50-slim": "Slim ResNet-50",
}

/** Section 3.2's "standard ImageNet architectures" vs the lightweight CBR family. */
export const LARGE_MODELS: readonly ArchName[] = ["resnet50", "inception-v3"]
export const CBR_MODELS: readonly ArchName[] = ["cbr-larget", "cbr-largew", "cbr-small", "cbr-tiny"]
/** "Small CBRs" of claim 2 (Table 1's two smallest models). */
export const SMALL_CBR_MODELS: readonly ArchName[] = ["cbr-small", "cbr-tiny"]

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
