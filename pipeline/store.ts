// The artifact store. Layout under the root (default `artifacts/`):
//   <stage id>/<fingerprint>/        a committed artifact: the stage's files + manifest.json (written last)
//   <stage id>/latest                the fingerprint last committed or reused for this id (for `status` diffs)
//   <stage id>/<fingerprint>.failed.log   the log of a failed attempt
//   .tmp/<fingerprint>.<pid>.<n>/    a run in progress; renamed into place only on success
//   .locks/<fingerprint>.lock        who is running a stage (see lock.ts)
//   .scratch/<fingerprint>/          state kept across failed attempts (checkpoints), removed on commit
//   .cache/                          file-hash cache
// A reader never sees a partial artifact: a directory under <stage id>/ exists only once complete.
import { createHash } from "node:crypto"
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs"
import { hostname } from "node:os"
import { join, relative, sep } from "node:path"
import { ENGINE_FORMAT, type FingerprintParts } from "./fingerprint.ts"

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

export const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM"
  }
}

export const hashFile = (path: string): OutputFile => {
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

  isComplete(id: string, fingerprint: string): boolean {
    return existsSync(join(this.artifactDir(id, fingerprint), MANIFEST))
  }

  readManifest(id: string, fingerprint: string): Manifest | undefined {
    try {
      return JSON.parse(readFileSync(join(this.artifactDir(id, fingerprint), MANIFEST), "utf8")) as Manifest
    } catch {
      return undefined
    }
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
    const dir = join(this.root, id)
    mkdirSync(dir, { recursive: true })
    const tmp = join(dir, `.latest.${process.pid}.tmp`)
    writeFileSync(tmp, `${fingerprint}\n`)
    renameSync(tmp, join(dir, "latest"))
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
   * last, renames the directory into place. Returns the manifest.
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
    const tmpManifest = join(tmpDir, `${MANIFEST}.tmp`)
    writeFileSync(tmpManifest, JSON.stringify(manifest, null, 2))
    renameSync(tmpManifest, join(tmpDir, MANIFEST))
    const target = this.artifactDir(info.stage, info.fingerprint)
    mkdirSync(join(this.root, info.stage), { recursive: true })
    if (existsSync(target)) {
      if (replace) {
        // Move the old one aside first so the id never lacks a complete artifact for longer than two renames.
        const aside = this.makeTempDir(`${info.fingerprint}-old`)
        rmSync(aside, { recursive: true, force: true })
        renameSync(target, aside)
        renameSync(tmpDir, target)
        rmSync(aside, { recursive: true, force: true })
        this.setLatest(info.stage, info.fingerprint)
        return manifest
      }
      if (existsSync(join(target, MANIFEST))) {
        rmSync(tmpDir, { recursive: true, force: true })
        return JSON.parse(readFileSync(join(target, MANIFEST), "utf8")) as Manifest
      }
      rmSync(target, { recursive: true, force: true })
    }
    renameSync(tmpDir, target)
    this.setLatest(info.stage, info.fingerprint)
    return manifest
  }

  /** Every committed artifact in the store. */
  artifacts(): ArtifactRef[] {
    const out: ArtifactRef[] = []
    const walk = (dir: string): void => {
      let entries
      try {
        entries = readdirSync(dir, { withFileTypes: true })
      } catch {
        return
      }
      for (const ent of entries) {
        if (!ent.isDirectory() || ent.name.startsWith(".")) continue
        const p = join(dir, ent.name)
        if (fingerprintDir.test(ent.name)) {
          out.push({ id: relative(this.root, dir).split(sep).join("/"), fingerprint: ent.name, dir: p })
        } else walk(p)
      }
    }
    walk(this.root)
    return out.sort((a, b) => (a.id === b.id ? (a.fingerprint < b.fingerprint ? -1 : 1) : a.id < b.id ? -1 : 1))
  }

  /** Rehashes every artifact's files against its manifest; names each corrupt, missing or unexpected file. */
  verify(onArtifact?: (ref: ArtifactRef) => void): VerifyProblem[] {
    const problems: VerifyProblem[] = []
    for (const ref of this.artifacts()) {
      onArtifact?.(ref)
      const name = `${ref.id}/${ref.fingerprint}`
      const manifest = this.readManifest(ref.id, ref.fingerprint)
      if (!manifest) {
        problems.push({ artifact: name, problem: "no readable manifest.json (incomplete or tampered artifact)" })
        continue
      }
      if (manifest.fingerprint !== ref.fingerprint || manifest.stage !== ref.id) {
        problems.push({ artifact: name, problem: `manifest names ${manifest.stage}/${manifest.fingerprint}` })
      }
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

  /** Removes temp dirs left by processes that died (kill -9, power loss). Returns what was removed. */
  cleanOrphanTempDirs(): string[] {
    const removed: string[] = []
    const tmpRoot = join(this.root, ".tmp")
    let entries: string[] = []
    try {
      entries = readdirSync(tmpRoot)
    } catch {
      return removed
    }
    for (const name of entries) {
      const pid = Number(name.split(".")[1])
      if (Number.isInteger(pid) && pid !== process.pid && !isAlive(pid)) {
        rmSync(join(tmpRoot, name), { recursive: true, force: true })
        removed.push(name)
      }
    }
    return removed
  }

  /** Deletes every artifact not in `keep` ("id/fingerprint"), with the failed logs of unknown stages. */
  gc(keep: ReadonlySet<string>, dryRun: boolean): { removed: ArtifactRef[]; bytes: number } {
    const removed: ArtifactRef[] = []
    let bytes = 0
    for (const ref of this.artifacts()) {
      if (keep.has(`${ref.id}/${ref.fingerprint}`)) continue
      removed.push(ref)
      for (const rel of listFiles(ref.dir)) bytes += statSync(join(ref.dir, rel)).size
      if (!dryRun) {
        rmSync(ref.dir, { recursive: true, force: true })
        rmSync(this.failedLogPath(ref.id, ref.fingerprint), { force: true })
        if (this.latest(ref.id) === ref.fingerprint) rmSync(join(this.root, ref.id, "latest"), { force: true })
      }
    }
    if (!dryRun) {
      this.cleanOrphanTempDirs()
      // Scratch state of fingerprints no profile references any more.
      const keptFps = new Set([...keep].map((k) => k.slice(k.lastIndexOf("/") + 1)))
      let scratch: string[] = []
      try {
        scratch = readdirSync(join(this.root, ".scratch"))
      } catch {
        scratch = []
      }
      for (const fp of scratch) if (!keptFps.has(fp)) rmSync(join(this.root, ".scratch", fp), { recursive: true, force: true })
    }
    return { removed, bytes }
  }
}
