// A small pool of analysis workers (analysis/worker.ts), started on first use and
// kept for reuse; they do not keep the process alive while idle.
import { Worker } from "node:worker_threads"
import { availableParallelism } from "node:os"
import type { WorkerRequest, WorkerResponse } from "./worker-protocol.ts"

type Pending = { resolve: (r: Extract<WorkerResponse, { ok: true }>) => void; reject: (e: Error) => void }
interface Slot { worker: Worker; busy: number }

let slots: Slot[] | undefined
let nextId = 1
const pending = new Map<number, Pending & { slot: Slot }>()

/**
 * How many parts a split computation is cut into (the Gram's datapoint ranges, a big
 * product's row ranges, the two eigendecompositions of a CCA). Fixed, so that the
 * float32 partial sums, and so the results, are the same on every machine; the worker
 * count only decides how many parts run at once.
 */
export const PARALLEL_PARTS = 2

/** Worker threads: as many as the machine has cores, up to the parts there are to run at once. */
export const poolSize = (): number => Math.max(1, Math.min(PARALLEL_PARTS, availableParallelism()))

const start = (): Slot[] => {
  if (slots) return slots
  // Workers run TypeScript too. `--import tsx` registers its hooks too late for a .ts
  // worker entry on Node 20, so a tiny script registers tsx and then imports the worker.
  const tsxApi = import.meta.resolve("tsx/esm/api")
  const entry = new URL("./worker.ts", import.meta.url).href
  const bootstrap = `import(${JSON.stringify(tsxApi)}).then((api) => { api.register(); return import(${JSON.stringify(entry)}) })`
  slots = Array.from({ length: poolSize() }, () => {
    const worker = new Worker(bootstrap, { eval: true, workerData: { transfusionAnalysisWorker: true } })
    const slot: Slot = { worker, busy: 0 }
    worker.unref()
    worker.on("message", (res: WorkerResponse) => {
      const p = pending.get(res.id)
      if (!p) return
      pending.delete(res.id)
      if (--slot.busy === 0) worker.unref()
      if (res.ok) p.resolve(res)
      else p.reject(new Error(`analysis worker: ${res.error}`))
    })
    worker.on("error", (err) => failAll(slot, err))
    worker.on("exit", (code) => failAll(slot, new Error(`analysis worker exited with code ${code}`)))
    return slot
  })
  return slots
}

const failAll = (slot: Slot, err: Error): void => {
  for (const [id, p] of pending) if (p.slot === slot) { pending.delete(id); p.reject(err) }
  if (slots?.includes(slot)) slots = undefined // start fresh next time
}

type RequestBody = WorkerRequest extends infer R ? (R extends unknown ? Omit<R, "id"> : never) : never

/** Runs one request on the given worker slot (index modulo pool size, so any part count fits any pool); buffers in `transfer` move to the worker. */
export const runOnWorker = (slotIndex: number, body: RequestBody, transfer: ArrayBuffer[] = []): Promise<Extract<WorkerResponse, { ok: true }>> => {
  const all = start()
  const slot = all[slotIndex % all.length]!
  const id = nextId++
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject, slot })
    if (slot.busy++ === 0) slot.worker.ref()
    slot.worker.postMessage({ ...body, id } as WorkerRequest, transfer)
  })
}

/** Stops the workers (tests and CLIs that want a clean exit; the pool restarts on next use). */
export const closeAnalysisWorkers = async (): Promise<void> => {
  const s = slots
  slots = undefined
  if (s) await Promise.all(s.map((x) => x.worker.terminate()))
}
