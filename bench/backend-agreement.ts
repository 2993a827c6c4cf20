// How far two runs of the same profile on different backends (e.g. webgpu and wasm) lie
// apart: for every training stage both stores hold, the difference of each test metric and
// of the final training loss; then the largest difference per metric and where it occurs.
//   node --import tsx bench/backend-agreement.ts <store A> <store B>
import { existsSync, readdirSync, statSync } from "node:fs"
import { join, relative } from "node:path"
import { Store } from "../pipeline/store.ts"
import type { TrainedResult } from "../stages/training.ts"

const [a, b] = process.argv.slice(2)
if (!a || !b) throw new Error("usage: backend-agreement.ts <store A> <store B>")
const stores = [new Store(a), new Store(b)] as const

/** Stage ids under `kind/` in a store: the folders that have a "latest" pointer. */
const stageIds = (root: string, kind: string): string[] => {
  const walk = (dir: string): string[] =>
    existsSync(join(dir, "latest")) ? [relative(root, dir)] : readdirSync(dir).filter((f) => statSync(join(dir, f)).isDirectory()).flatMap((f) => walk(join(dir, f)))
  return existsSync(join(root, kind)) ? walk(join(root, kind)) : []
}

const resultOf = (store: Store, id: string): TrainedResult | undefined => {
  const fp = store.latest(id)
  return fp === undefined ? undefined : (store.readManifest(id, fp)?.result as TrainedResult | undefined)
}

const worst = new Map<string, { diff: number; id: string; values: [number, number] }>()
let compared = 0
const backends = new Set<string>()
for (const id of ["pretrain", "finetune"].flatMap((k) => stageIds(a, k)).sort()) {
  const [ra, rb] = [resultOf(stores[0], id), resultOf(stores[1], id)]
  if (!ra || !rb) continue
  compared++
  backends.add(`${ra.backend.name} vs ${rb.backend.name}`)
  const lastLoss = (r: TrainedResult) => r.curve.at(-1)?.metrics.loss
  const pairs: Array<[string, number | undefined, number | undefined]> = Object.keys(ra.test).map((m) => [`test ${m}`, ra.test[m], rb.test[m]])
  pairs.push(["last validation loss", lastLoss(ra), lastLoss(rb)])
  const line: string[] = []
  for (const [metric, x, y] of pairs) {
    if (x === undefined || y === undefined || !Number.isFinite(x) || !Number.isFinite(y)) continue
    const diff = Math.abs(x - y)
    line.push(`${metric} ${x.toFixed(4)}/${y.toFixed(4)}`)
    if (diff > (worst.get(metric)?.diff ?? -1)) worst.set(metric, { diff, id, values: [x, y] })
  }
  console.log(`${id}: ${line.join(", ")}`)
}
console.log(`\n${compared} training stages compared (${[...backends].join("; ")}); largest |difference| per metric:`)
for (const [metric, w] of [...worst].sort()) console.log(`  ${metric.padEnd(22)} ${w.diff.toFixed(4)}  (${w.id}: ${w.values[0].toFixed(4)} vs ${w.values[1].toFixed(4)})`)
