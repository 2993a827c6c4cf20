// How well a local run kept its CPU slots busy, read from the run's own timeline: each stage
// that ran records when it started and finished (its manifest) and how many CPU slots it held.
// A slot is idle whenever fewer stages run than there are slots, so the idle-slot time is
// the integral of (slots - busy) over the run's span. Planning before the first stage and
// the report after the last count too: they are part of what a user waits for.

export interface TimelineSpan {
  readonly id: string
  /** Milliseconds since the epoch. */
  readonly start: number
  readonly end: number
  /** CPU slots the stage held (its resources.cpu, capped at the run's slots). */
  readonly slots: number
}

export interface Utilisation {
  readonly slots: number
  /** The run's span in seconds (from `from` to `to`). */
  readonly wallSeconds: number
  /** Slot-seconds spent running stages (never more than slots x wall). */
  readonly busySlotSeconds: number
  /** slots x wall - busy. */
  readonly idleSlotSeconds: number
  /** Idle slot-seconds while at least one stage ran (the dependency order's share, not planning's). */
  readonly idleWhileRunningSeconds: number
  /** Idle slot-seconds after the last moment every slot was busy (the run's tail). */
  readonly tailIdleSeconds: number
  /** The stage whose end closes the run's busy time: the last to finish. */
  readonly lastStage: string | undefined
}

/**
 * Sweeps the stages' start and end events between `from` and `to` (ms since the epoch).
 * Overlap beyond the slot count (a stage that counted its slots differently) is capped, so
 * the figures never claim more than the machine had.
 */
export const utilisation = (spans: readonly TimelineSpan[], slots: number, from: number, to: number): Utilisation => {
  const events: { t: number; d: number }[] = []
  for (const s of spans) {
    const start = Math.max(from, s.start), end = Math.min(to, s.end)
    if (end <= start) continue
    events.push({ t: start, d: s.slots }, { t: end, d: -s.slots })
  }
  events.sort((a, b) => a.t - b.t)
  // The run as constant-busy segments from `from` to `to`.
  const segments: { t0: number; t1: number; used: number }[] = []
  let busy = 0, t = from
  for (const e of events) {
    if (e.t > t) segments.push({ t0: t, t1: e.t, used: Math.min(busy, slots) })
    busy += e.d
    t = Math.max(t, e.t)
  }
  if (to > t) segments.push({ t0: t, t1: to, used: Math.min(busy, slots) })
  const lastFull = segments.reduce((a, g) => (g.used === slots ? g.t1 : a), from)
  let busyMs = 0, idleRunningMs = 0, tailIdleMs = 0
  for (const g of segments) {
    const ms = g.t1 - g.t0
    busyMs += g.used * ms
    if (g.used > 0) idleRunningMs += (slots - g.used) * ms
    if (g.t0 >= lastFull) tailIdleMs += (slots - g.used) * ms
  }
  const wallMs = Math.max(0, to - from)
  const last = spans.reduce<TimelineSpan | undefined>((a, s) => (a === undefined || s.end > a.end ? s : a), undefined)
  return {
    slots,
    wallSeconds: wallMs / 1000,
    busySlotSeconds: busyMs / 1000,
    idleSlotSeconds: (slots * wallMs - busyMs) / 1000,
    idleWhileRunningSeconds: idleRunningMs / 1000,
    tailIdleSeconds: tailIdleMs / 1000,
    lastStage: last?.id,
  }
}

/** One line for the end of a run, e.g. `CPU slots: 2, busy 94% (idle 120 slot-s: 40 s while stages ran, 80 s in the tail after ...)`. */
export const describeUtilisation = (u: Utilisation): string => {
  const pct = u.wallSeconds > 0 ? (100 * u.busySlotSeconds) / (u.slots * u.wallSeconds) : 0
  const s = (x: number) => `${x.toFixed(0)} s`
  return (
    `CPU slots: ${u.slots}, busy ${pct.toFixed(0)}% of the run; idle slot time ${s(u.idleSlotSeconds)} ` +
    `(${s(u.idleWhileRunningSeconds)} while stages ran, ${s(u.idleSlotSeconds - u.idleWhileRunningSeconds)} with none running; ` +
    `${s(u.tailIdleSeconds)} in the tail after the last moment all slots were busy${u.lastStage ? `, which ${u.lastStage} ends` : ""})`
  )
}
