// Canonical JSON (sorted keys, no whitespace) and hashing: two equal values always
// hash the same, whatever order their keys were written in.
import { createHash } from "node:crypto"

export const canonicalJson = (value: unknown): string =>
  JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v === "number" && !Number.isFinite(v)) return String(v)
    if (v && typeof v === "object" && !Array.isArray(v)) {
      const o = v as Record<string, unknown>
      return Object.fromEntries(Object.keys(o).sort().map((k) => [k, o[k]]))
    }
    return v
  })

export const sha256 = (data: string | Uint8Array): string => createHash("sha256").update(data).digest("hex")
