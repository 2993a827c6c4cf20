// Helpers for the end-to-end suites: a copy of the whole project in a temp dir (sources
// only: no artifacts, no generated data; node_modules linked), its CLI, one local `micro`
// run shared by every suite of the test process, and what "the same artifacts" means.
import { spawn, spawnSync } from "node:child_process"
import { cpSync, existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { isDeepStrictEqual } from "node:util"
import { LOG, type Manifest } from "../../pipeline/store.ts"

export const repo = resolve(import.meta.dirname, "../..")

/** What a run of the project needs: its sources, the CLI and the package files. */
const SOURCES = ["pipeline", "stages", "models", "ml", "analysis", "data", "lib", "report", "bin", "main.ts", "package.json", "tsconfig.json"]

/**
 * A fresh copy of the project (of the repo, or of another copy's sources) under the
 * system temp dir; returns its root.
 */
export const copyProject = (prefix: string, from: string = repo): string => {
  const work = mkdtempSync(join(tmpdir(), prefix))
  for (const entry of SOURCES) {
    cpSync(join(from, entry), join(work, entry), { recursive: true, filter: (src) => !src.includes("/data/synthetic") })
  }
  symlinkSync(join(repo, "node_modules"), join(work, "node_modules"))
  return work
}

export interface CliResult {
  readonly code: number | null
  /** stdout and stderr, interleaved as they came. */
  readonly out: string
  readonly seconds: number
}

/** Runs `transfusion <args>` in a project copy and waits for it. */
export const cli = (work: string, ...args: string[]): CliResult => {
  const started = Date.now()
  const r = spawnSync(process.execPath, [join(work, "bin", "transfusion.mjs"), ...args], { cwd: work, encoding: "utf8", maxBuffer: 64 << 20 })
  return { code: r.status, out: `${r.stdout}${r.stderr}`, seconds: (Date.now() - started) / 1000 }
}

/**
 * Runs `transfusion <args>` without blocking the test process (a long run can then be
 * watched or stopped). Past `timeoutMs` the CLI gets SIGTERM (a Slurm driver cancels its
 * jobs on it), then SIGKILL 30 s later.
 */
export const cliAsync = (work: string, args: string[], timeoutMs: number): Promise<CliResult & { timedOut: boolean }> =>
  new Promise((done) => {
    const started = Date.now()
    const child = spawn(process.execPath, [join(work, "bin", "transfusion.mjs"), ...args], { cwd: work, stdio: ["ignore", "pipe", "pipe"] })
    let out = ""
    child.stdout.on("data", (d) => (out += d))
    child.stderr.on("data", (d) => (out += d))
    let timedOut = false
    let kill: NodeJS.Timeout | undefined
    const term = setTimeout(() => {
      timedOut = true
      child.kill("SIGTERM")
      kill = setTimeout(() => child.kill("SIGKILL"), 30_000)
    }, timeoutMs)
    child.on("close", (code) => {
      clearTimeout(term)
      if (kill) clearTimeout(kill)
      done({ code, out, seconds: (Date.now() - started) / 1000, timedOut })
    })
  })

/** Copies the test process removes when it exits (uvu has no hook after the last suite). */
const toRemove = new Set<string>()
process.on("exit", () => {
  for (const dir of toRemove) rmSync(dir, { recursive: true, force: true })
})
/** Removes `work` when the test process exits. */
export const removeAtExit = (work: string): void => void toRemove.add(work)

/**
 * The project copy of the one local `micro` run of this test process, made when this
 * module is first imported (before any suite runs, so every e2e copy sees the same
 * sources even while the repo is being edited). The run itself is `sharedLocalMicro()`.
 */
export const localMicroWork = copyProject("transfusion-micro-")
removeAtExit(localMicroWork)

let localMicroRun: CliResult | undefined
/**
 * The local `run --profile micro` in `localMicroWork`, made on first use (a couple of
 * minutes) and shared: the micro suite checks it, the Slurm suite compares its artifacts
 * to it instead of paying for a second run. Suites sharing it may run the CLI there but
 * must leave its store and sources as they found them.
 */
export const sharedLocalMicro = (): CliResult => (localMicroRun ??= cli(localMicroWork, "run", "--profile", "micro"))

/** One committed stage as the store records it: its fingerprint, result and output files (size, sha256). */
export type Artifact = Pick<Manifest, "fingerprint" | "outputs" | "result">

/**
 * Every stage's latest committed artifact in a store, by stage id: the fingerprint the
 * run planned and committed (`<id>/latest`), and that artifact's manifest.
 */
export const artifactsIn = (store: string): Map<string, Artifact> => {
  const found = new Map<string, Artifact>()
  const walk = (dir: string, id: string) => {
    for (const name of readdirSync(dir).sort()) {
      if (name.startsWith(".")) continue // .slurm, .locks, .tmp, temp files
      const path = join(dir, name)
      if (name === "latest" && id) {
        const fingerprint = readFileSync(path, "utf8").trim()
        const manifest = join(dir, fingerprint, "manifest.json")
        if (!existsSync(manifest)) continue
        const m = JSON.parse(readFileSync(manifest, "utf8")) as Manifest
        found.set(id, { fingerprint: m.fingerprint, outputs: m.outputs, result: m.result })
      } else if (lstatSync(path).isDirectory() && !/^[0-9a-f]{20}$/.test(name)) {
        walk(path, id ? `${id}/${name}` : name)
      }
    }
  }
  walk(store, "")
  return found
}

/** How two stores' artifacts compared: counts, and every difference found (empty: the same). */
export interface StoreComparison {
  readonly stages: number
  readonly files: number
  /** Output files with the same sha256. */
  readonly identical: number
  /** Activation files equal in content but not in bytes (key-value metadata in another order). */
  readonly parquetByContent: number
  /** Text files equal once store paths and the report's generation time are masked. */
  readonly textMasked: number
  readonly differences: string[]
}

/**
 * Compares every stage's latest artifact in store `a` with the same stage's in store `b`:
 * fingerprint, result and output files (the log aside). What may differ between two runs
 * of the same plan in two stores, and nothing else:
 * - a stage's wall time (`seconds` in a training result);
 * - absolute paths into the store: an ingest records its source folder (dataset.json and
 *   result), the report names its figure files; compared with each store's root masked;
 * - the report's "Generated:" time;
 * - the order of an activation file's Parquet key-value metadata when parquet-wasm wrote
 *   it (the snappy/zstd writers: arrow-rs keeps it in a HashMap, whose iteration order is
 *   random per process; the default uncompressed writer keeps the order): compared by
 *   content, every column bit for bit and the metadata as a set.
 * Training is otherwise bitwise reproducible for a fixed seed on the wasm backend (one
 * thread, a fixed order of operations), so weights, curves, metrics, activations,
 * similarity tables and figures must be byte-identical.
 */
export const compareStores = async (a: string, b: string): Promise<StoreComparison> => {
  const { readActivationTable } = await import("../../analysis/parquet.ts")
  const [left, right] = [artifactsIn(a), artifactsIn(b)]
  const differences: string[] = []
  const c = { stages: left.size, files: 0, identical: 0, parquetByContent: 0, textMasked: 0 }
  const mask = (text: string, root: string) => text.replaceAll(root, "<store>").replace(/Generated: \d{4}-\d\d-\d\dT[\d:.]+Z/g, "Generated: <time>")
  const masked = (v: unknown, root: string): unknown =>
    Array.isArray(v)
      ? v.map((x) => masked(x, root))
      : v && typeof v === "object"
        ? Object.fromEntries(Object.entries(v).filter(([k]) => k !== "seconds").map(([k, x]) => [k, masked(x, root)]))
        : typeof v === "string"
          ? mask(v, root)
          : v
  const only = (m: Map<string, Artifact>, other: Map<string, Artifact>) => [...m.keys()].filter((id) => !other.has(id)).sort()
  for (const [missing, where] of [[only(left, right), a], [only(right, left), b]] as const) {
    if (missing.length) differences.push(`only in ${where}: ${missing.slice(0, 10).join(", ")}${missing.length > 10 ? ` and ${missing.length - 10} more` : ""}`)
  }
  for (const [id, x] of left) {
    const y = right.get(id)
    if (!y) continue
    if (x.fingerprint !== y.fingerprint) {
      differences.push(`${id}: fingerprint ${x.fingerprint} vs ${y.fingerprint}`)
      continue
    }
    if (!isDeepStrictEqual(masked(x.result, a), masked(y.result, b))) differences.push(`${id}: result ${JSON.stringify(x.result)} vs ${JSON.stringify(y.result)}`)
    const files = (m: Artifact) => Object.keys(m.outputs).filter((f) => f !== LOG).sort()
    if (files(x).join() !== files(y).join()) differences.push(`${id}: output files ${files(x).join(", ")} vs ${files(y).join(", ")}`)
    for (const f of files(x)) {
      if (!y.outputs[f]) continue
      c.files++
      if (x.outputs[f]!.sha256 === y.outputs[f]!.sha256) {
        c.identical++
        continue
      }
      const [pa, pb] = [join(a, id, x.fingerprint, f), join(b, id, y.fingerprint, f)]
      if (f.endsWith(".parquet")) {
        const [ta, tb] = [await readActivationTable(pa), await readActivationTable(pb)]
        const same =
          Buffer.from(ta.data.buffer).equals(Buffer.from(tb.data.buffer)) &&
          isDeepStrictEqual([ta.image, ta.y, ta.x], [tb.image, tb.y, tb.x]) &&
          isDeepStrictEqual(ta.metadata, tb.metadata)
        if (same) c.parquetByContent++
        else differences.push(`${id}/${f}: activations or metadata differ`)
      } else if (/\.(json|md|html|txt|csv)$/.test(f) && mask(readFileSync(pa, "utf8"), a) === mask(readFileSync(pb, "utf8"), b)) {
        c.textMasked++
      } else {
        differences.push(`${id}/${f}: sha256 ${x.outputs[f]!.sha256} vs ${y.outputs[f]!.sha256}`)
      }
    }
  }
  return { ...c, differences }
}
