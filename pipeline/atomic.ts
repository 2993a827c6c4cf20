// Replacing a file so that a reader (or a crash) sees the old content or the new, never
// part of either: the new content goes to a temp file beside it, which is renamed over it.
// The temp name holds the pid and a per-process counter, so concurrent writers never share
// one; a killed writer leaves a `<name>.tmp-<pid>-<n>` file, never a torn `<name>`, and
// `atomicTempOf` tells a cleaner whose it is. The one way to do this in the project (the
// store's commit, which renames a whole directory, is a different protocol: store.ts).
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeFileSync } from "node:fs"
import { open, rename, rm } from "node:fs/promises"
import { dirname } from "node:path"

export interface AtomicOptions {
  /**
   * Flush the new content to disk before the rename, so that after a power loss the name
   * holds the old content or the whole new one (without it, the rename can reach the disk
   * before the data). Costs a disk flush: for files that are expensive to lose.
   */
  readonly fsync?: boolean
}

let counter = 0
const tempPathFor = (path: string): string => `${path}.tmp-${process.pid}-${++counter}`
const tempName = /^(.+)\.tmp-(\d+)-\d+$/

/** For a temp file's name (no folder), the name it would replace and the pid writing it; undefined for any other name. */
export const atomicTempOf = (name: string): { readonly target: string; readonly pid: number } | undefined => {
  const m = tempName.exec(name)
  return m ? { target: m[1]!, pid: Number(m[2]) } : undefined
}

const fsyncFile = (path: string): void => {
  const fd = openSync(path, "r")
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}

/**
 * Replaces `path` atomically with what `make` creates at the temp path it is given (a
 * file, or a symlink: links.ts); the temp path is removed if `make` or the rename fails.
 */
export const replaceFileAtomicSync = (path: string, make: (tmp: string) => void, options: AtomicOptions = {}): void => {
  const tmp = tempPathFor(path)
  try {
    // A dead process that had this pid may have left a temp file under the same name.
    rmSync(tmp, { force: true })
    make(tmp)
    if (options.fsync) fsyncFile(tmp)
    renameSync(tmp, path)
  } catch (e) {
    rmSync(tmp, { force: true })
    throw e
  }
}

/** Writes `data` to `path` atomically, creating the parent folder if needed. */
export const writeFileAtomic = (path: string, data: string | Uint8Array, options: AtomicOptions = {}): void => {
  mkdirSync(dirname(path), { recursive: true })
  replaceFileAtomicSync(path, (tmp) => writeFileSync(tmp, data), options)
}

/**
 * Replaces `path` atomically with what `write` puts in the temp path it is given (for
 * writers that stream); the temp file is removed if `write` or the rename fails.
 */
export const replaceFileAtomic = async <A>(path: string, write: (tmp: string) => Promise<A>, options: AtomicOptions = {}): Promise<A> => {
  const tmp = tempPathFor(path)
  try {
    await rm(tmp, { force: true })
    const result = await write(tmp)
    if (options.fsync) {
      const fh = await open(tmp, "r")
      try {
        await fh.sync()
      } finally {
        await fh.close()
      }
    }
    await rename(tmp, path)
    return result
  } catch (e) {
    await rm(tmp, { force: true })
    throw e
  }
}
