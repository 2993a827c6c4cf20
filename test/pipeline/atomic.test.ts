// pipeline/atomic.ts: a replaced file is the old or the new content, and a failed write
// leaves the old one and no temp file.
import { test } from "uvu"
import * as assert from "uvu/assert"
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from "node:fs"
import { writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { basename, join } from "node:path"
import { atomicTempOf, replaceFileAtomic, replaceFileAtomicSync, writeFileAtomic } from "../../pipeline/atomic.ts"

const inTemp = async (f: (dir: string) => Promise<void> | void) => {
  const dir = mkdtempSync(join(tmpdir(), "transfusion-atomic-"))
  try {
    await f(dir)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

test("writeFileAtomic creates the folder and replaces the file whole", () =>
  inTemp((dir) => {
    const path = join(dir, "a", "b.json")
    writeFileAtomic(path, "old")
    writeFileAtomic(path, "new")
    assert.is(readFileSync(path, "utf8"), "new")
    assert.equal(readdirSync(join(dir, "a")), ["b.json"])
  }))

test("a failed rename leaves no temp file", () =>
  inTemp((dir) => {
    // A folder cannot be replaced by a file: the rename fails.
    mkdirSync(join(dir, "folder"))
    assert.throws(() => writeFileAtomic(join(dir, "folder"), "data"))
    assert.equal(readdirSync(dir), ["folder"])
  }))

test("replaceFileAtomic: a writer that fails half-way leaves the old content and no temp file", () =>
  inTemp(async (dir) => {
    const path = join(dir, "table.parquet")
    writeFileSync(path, "old")
    try {
      await replaceFileAtomic(path, async (tmp) => {
        await writeFile(tmp, "half")
        throw new Error("killed")
      })
      assert.unreachable()
    } catch (e) {
      assert.is((e as Error).message, "killed")
    }
    assert.is(readFileSync(path, "utf8"), "old")
    assert.equal(readdirSync(dir), ["table.parquet"])
    assert.is(await replaceFileAtomic(path, async (tmp) => (await writeFile(tmp, "new"), 3)), 3)
    assert.is(readFileSync(path, "utf8"), "new")
  }))

test("atomicTempOf names the file a temp replaces and its writer's pid, and nothing else", () =>
  inTemp(async (dir) => {
    const path = join(dir, "checkpoint-000000004.tfck")
    let seen: ReturnType<typeof atomicTempOf>
    await replaceFileAtomic(path, async (tmp) => {
      seen = atomicTempOf(basename(tmp))
      await writeFile(tmp, "weights")
    }, { fsync: true })
    assert.equal(seen!, { target: "checkpoint-000000004.tfck", pid: process.pid })
    assert.is(readFileSync(path, "utf8"), "weights")
    for (const name of ["latest", "latest.tmp", "latest.tmp-12", "x.tmp-a-1", ".latest.12.tmp"]) assert.is(atomicTempOf(name), undefined, name)
    assert.equal(atomicTempOf("latest.tmp-12-3"), { target: "latest", pid: 12 })
  }))

test("replaceFileAtomicSync re-points a symlink in one rename", () =>
  inTemp((dir) => {
    const link = join(dir, "current")
    symlinkSync("a", link)
    replaceFileAtomicSync(link, (tmp) => symlinkSync("b", tmp), { fsync: false })
    assert.is(readlinkSync(link), "b")
    assert.equal(readdirSync(dir), ["current"])
  }))

test.run()
