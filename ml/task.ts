// The paper's task heads, how pixels become model inputs, and the task losses: the pieces
// the training loop (ml/train.ts) and evaluation (ml/evaluate.ts) share.

import * as tf from "@tensorflow/tfjs-core"
import type { LayersModel } from "@tensorflow/tfjs-layers"
import type { ImageSet, LabelSpec } from "../data/imageset.ts"
import type { Rng } from "../lib/random.ts"

// ---------------------------------------------------------------- tasks

/** The paper's task heads (spec.md, "Tasks and metrics"). */
export type Task =
  /** RETINA: softmax over grades 0..classes-1; the reported score is P(grade >= referableFrom). */
  | { readonly kind: "grading"; readonly classes: number; readonly referableFrom: number }
  /** CheXpert: one sigmoid per finding, NaN labels masked out of loss and metrics. */
  | { readonly kind: "multilabel"; readonly names: readonly string[] }
  /** ImageNet pretraining: softmax over classes; accuracy and top-5. */
  | { readonly kind: "classification"; readonly classes: number }

export const retinaTask = (referableFrom = 2, classes = 5): Task => ({ kind: "grading", classes, referableFrom })
export const chexpertTask = (names: readonly string[]): Task => ({ kind: "multilabel", names })
export const classificationTask = (classes: number): Task => ({ kind: "classification", classes })

export const taskOutputs = (task: Task): number => (task.kind === "multilabel" ? task.names.length : task.classes)

export const checkTaskMatches = (task: Task, labels: LabelSpec, model: LayersModel, what: string): void => {
  const outputs = model.outputs[0].shape[model.outputs[0].shape.length - 1]
  if (outputs !== taskOutputs(task)) throw new Error(`${what}: the model has ${outputs} outputs but task ${task.kind} needs ${taskOutputs(task)}; build the model with outputs = ${taskOutputs(task)}`)
  if (task.kind === "multilabel") {
    if (labels.kind !== "multilabel" || labels.names.length !== task.names.length) throw new Error(`${what}: task multilabel (${task.names.join(", ")}) but the image set's labels are ${JSON.stringify(labels)}`)
  } else if (labels.kind !== "class" || labels.classes !== task.classes) {
    throw new Error(`${what}: task ${task.kind} with ${task.classes} classes but the image set's labels are ${JSON.stringify(labels)}`)
  }
}

// ---------------------------------------------------------------- input

/** How uint8 pixels become model inputs: [0, 1] floats, optionally then (x - mean) / std per channel. */
export type Normalisation =
  | { readonly kind: "unit" }
  | { readonly kind: "channel"; readonly mean: readonly [number, number, number]; readonly std: readonly [number, number, number] }

export const UNIT: Normalisation = { kind: "unit" }

/** Mirrors the images whose flag is set, in place (NHWC uint8, 3 channels). */
export const flipHorizontally = (pixels: Uint8Array, height: number, width: number, flags: readonly boolean[]): void => {
  for (let n = 0; n < flags.length; n++) {
    if (!flags[n]) continue
    for (let y = 0; y < height; y++) {
      const row = (n * height + y) * width * 3
      for (let x = 0; x < width >> 1; x++) {
        const a = row + x * 3, b = row + (width - 1 - x) * 3
        for (let c = 0; c < 3; c++) {
          const t = pixels[a + c]
          pixels[a + c] = pixels[b + c]
          pixels[b + c] = t
        }
      }
    }
  }
}

/**
 * Random-resized crops (Inception's, torchvision's RandomResizedCrop): a crop covering a
 * uniform `scale` fraction of the image's area with an aspect (width / height) log-uniform in
 * `ratio`, resized back to the image's size. Standard ImageNet recipes use scale [0.08, 1],
 * ratio [3/4, 4/3].
 */
export interface RandomResizedCrop {
  readonly scale: readonly [number, number]
  readonly ratio: readonly [number, number]
}

export interface CropBox { readonly top: number; readonly left: number; readonly height: number; readonly width: number }

/**
 * One crop box inside a height x width image, drawn from `rng` as torchvision draws it: up to
 * ten tries of (area, aspect), the first that fits wins; if none fits, the centred crop of
 * the whole image at the nearest allowed aspect.
 */
export const randomResizedCropBox = (rng: Rng, height: number, width: number, crop: RandomResizedCrop): CropBox => {
  const area = height * width
  const logLo = Math.log(crop.ratio[0]), logHi = Math.log(crop.ratio[1])
  for (let attempt = 0; attempt < 10; attempt++) {
    const target = area * rng.uniform(crop.scale[0], crop.scale[1])
    const aspect = Math.exp(rng.uniform(logLo, logHi))
    const w = Math.round(Math.sqrt(target * aspect)), h = Math.round(Math.sqrt(target / aspect))
    if (w > 0 && h > 0 && w <= width && h <= height) return { top: rng.int(height - h + 1), left: rng.int(width - w + 1), height: h, width: w }
  }
  let w = width, h = height
  if (width / height < crop.ratio[0]) h = Math.round(width / crop.ratio[0])
  else if (width / height > crop.ratio[1]) w = Math.round(height * crop.ratio[1])
  return { top: Math.floor((height - h) / 2), left: Math.floor((width - w) / 2), height: h, width: w }
}

/** Source coordinate of each output position: pixel centres aligned, clamped into the box. */
const sampleGrid = (start: number, size: number, out: number): { lo: Int32Array; hi: Int32Array; frac: Float64Array } => {
  const lo = new Int32Array(out), hi = new Int32Array(out), frac = new Float64Array(out)
  for (let i = 0; i < out; i++) {
    const at = Math.min(Math.max(start + ((i + 0.5) * size) / out - 0.5, start), start + size - 1)
    lo[i] = Math.floor(at)
    hi[i] = Math.min(lo[i]! + 1, start + size - 1)
    frac[i] = at - lo[i]!
  }
  return { lo, hi, frac }
}

/** Each image's box resized (bilinear) back to height x width; NHWC uint8, 3 channels, into a new array. */
export const cropAndResize = (pixels: Uint8Array, height: number, width: number, boxes: readonly CropBox[]): Uint8Array => {
  const out = new Uint8Array(pixels.length)
  const image = height * width * 3
  boxes.forEach((box, n) => {
    const ys = sampleGrid(box.top, box.height, height), xs = sampleGrid(box.left, box.width, width)
    const base = n * image
    for (let y = 0; y < height; y++) {
      const r0 = base + ys.lo[y]! * width * 3, r1 = base + ys.hi[y]! * width * 3, fy = ys.frac[y]!
      for (let x = 0; x < width; x++) {
        const c0 = xs.lo[x]! * 3, c1 = xs.hi[x]! * 3, fx = xs.frac[x]!
        const o = base + (y * width + x) * 3
        for (let c = 0; c < 3; c++) {
          const top = pixels[r0 + c0 + c]! * (1 - fx) + pixels[r0 + c1 + c]! * fx
          const bottom = pixels[r1 + c0 + c]! * (1 - fx) + pixels[r1 + c1 + c]! * fx
          out[o + c] = Math.round(top * (1 - fy) + bottom * fy)
        }
      }
    }
  })
  return out
}

/** uint8 NHWC -> float32 input tensor. */
export const toInputTensor = (pixels: Uint8Array, count: number, height: number, width: number, norm: Normalisation = UNIT): tf.Tensor4D => {
  const out = new Float32Array(pixels.length)
  if (norm.kind === "unit") {
    for (let i = 0; i < pixels.length; i++) out[i] = pixels[i] / 255
  } else {
    for (let i = 0; i < pixels.length; i++) {
      const c = i % 3
      out[i] = (pixels[i] / 255 - norm.mean[c]) / norm.std[c]
    }
  }
  return tf.tensor4d(out, [count, height, width, 3])
}

export const checkInputSize = (model: LayersModel, set: ImageSet, what: string): void => {
  const shape = model.inputs[0].shape
  if (shape[1] !== set.height || shape[2] !== set.width) {
    throw new Error(`${what}: the model takes ${shape[1]}x${shape[2]} images but the image set has ${set.height}x${set.width}; resize the data set or build the model with inputSize ${set.height}`)
  }
}

// ---------------------------------------------------------------- losses

export const EPS = 1e-7

/**
 * Mean loss over labelled entries. Softmax heads: categorical cross-entropy of the
 * class column; sigmoid heads: binary cross-entropy per finding. NaN labels are masked.
 * Probabilities are clipped to [eps, 1 - eps] as Keras does.
 */
export const taskLoss = (task: Task, probs: tf.Tensor, labels: Float32Array, n: number): tf.Scalar => {
  const p = tf.clipByValue(probs, EPS, 1 - EPS)
  if (task.kind === "multilabel") {
    const k = task.names.length
    const y = new Float32Array(n * k), mask = new Float32Array(n * k)
    let count = 0
    for (let i = 0; i < n * k; i++) if (!Number.isNaN(labels[i])) { y[i] = labels[i]; mask[i] = 1; count++ }
    const yt = tf.tensor2d(y, [n, k]), mt = tf.tensor2d(mask, [n, k])
    const bce = tf.neg(tf.add(tf.mul(yt, tf.log(p)), tf.mul(tf.sub(1, yt), tf.log(tf.sub(1, p)))))
    return tf.div(tf.sum(tf.mul(bce, mt)), Math.max(count, 1)) as tf.Scalar
  }
  const k = task.classes
  const onehot = new Float32Array(n * k)
  let count = 0
  for (let i = 0; i < n; i++) {
    const y = labels[i]
    if (Number.isNaN(y)) continue
    if (!(Number.isInteger(y) && y >= 0 && y < k)) throw new RangeError(`training label ${y} is not a class index 0..${k - 1}`)
    onehot[i * k + y] = 1
    count++
  }
  const yt = tf.tensor2d(onehot, [n, k])
  return tf.div(tf.neg(tf.sum(tf.mul(yt, tf.log(p)))), Math.max(count, 1)) as tf.Scalar
}
