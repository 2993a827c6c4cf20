// The idle-slot figures of a run, on timelines whose answer is worked out by hand.
import { test } from "uvu"
import * as assert from "uvu/assert"
import { describeUtilisation, utilisation } from "../../pipeline/timeline.ts"

const s = (id: string, start: number, end: number, slots = 1) => ({ id, start: start * 1000, end: end * 1000, slots })

test("two slots kept full, then one long stage alone: the tail is its lone stretch", () => {
  // 0-10: a and b; 10-20: c, d and e; 20-50: e alone; the run ends at 50.
  const u = utilisation([s("a", 0, 10), s("b", 0, 10), s("c", 10, 20), s("d", 10, 20), s("e", 10, 50)], 2, 0, 50_000)
  // c, d and e overlap 10-20 (three stages on two slots): capped at 2.
  assert.is(u.wallSeconds, 50)
  assert.is(u.busySlotSeconds, 20 + 20 + 30)
  assert.is(u.idleSlotSeconds, 30)
  assert.is(u.idleWhileRunningSeconds, 30)
  assert.is(u.tailIdleSeconds, 30)
  assert.is(u.lastStage, "e")
})

test("planning before the first stage and a gap between stages count as idle with none running", () => {
  // The run starts at 0; stages start at 5. One slot busy 5-15, both 15-25, a 5 s gap, then one 30-40.
  const u = utilisation([s("a", 5, 25), s("b", 15, 25), s("c", 30, 40)], 2, 0, 40_000)
  assert.is(u.busySlotSeconds, 20 + 10 + 10)
  assert.is(u.idleSlotSeconds, 80 - 40)
  // Idle with a stage running: 5-15 (one slot) and 30-40 (one slot).
  assert.is(u.idleWhileRunningSeconds, 20)
  // Last full moment is 25: after it, 25-30 both idle (10) and 30-40 one idle (10).
  assert.is(u.tailIdleSeconds, 20)
})

test("a stage holding both slots fills them; spans outside the run are clipped", () => {
  const u = utilisation([s("wide", -5, 10, 2), s("late", 10, 30)], 2, 0, 20_000)
  assert.is(u.busySlotSeconds, 20 + 10)
  assert.is(u.tailIdleSeconds, 10)
  assert.match(describeUtilisation(u), /CPU slots: 2, busy 75% of the run; idle slot time 10 s/)
})

test("no stage ran: everything idle, no last stage", () => {
  const u = utilisation([], 2, 0, 1000)
  assert.is(u.busySlotSeconds, 0)
  assert.is(u.idleSlotSeconds, 2)
  assert.is(u.lastStage, undefined)
})

test.run()
