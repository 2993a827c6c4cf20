// Identity on the wasm backend as a shared reference instead of a copy, as tfjs's cpu
// backend does it. tfjs's tape saves every input a gradient needs through engine.clone, an
// Identity kernel, and tfjs-backend-wasm 4.22.0's copies the data: 327 copies of
// activations per ResNet-50 mini step, 12% of its kernel time (bench step-profile). Tensors
// are immutable, so a clone may share its data; the one place this project writes data in
// place (the optimiser's slots, ml/optimizer.ts) copies a slot first when it is shared.
import { Identity } from "@tensorflow/tfjs-core"
import type { KernelConfig, KernelFunc, TensorInfo } from "@tensorflow/tfjs-core"
import { stockKernel } from "./stock.ts"

interface WasmRefBackend {
  incRef(dataId: object): void
}

export const identityWasm: KernelConfig = {
  kernelName: Identity,
  backendName: "wasm",
  kernelFunc: ((args) => {
    const x = args.inputs.x as TensorInfo
    if (x.dtype === "string") return stockKernel(Identity).kernelFunc(args)
    ;(args.backend as unknown as WasmRefBackend).incRef(x.dataId)
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype }
  }) as KernelFunc,
}
