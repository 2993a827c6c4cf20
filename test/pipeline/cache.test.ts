// Which stages rerun after which change: exact sets, on the toy graph
// source -> square/0..2 -> sum (square and sum import helper.ts, source does not).
import { test } from "uvu"
import * as assert from "uvu/assert"
import { Workspace } from "./workspace.ts"

const all = ["source", "square/0", "square/1", "square/2", "sum"]
const squaresAndSum = ["square/0", "square/1", "square/2", "sum"]

test("first run runs everything; a no-op run reruns nothing", async () => {
  const w = new Workspace()
  try {
    const first = await w.run()
    assert.equal(w.takeRuns(), all)
    assert.is(first.ran.length, 5)
    const second = await w.run()
    assert.equal(w.takeRuns(), [])
    assert.equal(second.fresh.sort(), all)
  } finally {
    w.dispose()
  }
})

test("a parameter change reruns that stage and its descendants only; changing it back reruns nothing", async () => {
  const w = new Workspace()
  try {
    await w.run()
    w.takeRuns()
    w.setConfig({ n: 3, scale: 2, fail: [], slowMs: 0 })
    await w.run()
    assert.equal(w.takeRuns(), squaresAndSum)
    w.setConfig({ n: 3, scale: 1, fail: [], slowMs: 0 })
    const back = await w.run()
    assert.equal(w.takeRuns(), [], "the earlier artifacts are restored from the run cache")
    assert.is(back.fresh.length, 5)
  } finally {
    w.dispose()
  }
})

test("a code change in one stage's module reruns that stage and its descendants", async () => {
  const w = new Workspace()
  try {
    await w.run()
    w.takeRuns()
    w.edit("sum.ts")
    await w.run()
    assert.equal(w.takeRuns(), ["sum"])
    w.edit("square.ts")
    await w.run()
    assert.equal(w.takeRuns(), squaresAndSum)
    w.edit("source.ts")
    await w.run()
    assert.equal(w.takeRuns(), all)
  } finally {
    w.dispose()
  }
})

test("a change in a shared helper reruns exactly its importers (and their descendants)", async () => {
  const w = new Workspace()
  try {
    await w.run()
    w.takeRuns()
    w.edit("helper.ts")
    await w.run()
    assert.equal(w.takeRuns(), squaresAndSum, "source does not import helper.ts")
  } finally {
    w.dispose()
  }
})

test("an external file's content change reruns its readers; touching it without a change does not", async () => {
  const w = new Workspace()
  try {
    await w.run()
    w.takeRuns()
    w.write("offset.txt", "10") // same bytes, new mtime
    await w.run()
    assert.equal(w.takeRuns(), [])
    w.write("offset.txt", "11")
    await w.run()
    assert.equal(w.takeRuns(), all)
  } finally {
    w.dispose()
  }
})

test("a failing stage leaves its independent siblings completed and its dependants not run", async () => {
  const w = new Workspace({ fail: [1] })
  try {
    const s = await w.run()
    assert.equal(s.failed.map((f) => f.id), ["square/1"])
    assert.match(s.failed[0]!.message, /told to fail/)
    assert.ok(s.failed[0]!.logPath && s.failed[0]!.logPath.endsWith(".failed.log"))
    assert.equal(s.notRun.map((n) => n.id), ["sum"])
    assert.equal(w.takeRuns(), ["source", "square/0", "square/1", "square/2"])
    const session = await w.session()
    for (const id of ["source", "square/0", "square/2"]) assert.ok(session.store.isComplete(id, session.fps.get(id)!.fingerprint), id)
    assert.not.ok(session.store.isComplete("square/1", session.fps.get("square/1")!.fingerprint))
  } finally {
    w.dispose()
  }
})

test("selection by glob runs the matches and their upstreams only; --force reruns a fresh stage", async () => {
  const w = new Workspace()
  try {
    await w.run(["square/*"])
    assert.equal(w.takeRuns(), ["source", "square/0", "square/1", "square/2"])
    await w.run(["square/1"], ["square/1"])
    assert.equal(w.takeRuns(), ["square/1"])
  } finally {
    w.dispose()
  }
})

test.run()
