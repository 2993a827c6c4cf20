// Layer activations of a trained (or freshly initialised) model on a probe set,
// reduced to a neurons x datapoints matrix per layer and written as one Parquet file
// per layer (analysis/parquet.ts, layout in analysis/LAYOUT.md).
//
// A conv layer's output (N, H, W, C) has N*H*W datapoints per channel; CCA wants
// datapoints >= 10x neurons but not millions, so the datapoints are either a seeded
// random subset of the (image, y, x) positions or the spatial average per image.
// The subset depends only on the seed and the activation shape, never on the model,
// so the same layer of two networks is sampled at the same positions and the files
// can be compared row by row.
import * as tf from "@tensorflow/tfjs-core"
import * as tfl from "@tensorflow/tfjs-layers"
import type { LayersModel } from "@tensorflow/tfjs-layers"
import { mkdir } from "node:fs/promises"
import { join } from "node:path"
import { Rng } from "../lib/random.ts"
import type { ImageSet } from "../data/imageset.ts"
import { toInputTensor, type Normalisation } from "../ml/train.ts"
import { type ActivationTable, type ParquetCompression, writeActivationTable } from "./parquet.ts"

export type Reduction =
  /** A seeded random subset of the (image, y, x) positions: min(all, maxDatapoints ?? datapointsPerNeuron x channels) rows. */
  | { readonly kind: "subsample"; readonly seed: number | string; readonly datapointsPerNeuron?: number; readonly maxDatapoints?: number }
  /** The spatial mean per image and channel: one row per probe image (y = x = -1). */
  | { readonly kind: "avgpool" }
  /** Every position (small layers and tests). */
  | { readonly kind: "all" }

export const DEFAULT_DATAPOINTS_PER_NEURON = 10

/** What every activation file records; anything else the caller passes is kept too. */
export interface ActivationMetadata {
  readonly model: string
  readonly init: string
  readonly seed: string | number
  readonly step: number
  readonly [key: string]: string | number | boolean
}

export interface ActivationOptions {
  readonly model: LayersModel
  /** Layer names as in model.getLayer(name). */
  readonly layers: readonly string[]
  readonly probe: ImageSet
  /** Probe image indices, in order (default: all). */
  readonly indices?: readonly number[]
  readonly reduction: Reduction
  /** Images per forward pass (default 16). */
  readonly batchSize?: number
  /** Input normalisation, as used in training (ml/train.ts; default pixels / 255). */
  readonly normalisation?: Normalisation
}

export interface LayerActivations {
  readonly layer: string
  readonly table: ActivationTable
  /** Spatial size of the layer output (1 x 1 for dense layers). */
  readonly height: number
  readonly width: number
}

export interface DumpedLayer {
  readonly layer: string
  readonly path: string
  readonly neurons: number
  readonly rows: number
  readonly bytes: number
  readonly reduction: string
}

/** k distinct integers from [0, n), ascending (Floyd's algorithm: O(k), no length-n permutation). */
const sampleSorted = (rng: Rng, n: number, k: number): Int32Array | Float64Array => {
  const chosen = new Set<number>()
  for (let j = n - k; j < n; j++) {
    const t = rng.int(j + 1)
    chosen.add(chosen.has(t) ? j : t)
  }
  return Float64Array.from(chosen).sort()
}

/** A file name for a layer: its name with anything but [A-Za-z0-9_.-] replaced. */
export const activationFileName = (layer: string): string => `${layer.replace(/[^A-Za-z0-9_.-]/g, "_")}.parquet`

const outputShapeOf = (model: LayersModel, name: string): number[] => {
  let layer
  try {
    layer = model.getLayer(name)
  } catch {
    const names = model.layers.map((l) => l.name)
    throw new Error(`model "${model.name}" has no layer "${name}"; its layers are: ${names.slice(0, 40).join(", ")}${names.length > 40 ? `, ... (${names.length} in all)` : ""}`)
  }
  const shape = layer.outputShape
  if (!Array.isArray(shape) || Array.isArray(shape[0])) throw new Error(`layer "${name}" has several outputs; pick a single-output layer`)
  const dims = (shape as (number | null)[]).slice(1)
  if (dims.some((d) => d === null)) throw new Error(`layer "${name}" has an unknown output size ${JSON.stringify(shape)}; build the model with a fixed input size`)
  if (dims.length !== 3 && dims.length !== 1) throw new Error(`layer "${name}" outputs shape ${JSON.stringify(shape)}; only (H, W, C) conv maps and (C) vectors are supported`)
  return dims as number[]
}

/**
 * Computes the reduced activations of the given layers in memory (one forward pass
 * per batch for all layers). `dumpActivations` writes them to Parquet.
 */
export const computeActivations = async (options: ActivationOptions): Promise<LayerActivations[]> => {
  const { model, layers, probe, reduction } = options
  if (layers.length === 0) throw new Error("computeActivations: no layers requested")
  if (new Set(layers).size !== layers.length) throw new Error(`computeActivations: layer names repeat in ${JSON.stringify(layers)}`)
  const indices = options.indices ?? Array.from({ length: probe.count }, (_, i) => i)
  const n = indices.length
  if (n === 0) throw new Error("computeActivations: the probe set is empty")
  const batchSize = Math.max(1, options.batchSize ?? 16)
  const perNeuron = reduction.kind === "subsample" ? reduction.datapointsPerNeuron ?? DEFAULT_DATAPOINTS_PER_NEURON : 0

  const plans = layers.map((layer) => {
    const dims = outputShapeOf(model, layer)
    const [h, w, c] = dims.length === 3 ? (dims as [number, number, number]) : [1, 1, dims[0]!]
    const total = n * h * w
    let positions: Int32Array | Float64Array | undefined // sorted global positions (img*h + y)*w + x
    let rows: number
    if (reduction.kind === "avgpool") rows = n
    else if (reduction.kind === "all") rows = total
    else {
      const want = Math.min(total, Math.max(1, Math.floor(reduction.maxDatapoints ?? perNeuron * c)))
      rows = want
      positions = want === total ? undefined : sampleSorted(new Rng(`${String(reduction.seed)}/activation-positions/${n}x${h}x${w}`), total, want)
    }
    const data = new Float32Array(c * rows)
    const image = new Int32Array(rows), y = new Int32Array(rows), x = new Int32Array(rows)
    return { layer, h, w, c, total, rows, positions, cursor: 0, data, image, y, x }
  })

  const outputs = layers.map((name) => model.getLayer(name).output as tfl.SymbolicTensor)
  const probeModel = tfl.model({ inputs: model.inputs, outputs })
  for (let b0 = 0; b0 < n; b0 += batchSize) {
    const batchIdx = indices.slice(b0, b0 + batchSize)
    const batch = await probe.read(batchIdx)
    const input = toInputTensor(batch.pixels, batchIdx.length, probe.height, probe.width, options.normalisation)
    const result = probeModel.predict(input) as tf.Tensor | tf.Tensor[]
    input.dispose()
    const tensors = Array.isArray(result) ? result : [result]
    try {
      for (let li = 0; li < plans.length; li++) {
        const p = plans[li]!
        const values = (await tensors[li]!.data()) as Float32Array
        const { h, w, c, rows, data } = p
        const hw = h * w
        if (reduction.kind === "avgpool") {
          for (let k = 0; k < batchIdx.length; k++) {
            const r = b0 + k
            for (let ch = 0; ch < c; ch++) {
              let s = 0
              for (let q = 0; q < hw; q++) s += values[(k * hw + q) * c + ch]!
              data[ch * rows + r] = s / hw
            }
            p.image[r] = batchIdx[k]!
            p.y[r] = -1
            p.x[r] = -1
          }
          continue
        }
        // Positions of this batch are the global positions in [b0*hw, (b0+len)*hw).
        const end = (b0 + batchIdx.length) * hw
        const take = (pos: number): void => {
          const r = p.cursor++
          const local = pos - b0 * hw
          const src = local * c
          for (let ch = 0; ch < c; ch++) data[ch * rows + r] = values[src + ch]!
          const img = Math.floor(pos / hw), rem = pos - img * hw
          p.image[r] = indices[img]!
          p.y[r] = Math.floor(rem / w)
          p.x[r] = rem - Math.floor(rem / w) * w
        }
        if (p.positions) {
          while (p.cursor < rows && p.positions[p.cursor]! < end) take(p.positions[p.cursor]!)
        } else {
          for (let pos = b0 * hw; pos < end; pos++) take(pos)
        }
      }
    } finally {
      tensors.forEach((t) => t.dispose())
    }
  }

  return plans.map((p) => {
    const metadata: Record<string, string> = {
      layer: p.layer,
      reduction: reduction.kind,
      probe_images: String(n),
      layer_height: String(p.h),
      layer_width: String(p.w),
      neurons: String(p.c),
      datapoints_total: String(reduction.kind === "avgpool" ? n : p.total),
      rows: String(p.rows),
      datapoints_per_neuron: (p.rows / p.c).toFixed(3),
    }
    if (reduction.kind === "subsample") metadata.positions_seed = String(reduction.seed)
    return { layer: p.layer, height: p.h, width: p.w, table: { neurons: p.c, rows: p.rows, data: p.data, image: p.image, y: p.y, x: p.x, metadata } }
  })
}

/**
 * Computes the activations and writes `<outDir>/<layer>.parquet` per layer, with the
 * caller's metadata (model, init, seed, step, ...) plus the reduction actually used.
 */
export const dumpActivations = async (
  options: ActivationOptions & { readonly outDir: string; readonly metadata: ActivationMetadata; readonly compression?: ParquetCompression },
): Promise<DumpedLayer[]> => {
  const layers = await computeActivations(options)
  await mkdir(options.outDir, { recursive: true })
  const out: DumpedLayer[] = []
  for (const { layer, table } of layers) {
    const path = join(options.outDir, activationFileName(layer))
    const metadata = { ...Object.fromEntries(Object.entries(options.metadata).map(([k, v]) => [k, String(v)])), ...table.metadata }
    const { bytes } = await writeActivationTable(path, { ...table, metadata }, { compression: options.compression })
    out.push({ layer, path, neurons: table.neurons, rows: table.rows, bytes, reduction: table.metadata.reduction! })
  }
  return out
}
