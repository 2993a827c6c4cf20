// A stage's fingerprint decides whether a stored artifact can stand for it. It is the
// hash of FingerprintParts, and `status` explains a rerun by diffing these parts
// against the ones recorded in the last artifact's manifest.
import { existsSync, readFileSync, readdirSync, readlinkSync, realpathSync, statSync, type Stats } from "node:fs"
import { dirname, join, relative, resolve, sep } from "node:path"
import { writeFileAtomic } from "./atomic.ts"
import { canonicalJson, hashFile, sha256 } from "./canonical.ts"
import { ImportScanner } from "./imports.ts"
import { encodedParams, type AnyNode } from "./stage.ts"

/** Bumped when the store's layout or the meaning of a part changes. */
export const ENGINE_FORMAT = "transfusion-store/1"

/** Everything that goes into a fingerprint. Change any of it and the stage reruns. */
export interface FingerprintParts {
  /** The node's id, e.g. "finetune/retina/cbr-small/transfer/seed1". */
  readonly id: string
  /** The kind (which run function), e.g. "finetune". */
  readonly kind: string
  /** Parameter values, schema-encoded; canonical JSON (sorted keys) when hashed. */
  readonly params: unknown
  /**
   * The code: project-relative path -> sha256 of the source, for the kind's module and every
   * project-local module it reaches, transitively (static imports, dynamic import(), require()
   * and `new URL(..., import.meta.url)` workers, as esbuild parses them: pipeline/imports.ts).
   * The engine's own folder is left out: its format is versioned by `engine` instead.
   */
  readonly code: Readonly<Record<string, string>>
  /** Upstream fingerprints by input name: an upstream change reruns every dependant. */
  readonly inputs: Readonly<Record<string, string>>
  /** Declared external files or directories by name -> content hash (cached by path, size, mtime, inode). */
  readonly files: Readonly<Record<string, string>>
  /** What changes results beyond code and data: backend name, versions of packages that compute. */
  readonly environment: Readonly<Record<string, string>>
  /** Store format version. */
  readonly engine: string
}

export interface Fingerprinted {
  readonly node: AnyNode
  readonly fingerprint: string
  readonly parts: FingerprintParts
}

export const fingerprintOf = (parts: FingerprintParts): string => sha256(canonicalJson(parts)).slice(0, 20)

const resolveImport = (fromFile: string, spec: string): string | undefined => {
  const base = resolve(dirname(fromFile), spec)
  for (const candidate of [base, `${base}.ts`, join(base, "index.ts")]) {
    try {
      if (statSync(candidate).isFile()) return candidate
    } catch {
      // try the next candidate
    }
  }
  return undefined
}

/** Hashes modules and their local import closures; one instance per planning pass. */
export class CodeHasher {
  private readonly fileHash = new Map<string, string>()
  private readonly closure = new Map<string, ReadonlyMap<string, string>>()

  constructor(
    readonly root: string,
    /** Project-relative folder prefixes whose files are not part of any stage's code (e.g. "pipeline/"). */
    readonly ignore: readonly string[] = [],
    /** Parses imports; pass one with a cache file so that unchanged sources are not parsed again. */
    readonly scanner: ImportScanner = new ImportScanner(),
  ) {}

  private ignored(file: string): boolean {
    const rel = relative(this.root, file).split(sep).join("/")
    return rel.includes("node_modules/") || this.ignore.some((p) => rel.startsWith(p))
  }

  private hashFile(file: string): { hash: string; imports: string[] } {
    const source = readFileSync(file, "utf8")
    const hash = sha256(source)
    this.fileHash.set(file, hash)
    const imports: string[] = []
    for (const { specifier: spec } of this.scanner.importsOf(source, hash, file)) {
      if (!spec.startsWith("./") && !spec.startsWith("../")) continue
      const target = resolveImport(file, spec)
      if (!target) throw new Error(`${relative(this.root, file)}: cannot resolve import "${spec}"`)
      imports.push(target)
    }
    return { hash, imports }
  }

  /** path (relative to root) -> sha256 for `module` and its transitive local imports. */
  codeOf(module: string): Readonly<Record<string, string>> {
    let map = this.closure.get(module)
    if (!map) {
      const out = new Map<string, string>()
      const stack = [module]
      while (stack.length) {
        const file = stack.pop()!
        const key = relative(this.root, file).split(sep).join("/")
        if (out.has(key)) continue
        const { hash, imports } = this.hashFile(file)
        out.set(key, hash)
        for (const target of imports) if (!this.ignored(target)) stack.push(target)
      }
      map = new Map([...out].sort(([a], [b]) => (a < b ? -1 : 1)))
      this.closure.set(module, map)
    }
    return Object.fromEntries(map)
  }
}

interface CachedHash {
  readonly size: number
  readonly mtimeMs: number
  readonly ino: number
  readonly hash: string
}

/**
 * Content hashes of external files and directories. A file is read once; afterwards its
 * hash is trusted while (size, mtime, inode) are unchanged, so a no-op check of a large
 * dataset costs one stat per file, never a reread.
 */
export class FileHasher {
  private cache: Record<string, CachedHash> = {}
  private dirty = false

  constructor(private readonly cachePath: string) {
    try {
      this.cache = JSON.parse(readFileSync(cachePath, "utf8")) as Record<string, CachedHash>
    } catch {
      this.cache = {}
    }
  }

  private hashFile(path: string): string {
    const st = statSync(path)
    const hit = this.cache[path]
    if (hit && hit.size === st.size && hit.mtimeMs === st.mtimeMs && hit.ino === st.ino) return hit.hash
    const hash = hashFile(path).sha256
    this.cache[path] = { size: st.size, mtimeMs: st.mtimeMs, ino: st.ino, hash }
    this.dirty = true
    return hash
  }

  /** Hash of a file's bytes, or of a directory's sorted (relative path, file hash) list. */
  hash(path: string): string {
    const abs = resolve(path)
    let st
    try {
      st = statSync(abs)
    } catch {
      throw new Error(`declared file or directory ${abs} does not exist`)
    }
    if (st.isFile()) return this.hashFile(abs)
    const entries: string[] = []
    // Symlinks are followed (a dataset assembled from links is read through them); a link
    // back into a folder already walked is not walked again, and a dangling one counts as
    // its target's name, as a reader would find nothing there either.
    const walked = new Set<string>([realpathSync(abs)])
    const walk = (dir: string): void => {
      for (const ent of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
        const p = join(dir, ent.name)
        let target: Stats | undefined = undefined
        if (ent.isSymbolicLink()) {
          try {
            target = statSync(p)
          } catch {
            entries.push(`${relative(abs, p)}\0dangling link to ${readlinkSync(p)}`)
            continue
          }
        }
        if (target ? target.isDirectory() : ent.isDirectory()) {
          const real = realpathSync(p)
          if (walked.has(real)) continue
          walked.add(real)
          walk(p)
        } else if (target ? target.isFile() : ent.isFile()) entries.push(`${relative(abs, p)}\0${this.hashFile(p)}`)
      }
    }
    walk(abs)
    return sha256(entries.join("\n"))
  }

  /**
   * Hash of the listed paths under `dir` (those a stage reads, StageKind.reads): the sorted
   * (relative path, file hash) list, where a path that is absent or a folder counts as such,
   * as its reader would find it.
   */
  hashListed(dir: string, paths: readonly string[]): string {
    const abs = resolve(dir)
    const entries = [...new Set(paths.map((p) => resolve(abs, p)))].sort().map((p) => {
      let st: Stats
      try {
        st = statSync(p)
      } catch {
        return `${relative(abs, p)}\0missing`
      }
      return `${relative(abs, p)}\0${st.isFile() ? this.hashFile(p) : "not a file"}`
    })
    return sha256(entries.join("\n"))
  }

  save(): void {
    if (!this.dirty) return
    // Entries for files that no longer exist (a moved or deleted dataset) are dropped, so
    // the cache holds at most one entry per file that is there.
    for (const path of Object.keys(this.cache)) if (!existsSync(path)) delete this.cache[path]
    writeFileAtomic(this.cachePath, JSON.stringify(this.cache))
    this.dirty = false
  }
}

/** Where fingerprintAll gets a declared file's content hash. */
export interface FileHashes {
  hashOf(node: AnyNode, name: string, path: string): string
  save(): void
}

/** Per node id and declared name, the files under it the node's stage reads (StageKind.reads). */
export type ReadLists = ReadonlyMap<string, Readonly<Record<string, readonly string[]>>>

/**
 * Asks each node whose stage declares `reads` which of its declared files it reads. A
 * node whose listing fails is left out: its directories are then hashed whole.
 */
export const listReads = async (nodes: readonly AnyNode[]): Promise<ReadLists> => {
  const out = new Map<string, Readonly<Record<string, readonly string[]>>>()
  for (const node of nodes) {
    if (!node.kind.reads || Object.keys(node.files).length === 0) continue
    try {
      out.set(node.id, await node.kind.reads(node.params, node.files))
    } catch {
      // The stage's run reports the same problem with its own message, naming file and line.
    }
  }
  return out
}

/**
 * Hashes declared files by reading them (cached by size, mtime and inode): the files a
 * node's stage lists in `reads`, otherwise the whole file or directory.
 */
export const readFileHashes = (hasher: FileHasher, reads: ReadLists = new Map()): FileHashes => ({
  hashOf: (node, name, path) => {
    const listed = reads.get(node.id)?.[name]
    return listed ? hasher.hashListed(path, listed) : hasher.hash(path)
  },
  save: () => hasher.save(),
})

/** Stands for a declared file whose hash was neither read nor recorded. */
export const FILE_NOT_HASHED = "not hashed"

/**
 * Declared files' hashes as recorded in each stage's last artifact, reading no file: for
 * verbs that report rather than run. A stage never run gets FILE_NOT_HASHED (it is missing
 * either way).
 */
export const recordedFileHashes = (store: {
  latest(id: string): string | undefined
  readManifest(id: string, fingerprint: string): { readonly parts: FingerprintParts } | undefined
}): FileHashes => ({
  hashOf: (node, name) => {
    const latest = store.latest(node.id)
    const manifest = latest ? store.readManifest(node.id, latest) : undefined
    return manifest?.parts.files[name] ?? FILE_NOT_HASHED
  },
  save: () => {},
})

/** Fingerprints every node of `nodes` (a topologically ordered, upstream-closed list). */
export const fingerprintAll = (
  nodes: readonly AnyNode[],
  code: CodeHasher,
  files: FileHashes,
): Map<string, Fingerprinted> => {
  const out = new Map<string, Fingerprinted>()
  for (const node of nodes) {
    const inputs: Record<string, string> = {}
    for (const [name, up] of Object.entries(node.inputs)) {
      const f = out.get(up.id)
      if (!f) throw new Error(`internal: ${node.id} planned before its input ${up.id}`)
      inputs[name] = f.fingerprint
    }
    const fileHashes: Record<string, string> = {}
    for (const [name, path] of Object.entries(node.files)) {
      try {
        fileHashes[name] = files.hashOf(node, name, path)
      } catch (e) {
        throw new Error(`stage ${node.id}: file "${name}": ${(e as Error).message}`)
      }
    }
    const parts: FingerprintParts = {
      id: node.id,
      kind: node.kind.kind,
      params: encodedParams(node),
      code: code.codeOf(node.kind.module),
      inputs,
      files: fileHashes,
      environment: node.kind.environment?.(node.params) ?? {},
      engine: ENGINE_FORMAT,
    }
    out.set(node.id, { node, fingerprint: fingerprintOf(parts), parts })
  }
  files.save()
  code.scanner.save()
  return out
}

