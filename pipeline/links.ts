// Stable paths (e.g. `data/synthetic/retina`, `artifacts/report/index.html`) pointing into
// committed artifacts. A link is replaced by renaming a fresh symlink over it, which is
// atomic: a reader always finds the old target or the new one, and two drivers updating
// the same link both succeed (the last rename wins) instead of one failing with EEXIST.
import { lstatSync, mkdirSync, symlinkSync } from "node:fs"
import { dirname, relative } from "node:path"
import { replaceFileAtomicSync } from "./atomic.ts"

/**
 * Points `linkPath` at `target` (a relative link). Returns why not, without throwing,
 * when something other than a symlink is at `linkPath`: a link is a convenience, and a
 * user's own folder there must neither be replaced nor fail the stage that committed.
 */
export const pointLink = (linkPath: string, target: string): string | undefined => {
  try {
    mkdirSync(dirname(linkPath), { recursive: true })
    let existing
    try {
      existing = lstatSync(linkPath)
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e
    }
    if (existing && !existing.isSymbolicLink())
      return `left ${linkPath} as it is: it is a ${existing.isDirectory() ? "directory" : "file"}, not a link this tool made (move it away to get the link to ${target})`
    replaceFileAtomicSync(linkPath, (tmp) => symlinkSync(relative(dirname(linkPath), target), tmp))
    return undefined
  } catch (e) {
    return `could not point ${linkPath} at ${target}: ${(e as Error).message}`
  }
}
