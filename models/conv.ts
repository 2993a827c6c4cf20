// Conv2D whose training path uses tfjs's plain conv2d op instead of the fused one.
//
// tfjs-layers 4.22.0 always calls tf.fused.conv2d, whose gradient is a customGrad
// that computes the input gradient eagerly, even for the first conv, whose input is
// the image batch and needs none. The plain Conv2D kernel's gradient is lazy: backprop
// asks for dx only when something upstream is trainable. On the first conv that dx is
// a convolution down to 3 channels, which XNNPACK runs poorly: in a ResNet-50 64 px
// step it cost more than conv1's forward pass. Inference keeps the fused path.
// On wasm the bias add is one kernel each way (ml/kernels/wasm-bias-add.ts); other
// backends keep tf.add (models/fused-path.ts).
import * as tf from "@tensorflow/tfjs-core"
import * as tfl from "@tensorflow/tfjs-layers"
import { BIAS_ADD, BIAS_ADD_GRAD } from "../ml/kernels/wasm-bias-add.ts"
import { runsWasmKernel } from "./fused-path.ts"

type Conv2DArgs = Parameters<typeof tfl.layers.conv2d>[0]

/** Fields of tfjs-layers' Conv2D that TypeScript marks protected. */
interface ConvInternals {
  kernel: tfl.LayerVariable
  bias: tfl.LayerVariable | null
  strides: number[]
  padding: "valid" | "same" | "causal"
  dilationRate: number | number[]
  dataFormat: "channelsFirst" | "channelsLast"
  activation: { apply(x: tf.Tensor): tf.Tensor; getClassName(): string }
}

/** x + bias over the last axis; on wasm one kernel forward, one for dbias backward (dx is dy). */
export const addChannelBias = (x: tf.Tensor, bias: tf.Tensor): tf.Tensor => {
  if (!runsWasmKernel(BIAS_ADD)) return tf.add(x, bias)
  const f = tf.customGrad((xIn, bIn) => ({
    value: tf.engine().runKernel(BIAS_ADD, { x: xIn as tf.Tensor, bias: bIn as tf.Tensor }, {}) as tf.Tensor,
    gradFunc: (dy) => [dy as tf.Tensor, tf.engine().runKernel(BIAS_ADD_GRAD, { dy: dy as tf.Tensor }, {}) as tf.Tensor],
  }))
  return f(x, bias)
}

const StockConv2D = (tfl.layers.conv2d({ filters: 1, kernelSize: 1 }) as object).constructor as new (args: Conv2DArgs) => tfl.layers.Layer

export class LazyGradConv2D extends StockConv2D {
  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor | tf.Tensor[] {
    const self = this as unknown as ConvInternals
    if (kwargs["training"] !== true || self.dataFormat !== "channelsLast" || self.padding === "causal") return super.call(inputs, kwargs)
    return tf.tidy(() => {
      const x = (Array.isArray(inputs) ? inputs[0]! : inputs) as tf.Tensor4D
      const dilations = (typeof self.dilationRate === "number" ? [self.dilationRate, self.dilationRate] : self.dilationRate) as [number, number]
      let y: tf.Tensor = tf.conv2d(x, self.kernel.read() as tf.Tensor4D, self.strides as [number, number], self.padding as "valid" | "same", "NHWC", dilations)
      if (self.bias !== null) y = addChannelBias(y, self.bias.read())
      return self.activation.getClassName() === "linear" ? y : self.activation.apply(y)
    })
  }
}

/** Same arguments as tfl.layers.conv2d. */
export const conv2d = (args: Conv2DArgs): tfl.layers.Layer => new LazyGradConv2D(args)
