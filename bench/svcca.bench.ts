// SVCCA wall time against numpy+OpenBLAS (2 threads on this machine: 0.02 s, 0.17 s,
// 1.5 s for 64 x 10k, 256 x 10k, 512 x 50k); target: within 1.5x of those. CPU time over
// all threads is printed too: on a shared machine it shows the work when wall time cannot.
import { Rng } from "../lib/random.ts"
import { svcca } from "../analysis/cca.ts"
import { closeAnalysisWorkers } from "../analysis/pool.ts"
import { toSharedFloat32 } from "../analysis/covariance.ts"

// Two layers sharing a planted subspace of a quarter of their neurons, plus independent noise.
const layerPair = (d: number, m: number): [Float32Array, Float32Array] => {
  const rng = new Rng(`svcca-bench-${d}-${m}`)
  const k = Math.max(1, d >> 2)
  const latent = new Float32Array(k * m).map(() => rng.normal())
  const make = (label: string) => {
    const r = rng.fork(label)
    const mix = new Float32Array(d * k).map(() => r.normal() / Math.sqrt(k))
    const out = new Float32Array(d * m)
    for (let i = 0; i < d; i++) {
      const row = out.subarray(i * m, (i + 1) * m)
      for (let c = 0; c < m; c++) row[c] = 0.5 * r.normal()
      for (let j = 0; j < k; j++) {
        const w = mix[i * k + j]!
        const src = latent.subarray(j * m, (j + 1) * m)
        for (let c = 0; c < m; c++) row[c] = row[c]! + w * src[c]!
      }
    }
    return out
  }
  // Shared memory, as readActivationTable returns it (otherwise svcca copies it there first).
  return [toSharedFloat32(make("x")), toSharedFloat32(make("y"))]
}

export default async function (): Promise<void> {
  const cases: [number, number, number][] = [
    [64, 10_000, 0.02],
    [256, 10_000, 0.17],
    [512, 50_000, 1.5],
  ]
  for (const [d, m, numpy] of cases) {
    const [a, b] = layerPair(d, m)
    const x = { data: a, neurons: d, datapoints: m }, y = { data: b, neurons: d, datapoints: m }
    const times: number[] = []
    const cpu: number[] = []
    let result = await svcca(x, y) // warm-up: starts the workers and JIT-compiles the kernels
    for (let r = 0; r < 3; r++) {
      const c0 = process.cpuUsage()
      const t0 = performance.now()
      result = await svcca(x, y)
      times.push((performance.now() - t0) / 1000)
      const c = process.cpuUsage(c0)
      cpu.push((c.user + c.system) / 1e6)
    }
    times.sort((p, q) => p - q)
    cpu.sort((p, q) => p - q)
    const median = times[1]!
    console.log(
      `svcca ${d} x ${m}: median ${median.toFixed(3)} s (runs ${times.map((t) => t.toFixed(3)).join(", ")}), ` +
        `numpy ${numpy} s, ratio ${(median / numpy).toFixed(2)}x (target <= 1.5x: ${median / numpy <= 1.5 ? "met" : "NOT met"}); ` +
        `CPU time (all threads) median ${cpu[1]!.toFixed(3)} s; svcca mean ${result.mean.toFixed(4)}, directions ${result.directionsX}/${result.directionsY}`,
    )
  }
  await closeAnalysisWorkers()
}
