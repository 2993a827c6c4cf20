// The local scheduler's order: a free CPU slot goes to the ready stage with the longest
// remaining path (recorded duration, else declared estimate, else 1 s), on the toy graph.
import { test } from "uvu"
import * as assert from "uvu/assert"
import { readFileSync } from "node:fs"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { DEFAULT_STAGE_SECONDS, makePrioritySlots, remainingPathSeconds, stageSeconds } from "../../pipeline/priority.ts"
import { source } from "../fixtures/toy/source.ts"
import { square } from "../fixtures/toy/square.ts"
import { sum } from "../fixtures/toy/sum.ts"
import { Workspace } from "./workspace.ts"

const squareNode = (src: ReturnType<typeof source.make>, i: number, estimatedSeconds?: number) =>
  square.make({ id: `square/${i}`, params: { i, scale: 1, fail: false, slowMs: 0 }, inputs: { source: src }, ...(estimatedSeconds === undefined ? {} : { estimatedSeconds }) })

test("remaining path: own cost plus the costliest chain after it; recorded durations beat estimates", () => {
  const src = source.make({ id: "source", params: { n: 3 }, inputs: {} })
  const squares = [squareNode(src, 0, 5), squareNode(src, 1, 30), squareNode(src, 2)]
  const total = sum.make({ id: "sum", params: {}, inputs: { s0: squares[0]!, s1: squares[1]!, s2: squares[2]! } })
  const recorded = new Map([["sum", 2], ["source", 4]])
  const path = remainingPathSeconds([src, ...squares, total], (n) => stageSeconds(n, recorded.get(n.id)))
  assert.equal(Object.fromEntries(path), { "sum": 2, "square/0": 7, "square/1": 32, "square/2": 2 + DEFAULT_STAGE_SECONDS, "source": 36 })
  assert.is(stageSeconds(squares[1]!, 3), 3, "a recorded duration wins over the declared estimate")
  assert.is(stageSeconds(squares[1]!, undefined), 30)
})

test("priority slots go to the highest priority first, skip interrupted waiters, and come back after interruption", async () => {
  const order: number[] = []
  await Effect.runPromise(Effect.gen(function* () {
    const slots = makePrioritySlots(1)
    const hold = yield* Effect.fork(slots.withSlots(1, 100)(Effect.sleep("50 millis")))
    yield* Effect.sleep("5 millis")
    const waiters = [];
    for (const p of [1, 3, 4, 2]) waiters.push(yield* Effect.fork(slots.withSlots(1, p)(Effect.sync(() => order.push(p)))))
    yield* Effect.sleep("5 millis")
    yield* Fiber.interrupt(waiters[2]!) // priority 4 gives up while waiting
    yield* Fiber.join(hold)
    for (const w of [waiters[0]!, waiters[1]!, waiters[3]!]) yield* Fiber.join(w)
    // Interrupting a holder returns its slot.
    const stuck = yield* Effect.fork(slots.withSlots(1, 1)(Effect.never))
    yield* Effect.sleep("5 millis")
    yield* Fiber.interrupt(stuck)
    yield* slots.withSlots(1, 1)(Effect.sync(() => order.push(9)))
  }))
  assert.equal(order, [3, 2, 1, 9])
})

test("the scheduler starts ready stages by longest remaining path, not graph order (toy graph, one slot)", async () => {
  const w = new Workspace({ n: 4, estimates: { "3": 50, "1": 20 } })
  try {
    const summary = await w.run([], [], 1)
    assert.is(summary.ran.length, 6)
    const started = readFileSync(w.runsFile, "utf8").split("\n").filter(Boolean)
    assert.equal(started, ["source", "square/3", "square/1", "square/0", "square/2", "sum"])
  } finally {
    w.dispose()
  }
})

test.run()
