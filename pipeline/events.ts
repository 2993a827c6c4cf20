// What a running stage tells the outside world. The same events travel over IPC from a
// worker process, or from a cluster job's log, so every executor reports alike.
export type StageEvent =
  | { readonly type: "started"; readonly id: string; readonly fingerprint: string; readonly pid: number }
  | { readonly type: "progress"; readonly id: string; readonly done: number; readonly total: number; readonly unit?: string }
  | { readonly type: "log"; readonly id: string; readonly line: string }
  | { readonly type: "message"; readonly text: string }
  | {
      readonly type: "finished"
      readonly id: string
      readonly status: "ran" | "failed" | "not-run"
      readonly seconds?: number
      readonly message?: string
      readonly logPath?: string
    }

export interface Reporter {
  readonly event: (e: StageEvent) => void
}
