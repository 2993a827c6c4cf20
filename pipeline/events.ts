// What a running stage tells the outside world. The same events travel over IPC from a
// worker process, or from a cluster job's log, so every executor reports alike.
import type { StageOutcome } from "./outcome.ts"

export type StageEvent =
  | { readonly type: "started"; readonly id: string; readonly fingerprint: string; readonly pid: number }
  | { readonly type: "progress"; readonly id: string; readonly done: number; readonly total: number; readonly unit?: string }
  | { readonly type: "log"; readonly id: string; readonly line: string }
  | { readonly type: "message"; readonly text: string }
  /** A stage ran, failed or was not run (a reused, fresh stage is not announced). */
  | ({ readonly type: "finished" } & Exclude<StageOutcome, { readonly state: "fresh" }>)

export interface Reporter {
  readonly event: (e: StageEvent) => void
}
