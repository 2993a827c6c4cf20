// The one interface between datasets and training/analysis: an indexed set of
// fixed-size RGB images with float labels, read in batches by index so a training
// loop can stream a set larger than memory in any (seeded) order.
import * as Schema from "effect/Schema"

/** What the labels mean, so heads, losses and metrics agree. */
export const LabelSpecSchema = Schema.Union(
  /** One column holding a class index 0..classes-1 (RETINA grade, ImageNet class). */
  Schema.Struct({ kind: Schema.Literal("class"), classes: Schema.Int, names: Schema.optional(Schema.Array(Schema.String)) }),
  /** One column per finding holding 0 or 1, NaN where the label is ignored (CheXpert U-Ignore, blank). */
  Schema.Struct({ kind: Schema.Literal("multilabel"), names: Schema.Array(Schema.String) }),
)
export type LabelSpec = typeof LabelSpecSchema.Type

export const labelWidth = (spec: LabelSpec): number => (spec.kind === "class" ? 1 : spec.names.length)

export interface Batch {
  /** N*H*W*3 bytes, row-major NHWC. */
  readonly pixels: Uint8Array
  /** N*labelWidth values; NaN marks an ignored label. */
  readonly labels: Float32Array
  /** Patient id of each image (bootstrap resampling and leakage checks group by it). */
  readonly patients: readonly string[]
  /** Dataset-relative source path of each image (for reports and error messages). */
  readonly paths: readonly string[]
}

export interface ImageSet {
  readonly count: number
  readonly height: number
  readonly width: number
  readonly labels: LabelSpec
  /** Reads the given example indices, in the given order. */
  read(indices: readonly number[]): Promise<Batch>
}

/** An ImageSet over arrays already in memory (tests, probe sets, tiny profiles). */
export const memoryImageSet = (args: {
  height: number
  width: number
  labels: LabelSpec
  pixels: Uint8Array
  labelValues: Float32Array
  patients: readonly string[]
  paths?: readonly string[]
}): ImageSet => {
  const { height, width, pixels, labelValues, patients } = args
  const count = patients.length
  const stride = height * width * 3
  const lw = labelWidth(args.labels)
  if (pixels.length !== count * stride) throw new Error(`memoryImageSet: ${pixels.length} pixel bytes for ${count} images of ${height}x${width}x3`)
  if (labelValues.length !== count * lw) throw new Error(`memoryImageSet: ${labelValues.length} label values for ${count} images x ${lw}`)
  const paths = args.paths ?? patients.map((_, i) => `memory/${i}`)
  return {
    count,
    height,
    width,
    labels: args.labels,
    read: async (indices) => {
      const out = new Uint8Array(indices.length * stride)
      const lab = new Float32Array(indices.length * lw)
      indices.forEach((idx, k) => {
        if (!(idx >= 0 && idx < count)) throw new RangeError(`memoryImageSet: index ${idx} outside 0..${count - 1}`)
        out.set(pixels.subarray(idx * stride, (idx + 1) * stride), k * stride)
        lab.set(labelValues.subarray(idx * lw, (idx + 1) * lw), k * lw)
      })
      return { pixels: out, labels: lab, patients: indices.map((i) => patients[i]!), paths: indices.map((i) => paths[i]!) }
    },
  }
}
