// Inception-v3 with Keras's layout (keras.applications.InceptionV3, include_top=False
// plus our head). Keras builds its conv-bn-relu units without names, so a fresh
// tf.keras session names them conv2d, conv2d_1, ..., batch_normalization(_k),
// activation(_k), max_pooling2d(_k), average_pooling2d(_k), concatenate(_k) in
// construction order; we reproduce that order and those names. The block outputs
// keep Keras's explicit names mixed0..mixed10 (and mixed9_0, mixed9_1).
import type { GraphBuilder } from "./builder.ts"
import type * as tfl from "@tensorflow/tfjs-layers"

type Sym = tfl.SymbolicTensor

/** Smallest input Keras accepts for InceptionV3 (its valid-padded stem shrinks the image). */
export const INCEPTION_MIN_INPUT = 75

class KerasAutoNames {
  private counts = new Map<string, number>()
  next(base: string): string {
    const k = this.counts.get(base) ?? 0
    this.counts.set(base, k + 1)
    return k === 0 ? base : `${base}_${k}`
  }
}

export const buildInceptionV3 = (b: GraphBuilder): { input: Sym; output: Sym } => {
  const names = new KerasAutoNames()
  const w = (c: number) => b.width(c)
  // Keras conv2d_bn: conv without bias, batch norm without scale (ReLU follows), ReLU.
  const convBn = (x: Sym, filters: number, rows: number, cols: number, padding: "same" | "valid" = "same", strides = 1): Sym => {
    let y = b.conv(x, names.next("conv2d"), w(filters), [rows, cols], { strides, padding, useBias: false })
    y = b.bn(y, names.next("batch_normalization"), { scale: false })
    return b.relu(y, names.next("activation"))
  }
  const maxPool = (x: Sym, padding: "same" | "valid" = "valid", strides = 2) => b.maxPool(x, names.next("max_pooling2d"), 3, strides, padding)
  const avgPool = (x: Sym) => b.avgPool(x, names.next("average_pooling2d"), 3, 1, "same")

  const input = b.input()
  b.openBlock("conv1")
  let x = convBn(input, 32, 3, 3, "valid", 2)
  b.setOutput("activation")
  b.openBlock("stem")
  x = convBn(x, 32, 3, 3, "valid")
  x = convBn(x, 64, 3, 3)
  x = maxPool(x)
  x = convBn(x, 80, 1, 1, "valid")
  x = convBn(x, 192, 3, 3, "valid")
  x = maxPool(x)
  b.setOutput("max_pooling2d_1")

  const block = (name: string, make: () => Sym[]) => {
    b.openBlock(name)
    x = b.concat(make(), name)
    b.setOutput(name)
  }

  // mixed0..2: 35 x 35 (at 299 px)
  for (const [i, poolFilters] of [32, 64, 64].entries()) {
    block(`mixed${i}`, () => {
      const b1x1 = convBn(x, 64, 1, 1)
      let b5x5 = convBn(x, 48, 1, 1)
      b5x5 = convBn(b5x5, 64, 5, 5)
      let b3x3dbl = convBn(x, 64, 1, 1)
      b3x3dbl = convBn(b3x3dbl, 96, 3, 3)
      b3x3dbl = convBn(b3x3dbl, 96, 3, 3)
      const bPool = convBn(avgPool(x), poolFilters, 1, 1)
      return [b1x1, b5x5, b3x3dbl, bPool]
    })
  }
  // mixed3: reduction to 17 x 17
  block("mixed3", () => {
    const b3x3 = convBn(x, 384, 3, 3, "valid", 2)
    let b3x3dbl = convBn(x, 64, 1, 1)
    b3x3dbl = convBn(b3x3dbl, 96, 3, 3)
    b3x3dbl = convBn(b3x3dbl, 96, 3, 3, "valid", 2)
    const bPool = maxPool(x)
    return [b3x3, b3x3dbl, bPool]
  })
  // mixed4..7: factorised 7x7 convolutions
  for (const [i, mid] of [128, 160, 160, 192].entries()) {
    block(`mixed${4 + i}`, () => {
      const b1x1 = convBn(x, 192, 1, 1)
      let b7x7 = convBn(x, mid, 1, 1)
      b7x7 = convBn(b7x7, mid, 1, 7)
      b7x7 = convBn(b7x7, 192, 7, 1)
      let b7x7dbl = convBn(x, mid, 1, 1)
      b7x7dbl = convBn(b7x7dbl, mid, 7, 1)
      b7x7dbl = convBn(b7x7dbl, mid, 1, 7)
      b7x7dbl = convBn(b7x7dbl, mid, 7, 1)
      b7x7dbl = convBn(b7x7dbl, 192, 1, 7)
      const bPool = convBn(avgPool(x), 192, 1, 1)
      return [b1x1, b7x7, b7x7dbl, bPool]
    })
  }
  // mixed8: reduction to 8 x 8
  block("mixed8", () => {
    let b3x3 = convBn(x, 192, 1, 1)
    b3x3 = convBn(b3x3, 320, 3, 3, "valid", 2)
    let b7x7x3 = convBn(x, 192, 1, 1)
    b7x7x3 = convBn(b7x7x3, 192, 1, 7)
    b7x7x3 = convBn(b7x7x3, 192, 7, 1)
    b7x7x3 = convBn(b7x7x3, 192, 3, 3, "valid", 2)
    const bPool = maxPool(x)
    return [b3x3, b7x7x3, bPool]
  })
  // mixed9, mixed10: expanded filter banks
  for (const i of [0, 1]) {
    block(`mixed${9 + i}`, () => {
      const b1x1 = convBn(x, 320, 1, 1)
      const b3x3 = convBn(x, 384, 1, 1)
      const b3x3Cat = b.concat([convBn(b3x3, 384, 1, 3), convBn(b3x3, 384, 3, 1)], `mixed9_${i}`)
      let b3x3dbl = convBn(x, 448, 1, 1)
      b3x3dbl = convBn(b3x3dbl, 384, 3, 3)
      const b3x3dblCat = b.concat([convBn(b3x3dbl, 384, 1, 3), convBn(b3x3dbl, 384, 3, 1)], names.next("concatenate"))
      const bPool = convBn(avgPool(x), 192, 1, 1)
      return [b1x1, b3x3Cat, b3x3dblCat, bPool]
    })
  }
  return { input, output: b.head(x) }
}
