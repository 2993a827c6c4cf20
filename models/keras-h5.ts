// Imports Keras (2.x, tf.keras) HDF5 weight files, such as the ImageNet
// resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5, by layer name, as pretrained
// weights for ml/inits.ts. Layout read (Keras's save_weights_to_hdf5_group):
//   root attr "layer_names": the layers in order (long lists are split into
//     "layer_names0", "layer_names1", ... by Keras when they exceed HDF5's attribute limit);
//   group <layer> with attr "weight_names", e.g. ["conv1_conv/kernel:0", "conv1_conv/bias:0"];
//   dataset <layer>/<weight name>, e.g. conv1_conv/conv1_conv/kernel:0.
// A full-model save (model.save) holds the same tree under the group "model_weights".

import { resolve } from "node:path"
import { closeSync, existsSync, openSync, readSync, statSync } from "node:fs"
import * as tf from "@tensorflow/tfjs-core"
import type { LayersModel } from "@tensorflow/tfjs-layers"

export interface KerasWeights {
  /** Layer name -> weights in the file's order (Keras order: kernel, bias; gamma, beta, moving mean, moving variance). Caller disposes. */
  readonly layers: Map<string, tf.Tensor[]>
  /** Layer name -> the file's weight names ("conv1_conv/kernel:0"), aligned with `layers`. */
  readonly weightNames: Map<string, string[]>
  /** Root attributes, when present ("keras_version", "backend"). */
  readonly kerasVersion?: string
  readonly backend?: string
  readonly path: string
}

type H5 = typeof import("h5wasm/node").default
type H5Group = InstanceType<H5["Group"]>
type H5Dataset = InstanceType<H5["Dataset"]>

const HDF5_SIGNATURE = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a])

/** The HDF5 superblock signature sits at byte 0 or, after a user block, at 512, 1024, 2048, ... */
const looksLikeHdf5 = (path: string): boolean => {
  const size = statSync(path).size
  const fd = openSync(path, "r")
  try {
    const buf = Buffer.alloc(8)
    for (let offset = 0; offset + 8 <= size; offset = offset === 0 ? 512 : offset * 2) {
      if (readSync(fd, buf, 0, 8, offset) === 8 && buf.equals(HDF5_SIGNATURE)) return true
    }
    return false
  } finally {
    closeSync(fd)
  }
}

let h5: Promise<H5> | undefined
const loadH5 = (): Promise<H5> => {
  h5 ??= import("h5wasm/node").then(async (m) => {
    await m.default.ready
    return m.default
  })
  return h5
}

const stringList = (value: unknown): string[] => {
  if (value === null || value === undefined) return []
  if (typeof value === "string") return [value]
  if (Array.isArray(value)) return value.map((v) => (v instanceof Uint8Array ? Buffer.from(v).toString("utf8") : String(v)))
  // An empty weight list is stored by Keras as an empty float array.
  if (ArrayBuffer.isView(value) && (value as unknown as ArrayLike<number>).length === 0) return []
  throw new Error(`expected a list of names, got ${Object.prototype.toString.call(value)}`)
}

/** Reads an attribute that Keras may have split into name0, name1, ... */
const chunkedAttribute = (group: H5Group, name: string): string[] | undefined => {
  const attrs = group.attrs
  if (name in attrs) return stringList(attrs[name].value)
  if (!(`${name}0` in attrs)) return undefined
  const out: string[] = []
  for (let i = 0; `${name}${i}` in attrs; i++) out.push(...stringList(attrs[`${name}${i}`].value))
  return out
}

/**
 * Reads every layer's weights (or only `layers`) from a Keras .h5 file.
 * Throws naming the file for a missing file, a file that is not in Keras's weight layout,
 * or a requested layer that the file does not hold.
 */
export const readKerasH5 = async (file: string, options: { layers?: readonly string[] } = {}): Promise<KerasWeights> => {
  const path = resolve(file)
  if (!existsSync(path)) throw new Error(`${path}: no such file (expected a Keras .h5 weights file, e.g. resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5)`)
  if (!looksLikeHdf5(path)) throw new Error(`${path}: not an HDF5 file (no HDF5 signature); expected a Keras .h5 weights file`)
  const h5wasm = await loadH5()
  let f: InstanceType<H5["File"]>
  try {
    f = new h5wasm.File(path, "r")
  } catch (e) {
    throw new Error(`${path}: not a readable HDF5 file (${(e as Error).message})`)
  }
  try {
    let root: H5Group = f
    const modelWeights = f.get("model_weights")
    if (modelWeights instanceof h5wasm.Group) root = modelWeights
    const layerNames = chunkedAttribute(root, "layer_names")
    if (!layerNames) {
      const keras3 = f.get("layers") instanceof h5wasm.Group
      throw new Error(
        `${path}: no "layer_names" attribute, so this is not a Keras 2 weights file` +
          (keras3 ? ` (it looks like a Keras 3 ".weights.h5"; save with tf.keras / Keras 2 or export the legacy h5 format)` : ""),
      )
    }
    const wanted = options.layers ? new Set(options.layers) : undefined
    if (wanted) {
      const have = new Set(layerNames)
      const missing = [...wanted].filter((l) => !have.has(l))
      if (missing.length > 0) throw new Error(`${path}: layer(s) ${missing.map((m) => `"${m}"`).join(", ")} not in the file; it holds ${layerNames.length} layers, e.g. ${layerNames.slice(0, 5).join(", ")}`)
    }
    const layers = new Map<string, tf.Tensor[]>()
    const weightNames = new Map<string, string[]>()
    for (const layer of layerNames) {
      if (wanted && !wanted.has(layer)) continue
      const group = root.get(layer)
      if (!(group instanceof h5wasm.Group)) throw new Error(`${path}: "layer_names" lists "${layer}" but there is no group of that name`)
      const names = chunkedAttribute(group, "weight_names") ?? []
      if (names.length === 0) continue
      const tensors = names.map((wn) => {
        const ds = group.get(wn)
        if (!(ds instanceof h5wasm.Dataset)) throw new Error(`${path}: layer "${layer}" lists weight "${wn}" but there is no dataset ${layer}/${wn}`)
        return datasetTensor(ds as H5Dataset, `${path}: ${layer}/${wn}`)
      })
      layers.set(layer, tensors)
      weightNames.set(layer, names)
    }
    const attr = (n: string) => (n in f.attrs ? String(f.attrs[n].value) : undefined)
    return { layers, weightNames, kerasVersion: attr("keras_version"), backend: attr("backend"), path }
  } finally {
    f.close()
  }
}

const datasetTensor = (ds: H5Dataset, where: string): tf.Tensor => {
  const shape = ds.shape ?? []
  const value = ds.value
  if (!ArrayBuffer.isView(value) || value instanceof BigInt64Array || value instanceof BigUint64Array) {
    throw new Error(`${where}: expected a numeric dataset, got dtype ${JSON.stringify(ds.dtype)}`)
  }
  const data = value instanceof Float32Array ? value : Float32Array.from(value as unknown as ArrayLike<number>)
  return tf.tensor(data, shape, "float32")
}

/** Last path component without the ":0" suffix: "conv1_conv/kernel:0" -> "kernel". */
const shortName = (name: string): string => (name.split("/").pop() ?? name).replace(/:\d+$/, "")

/**
 * The file's name for each model layer. tf.keras (whose names our models copy) names an
 * unnamed layer base, base_1, base_2, ...; Keras 2.0, which saved the released
 * inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5, counted from 1: base_1, base_2, ...
 * Where the model has a bare `base` the file lacks but the file has `base_1`, the model's
 * base_k is looked up as base_(k+1); every other name is looked up as it is.
 */
export const fileLayerNames = (modelLayers: readonly string[], fileLayers: ReadonlySet<string>): Map<string, string> => {
  const shifted = new Set(modelLayers.filter((n) => !fileLayers.has(n) && fileLayers.has(`${n}_1`) && !/_\d+$/.test(n)))
  return new Map(modelLayers.map((name) => {
    const m = /^(.*)_(\d+)$/.exec(name)
    if (shifted.has(name)) return [name, `${name}_1`]
    if (m && shifted.has(m[1]!)) return [name, `${m[1]}_${Number(m[2]) + 1}`]
    return [name, name]
  }))
}

/** What a file that lacks a model layer probably is, when its names say so. */
const missingLayerHint = (weights: KerasWeights): string =>
  weights.layers.has("res2a_branch2a") || weights.layers.has("bn_conv1")
    ? `; it has the names of the legacy keras.applications ResNet50 (res2a_branch2a, bn_conv1, ...), as in fchollet/deep-learning-models v0.2; use the file of keras.applications.resnet (storage.googleapis.com/tensorflow/keras-applications/resnet/resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5), whose names are conv1_conv, conv2_block1_0_conv, ...`
    : "; is it for the same architecture?"

/**
 * Checks Keras weights against a model and returns them ordered as the model's layers
 * expect (matched by weight name, e.g. kernel/bias, gamma/beta/moving_mean/moving_variance),
 * ready for ml/inits.ts. `layers` defaults to every model layer with weights except
 * those in `skip` (e.g. the "head" a notop file lacks). Throws naming the layer and
 * both shapes on a mismatch, or naming a missing layer.
 */
export const matchKerasWeights = (
  weights: KerasWeights,
  model: LayersModel,
  options: { layers?: readonly string[]; skip?: readonly string[] } = {},
): Map<string, tf.Tensor[]> => {
  const skip = new Set(options.skip ?? [])
  const layers = options.layers ?? model.layers.filter((l) => l.weights.length > 0 && !skip.has(l.name)).map((l) => l.name)
  const out = new Map<string, tf.Tensor[]>()
  const inFile = fileLayerNames(layers, new Set(weights.layers.keys()))
  for (const name of layers) {
    const layer = model.getLayer(name)
    const fileName = inFile.get(name) ?? name
    const tensors = weights.layers.get(fileName)
    const looked = fileName === name ? "" : ` (looked up as "${fileName}": the file counts Keras's automatic names from 1)`
    if (!tensors) {
      throw new Error(`${weights.path}: the model's layer "${name}"${looked} is not in the file (it holds ${weights.layers.size} layers with weights, e.g. ${[...weights.layers.keys()].slice(0, 5).join(", ")})${missingLayerHint(weights)}`)
    }
    const fileNames = (weights.weightNames.get(fileName) ?? []).map(shortName)
    const modelNames = layer.weights.map((w) => shortName(w.originalName))
    const shapes = (ts: readonly { shape: readonly (number | null)[] }[]) => `[${ts.map((t) => t.shape.join("x")).join(", ")}]`
    if (tensors.length !== layer.weights.length) {
      throw new Error(`${weights.path}: layer "${name}"${looked} has ${tensors.length} weights ${shapes(tensors)} (${fileNames.join(", ")}) in the file but ${layer.weights.length} ${shapes(layer.weights)} (${modelNames.join(", ")}) in the model`)
    }
    // Match by name when every name is found, else keep the file order (Keras and tfjs agree on it).
    const byName = modelNames.every((n) => fileNames.filter((f) => f === n).length === 1)
    const ordered = byName ? modelNames.map((n) => tensors[fileNames.indexOf(n)]) : tensors
    layer.weights.forEach((w, i) => {
      if (w.shape.join("x") !== ordered[i].shape.join("x")) {
        throw new Error(
          `${weights.path}: layer "${name}"${looked} weight "${modelNames[i]}" has shape [${ordered[i].shape.join("x")}] in the file but [${w.shape.join("x")}] in the model`,
        )
      }
    })
    out.set(name, ordered)
  }
  return out
}

/**
 * Reads a Keras .h5 and returns the weights for `model`'s layers (all with weights except
 * `skip`, default ["head"], since *_notop files have no classifier), checked and ordered.
 * The caller owns the returned tensors; weights of unused file layers are disposed.
 */
export const loadKerasH5 = async (file: string, model: LayersModel, options: { skip?: readonly string[] } = {}): Promise<Map<string, tf.Tensor[]>> => {
  const skip = options.skip ?? ["head"]
  const wanted = model.layers.filter((l) => l.weights.length > 0 && !skip.includes(l.name)).map((l) => l.name)
  const weights = await readKerasH5(file)
  const used = new Set(fileLayerNames(wanted, new Set(weights.layers.keys())).values())
  let matched: Map<string, tf.Tensor[]>
  try {
    matched = matchKerasWeights(weights, model, { layers: wanted })
  } catch (e) {
    for (const ts of weights.layers.values()) tf.dispose(ts)
    throw e
  }
  for (const [name, ts] of weights.layers) if (!used.has(name)) tf.dispose(ts)
  return matched
}
