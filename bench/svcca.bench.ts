// SVCCA wall time against the numpy reference, measured in the same run: google/svcca's
// SVCCA on numpy + OpenBLAS (test/analysis/numpy_reference.py svcca_cov, float64, 2
// threads), run in a python3 subprocess on the same data, alternating with ours
// (A B B A ...) so both see the same machine load. Target: ours within 1.5x of numpy
// for 64 x 10k, 256 x 10k and 512 x 50k (neurons x datapoints). The ratio printed is
// median(ours) / median(numpy); the per-pair ratios' median and the minima are printed
// too, and the load average, since this 2-core machine is often shared.
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { availableParallelism, loadavg, tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { createInterface } from "node:readline"
import { Rng } from "../lib/random.ts"
import { svcca } from "../analysis/cca.ts"
import { closeAnalysisWorkers } from "../analysis/pool.ts"
import { toSharedFloat32 } from "../analysis/covariance.ts"
import { median } from "./median.ts"

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

/** The numpy reference as a long-lived python3 process answering JSON lines (numpy_reference.py --serve). */
class NumpyReference {
  private readonly lines: AsyncIterator<string>
  private constructor(private readonly child: ChildProcessWithoutNullStreams) {
    this.lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]()
  }
  static start(): NumpyReference {
    const script = resolve(import.meta.dirname, "../test/analysis/numpy_reference.py")
    // The machine's OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE pin an older kernel (for old OpenBLAS builds on
    // some CPUs); the reference runs with OpenBLAS's own choice for this CPU and 2 threads.
    const env: NodeJS.ProcessEnv = { ...process.env, OPENBLAS_NUM_THREADS: "2" }
    delete env.OPENBLAS_CORETYPE
    delete env.OPENBLAS_L2_SIZE
    const child = spawn("python3", [script, "--serve"], { env, stdio: ["pipe", "pipe", "pipe"] })
    let stderr = ""
    child.stderr.on("data", (b: Buffer) => (stderr = (stderr + b.toString()).slice(-2000)))
    child.on("error", () => {})
    const ref = new NumpyReference(child)
    ref.stderr = () => stderr
    return ref
  }
  stderr: () => string = () => ""
  async ask(req: Record<string, unknown>): Promise<Record<string, unknown>> {
    this.child.stdin.write(`${JSON.stringify(req)}\n`)
    const { value, done } = await this.lines.next()
    if (done) throw new Error(`numpy reference exited: ${this.stderr().trim() || "no output"}`)
    const res = JSON.parse(value) as Record<string, unknown>
    if (res.error) throw new Error(`numpy reference: ${String(res.error)}`)
    return res
  }
  stop(): void {
    this.child.stdin.end()
    this.child.kill()
  }
}

const f3 = (v: number): string => v.toFixed(3)

export default async function (): Promise<void> {
  const cases: [number, number, number][] = [
    [64, 10_000, 9],
    [256, 10_000, 7],
    [512, 50_000, 5],
  ]
  const dir = mkdtempSync(join(tmpdir(), "transfusion-svcca-bench-"))
  let numpy: NumpyReference | undefined = NumpyReference.start()
  try {
    try {
      const info = await numpy.ask({ cmd: "info" })
      console.log(`numpy reference: numpy ${String(info.numpy)}, OpenBLAS kernel ${String(info.kernel ?? "?")}, ${String(info.threads ?? "?")} threads (svcca_cov in test/analysis/numpy_reference.py)`)
    } catch (err) {
      console.log(`numpy reference unavailable (${(err as Error).message.split("\n")[0]}): printing our times only`)
      numpy.stop()
      numpy = undefined
    }
    for (const [d, m, reps] of cases) {
      const [a, b] = layerPair(d, m)
      const x = { data: a, neurons: d, datapoints: m }, y = { data: b, neurons: d, datapoints: m }
      if (numpy) {
        writeFileSync(join(dir, "x.f32"), new Uint8Array(a.buffer, a.byteOffset, a.byteLength))
        writeFileSync(join(dir, "y.f32"), new Uint8Array(b.buffer, b.byteOffset, b.byteLength))
        await numpy.ask({ cmd: "load", x: join(dir, "x.f32"), y: join(dir, "y.f32"), dx: d, dy: d, m })
      }
      const load0 = loadavg()[0]!
      // Warm-up: starts the workers, compiles the kernels, and numpy's first-call costs.
      let result = await svcca(x, y)
      let reference = numpy ? await numpy.ask({ cmd: "svcca" }) : undefined
      const ours: number[] = [], theirs: number[] = [], cpu: number[] = [], theirCpu: number[] = []
      const runOurs = async () => {
        const c0 = process.cpuUsage()
        const t0 = performance.now()
        result = await svcca(x, y)
        ours.push((performance.now() - t0) / 1000)
        const c = process.cpuUsage(c0)
        cpu.push((c.user + c.system) / 1e6)
      }
      const runNumpy = async () => {
        if (!numpy) return
        reference = await numpy.ask({ cmd: "svcca" })
        theirs.push(reference.seconds as number)
        theirCpu.push(reference.cpu as number)
      }
      for (let r = 0; r < reps; r++) {
        if (r % 2 === 0) { await runOurs(); await runNumpy() } else { await runNumpy(); await runOurs() }
      }
      const load1 = loadavg()[0]!
      const head = `svcca ${d} x ${m}: ours median ${f3(median(ours))} s (min ${f3(Math.min(...ours))}, CPU ${f3(median(cpu))} s over all threads)`
      if (!numpy || !reference) {
        console.log(`${head}; load average ${load0.toFixed(1)} -> ${load1.toFixed(1)}`)
        continue
      }
      const ratio = median(ours) / median(theirs)
      const pairRatio = median(ours.map((t, i) => t / theirs[i]!))
      console.log(
        `${head}, numpy median ${f3(median(theirs))} s (min ${f3(Math.min(...theirs))}, CPU ${f3(median(theirCpu))} s); ` +
          `ratio ${ratio.toFixed(2)}x (target <= 1.5x: ${ratio <= 1.5 ? "met" : "NOT met"}; per-pair median ${pairRatio.toFixed(2)}x, of minima ${(Math.min(...ours) / Math.min(...theirs)).toFixed(2)}x); ` +
          `${reps} alternating runs each, load average ${load0.toFixed(1)} -> ${load1.toFixed(1)} on ${availableParallelism()} cores; ` +
          `svcca ${result.mean.toFixed(6)} vs numpy ${(reference.mean as number).toFixed(6)}, directions ${result.directionsX}/${result.directionsY} vs ${String(reference.kx)}/${String(reference.ky)}`,
      )
    }
  } finally {
    numpy?.stop()
    rmSync(dir, { recursive: true, force: true })
    await closeAnalysisWorkers()
  }
}
