// Canonical JSON (sorted keys, no whitespace) and hashing: two equal values always
// hash the same, whatever order their keys were written in.
import { createHash } from "node:crypto"
import { closeSync, openSync, readSync } from "node:fs"

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

/** A file's size and sha256, read in 1 MiB blocks so that a large dataset file never sits whole in memory. */
export const hashFile = (path: string): { readonly size: number; readonly sha256: string } => {
  const h = createHash("sha256")
  const fd = openSync(path, "r")
  let size = 0
  try {
    const buf = Buffer.allocUnsafe(1 << 20)
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null)
      if (n === 0) break
      size += n
      h.update(buf.subarray(0, n))
    }
  } finally {
    closeSync(fd)
  }
  return { size, sha256: h.digest("hex") }
}
