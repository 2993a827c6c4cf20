// Starts a TypeScript CLI entry fast: the entry and every project module it reaches are
// bundled once by esbuild (with effect and @effect/* inlined and tree-shaken; every other
// package stays an ordinary import, and modules reached only by dynamic import() stay in
// chunks loaded when needed), and the bundle is cached until one of its input files
// changes. A no-op start then costs a few stat calls instead of loading tsx and
// transpiling, and Node parses one file instead of ~400 modules.
//
// Plain JavaScript on purpose: it runs before any TypeScript loader exists. One file on
// purpose (~400 lines): the cache check, the build and the cleanup share the cache layout
// below, and every start loads this file before anything else.
//
// Cache layout, under `cacheDir/<key>/` (key: entry path, Node version, this format):
//   current.json   which build to use and its inputs with their (size, mtime, ctime, inode);
//                  replaced atomically (temp file + rename) after a build
//   b-<hash>/      one build: main.mjs and its chunks; written to a temp dir and renamed
//   b-<hash>/.users/<host>-<pid>   processes using that build (its chunks load lazily),
//                  so an old build is removed only when nobody can still need it
// A project file whose timestamps are too recent to trust (edited within the same clock
// tick as the build could have read it) is compared by content hash instead.
//
// In project .ts modules, import.meta.url / dirname / filename are replaced by the
// module's own location, so stage kinds' `module` (whose source the fingerprints hash),
// files found relative to a module and createRequire() are the same as under tsx.
import { createHash } from "node:crypto"
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from "node:fs"
import { hostname } from "node:os"
import { dirname, extname, join, resolve, sep } from "node:path"
import { isAlive } from "../lib/process-alive.mjs"
import { fileURLToPath, pathToFileURL } from "node:url"

/** Bump when the cache layout changes (an edit of this file already rebuilds: it is an input). */
const FORMAT = 2
/**
 * Bare import specifiers other than effect, effect/…, @effect/… and node:…, as a regexp
 * without lookahead (esbuild's filters are Go regexps), so that only these imports cost a
 * call into JavaScript: they stay imports, loaded by Node at run time. effect and
 * @effect/* are inlined; node:… are built-ins.
 */
const notStartingWith = (word, tail) => [...word].reduceRight((rest, ch) => `(?:$|[^${ch}]${rest === null ? "" : `|${ch}${rest}`})`, tail)
const EXTERNAL = new RegExp(`^(?:[^./@en]|e${notStartingWith("ffect", "[^/]")}|@${notStartingWith("effect", "[^/]")}|n${notStartingWith("ode:", null)})`)
/** Timestamps within this many ms of the moment a file was read are not trusted alone. */
const RACY_MS = 3000
/** A superseded build without live users is removed this long after it stopped being current. */
const KEEP_SUPERSEDED_MS = 60_000

const toPath = (p) => (p instanceof URL ? fileURLToPath(p) : p.startsWith("file:") ? fileURLToPath(p) : resolve(p))
const sha = (data) => createHash("sha256").update(data).digest("hex")
const statKey = (st) => `${st.size}:${st.mtimeMs}:${st.ctimeMs}:${st.ino}`
const statOrUndefined = (path) => statSync(path, { throwIfNoEntry: false })
const inNodeModules = (path) => path.split(sep).includes("node_modules")

/** The package folder (…/node_modules/<name> or …/node_modules/@scope/<name>) holding `path`. */
const packageDirOf = (path) => {
  const parts = path.split(sep)
  const i = parts.lastIndexOf("node_modules")
  return parts.slice(0, i + (parts[i + 1]?.startsWith("@") ? 3 : 2)).join(sep)
}

/** The nearest folder above `file` with a package.json (the project root), if any. */
const packageRootOf = (file) => {
  for (let dir = dirname(file); ; dir = dirname(dir)) {
    if (statOrUndefined(join(dir, "package.json"))) return dir
    if (dirname(dir) === dir) return undefined
  }
}

const readJson = (path) => {
  try {
    return JSON.parse(readFileSync(path, "utf8"))
  } catch {
    return undefined
  }
}

/** Writes a file so that readers see the old or the new content, never a partial one. */
const writeAtomic = (path, text) => {
  const tmp = join(dirname(path), tempName())
  writeFileSync(tmp, text)
  renameSync(tmp, path)
}

/**
 * Whether a recorded input is unchanged. `refresh` is set when a file's stats changed but
 * its content did not (a touch, a checkout of the same content): the record is rewritten.
 */
const inputUnchanged = (input, state) => {
  const [path, key, hash, racy] = input
  const st = statOrUndefined(path)
  if (!st) return false
  if (statKey(st) === key && !racy) return true
  if (hash === null) return false
  const now = Date.now()
  let text
  try {
    text = readFileSync(path)
  } catch {
    return false
  }
  if (sha(text) !== hash) return false
  const fresh = [path, statKey(st), hash, Math.max(st.mtimeMs, st.ctimeMs) > now - RACY_MS]
  if (fresh[1] !== key || fresh[3] !== racy) state.refresh = true
  input.splice(0, 4, ...fresh)
  return true
}

/** The cached build for this entry if every input is unchanged, else undefined. */
const currentBuild = (dir) => {
  const record = readJson(join(dir, "current.json"))
  if (!record || record.format !== FORMAT || !Array.isArray(record.inputs)) return undefined
  const state = { refresh: false }
  for (const input of record.inputs) if (!inputUnchanged(input, state)) return undefined
  if (state.refresh) {
    try {
      writeAtomic(join(dir, "current.json"), JSON.stringify(record))
    } catch {
      // read-only cache: the check just stays a little slower
    }
  }
  return record
}

/** Bundles `entry` into `dir/b-<hash>/` and records it as current. */
const build = async (entry, dir) => {
  const esbuild = await import("esbuild")
  const seen = new Map() // path -> [statKey, sha, racy], taken before the file was read
  const rewriteImportMeta = (source, path) =>
    source.includes("import.meta")
      ? source.replace(/\bimport\.meta\.(url|dirname|filename)\b/g, (_, what) =>
          JSON.stringify(what === "url" ? pathToFileURL(path).href : what === "dirname" ? dirname(path) : path),
        )
      : source
  const loaders = { ".ts": "ts", ".mts": "ts", ".cts": "ts", ".tsx": "tsx", ".jsx": "jsx", ".js": "js", ".mjs": "js", ".cjs": "js" }
  const plugin = {
    name: "transfusion-launch",
    setup(b) {
      // Only effect and @effect/* are inlined; other packages stay imports Node resolves
      // from the bundle's folder (inside the project's node_modules), as before.
      b.onResolve({ filter: EXTERNAL }, (args) => ({ path: args.path, external: true }))
      // Project modules: timestamps recorded before reading, and import.meta.url /
      // dirname / filename replaced by the module's own location, so code that finds
      // files relative to itself, stage kinds' `module` (hashed into fingerprints) and
      // createRequire() behave exactly as when the module is loaded from its file.
      b.onLoad({ filter: /\.[cm]?tsx?$/ }, (args) => {
        if (args.namespace !== "file" || inNodeModules(args.path)) return undefined
        const st = statSync(args.path)
        const readAt = Date.now()
        const bytes = readFileSync(args.path)
        seen.set(args.path, [statKey(st), sha(bytes), Math.max(st.mtimeMs, st.ctimeMs) > readAt - RACY_MS])
        return { contents: rewriteImportMeta(bytes.toString("utf8"), args.path), loader: loaders[extname(args.path)] ?? "js", resolveDir: dirname(args.path) }
      })
    },
  }
  const workDir = dirname(entry)
  let result
  try {
    result = await esbuild.build({
      entryPoints: { main: entry },
      absWorkingDir: workDir,
      bundle: true,
      splitting: true,
      format: "esm",
      platform: "node",
      target: `node${process.versions.node.split(".")[0]}`,
      outdir: join(dir, "out"), // output paths only; nothing is written by esbuild
      // .mjs: always ESM, whatever package.json is (or is not) above the cache folder.
      outExtension: { ".js": ".mjs" },
      write: false,
      metafile: true,
      keepNames: true,
      legalComments: "none",
      // Maps are written but only used where asked (`sourceMaps`, or node --enable-source-maps):
      // enabling them costs start-up time on every error stack Effect builds.
      sourcemap: "linked",
      sourcesContent: false,
      logLevel: "silent",
      plugins: [plugin],
    })
  } finally {
    // esbuild's service process is not needed after this one build.
    esbuild.stop()
  }
  const inputs = []
  const packages = new Set()
  const root = packageRootOf(entry)
  for (const rel of Object.keys(result.metafile.inputs)) {
    const path = resolve(workDir, rel)
    if (inNodeModules(path)) {
      packages.add(join(packageDirOf(path), "package.json"))
      continue
    }
    const known = seen.get(path)
    if (known) inputs.push([path, ...known])
    else {
      const st = statSync(path)
      inputs.push([path, statKey(st), sha(readFileSync(path)), true])
    }
  }
  // An npm install changes a package.json; tsconfig.json and package.json steer esbuild;
  // this file and esbuild's version decide the build options.
  const launcher = fileURLToPath(import.meta.url)
  const esbuildPackage = join(packageDirOf(fileURLToPath(import.meta.resolve("esbuild"))), "package.json")
  const extras = [...packages, esbuildPackage, ...(root ? [join(root, "package.json"), join(root, "tsconfig.json")] : [])]
  inputs.push([launcher, statKey(statSync(launcher)), sha(readFileSync(launcher)), false])
  for (const extra of extras) {
    const st = statOrUndefined(extra)
    if (st) inputs.push([extra, statKey(st), null, false])
  }

  const outDir = join(dir, "out")
  const hash = sha(result.outputFiles.map((f) => `${f.path}\0${f.hash}`).join("\n")).slice(0, 16)
  const name = `b-${hash}`
  const tmp = join(dir, tempName())
  try {
    for (const f of result.outputFiles) {
      const target = join(tmp, f.path.slice(outDir.length + 1))
      mkdirSync(dirname(target), { recursive: true })
      writeFileSync(target, f.contents)
    }
    renameSync(tmp, join(dir, name))
  } catch (e) {
    // The same build is already there (another process made it, or an edit that changed
    // no output, e.g. a comment): use that one.
    rmSync(tmp, { recursive: true, force: true })
    if (!statOrUndefined(join(dir, name, "main.mjs"))) throw e
  }
  const previous = readJson(join(dir, "current.json"))
  const previousAt = statOrUndefined(join(dir, "current.json"))?.mtimeMs
  writeAtomic(join(dir, "current.json"), JSON.stringify({ format: FORMAT, entry, build: name, builtAt: new Date().toISOString(), inputs }))
  try {
    if (previousAt !== undefined && previousAt < Date.now() - KEEP_SUPERSEDED_MS) removeUnused(dir, [name, previous?.build])
    removeStaleSiblings(dir, entry)
  } catch {
    // cleaning up is best effort
  }
  return name
}

/** `.tmp-<random>-<host>-<pid>`: a temp folder naming the process that made it. */
const tempName = () => `.tmp-${Math.random().toString(36).slice(2)}-${hostname()}-${process.pid}`

/** Whether a `<host>-<pid>` owner (a `.users` marker, a temp folder) may still be running. */
const ownerAlive = (owner, path) => {
  const m = /^(.*)-(\d+)$/.exec(owner)
  if (!m) return false
  if (m[1] !== hostname()) {
    // Another host (a cluster node sharing this folder): trusted for a week.
    const st = statOrUndefined(path)
    return st !== undefined && st.mtimeMs > Date.now() - 7 * 86_400_000
  }
  return isAlive(Number(m[2]))
}

/** Removes a folder: renamed away first, so a process starting now finds it gone. */
const removeDir = (path) => {
  const trash = join(dirname(path), tempName())
  try {
    renameSync(path, trash)
  } catch {
    return // someone else removed it
  }
  rmSync(trash, { recursive: true, force: true })
}

/**
 * Removes the builds in `dir` that nobody can need: not in `keep` (the current and the
 * just superseded one), no live users, and temp folders of dead builders. Called only when
 * every other build was superseded over a minute ago, so no process can still be between
 * reading current.json and registering as a user. Returns whether something stays in use.
 */
const removeUnused = (dir, keep) => {
  let inUse = false
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    if (keep.includes(name)) continue
    if (name.startsWith(".tmp-")) {
      if (ownerAlive(name.replace(/^\.tmp-[a-z0-9]*-/, ""), path)) inUse = true
      else rmSync(path, { recursive: true, force: true })
      continue
    }
    if (!name.startsWith("b-")) continue
    const users = join(path, ".users")
    let live = false
    for (const marker of statOrUndefined(users) ? readdirSync(users) : []) {
      if (ownerAlive(marker, join(users, marker))) live = true
      else rmSync(join(users, marker), { force: true })
    }
    if (live) inUse = true
    else removeDir(path)
  }
  return inUse
}

/**
 * Removes cache folders of entries that no longer exist (e.g. test copies) once idle for
 * a minute, and of this entry under an older format or Node version once idle for a day.
 */
const removeStaleSiblings = (dir, entry) => {
  const parent = dirname(dir)
  for (const name of readdirSync(parent)) {
    const path = join(parent, name)
    if (path === dir || name.startsWith(".tmp-")) continue
    const record = readJson(join(path, "current.json"))
    const at = Math.max(statOrUndefined(join(path, "current.json"))?.mtimeMs ?? 0, statOrUndefined(path)?.mtimeMs ?? 0)
    const gone = record?.entry === undefined || !statOrUndefined(record.entry)
    // Another Node version may still start this entry now and then (a cluster node): a day.
    if (!gone && record.entry !== entry) continue
    if (at > Date.now() - (gone ? KEEP_SUPERSEDED_MS : 86_400_000)) continue
    if (!removeUnused(path, [])) removeDir(path)
  }
}

/**
 * Registers this process as a user of a build (a marker removed at exit; a killed process's
 * marker is recognised by its dead pid); false if the build is gone.
 */
const register = (dir, name) => {
  const users = join(dir, name, ".users")
  const marker = join(users, `${hostname()}-${process.pid}`)
  let registered = false
  try {
    // Not recursive: a removed build must not come back as an empty folder.
    try {
      mkdirSync(users)
    } catch (e) {
      if (e.code !== "EEXIST") throw e
    }
    writeFileSync(marker, "")
    registered = true
  } catch {
    // gone (checked below) or a read-only cache, which nobody cleans up either
  }
  // Checked after registering: a remover that missed the marker has renamed the build away.
  if (!statOrUndefined(join(dir, name, "main.mjs"))) {
    if (registered) rmSync(marker, { force: true })
    return false
  }
  if (registered) {
    process.on("exit", () => {
      try {
        unlinkSync(marker)
      } catch {
        // already gone
      }
    })
  }
  return true
}

/** What `node --import tsx entry.ts` does: tsx's ESM and CommonJS hooks, then the entry. */
const viaTsx = async (entry) => {
  await import("tsx")
  return import(pathToFileURL(entry).href)
}

/** The cache folder for one entry. */
export const cacheDirFor = (entry, cacheDir) =>
  join(toPath(cacheDir), sha(`${FORMAT}\0${toPath(entry)}\0${process.version}`).slice(0, 16))

/**
 * The bundle to run for `entry`, built if missing or stale; its path. Throws if it cannot
 * be built (esbuild missing, a syntax error, an unwritable cache).
 */
export const bundleFor = async (entry, cacheDir) => {
  const file = toPath(entry)
  const dir = cacheDirFor(file, cacheDir)
  let rebuild = false
  for (let attempt = 0; attempt < 3; attempt++) {
    let name = rebuild ? undefined : currentBuild(dir)?.build
    if (!name) {
      mkdirSync(dir, { recursive: true })
      name = await build(file, dir)
    }
    if (register(dir, name)) return join(dir, name, "main.mjs")
    // The build was removed (or broken) since current.json named it: make a new one.
    rebuild = true
  }
  throw new Error(`the cached build in ${dir} keeps disappearing`)
}

/**
 * Runs a TypeScript CLI entry from its cached bundle. `TRANSFUSION_LAUNCH=tsx` runs it
 * through tsx instead (no bundle); so does a failed build, with a one-line warning.
 */
export const launch = async ({ entry, cacheDir, name = "transfusion", sourceMaps = false }) => {
  const file = toPath(entry)
  if (process.env.TRANSFUSION_LAUNCH === "tsx") return viaTsx(file)
  let bundle
  try {
    bundle = await bundleFor(file, cacheDir)
  } catch (e) {
    const first = (e?.errors?.[0] ? `${e.errors[0].text}${e.errors[0].location ? ` (${e.errors[0].location.file}:${e.errors[0].location.line})` : ""}` : String(e?.message ?? e)).split("\n")[0]
    process.stderr.write(`${name}: could not bundle the CLI (${first}); running it through tsx (slower start)\n`)
    return viaTsx(file)
  }
  // Stack traces then name the .ts files and lines instead of the bundle's.
  if (sourceMaps) process.setSourceMapsEnabled(true)
  return import(pathToFileURL(bundle).href)
}
