// Replacing a file so that a reader (or a crash) sees the old content or the new, never
// part of either: the new content goes to a temp file beside it, which is renamed over it.
// The temp name holds the pid and a per-process counter, so concurrent writers never share
// one; a killed writer leaves a `<name>.tmp-*` file, never a torn `<name>`.
import { mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs"
import { rename, rm } from "node:fs/promises"
import { dirname } from "node:path"

let counter = 0
const tempPathFor = (path: string): string => `${path}.tmp-${process.pid}-${++counter}`

/** Writes `data` to `path` atomically, creating the parent folder if needed. */
export const writeFileAtomic = (path: string, data: string | Uint8Array): void => {
  mkdirSync(dirname(path), { recursive: true })
  const tmp = tempPathFor(path)
  try {
    writeFileSync(tmp, data)
    renameSync(tmp, path)
  } catch (e) {
    rmSync(tmp, { force: true })
    throw e
  }
}

/**
 * Replaces `path` atomically with what `write` puts in the temp path it is given (for
 * writers that stream); the temp file is removed if `write` or the rename fails.
 */
export const replaceFileAtomic = async <A>(path: string, write: (tmp: string) => Promise<A>): Promise<A> => {
  const tmp = tempPathFor(path)
  try {
    const result = await write(tmp)
    await rename(tmp, path)
    return result
  } catch (e) {
    await rm(tmp, { force: true })
    throw e
  }
}
