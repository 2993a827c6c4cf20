// What a module imports, as the bundler sees it: esbuild (the parser bin/launch.mjs
// bundles the CLI with) parses the source, so an import inside a comment or a string is no
// import, a type-only import (erased at run time) is none either, and static, dynamic
// import() and require() calls all count. esbuild does not follow
// `new URL("./worker.ts", import.meta.url)` (how a worker thread's entry is named), so those
// are read from esbuild's printed output, where comments are gone and the call has one
// spelling.
//
// Parsing costs ~3 ms a file (under load) and ~0.2 s to start esbuild, so results are cached by
// the source's content hash and loader (in memory and in a small JSON file, for one esbuild
// version): a no-op plan reads and hashes each file, as it must anyway, and never starts
// esbuild.
import { createRequire } from "node:module"
import { readFileSync } from "node:fs"
import { writeFileAtomic } from "./atomic.ts"

/** One import of a module: the specifier as written, and how it is reached. */
export interface ModuleImport {
  readonly specifier: string
  readonly kind: "import-statement" | "dynamic-import" | "require-call" | "worker-url"
}

type Esbuild = typeof import("esbuild")
let esbuild: Esbuild | undefined
const loadEsbuild = (): Esbuild => (esbuild ??= createRequire(import.meta.url)("esbuild") as Esbuild)

const loaderFor = (file: string): "ts" | "tsx" | "js" | "jsx" =>
  /\.[cm]?tsx$/.test(file) ? "tsx" : /\.[cm]?ts$/.test(file) ? "ts" : /\.jsx$/.test(file) ? "jsx" : "js"

const workerUrl = /\bnew URL\(\s*("(?:[^"\\\n]|\\.)*")\s*,\s*import\.meta\.url\s*\)/g

/**
 * Every import of `source` (the text of `file`, whose extension picks the loader). Throws
 * esbuild's first error, with file and line, on a syntax error.
 */
export const scanImports = (source: string, file: string): ModuleImport[] => {
  const { buildSync } = loadEsbuild()
  let result
  try {
    result = buildSync({
      stdin: { contents: source, sourcefile: file, loader: loaderFor(file) },
      bundle: true,
      // Nothing is resolved or read: only this module's own imports are wanted.
      external: ["*"],
      write: false,
      metafile: true,
      format: "esm",
      platform: "node",
      legalComments: "none",
      logLevel: "silent",
    })
  } catch (e) {
    const first = (e as { errors?: { text: string; location?: { line: number } }[] }).errors?.[0]
    throw new Error(first ? `${file}:${first.location?.line ?? "?"}: ${first.text}` : `${file}: ${(e as Error).message}`)
  }
  const out: ModuleImport[] = []
  for (const input of Object.values(result.metafile.inputs)) {
    for (const imp of input.imports) {
      if (imp.kind === "import-statement" || imp.kind === "dynamic-import" || imp.kind === "require-call") {
        out.push({ specifier: imp.original ?? imp.path, kind: imp.kind })
      }
    }
  }
  for (const m of (result.outputFiles[0]?.text ?? "").matchAll(workerUrl)) {
    out.push({ specifier: JSON.parse(m[1]!) as string, kind: "worker-url" })
  }
  return out
}

/** The cache file: entries by loader and content hash, valid for one esbuild version. */
interface CacheFile {
  readonly esbuild: string
  readonly imports: Record<string, ModuleImport[]>
}

const esbuildVersion = (): string => (createRequire(import.meta.url)("esbuild/package.json") as { version: string }).version

/** scanImports, cached by content hash in memory and in `cachePath` (if given). */
export class ImportScanner {
  private cache: Record<string, ModuleImport[]> = {}
  private readonly version = esbuildVersion()
  private readonly used = new Set<string>()
  private dirty = false
  /** How many sources were parsed (not served from the cache): for tests and benchmarks. */
  parsed = 0

  constructor(private readonly cachePath?: string) {
    if (!cachePath) return
    try {
      const file = JSON.parse(readFileSync(cachePath, "utf8")) as CacheFile
      // Another esbuild may parse differently: its entries are not trusted.
      if (file.esbuild === this.version && file.imports && typeof file.imports === "object") this.cache = file.imports
    } catch {
      this.cache = {}
    }
  }

  /** The imports of `source` (content hash `hash`) in `file`. */
  importsOf(source: string, hash: string, file: string): readonly ModuleImport[] {
    const key = `${loaderFor(file)}:${hash}`
    this.used.add(key)
    const hit = this.cache[key]
    if (hit) return hit
    const found = scanImports(source, file)
    this.parsed++
    this.cache[key] = found
    this.dirty = true
    return found
  }

  /** Writes the cache, keeping this pass's entries and the most recent others (edits leave old ones). */
  save(): void {
    if (!this.dirty || !this.cachePath) return
    const keys = Object.keys(this.cache)
    const drop = keys.filter((k) => !this.used.has(k)).slice(0, Math.max(0, keys.length - 4 * this.used.size))
    for (const k of drop) delete this.cache[k]
    writeFileAtomic(this.cachePath, JSON.stringify({ esbuild: this.version, imports: this.cache } satisfies CacheFile))
    this.dirty = false
  }
}
