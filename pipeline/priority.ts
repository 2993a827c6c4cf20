// Which ready stage gets a free CPU slot first: the one with the longest remaining path
// (its own cost plus the costliest chain of dependants after it), so long chains start
// early and no core idles at the end waiting on one late-started long stage.
//
// A stage's cost is the duration its last run recorded in the store (by stage id, any
// fingerprint), else its node's declared estimate, else DEFAULT_STAGE_SECONDS; a stage the
// run will reuse costs nothing.
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as FiberId from "effect/FiberId"
import type { AnyNode } from "./stage.ts"

/** The cost of a stage with neither a recorded duration nor a declared estimate. */
export const DEFAULT_STAGE_SECONDS = 1

/**
 * Longest remaining path per node id, in seconds: cost(node) + the largest remaining path
 * among its dependants in `nodes` (topologically ordered, inputs before dependants).
 */
export const remainingPathSeconds = (nodes: readonly AnyNode[], cost: (node: AnyNode) => number): Map<string, number> => {
  const inPlan = new Set(nodes.map((n) => n.id))
  const dependants = new Map<string, string[]>()
  for (const node of nodes) {
    for (const up of Object.values(node.inputs)) {
      if (inPlan.has(up.id)) dependants.set(up.id, [...(dependants.get(up.id) ?? []), node.id])
    }
  }
  const path = new Map<string, number>()
  for (let i = nodes.length - 1; i >= 0; i--) {
    const node = nodes[i]!
    const after = (dependants.get(node.id) ?? []).reduce((m, d) => Math.max(m, path.get(d)!), 0)
    path.set(node.id, cost(node) + after)
  }
  return path
}

/** A stage's cost: the recorded duration, else the declared estimate, else the default. */
export const stageSeconds = (node: AnyNode, recordedSeconds: number | undefined): number =>
  recordedSeconds ?? node.estimatedSeconds ?? DEFAULT_STAGE_SECONDS

/** Counted slots handed out by priority (highest first; ties in request order) rather than by arrival. */
export interface PrioritySlots {
  readonly withSlots: (count: number, priority: number) => <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
}

interface Waiter {
  readonly count: number
  readonly priority: number
  readonly order: number
  readonly granted: Deferred.Deferred<void>
  taken: boolean
}

export const makePrioritySlots = (total: number): PrioritySlots => {
  let free = total
  let requests = 0
  const waiting: Waiter[] = []
  let dispatchPending = false
  // Stages made ready by one upstream's end wake one after another within the same turn of
  // the event loop; granting at once would hand the slot to whichever woke first. So slots
  // are handed out on the next turn, when every stage that became ready has queued.
  const scheduleDispatch = () => {
    if (dispatchPending) return
    dispatchPending = true
    setImmediate(() => {
      dispatchPending = false
      dispatch()
    })
  }
  // Strict priority: the first waiter that does not fit blocks the ones behind it, so a
  // stage that needs several slots is not overtaken for ever by one-slot stages.
  const dispatch = () => {
    waiting.sort((a, b) => b.priority - a.priority || a.order - b.order)
    while (waiting.length > 0 && waiting[0]!.count <= free) {
      const w = waiting.shift()!
      free -= w.count
      w.taken = true
      Deferred.unsafeDone(w.granted, Effect.void)
    }
  }
  const release = (count: number) => Effect.sync(() => {
    free += count
    scheduleDispatch()
  })
  const take = (count: number, priority: number) =>
    Effect.suspend(() => {
      const w: Waiter = { count, priority, order: requests++, granted: Deferred.unsafeMake<void>(FiberId.none), taken: false }
      waiting.push(w)
      scheduleDispatch()
      // Interrupted while waiting: leave the queue; interrupted just after the grant: give the slots back.
      return Deferred.await(w.granted).pipe(Effect.onInterrupt(() => Effect.sync(() => {
        const i = waiting.indexOf(w)
        if (i >= 0) waiting.splice(i, 1)
        else if (w.taken) {
          free += count
          scheduleDispatch()
        }
      })))
    })
  return {
    withSlots: (count, priority) => (self) =>
      Effect.uninterruptibleMask((restore) =>
        restore(take(count, priority)).pipe(Effect.zipRight(restore(self).pipe(Effect.ensuring(release(count)))))),
  }
}
