// The artifacts of a profile as one table (`results`) and one artifact against another
// (`diff`), as `dvc exp show` / `dvc params diff` / `dvc metrics diff` give DVC users. The
// engine flattens any stage's params and result; the project may say which kinds are rows,
// which columns name a row and how its metrics are called (Project.results).
import type { Fingerprinted } from "./fingerprint.ts"
import type { PlannedState } from "./outcome.ts"
import type { Manifest, Store } from "./store.ts"

export type Cell = string | number | boolean | null

/** What the project says about one artifact: the columns naming it, its metrics, and what it ran on. */
export interface ArtifactDescription {
  /** Shown after the stage id, in this order (e.g. model, init, dataset, seed). */
  readonly identity: Readonly<Record<string, Cell>>
  readonly metrics: Readonly<Record<string, number | null>>
  /** Shown after the metrics (e.g. the backend that computed them). */
  readonly context: Readonly<Record<string, Cell>>
}

export interface ResultsSpec {
  /** Stage kinds whose artifacts are rows (default: every kind). */
  readonly kinds?: readonly string[]
  /** Flattened param names already shown as identity columns (left out of the differing params). */
  readonly hideParams?: readonly string[]
  /** Default: no identity or context columns; every numeric leaf of the result is a metric. */
  readonly describe?: (artifact: { readonly id: string; readonly kind: string; readonly params: unknown; readonly result: unknown }) => ArtifactDescription
}

/** Scalar leaves of a JSON value by dotted path; arrays are kept whole (as JSON) when `arrays` says so, else dropped. */
export const flatten = (value: unknown, arrays: "json" | "drop", prefix = "", out: Record<string, Cell> = {}): Record<string, Cell> => {
  if (Array.isArray(value)) {
    if (arrays === "json") out[prefix || "(value)"] = JSON.stringify(value)
  } else if (value !== null && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) flatten(v, arrays, prefix ? `${prefix}.${k}` : k, out)
  } else if (typeof value === "string" || typeof value === "number" || typeof value === "boolean" || value === null) out[prefix || "(value)"] = value
  return out
}

export const describeArtifact = (spec: ResultsSpec, m: Manifest): ArtifactDescription => {
  if (spec.describe) return spec.describe({ id: m.stage, kind: m.kind, params: m.parts.params, result: m.result })
  const metrics: Record<string, number> = {}
  for (const [k, v] of Object.entries(flatten(m.result, "drop"))) if (typeof v === "number") metrics[k] = v
  return { identity: {}, metrics, context: {} }
}

export interface ResultsTable {
  readonly columns: readonly string[]
  readonly rows: readonly Readonly<Record<string, Cell>>[]
  /** The columns that are differing params (the table view shows them after the metrics). */
  readonly paramColumns: readonly string[]
  /** Stages of the selection with no artifact at all (not rows: there is nothing to show). */
  readonly notRun: readonly string[]
}

/**
 * One row per selected stage with an artifact: its current one (`state` fresh) or, when the
 * current fingerprint was never run, its latest (`state` stale, so it is marked, not hidden).
 */
export const resultsTable = (store: Store, stages: readonly Fingerprinted[], spec: ResultsSpec): ResultsTable => {
  const kinds = spec.kinds ? new Set(spec.kinds) : undefined
  const found: { fp: Fingerprinted; manifest: Manifest; state: Extract<PlannedState, "fresh" | "stale"> }[] = []
  const notRun: string[] = []
  for (const fp of stages) {
    if (kinds && !kinds.has(fp.node.kind.kind)) continue
    const id = fp.node.id
    const current = store.isComplete(id, fp.fingerprint) ? store.readManifest(id, fp.fingerprint) : undefined
    const latest = store.latest(id)
    const manifest = current ?? (latest ? store.readManifest(id, latest) : undefined)
    if (!manifest) notRun.push(id)
    else found.push({ fp, manifest, state: current ? "fresh" : "stale" })
  }
  const params = found.map((f) => flatten(f.manifest.parts.params, "json"))
  const hidden = new Set(spec.hideParams ?? [])
  const paramNames = [...new Set(params.flatMap((p) => Object.keys(p)))].filter(
    (k) => !hidden.has(k) && new Set(params.map((p) => JSON.stringify(p[k] ?? null))).size > 1,
  )
  const described = found.map((f) => describeArtifact(spec, f.manifest))
  const ordered = (pick: (d: ArtifactDescription) => Readonly<Record<string, unknown>>) => [...new Set(described.flatMap((d) => Object.keys(pick(d))))]
  // Summary metrics ("auc") before their breakdowns ("auc/Edema"), else in order of first appearance.
  const depth = (k: string) => k.split("/").length
  const identity = ordered((d) => d.identity), context = ordered((d) => d.context)
  const metrics = ordered((d) => d.metrics).map((k, i) => ({ k, i })).sort((a, b) => depth(a.k) - depth(b.k) || a.i - b.i).map((x) => x.k)
  const columns = ["stage", "state", ...identity, ...paramNames, ...metrics, ...context, "fingerprint", "wall_s"]
  const rows = found.map((f, i) => {
    const d = described[i]!
    const row: Record<string, Cell> = { stage: f.manifest.stage, state: f.state }
    for (const k of identity) row[k] = d.identity[k] ?? null
    for (const k of paramNames) row[k] = params[i]![k] ?? null
    for (const k of metrics) row[k] = d.metrics[k] ?? null
    for (const k of context) row[k] = d.context[k] ?? null
    row.fingerprint = f.manifest.fingerprint
    row.wall_s = f.manifest.durationMs / 1000
    return row
  })
  rows.sort((a, b) => (String(a.stage) < String(b.stage) ? -1 : 1))
  return { columns, rows, paramColumns: paramNames, notRun }
}

// ---- output forms ----

const csvCell = (v: Cell): string => {
  if (v === null) return ""
  const s = String(v)
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s
}

/** RFC 4180 CSV; missing values are empty fields (NaN in pandas, NULL in DuckDB). */
export const toCsv = (t: ResultsTable): string =>
  [t.columns.map(csvCell).join(","), ...t.rows.map((r) => t.columns.map((c) => csvCell(r[c] ?? null)).join(","))].join("\n") + "\n"

const short = (v: Cell): string => {
  if (v === null) return "-"
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : Math.abs(v) >= 1000 ? v.toFixed(0) : v.toPrecision(4).replace(/\.?0+$/, "")
  return String(v)
}

/**
 * Columns while they fit `width` characters (the stage id always), the differing params after
 * the metrics; the rest are named in a footer (csv, json and parquet hold every column).
 */
export const toTextTable = (table: ResultsTable, width: number): string => {
  const params = new Set(table.paramColumns)
  const t = { ...table, columns: [...table.columns.filter((c) => !params.has(c)), ...table.paramColumns] }
  const cells = t.columns.map((c) => [c, ...t.rows.map((r) => short(r[c] ?? null))])
  const widths = cells.map((col) => Math.max(...col.map((s) => s.length)))
  const shown: number[] = []
  let used = 0
  for (let i = 0; i < t.columns.length; i++) {
    if (shown.length > 0 && used + 2 + widths[i]! > width) break
    shown.push(i)
    used += (shown.length > 1 ? 2 : 0) + widths[i]!
  }
  const numeric = (i: number) => t.rows.some((r) => typeof r[t.columns[i]!] === "number")
  const line = (row: number) =>
    shown.map((i) => (numeric(i) ? cells[i]![row]!.padStart(widths[i]!) : cells[i]![row]!.padEnd(widths[i]!))).join("  ").trimEnd()
  const out = [line(0), ...t.rows.map((_, r) => line(r + 1))]
  const left = t.columns.filter((_, i) => !shown.includes(i))
  if (left.length) out.push(`(${left.length} more columns: ${left.slice(0, 6).join(", ")}${left.length > 6 ? ", ..." : ""}; --format csv/json/parquet has them all)`)
  return out.join("\n")
}

export const toJsonRows = (t: ResultsTable): string => `${JSON.stringify(t.rows, null, 1)}\n`

/** A Parquet file: numeric columns DOUBLE (INT32 when every value is an integer), booleans BOOLEAN, the rest strings; nulls kept. */
export const toParquet = async (t: ResultsTable): Promise<Uint8Array> => {
  const arrow = await import("apache-arrow")
  const pw = (await import("parquet-wasm")) as typeof import("parquet-wasm")
  const columns: Record<string, import("apache-arrow").Vector> = {}
  for (const c of t.columns) {
    const values = t.rows.map((r) => r[c] ?? null)
    const present = values.filter((v) => v !== null)
    if (present.length > 0 && present.every((v) => typeof v === "number")) {
      const ints = present.every((v) => Number.isInteger(v) && Math.abs(v as number) < 2 ** 31)
      columns[c] = arrow.vectorFromArray(values as (number | null)[], ints ? new arrow.Int32() : new arrow.Float64())
    } else if (present.length > 0 && present.every((v) => typeof v === "boolean")) columns[c] = arrow.vectorFromArray(values as (boolean | null)[], new arrow.Bool())
    else columns[c] = arrow.vectorFromArray(values.map((v) => (v === null ? null : String(v))), new arrow.Utf8())
  }
  const ipc = arrow.tableToIPC(new arrow.Table(columns), "stream")
  return pw.writeParquet(pw.Table.fromIPCStream(ipc))
}

// ---- diff ----

export interface Change {
  readonly name: string
  readonly old: Cell | undefined
  readonly new: Cell | undefined
  /** new - old, for numbers on both sides. */
  readonly change?: number
}

export interface ArtifactDiff {
  readonly id: string
  readonly old: { readonly fingerprint: string; readonly finishedAt: string }
  readonly new: { readonly fingerprint: string; readonly finishedAt: string }
  readonly params: readonly Change[]
  /** Every metric, changed or not (as `dvc metrics diff --all` would; unchanged ones have change 0). */
  readonly metrics: readonly Change[]
  /** Source files whose hash differs (added, removed or edited). */
  readonly code: readonly string[]
  /** Inputs whose upstream fingerprint differs. */
  readonly inputs: readonly string[]
}

const changes = (before: Readonly<Record<string, Cell>>, after: Readonly<Record<string, Cell>>, all: boolean): Change[] =>
  [...new Set([...Object.keys(before), ...Object.keys(after)])]
    .map((name) => {
      const o = before[name], n = after[name]
      return { name, old: o, new: n, ...(typeof o === "number" && typeof n === "number" ? { change: n - o } : {}) }
    })
    .filter((c) => all || JSON.stringify(c.old) !== JSON.stringify(c.new))

const changedKeys = (a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>) =>
  [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => a[k] !== b[k]).sort()

export const diffArtifacts = (spec: ResultsSpec, before: Manifest, after: Manifest): ArtifactDiff => ({
  id: after.stage,
  old: { fingerprint: before.fingerprint, finishedAt: before.finishedAt },
  new: { fingerprint: after.fingerprint, finishedAt: after.finishedAt },
  params: changes(flatten(before.parts.params, "json"), flatten(after.parts.params, "json"), false),
  metrics: changes(describeArtifact(spec, before).metrics, describeArtifact(spec, after).metrics, true),
  code: changedKeys(before.parts.code, after.parts.code),
  inputs: changedKeys(before.parts.inputs, after.parts.inputs),
})

/** Every stored fingerprint of `id`, newest first (by finish time). */
export const storedVersions = (store: Store, id: string): Manifest[] =>
  store
    .artifacts()
    .filter((a) => a.id === id)
    .map((a) => store.readManifest(a.id, a.fingerprint))
    .filter((m): m is Manifest => m !== undefined)
    .sort((a, b) => (a.finishedAt < b.finishedAt ? 1 : a.finishedAt > b.finishedAt ? -1 : 0))

export const formatDiff = (d: ArtifactDiff): string => {
  const cell = (v: Cell | undefined) => (v === undefined ? "(absent)" : short(v))
  const table = (title: string, rows: readonly Change[], withChange: boolean) => {
    if (rows.length === 0) return [`${title}: no changes`]
    const head = [title, "old", "new", ...(withChange ? ["change"] : [])]
    const body = rows.map((c) => [c.name, cell(c.old), cell(c.new), ...(withChange ? [c.change === undefined ? "-" : `${c.change > 0 ? "+" : ""}${short(c.change)}`] : [])])
    const widths = head.map((_, i) => Math.max(...[head, ...body].map((r) => r[i]!.length)))
    return [head, ...body].map((r) => r.map((s, i) => s.padEnd(widths[i]!)).join("  ").trimEnd())
  }
  return [
    `${d.id}: ${d.old.fingerprint} (${d.old.finishedAt}) -> ${d.new.fingerprint} (${d.new.finishedAt})`,
    "",
    ...table("params", d.params, false),
    "",
    ...table("metrics", d.metrics, true),
    ...(d.code.length ? ["", `code changed: ${d.code.join(", ")}`] : []),
    ...(d.inputs.length ? [`inputs changed: ${d.inputs.join(", ")}`] : []),
  ].join("\n")
}
