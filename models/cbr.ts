// The paper's small "CBR" convnets (Section 3.1): blocks of conv (stride 1, no bias)
// -> batch norm -> ReLU -> 3x3/2 max pool, then global average pool and a dense head.
// Kernel sizes and channels are spec.md's table; padding "same" is our default (the
// paper does not say).
import type { GraphBuilder } from "./builder.ts"
import type * as tfl from "@tensorflow/tfjs-layers"

export interface CbrConfig {
  kernel: number
  channels: number[]
  /** CBR-LargeT sends its last conv straight to global pooling. */
  poolAfterLast: boolean
}

export const CBR_CONFIGS = {
  "cbr-larget": { kernel: 7, channels: [32, 64, 128, 256, 512], poolAfterLast: false },
  "cbr-largew": { kernel: 7, channels: [64, 128, 256, 512], poolAfterLast: true },
  "cbr-small": { kernel: 7, channels: [32, 64, 128, 256], poolAfterLast: true },
  "cbr-tiny": { kernel: 5, channels: [32, 64, 128, 256], poolAfterLast: true },
} as const satisfies Record<string, CbrConfig>

export type CbrArch = keyof typeof CBR_CONFIGS

/**
 * Layer names: block{i}_conv, block{i}_bn, block{i}_relu, block{i}_pool. Block 1 is
 * reported as "conv1" (the paper's conv1 is its conv); it ends at its ReLU for CCA,
 * while blocks 2..N are represented by their last layer.
 */
export const buildCbr = (b: GraphBuilder, config: CbrConfig): { input: tfl.SymbolicTensor; output: tfl.SymbolicTensor } => {
  const input = b.input()
  let x = input
  config.channels.forEach((channels, i) => {
    const n = i + 1
    b.openBlock(n === 1 ? "conv1" : `block${n}`)
    x = b.conv(x, `block${n}_conv`, b.width(channels), config.kernel, { useBias: false })
    x = b.bn(x, `block${n}_bn`)
    x = b.relu(x, `block${n}_relu`)
    const last = n === config.channels.length
    if (!last || config.poolAfterLast) x = b.maxPool(x, `block${n}_pool`, 3, 2, "same")
    b.setOutput(n === 1 ? `block${n}_relu` : last && !config.poolAfterLast ? `block${n}_relu` : `block${n}_pool`)
  })
  return { input, output: b.head(x) }
}
