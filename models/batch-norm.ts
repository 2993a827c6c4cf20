// Batch normalisation for training, as a drop-in subclass of tfjs-layers'
// BatchNormalization (same class name, weights and inference path).
//
// Two reasons to replace the training path of tfjs-layers 4.22.0:
// - with scale=false (Keras InceptionV3's batch norms) it throws "Cannot read
//   properties of undefined (reading 'read')" (tensorflow/tfjs#2868, still open);
// - its gradient (tfjs-core's FusedBatchNorm grad) tiles the per-channel statistics to
//   the full activation shape, and wasm's Tile was the largest non-conv kernel in a
//   CBR-Tiny training step. The closed-form gradient below broadcasts instead:
//     dbeta = sum(dy), dgamma = sum(dy * xhat),
//     dx = gamma / sqrt(var + eps) * (dy - dbeta / m - xhat * dgamma / m).
// Moving statistics follow tfjs-layers exactly (biased batch variance, same momentum
// update, rounded the same way on every path), so results match the stock layer.
// Per-channel sums over batch and space are a [1, m] x [m, C] matMul: wasm's Sum over the
// leading axes transposes first, and was a third of a ResNet-50 training step (tf.profile,
// 40 px, width 0.125); the matMul is 2-4x faster per call with the same values.
// On wasm the forward and backward are one kernel each instead (ml/kernels/wasm-batch-norm.ts:
// JS passes over the heap, ~20 kernel calls fewer per batch norm); other backends (webgpu,
// cpu, tfjs-node) keep the op-by-op path (models/fused-path.ts).
import * as tf from "@tensorflow/tfjs-core"
import * as tfl from "@tensorflow/tfjs-layers"
import { BATCH_NORM_TRAINING, BATCH_NORM_TRAINING_GRAD, movingAverageOnHeap } from "../ml/kernels/wasm-batch-norm.ts"
import { runsWasmKernel, type LayerPath } from "./fused-path.ts"

type BatchNormArgs = Parameters<typeof tfl.layers.batchNormalization>[0]

/** Fields of tfjs-layers' BatchNormalization that TypeScript marks private. */
interface BatchNormInternals {
  axis: number
  momentum: number
  epsilon: number
  center: boolean
  scale: boolean
  gamma: tfl.LayerVariable | null
  beta: tfl.LayerVariable | null
  movingMean: tfl.LayerVariable
  movingVariance: tfl.LayerVariable
}

/** Whether a training-mode batch norm with this path runs the fused wasm kernels now. */
export const batchNormFused = (path?: LayerPath): boolean => runsWasmKernel(BATCH_NORM_TRAINING, path)

/**
 * Normalised output of a training-mode batch norm with its batch mean and (biased)
 * variance. The caller owns `mean` and `variance` (kept outside any tidy) and must dispose them.
 */
export const batchNormTraining = (
  x: tf.Tensor,
  gamma: tf.Tensor | null,
  beta: tf.Tensor | null,
  epsilon: number,
  path?: LayerPath,
): { y: tf.Tensor; mean: tf.Tensor; variance: tf.Tensor } => {
  const channels = x.shape[x.rank - 1]!
  if (batchNormFused(path)) return batchNormTrainingFused(x, gamma ?? tf.ones([channels]), beta ?? tf.zeros([channels]), epsilon)
  const m = x.size / channels
  // Called inside customGrad's tidies, which dispose the ones row.
  const channelSum = (t: tf.Tensor): tf.Tensor => tf.reshape(tf.matMul(tf.ones([1, m]), tf.reshape(t, [m, channels])), [channels])
  let mean: tf.Tensor | undefined, variance: tf.Tensor | undefined
  const g = gamma ?? tf.ones([channels])
  const b = beta ?? tf.zeros([channels])
  const f = tf.customGrad((xIn, gIn, bIn, save) => {
    const [xs, gs, bs] = [xIn as tf.Tensor, gIn as tf.Tensor, bIn as tf.Tensor]
    // keep(): customGrad runs this inside a tidy; the caller disposes the statistics.
    mean = tf.keep(tf.div(channelSum(xs), m))
    const centred = tf.sub(xs, mean)
    variance = tf.keep(tf.div(channelSum(tf.square(centred)), m))
    const invStd = tf.rsqrt(tf.add(variance, epsilon))
    const xhat = tf.mul(centred, invStd)
    const saveForBackward = save as unknown as (tensors: tf.Tensor[]) => void
    saveForBackward([xhat, invStd, gs])
    return {
      value: tf.add(tf.mul(xhat, gs), bs),
      gradFunc: (dy, saved) => {
        const [sxhat, sinv, sg] = saved as [tf.Tensor, tf.Tensor, tf.Tensor]
        const d = dy as tf.Tensor
        const dbeta = channelSum(d)
        const dgamma = channelSum(tf.mul(d, sxhat))
        const inner = tf.sub(tf.sub(d, tf.div(dbeta, m)), tf.mul(sxhat, tf.div(dgamma, m)))
        return [tf.mul(inner, tf.mul(sg, sinv)), dgamma, dbeta]
      },
    }
  })
  const y = f(x, g, b)
  return { y, mean: mean!, variance: variance! }
}

/** The wasm kernels' path: one forward and one backward kernel, the same contract as the op path. */
const batchNormTrainingFused = (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor, epsilon: number): { y: tf.Tensor; mean: tf.Tensor; variance: tf.Tensor } => {
  let mean: tf.Tensor | undefined, variance: tf.Tensor | undefined
  const f = tf.customGrad((xIn, gIn, bIn, save) => {
    const [xs, gs, bs] = [xIn as tf.Tensor, gIn as tf.Tensor, bIn as tf.Tensor]
    const [y, batchMean, batchVariance, statistics] = tf.engine().runKernel(BATCH_NORM_TRAINING, { x: xs, gamma: gs, beta: bs }, { epsilon }) as tf.Tensor[]
    // keep(): customGrad runs this inside a tidy; the caller disposes the statistics.
    mean = tf.keep(batchMean!)
    variance = tf.keep(batchVariance!)
    const saveForBackward = save as unknown as (tensors: tf.Tensor[]) => void
    saveForBackward([xs, statistics!])
    return {
      value: y!,
      gradFunc: (dy, saved) => {
        const [sx, sstats] = saved as [tf.Tensor, tf.Tensor]
        return tf.engine().runKernel(BATCH_NORM_TRAINING_GRAD, { dy: dy as tf.Tensor, x: sx, saved: sstats }, { epsilon }) as tf.Tensor[]
      },
    }
  })
  const y = f(x, g, b)
  return { y, mean: mean!, variance: variance! }
}

const StockBatchNormalization = (tfl.layers.batchNormalization({}) as object).constructor as new (args: BatchNormArgs) => tfl.layers.Layer

export class TrainableBatchNormalization extends StockBatchNormalization {
  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor | tf.Tensor[] {
    const training = kwargs["training"] === true
    const self = this as unknown as BatchNormInternals
    const input = Array.isArray(inputs) ? inputs[0]! : inputs
    const axis = self.axis >= 0 ? self.axis : self.axis + input.rank
    if (!training || axis !== input.rank - 1) return super.call(inputs, kwargs)
    return tf.tidy(() => {
      const fused = batchNormFused()
      const { y, mean, variance } = batchNormTraining(input, self.scale && self.gamma ? self.gamma.read() : null, self.center && self.beta ? self.beta.read() : null, self.epsilon)
      const decay = 1 - self.momentum
      for (const [variable, value] of [[self.movingMean, mean], [self.movingVariance, variance]] as const) {
        const current = variable.read()
        variable.write(fused ? movingAverageOnHeap(current, value, decay) : tf.sub(current, tf.mul(tf.sub(current, value), decay)))
      }
      mean.dispose()
      variance.dispose()
      return y
    })
  }
}

/** Same arguments as tfl.layers.batchNormalization. */
export const batchNormalization = (args: BatchNormArgs): tfl.layers.Layer => new TrainableBatchNormalization(args)

/** Sets the moving-average momentum of every batch norm in the model (built with Keras' 0.99). */
export const setBatchNormMomentum = (model: tfl.LayersModel, momentum: number): void => {
  for (const layer of model.layers) if (layer instanceof StockBatchNormalization) (layer as unknown as BatchNormInternals).momentum = momentum
}
