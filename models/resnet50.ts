// ResNet-50 v1 with Keras's layout and layer names (keras.applications.ResNet50), so
// that Keras ImageNet weights converted to tfjs load by name. "resnet50-slim" is the
// paper's Slim variant (Section 5): conv1, conv2_x and conv3_x exactly as ResNet-50
// (pretrained-compatible), conv4_x and conv5_x with half the channels.
import type { GraphBuilder } from "./builder.ts"
import type * as tfl from "@tensorflow/tfjs-layers"

type Sym = tfl.SymbolicTensor

// Keras uses this epsilon throughout ResNet; the converted weights assume it.
const BN_EPSILON = 1.001e-5

/** Keras `block1`: bottleneck residual unit, projection shortcut on the first unit of a stage. */
const bottleneck = (b: GraphBuilder, x: Sym, filters: number, stride: number, convShortcut: boolean, name: string): Sym => {
  let shortcut = x
  if (convShortcut) {
    shortcut = b.conv(x, `${name}_0_conv`, 4 * filters, 1, { strides: stride, padding: "valid" })
    shortcut = b.bn(shortcut, `${name}_0_bn`, { epsilon: BN_EPSILON })
  }
  let y = b.conv(x, `${name}_1_conv`, filters, 1, { strides: stride, padding: "valid" })
  y = b.bn(y, `${name}_1_bn`, { epsilon: BN_EPSILON })
  y = b.relu(y, `${name}_1_relu`)
  y = b.conv(y, `${name}_2_conv`, filters, 3, { padding: "same" })
  y = b.bn(y, `${name}_2_bn`, { epsilon: BN_EPSILON })
  y = b.relu(y, `${name}_2_relu`)
  y = b.conv(y, `${name}_3_conv`, 4 * filters, 1, { padding: "valid" })
  y = b.bn(y, `${name}_3_bn`, { epsilon: BN_EPSILON })
  y = b.add([shortcut, y], `${name}_add`)
  return b.relu(y, `${name}_out`)
}

/** Stage filters (bottleneck width) and unit counts of conv2_x..conv5_x. */
export const RESNET50_STAGES: ReadonlyArray<{ keras: string; filters: number; blocks: number; stride: number }> = [
  { keras: "conv2", filters: 64, blocks: 3, stride: 1 },
  { keras: "conv3", filters: 128, blocks: 4, stride: 2 },
  { keras: "conv4", filters: 256, blocks: 6, stride: 2 },
  { keras: "conv5", filters: 512, blocks: 3, stride: 2 },
]

/** Blocks: "conv1" (conv1_* and pool1_*), "block1".."block4" (= Keras conv2_x..conv5_x), "head". */
export const buildResnet50 = (b: GraphBuilder, slim: boolean): { input: Sym; output: Sym } => {
  const input = b.input()
  b.openBlock("conv1")
  let x = b.zeroPad(input, "conv1_pad", 3)
  x = b.conv(x, "conv1_conv", b.width(64), 7, { strides: 2, padding: "valid" })
  x = b.bn(x, "conv1_bn", { epsilon: BN_EPSILON })
  x = b.relu(x, "conv1_relu")
  x = b.zeroPad(x, "pool1_pad", 1)
  x = b.maxPool(x, "pool1_pool", 3, 2, "valid")
  b.setOutput("conv1_relu")
  RESNET50_STAGES.forEach((stage, i) => {
    b.openBlock(`block${i + 1}`)
    // Slim halves the stages after the pretrained-compatible prefix (conv1..conv3_x).
    const filters = b.width(slim && i >= 2 ? stage.filters / 2 : stage.filters)
    for (let unit = 1; unit <= stage.blocks; unit++) {
      x = bottleneck(b, x, filters, unit === 1 ? stage.stride : 1, unit === 1, `${stage.keras}_block${unit}`)
    }
    b.setOutput(`${stage.keras}_block${stage.blocks}_out`)
  })
  return { input, output: b.head(x) }
}
