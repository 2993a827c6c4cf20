// Training-mode batch norm (models/batch-norm.ts) on the wasm backend as two kernels of
// plain JS passes over the wasm heap, channels last (contiguous in NHWC):
//   forward:  one pass over x for the per-channel sums of x and x^2 (shifted), one writing
//             y = gamma (x - mean) / sqrt(var + eps) + beta;
//   backward: one pass over dy and x for dbeta = sum(dy) and dgamma = sum(dy xhat), one
//             writing dx = gamma / sqrt(var + eps) (dy - dbeta / m - xhat dgamma / m).
// The op-by-op path runs ~10 tfjs kernels forward and ~12 backward per batch norm (each
// one a pass over the activation, plus broadcasts); batch norms were ~40% of a ResNet-50
// step's kernel calls. Here everything is computed in float64 and rounded once on store
// (the op path rounds every op to float32 and sums in float32 through a matMul), so the
// two agree to float32 rounding, not bit for bit.
// xhat is recomputed in the backward pass from x and the statistics instead of being kept
// from the forward pass: one activation-sized tensor less per batch norm held for the tape.
import { backend as currentBackend, engine } from "@tensorflow/tfjs-core"
import type { KernelConfig, KernelFunc, Tensor, TensorInfo } from "@tensorflow/tfjs-core"

/** Kernel names (this project's own; tfjs has no training-mode batch norm kernel). */
export const BATCH_NORM_TRAINING = "TransfusionBatchNormTraining"
export const BATCH_NORM_TRAINING_GRAD = "TransfusionBatchNormTrainingGrad"

interface WasmHeapBackend {
  makeOutput(shape: number[], dtype: "float32"): TensorInfo
  typedArrayFromHeap(info: TensorInfo): Float32Array | Int32Array | Uint8Array
}

/** 1 / sqrt(var + eps) per channel (float64; the caller rounds what it stores). */
const inverseStd = (variance: Float32Array, epsilon: number): Float64Array => {
  const inv = new Float64Array(variance.length)
  for (let c = 0; c < variance.length; c++) inv[c] = 1 / Math.sqrt(variance[c]! + epsilon)
  return inv
}

// The passes walk x in blocks of rows that fit in L1 and, within a block, one channel at a
// time, so each channel's accumulators and coefficients stay in registers: ~2x faster than
// a row-major loop over per-channel arrays (8-256 channels, Node 20).
export const BLOCK_ELEMENTS = 2048

/**
 * Batch mean and biased variance of x ([m, C] row-major, C = channels) into `mean` and
 * `variance`, and the normalised output into y.
 */
export const batchNormForward = (
  x: Float32Array, channels: number, gamma: Float32Array, beta: Float32Array, epsilon: number,
  y: Float32Array, mean: Float32Array, variance: Float32Array,
): void => {
  const C = channels, n = x.length
  const m = n / C
  const block = Math.max(1, Math.floor(BLOCK_ELEMENTS / C)) * C
  // Sums of x - shift and its square in one pass; shifting by a sample of each channel
  // keeps E[(x-s)^2] - E[x-s]^2 free of cancellation when the mean is large against the spread.
  const shift = Float64Array.from(x.subarray(0, C))
  const s1 = new Float64Array(C), s2 = new Float64Array(C)
  for (let r0 = 0; r0 < n; r0 += block) {
    const r1 = Math.min(n, r0 + block)
    for (let c = 0; c < C; c++) {
      const sh = shift[c]!
      let a = 0, b = 0
      for (let i = r0 + c; i < r1; i += C) {
        const d = x[i]! - sh
        a += d
        b += d * d
      }
      s1[c] += a
      s2[c] += b
    }
  }
  const scale = new Float64Array(C), offset = new Float64Array(C)
  for (let c = 0; c < C; c++) {
    const meanShifted = s1[c]! / m
    mean[c] = shift[c]! + meanShifted
    variance[c] = Math.max(s2[c]! / m - meanShifted * meanShifted, 0)
  }
  const inv = inverseStd(variance, epsilon)
  // y = x gamma inv + (beta - mean gamma inv), from the stored (float32) mean as the op path uses it.
  for (let c = 0; c < C; c++) {
    scale[c] = gamma[c]! * inv[c]!
    offset[c] = beta[c]! - mean[c]! * scale[c]!
  }
  for (let r0 = 0; r0 < n; r0 += block) {
    const r1 = Math.min(n, r0 + block)
    for (let c = 0; c < C; c++) {
      const k = scale[c]!, o = offset[c]!
      for (let i = r0 + c; i < r1; i += C) y[i] = x[i]! * k + o
    }
  }
}

/** dx, dgamma and dbeta of a training-mode batch norm from dy and the forward pass's x, gamma and statistics. */
export const batchNormBackward = (
  dy: Float32Array, x: Float32Array, channels: number, gamma: Float32Array, mean: Float32Array, variance: Float32Array, epsilon: number,
  dx: Float32Array, dgamma: Float32Array, dbeta: Float32Array,
): void => {
  const C = channels, n = x.length
  const m = n / C
  const block = Math.max(1, Math.floor(BLOCK_ELEMENTS / C)) * C
  const inv = inverseStd(variance, epsilon)
  // sum(dy xhat) = inv (sum(dy x) - mean sum(dy)); float64 sums keep the difference exact enough.
  const sumDy = new Float64Array(C), sumDyX = new Float64Array(C)
  for (let r0 = 0; r0 < n; r0 += block) {
    const r1 = Math.min(n, r0 + block)
    for (let c = 0; c < C; c++) {
      let a = 0, b = 0
      for (let i = r0 + c; i < r1; i += C) {
        const d = dy[i]!
        a += d
        b += d * x[i]!
      }
      sumDy[c] += a
      sumDyX[c] += b
    }
  }
  // dx = gamma inv (dy - dbeta/m - xhat dgamma/m) = a dy + b x + k per channel.
  const a = new Float64Array(C), b = new Float64Array(C), k = new Float64Array(C)
  for (let c = 0; c < C; c++) {
    const dg = inv[c]! * (sumDyX[c]! - mean[c]! * sumDy[c]!)
    dbeta[c] = sumDy[c]!
    dgamma[c] = dg
    a[c] = gamma[c]! * inv[c]!
    b[c] = -a[c]! * inv[c]! * dg / m
    k[c] = -a[c]! * sumDy[c]! / m - b[c]! * mean[c]!
  }
  for (let r0 = 0; r0 < n; r0 += block) {
    const r1 = Math.min(n, r0 + block)
    for (let c = 0; c < C; c++) {
      const ac = a[c]!, bc = b[c]!, kc = k[c]!
      for (let i = r0 + c; i < r1; i += C) dx[i] = ac * dy[i]! + bc * x[i]! + kc
    }
  }
}

/**
 * The moving-average update of a batch norm statistic, current - (current - value) decay,
 * each operation rounded to float32 in the op path's order (the same bits as tf.sub/tf.mul).
 */
export const movingAverageUpdate = (current: Float32Array, value: Float32Array, decay: number, out: Float32Array): void => {
  const f = Math.fround
  const d = f(decay)
  for (let i = 0; i < current.length; i++) out[i] = f(current[i]! - f(f(current[i]! - value[i]!) * d))
}

/**
 * movingAverageUpdate on the wasm heap into a new tensor: no kernel calls, and nothing on
 * the gradient tape (the op path's three ops per statistic were recorded there, with the
 * copies of their inputs the tape keeps). The current backend must be wasm.
 */
export const movingAverageOnHeap = (current: Tensor, value: Tensor, decay: number): Tensor => {
  if (current.dtype !== "float32" || value.dtype !== "float32" || current.size !== value.size) throw new Error(`batch norm moving average: statistic (${current.dtype}, ${current.size}) and batch value (${value.dtype}, ${value.size}) must be float32 of the same size`)
  const heap = currentBackend() as unknown as WasmHeapBackend
  // Fresh data, never in place: the old value may still be referenced (a checkpoint read, a clone).
  const next = heap.makeOutput([...current.shape], "float32")
  const view = (t: TensorInfo) => heap.typedArrayFromHeap(t) as Float32Array
  movingAverageUpdate(view(current), view(value), decay, view(next))
  return engine().makeTensorFromTensorInfo(next)
}

const floatInput = (name: string, t: TensorInfo | undefined): TensorInfo => {
  if (t === undefined || t.dtype !== "float32") throw new Error(`${BATCH_NORM_TRAINING}: input ${name} must be a float32 tensor (got ${t?.dtype ?? "none"})`)
  return t
}

const channelVector = (name: string, t: TensorInfo, channels: number): void => {
  if (t.shape.length !== 1 || t.shape[0] !== channels) throw new Error(`${BATCH_NORM_TRAINING}: ${name} has shape [${t.shape.join(", ")}] but x has ${channels} channels`)
}

/**
 * Inputs x, gamma, beta; attr epsilon. Outputs y (x's shape), mean and variance ([C]), and
 * gamma, mean and variance again as one [3, C] tensor for the backward kernel: the tape
 * keeps a copy (an Identity kernel) of each tensor saved for the gradient, one instead of three.
 */
export const batchNormTrainingWasm: KernelConfig = {
  kernelName: BATCH_NORM_TRAINING,
  backendName: "wasm",
  kernelFunc: (({ inputs, backend, attrs }) => {
    const heap = backend as unknown as WasmHeapBackend
    const x = floatInput("x", inputs.x), gamma = floatInput("gamma", inputs.gamma), beta = floatInput("beta", inputs.beta)
    const channels = x.shape[x.shape.length - 1]!
    channelVector("gamma", gamma, channels)
    channelVector("beta", beta, channels)
    const y = heap.makeOutput([...x.shape], "float32")
    const mean = heap.makeOutput([channels], "float32")
    const variance = heap.makeOutput([channels], "float32")
    const saved = heap.makeOutput([3, channels], "float32")
    // Views only after makeOutput: allocation may grow the heap and detach older views.
    const view = (t: TensorInfo) => heap.typedArrayFromHeap(t) as Float32Array
    const [meanView, varianceView, gammaView] = [view(mean), view(variance), view(gamma)]
    batchNormForward(view(x), channels, gammaView, view(beta), (attrs as { epsilon: number }).epsilon, view(y), meanView, varianceView)
    const savedView = view(saved)
    savedView.set(gammaView, 0)
    savedView.set(meanView, channels)
    savedView.set(varianceView, 2 * channels)
    return [y, mean, variance, saved]
  }) as KernelFunc,
}

/** Inputs dy, x and the forward kernel's [3, C] gamma/mean/variance; attr epsilon. Outputs dx (x's shape), dgamma and dbeta ([C]). */
export const batchNormTrainingGradWasm: KernelConfig = {
  kernelName: BATCH_NORM_TRAINING_GRAD,
  backendName: "wasm",
  kernelFunc: (({ inputs, backend, attrs }) => {
    const heap = backend as unknown as WasmHeapBackend
    const dy = floatInput("dy", inputs.dy), x = floatInput("x", inputs.x), saved = floatInput("saved", inputs.saved)
    const channels = x.shape[x.shape.length - 1]!
    if (dy.shape.join("x") !== x.shape.join("x")) throw new Error(`${BATCH_NORM_TRAINING_GRAD}: dy has shape [${dy.shape.join(", ")}] but x has [${x.shape.join(", ")}]`)
    if (saved.shape.join("x") !== `3x${channels}`) throw new Error(`${BATCH_NORM_TRAINING_GRAD}: saved statistics have shape [${saved.shape.join(", ")}] but x has ${channels} channels (want [3, ${channels}])`)
    const dx = heap.makeOutput([...x.shape], "float32")
    const dgamma = heap.makeOutput([channels], "float32")
    const dbeta = heap.makeOutput([channels], "float32")
    const view = (t: TensorInfo) => heap.typedArrayFromHeap(t) as Float32Array
    const s = view(saved)
    batchNormBackward(view(dy), view(x), channels, s.subarray(0, channels), s.subarray(channels, 2 * channels), s.subarray(2 * channels), (attrs as { epsilon: number }).epsilon, view(dx), view(dgamma), view(dbeta))
    return [dx, dgamma, dbeta]
  }) as KernelFunc,
}
