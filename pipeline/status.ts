// "Why will this rerun?" A stage is fresh when an artifact with its fingerprint exists;
// otherwise the parts of its fingerprint are compared with those recorded in the id's
// last artifact, naming each parameter, source file, input, file or environment entry
// that changed, with old and new values.
import { existsSync } from "node:fs"
import { canonicalJson } from "./canonical.ts"
import type { FingerprintParts, Fingerprinted } from "./fingerprint.ts"
import type { PlannedState } from "./outcome.ts"
import type { Store } from "./store.ts"

export interface StageStatus {
  readonly id: string
  readonly kind: string
  readonly fingerprint: string
  readonly state: PlannedState
  /** Empty when fresh; for stale stages each line names one change. */
  readonly reasons: readonly string[]
}

const show = (v: unknown): string => (v === undefined ? "(absent)" : JSON.stringify(v))

/** Leaf-level differences between two JSON values: "path: old -> new". */
export const diffValues = (before: unknown, after: unknown, path = ""): string[] => {
  if (canonicalJson(before) === canonicalJson(after)) return []
  const isObj = (v: unknown): v is Record<string, unknown> => !!v && typeof v === "object" && !Array.isArray(v)
  if (isObj(before) && isObj(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort()
    return keys.flatMap((k) => diffValues(before[k], after[k], path ? `${path}.${k}` : k))
  }
  return [`${path || "(value)"}: ${show(before)} -> ${show(after)}`]
}

const diffRecord = (label: string, before: Readonly<Record<string, string>>, after: Readonly<Record<string, string>>, describe: (k: string, b?: string, a?: string) => string): string[] => {
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort()
  return keys.filter((k) => before[k] !== after[k]).map((k) => `${label} ${describe(k, before[k], after[k])}`)
}

export const explainChange = (before: FingerprintParts, after: FingerprintParts): string[] => {
  const out: string[] = []
  if (before.kind !== after.kind) out.push(`kind changed: ${before.kind} -> ${after.kind}`)
  for (const d of diffValues(before.params, after.params)) out.push(`param ${d}`)
  out.push(
    ...diffRecord("code", before.code, after.code, (k, b, a) => (b === undefined ? `${k} now imported` : a === undefined ? `${k} no longer imported` : `${k} changed`)),
    ...diffRecord("input", before.inputs, after.inputs, (k, b, a) => (b === undefined ? `${k} added` : a === undefined ? `${k} removed` : `${k} changed (upstream ${b.slice(0, 8)} -> ${a.slice(0, 8)})`)),
    ...diffRecord("file", before.files, after.files, (k, b, a) => (b === undefined ? `${k} added` : a === undefined ? `${k} removed` : `${k} content changed`)),
    ...diffRecord("environment", before.environment, after.environment, (k, b, a) => `${k}: ${b ?? "(absent)"} -> ${a ?? "(absent)"}`),
  )
  if (before.engine !== after.engine) out.push(`store format ${before.engine} -> ${after.engine}`)
  return out
}

export const statusOf = (store: Store, f: Fingerprinted): StageStatus => {
  const base = { id: f.node.id, kind: f.node.kind.kind, fingerprint: f.fingerprint }
  if (store.isComplete(f.node.id, f.fingerprint)) return { ...base, state: "fresh", reasons: [] }
  const failedLog = store.failedLogPath(f.node.id, f.fingerprint)
  const failed = existsSync(failedLog) ? [`its last attempt failed; log: ${failedLog}`] : []
  const latest = store.latest(f.node.id)
  const manifest = latest ? store.readManifest(f.node.id, latest) : undefined
  if (!manifest) return { ...base, state: "missing", reasons: failed.length ? failed : ["never run"] }
  const reasons = [...explainChange(manifest.parts, f.parts), ...failed]
  return { ...base, state: "stale", reasons: reasons.length ? reasons : ["artifact missing from the store"] }
}
