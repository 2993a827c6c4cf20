// The artifact store. Layout under the root (default `artifacts/`):
//   <stage id>/<fingerprint>/        a committed artifact: the stage's files + manifest.json (written last)
//   <stage id>/latest                the fingerprint last committed or reused for this id (for `status` diffs)
//   <stage id>/<fingerprint>.failed.log   the log of a failed attempt
//   .tmp/<fingerprint>.<pid>.<n>/    a run in progress; renamed into place only on success
//   .locks/<fingerprint>.lock        who is running a stage (see lock.ts)
//   .locks/gc.lock, run-*.lock       gc holding the store, and the runs registered on it (lock.ts)
//   .scratch/<fingerprint>/          state kept across failed attempts (checkpoints), removed on commit
//   .cache/                          file-hash cache
// A reader never sees a partial artifact: a directory under <stage id>/ exists only once complete.
// One file on purpose (~470 lines): the layout, the commit protocol and the sweeps that
// undo a killed commit (temp dirs, artifacts moved aside, half-written `latest`) are one
// protocol, whose invariants are checked by reading them side by side.
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs"
import { hostname } from "node:os"
import { join, relative, sep } from "node:path"
import { atomicTempOf, writeFileAtomic } from "./atomic.ts"
import { hashFile } from "./canonical.ts"
import { ENGINE_FORMAT, type FingerprintParts } from "./fingerprint.ts"
import { Locks } from "./lock.ts"

export interface OutputFile {
  readonly size: number
  readonly sha256: string
}

export interface Manifest {
  readonly format: string
  readonly stage: string
  readonly kind: string
  readonly fingerprint: string
  readonly parts: FingerprintParts
  /** The stage's result, schema-encoded. */
  readonly result: unknown
  /** Every file the stage wrote (relative path -> size and hash), for `verify`. */
  readonly outputs: Readonly<Record<string, OutputFile>>
  readonly startedAt: string
  readonly finishedAt: string
  readonly durationMs: number
  readonly host: string
  readonly pid: number
  readonly node: string
  /** The stage's log, relative to the artifact. */
  readonly log: string
}

export const MANIFEST = "manifest.json"
export const LOG = "log.txt"
const fingerprintDir = /^[0-9a-f]{20}$/

const listFiles = (dir: string): string[] => {
  const out: string[] = []
  const walk = (d: string): void => {
    for (const ent of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, ent.name)
      if (ent.isDirectory()) walk(p)
      else out.push(relative(dir, p).split(sep).join("/"))
    }
  }
  walk(dir)
  return out.sort()
}

/** Flushes a file or directory to disk (a directory's fsync makes the names in it durable). */
const fsyncPath = (path: string): void => {
  const fd = openSync(path, "r")
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}

/** fsyncs every file and directory under `dir`, children before parents, `dir` last. */
const fsyncTree = (dir: string): void => {
  for (const ent of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, ent.name)
    if (ent.isDirectory()) fsyncTree(p)
    else if (ent.isFile()) fsyncPath(p)
  }
  fsyncPath(dir)
}

const isDirectoryAt = (path: string): boolean => {
  try {
    return statSync(path).isDirectory()
  } catch {
    return false
  }
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v)

/**
 * What is wrong with a manifest's text for artifact (id, fingerprint), or undefined when it
 * is one: empty, truncated, garbled or edited manifests must not make a stage count as done.
 */
export const manifestProblem = (text: string, id: string, fingerprint: string): string | undefined => {
  let m: unknown
  try {
    m = JSON.parse(text)
  } catch (e) {
    return text.trim() === "" ? "manifest.json is empty" : `manifest.json is not valid JSON (${(e as Error).message})`
  }
  if (!isRecord(m)) return "manifest.json is not a JSON object"
  if (m.stage !== id || m.fingerprint !== fingerprint) return `manifest.json names ${String(m.stage)}/${String(m.fingerprint)}`
  for (const key of ["format", "kind", "startedAt", "finishedAt", "log"] as const)
    if (typeof m[key] !== "string") return `manifest.json has no string "${key}"`
  if (!isRecord(m.parts)) return `manifest.json has no "parts" object`
  if (!("result" in m)) return `manifest.json has no "result"`
  if (!isRecord(m.outputs)) return `manifest.json has no "outputs" object`
  for (const [rel, o] of Object.entries(m.outputs))
    if (!isRecord(o) || typeof o.size !== "number" || typeof o.sha256 !== "string") return `manifest.json's entry for ${rel} lacks a size and sha256`
  return undefined
}

/** A temp dir's name: `<fingerprint>.<pid>.<n>`, or `<fingerprint>-old.<pid>.<n>` for an artifact moved aside by a replace. */
const failedLogName = /^([0-9a-f]{20})\.failed\.log$/
/** A half-written `latest`: atomic.ts's temp name, or `.latest.<pid>.tmp` as stores written before it named them. */
const isLatestTemp = (name: string): boolean => atomicTempOf(name)?.target === "latest" || /^\.latest\.\d+\.tmp$/.test(name)
const tempDirName = /^([0-9a-f]{20})(-old)?\.(\d+)\.\d+$/

export interface TempDirSweep {
  /** Temp dirs of processes that are gone, removed (or, in a dry run, to be removed). */
  readonly orphans: string[]
  /** Artifacts moved aside by a `--force` replace that was killed before the new one was in place, moved back. */
  readonly restored: string[]
}

export interface ArtifactRef {
  readonly id: string
  readonly fingerprint: string
  readonly dir: string
}

export interface VerifyProblem {
  readonly artifact: string
  readonly problem: string
}

export class Store {
  private tmpCounter = 0

  constructor(readonly root: string) {}

  artifactDir(id: string, fingerprint: string): string {
    return join(this.root, id, fingerprint)
  }

  failedLogPath(id: string, fingerprint: string): string {
    return join(this.root, id, `${fingerprint}.failed.log`)
  }

  scratchDir(fingerprint: string): string {
    return join(this.root, ".scratch", fingerprint)
  }

  /** True when (id, fingerprint) has a committed artifact whose manifest parses and names it. */
  isComplete(id: string, fingerprint: string): boolean {
    return this.readManifest(id, fingerprint) !== undefined
  }

  /** The artifact's manifest, or undefined when absent or damaged (see manifestProblem). */
  readManifest(id: string, fingerprint: string): Manifest | undefined {
    let text
    try {
      text = readFileSync(join(this.artifactDir(id, fingerprint), MANIFEST), "utf8")
    } catch {
      return undefined
    }
    return manifestProblem(text, id, fingerprint) === undefined ? (JSON.parse(text) as Manifest) : undefined
  }

  latest(id: string): string | undefined {
    try {
      const fp = readFileSync(join(this.root, id, "latest"), "utf8").trim()
      return fingerprintDir.test(fp) ? fp : undefined
    } catch {
      return undefined
    }
  }

  setLatest(id: string, fingerprint: string): void {
    if (this.latest(id) === fingerprint) return
    writeFileAtomic(join(this.root, id, "latest"), `${fingerprint}\n`)
  }

  /** A fresh, empty directory on the store's filesystem (so the commit is an atomic rename). */
  makeTempDir(fingerprint: string): string {
    const dir = join(this.root, ".tmp", `${fingerprint}.${process.pid}.${++this.tmpCounter}`)
    rmSync(dir, { recursive: true, force: true })
    mkdirSync(dir, { recursive: true })
    return dir
  }

  /**
   * Makes `tmpDir` the artifact for (id, fingerprint): hashes its files, writes the manifest
   * last, renames the directory into place. Returns the manifest. Pointing `latest` at it is
   * the run's bookkeeping (book.ts), not part of the commit: a `latest` that cannot be written
   * must not make a committed stage count as failed.
   */
  commit(
    tmpDir: string,
    info: Omit<Manifest, "format" | "outputs" | "host" | "pid" | "node" | "log">,
    /** Replace an existing artifact with the same fingerprint (`run --force`). */
    replace = false,
  ): Manifest {
    const outputs: Record<string, OutputFile> = {}
    for (const rel of listFiles(tmpDir)) if (rel !== MANIFEST) outputs[rel] = hashFile(join(tmpDir, rel))
    const manifest: Manifest = {
      format: ENGINE_FORMAT,
      ...info,
      outputs,
      host: hostname(),
      pid: process.pid,
      node: process.version,
      log: LOG,
    }
    const manifestPath = join(tmpDir, MANIFEST)
    try {
      // A plain write: the directory rename below is what commits, so no reader sees this
      // manifest before it is whole.
      writeFileSync(manifestPath, JSON.stringify(manifest, null, 2))
      // Durable before the rename that commits: after a power loss the artifact is either
      // absent or whole, never a zero-length manifest or empty shards under a valid one.
      fsyncTree(tmpDir)
    } catch (e) {
      // Nothing is committed yet (the artifact appears only with the rename below); a
      // retried commit of this dir writes the manifest afresh.
      rmSync(manifestPath, { force: true })
      const code = (e as NodeJS.ErrnoException).code
      if (code === "ENOSPC" || code === "EDQUOT")
        throw new Error(`cannot commit ${info.stage}: the store's filesystem is full (${code}) under ${this.root}; nothing was committed. Free space there (\`transfusion gc\` removes artifacts no profile uses) and run again`)
      throw e
    }
    const target = this.artifactDir(info.stage, info.fingerprint)
    const stageDir = join(this.root, info.stage)
    mkdirSync(stageDir, { recursive: true })
    if (existsSync(target)) {
      if (replace) {
        // The old artifact goes aside under a name the temp-dir sweep recognises: if we are
        // killed between the two renames, the next sweep moves it back (the id is never
        // left without an artifact).
        const aside = join(this.root, ".tmp", `${info.fingerprint}-old.${process.pid}.${++this.tmpCounter}`)
        mkdirSync(join(this.root, ".tmp"), { recursive: true })
        renameSync(target, aside)
        renameSync(tmpDir, target)
        fsyncPath(stageDir)
        rmSync(aside, { recursive: true, force: true })
        return manifest
      }
      const existing = this.readManifest(info.stage, info.fingerprint)
      if (existing) {
        rmSync(tmpDir, { recursive: true, force: true })
        return existing
      }
      // A damaged artifact (no manifest, or one that does not parse): this run rebuilds it.
      rmSync(target, { recursive: true, force: true })
    }
    renameSync(tmpDir, target)
    fsyncPath(stageDir)
    return manifest
  }

  /**
   * The directories under the id directories (id path, name, full path), following
   * symlinked folders as `run` does (an id directory moved to another disk and linked back
   * is still the store's), each real folder once, so a link cycle ends.
   */
  private idDirEntries(): { id: string; name: string; path: string; isDir: boolean }[] {
    const out: { id: string; name: string; path: string; isDir: boolean }[] = []
    const seen = new Set<string>()
    const walk = (dir: string, id: string): void => {
      let real
      let entries
      try {
        real = realpathSync(dir)
        entries = readdirSync(dir, { withFileTypes: true })
      } catch {
        return
      }
      if (seen.has(real)) return
      seen.add(real)
      for (const ent of entries) {
        if (ent.name.startsWith(".") && id === "") continue
        const path = join(dir, ent.name)
        const isDir = ent.isDirectory() || (ent.isSymbolicLink() && isDirectoryAt(path))
        out.push({ id, name: ent.name, path, isDir })
        if (isDir && !ent.name.startsWith(".") && !fingerprintDir.test(ent.name)) walk(path, id ? `${id}/${ent.name}` : ent.name)
      }
    }
    walk(this.root, "")
    return out
  }

  /** Every committed artifact in the store. */
  artifacts(): ArtifactRef[] {
    const out: ArtifactRef[] = []
    for (const e of this.idDirEntries())
      if (e.isDir && e.id !== "" && fingerprintDir.test(e.name)) out.push({ id: e.id, fingerprint: e.name, dir: e.path })
    return out.sort((a, b) => (a.id === b.id ? (a.fingerprint < b.fingerprint ? -1 : 1) : a.id < b.id ? -1 : 1))
  }

  /** Rehashes every artifact's files against its manifest; names each corrupt, missing or unexpected file. */
  verify(onArtifact?: (ref: ArtifactRef) => void): VerifyProblem[] {
    const problems: VerifyProblem[] = []
    for (const ref of this.artifacts()) {
      onArtifact?.(ref)
      const name = `${ref.id}/${ref.fingerprint}`
      let text: string | undefined
      try {
        text = readFileSync(join(ref.dir, MANIFEST), "utf8")
      } catch {
        text = undefined
      }
      const damaged = text === undefined ? "no manifest.json (incomplete artifact)" : manifestProblem(text, ref.id, ref.fingerprint)
      if (damaged) {
        problems.push({ artifact: name, problem: `${damaged}; \`run\` rebuilds it, \`gc\` removes it` })
        continue
      }
      const manifest = JSON.parse(text!) as Manifest
      const present = new Set(listFiles(ref.dir).filter((f) => f !== MANIFEST))
      for (const [rel, expected] of Object.entries(manifest.outputs)) {
        if (!present.has(rel)) {
          problems.push({ artifact: name, problem: `missing file ${rel}` })
          continue
        }
        present.delete(rel)
        const actual = hashFile(join(ref.dir, rel))
        if (actual.sha256 !== expected.sha256 || actual.size !== expected.size) {
          problems.push({ artifact: name, problem: `file ${rel} changed (size ${expected.size} -> ${actual.size}, sha256 ${expected.sha256.slice(0, 12)} -> ${actual.sha256.slice(0, 12)})` })
        }
      }
      for (const rel of present) problems.push({ artifact: name, problem: `unexpected file ${rel}` })
    }
    return problems
  }

  /**
   * Finds the temp dirs of processes that are gone (kill -9, power loss, a dead Slurm job)
   * and, unless `dryRun`, removes them, moving back an artifact a killed `--force` replace
   * had set aside. A temp dir is made only under its fingerprint's lock (execute.ts), so it
   * is live exactly while that lock is held by the pid in its name: the lock knows its
   * holder's host, PID namespace and start time and has a heartbeat (lock.ts), which a bare
   * pid does not.
   */
  sweepTempDirs(options: { readonly dryRun?: boolean; readonly locks?: Locks } = {}): TempDirSweep {
    const locks = options.locks ?? new Locks(join(this.root, ".locks"), () => {})
    const orphans: string[] = []
    const restored: string[] = []
    const tmpRoot = join(this.root, ".tmp")
    let entries: string[] = []
    try {
      entries = readdirSync(tmpRoot)
    } catch {
      return { orphans, restored }
    }
    for (const name of entries.sort()) {
      const m = tempDirName.exec(name)
      if (!m) continue
      const [, fingerprint, aside, pid] = m
      if (locks.isHeld(fingerprint!, Number(pid))) continue
      const dir = join(tmpRoot, name)
      if (aside) {
        const stage = this.asideStage(dir, fingerprint!)
        if (stage && !existsSync(this.artifactDir(stage, fingerprint!))) {
          restored.push(`${stage}/${fingerprint}`)
          if (!options.dryRun) {
            mkdirSync(join(this.root, stage), { recursive: true })
            renameSync(dir, this.artifactDir(stage, fingerprint!))
          }
          continue
        }
      }
      orphans.push(name)
      if (!options.dryRun) rmSync(dir, { recursive: true, force: true })
    }
    return { orphans, restored }
  }

  /** The stage id of an artifact moved aside, when its manifest is whole. */
  private asideStage(dir: string, fingerprint: string): string | undefined {
    try {
      const text = readFileSync(join(dir, MANIFEST), "utf8")
      const stage = (JSON.parse(text) as { stage?: unknown }).stage
      return typeof stage === "string" && manifestProblem(text, stage, fingerprint) === undefined ? stage : undefined
    } catch {
      return undefined
    }
  }

  /** Removes the temp dirs of processes that are gone. Returns their names. */
  cleanOrphanTempDirs(): string[] {
    return this.sweepTempDirs().orphans
  }

  /**
   * Deletes every artifact not in `keep` ("id/fingerprint") and the leftovers of killed runs:
   * temp dirs of processes that are gone, failed logs of stages not kept or since committed,
   * scratch state of fingerprints not kept or already committed, half-written `latest`
   * files and the registrations of killed runs. Nothing a live lock holder is using is touched. `dryRun` only reports.
   */
  gc(keep: ReadonlySet<string>, dryRun: boolean, locks: Locks = new Locks(join(this.root, ".locks"), () => {})): GcResult {
    const tempDirs = this.sweepTempDirs({ dryRun, locks })
    const removed: ArtifactRef[] = []
    const leaks: string[] = []
    let bytes = 0
    const committed = new Set<string>()
    for (const ref of this.artifacts()) {
      if (keep.has(`${ref.id}/${ref.fingerprint}`) || locks.isHeld(ref.fingerprint)) {
        committed.add(ref.fingerprint)
        continue
      }
      removed.push(ref)
      for (const rel of listFiles(ref.dir)) bytes += statSync(join(ref.dir, rel)).size
      if (!dryRun) {
        rmSync(ref.dir, { recursive: true, force: true })
        if (this.latest(ref.id) === ref.fingerprint) rmSync(join(this.root, ref.id, "latest"), { force: true })
      }
    }
    const keptFps = new Set([...keep].map((k) => k.slice(k.lastIndexOf("/") + 1)))
    const drop = (path: string): void => {
      leaks.push(relative(this.root, path).split(sep).join("/"))
      if (!dryRun) rmSync(path, { recursive: true, force: true })
    }
    // Failed logs and half-written `latest` files, anywhere under the id directories.
    for (const { id, name, path, isDir } of this.idDirEntries()) {
      if (isDir || id === "") continue
      const failed = failedLogName.exec(name)
      if (failed) {
        const fp = failed[1]!
        if (locks.isHeld(fp)) continue
        if (!keep.has(`${id}/${fp}`) || this.isComplete(id, fp)) drop(path)
      } else if (isLatestTemp(name) && Date.now() - statSync(path).mtimeMs > locks.timing.staleAfterMs) drop(path)
    }
    let scratch: string[] = []
    try {
      scratch = readdirSync(join(this.root, ".scratch")).sort()
    } catch {
      scratch = []
    }
    for (const fp of scratch) {
      if (locks.isHeld(fp)) continue
      if (!keptFps.has(fp) || committed.has(fp)) drop(join(this.root, ".scratch", fp))
    }
    for (const path of locks.staleRunLocks()) drop(path)
    return { removed, bytes, tempDirs, leaks }
  }
}

export interface GcResult {
  readonly removed: ArtifactRef[]
  readonly bytes: number
  readonly tempDirs: TempDirSweep
  /** Leftovers removed (or to be removed), relative to the store root. */
  readonly leaks: string[]
}
