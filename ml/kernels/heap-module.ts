// WebAssembly modules of ours that work on tfjs-backend-wasm's own heap: assembled from WAT
// (analysis/wasm.ts) once per process, instantiated once per heap with that heap's memory
// imported, so they read and write tensors where tfjs keeps them.
import { assemble, wasmApi, type FuncSource, type WasmMemory } from "../../analysis/wasm.ts"

export interface HeapModule {
  readonly sources: () => readonly FuncSource[]
  compiled?: object
  readonly instances: WeakMap<WasmMemory, unknown>
}

/** A module of these functions (assembled on first use). */
export const heapModule = (sources: () => readonly FuncSource[]): HeapModule => ({ sources, instances: new WeakMap() })

/** The module's exports on `memory`, shaped by `wrap` (once per memory). */
export const onHeap = <T>(module: HeapModule, memory: WasmMemory, wrap: (exports: Record<string, unknown>) => T): T => {
  const cached = module.instances.get(memory)
  if (cached !== undefined) return cached as T
  const api = wasmApi()
  module.compiled ??= new api.Module(assemble(module.sources(), { imported: true }))
  const wrapped = wrap(new api.Instance(module.compiled, { env: { memory } }).exports)
  module.instances.set(memory, wrapped)
  return wrapped
}
