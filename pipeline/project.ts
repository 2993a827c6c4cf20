// What a project hands the engine: how a profile becomes a graph, and where things live.
// The engine knows nothing else about the project (nothing about ML).
import type * as Command from "@effect/cli/Command"
import * as Data from "effect/Data"
import type * as Effect from "effect/Effect"
import type { AnyNode } from "./stage.ts"
import type { SlurmSettings } from "./slurm/settings.ts"
import type { ResultsSpec } from "./results.ts"

/** Where `run` sends stale stages unless `--executor` says otherwise (the config file's choice). */
export type ExecutorConfig = { readonly type: "local" } | ({ readonly type: "slurm" } & Partial<SlurmSettings>)

/** A user-facing configuration problem (unknown key, bad value, missing dataset root). */
export class ConfigError extends Data.TaggedError("ConfigError")<{ readonly message: string }> {}

export interface Planned {
  readonly nodes: readonly AnyNode[]
  /** Human-readable settings that differ from the profile's defaults ("retina.root = /data/eyepacs"). */
  readonly overrides: readonly string[]
  /** The executor the user's config asks for (`run --executor` overrides it). */
  readonly executor?: ExecutorConfig
}

export interface PlanRequest {
  readonly profile: string
  /** A user config file; undefined means the project's default lookup. */
  readonly configFile: string | undefined
}

export interface Project {
  readonly name: string
  readonly version: string
  /** Project root: code is hashed relative to it, links are made under it. */
  readonly root: string
  /** Default artifact store (overridable with --store). */
  readonly storeRoot: string
  readonly profiles: readonly string[]
  readonly defaultProfile: string
  /** Project-relative folders whose files are never part of a stage's code hash (the engine itself). */
  readonly codeHashIgnore: readonly string[]
  readonly plan: (request: PlanRequest) => Effect.Effect<Planned, ConfigError>
  /** The CLI entry script and node flags, so the engine can start worker processes of itself. */
  readonly entry: { readonly script: string; readonly execArgv: readonly string[] }
  /**
   * GPU slots a run gets when `--gpus` is not given (e.g. the machine's GPUs); 0 without
   * the hook. May throw with a message for the user (a bad environment variable).
   */
  readonly gpuCount?: () => number
  /** Which artifacts `results` and `diff` show and how their metrics are named (default: every kind, every numeric result leaf). */
  readonly results?: (request: PlanRequest) => ResultsSpec
  /** Extra project verbs (e.g. `models`, `similarity`). */
  readonly commands?: readonly Command.Command<string, never, unknown, unknown>[]
}
