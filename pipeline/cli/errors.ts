import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import { ConfigError } from "../project.ts"

/** A verb's failure: printed as its message (no stack), exit code 1. */
export class CliFailure extends Data.TaggedError("CliFailure")<{ readonly message: string }> {}

/** Runs graph-level code that throws user-facing errors (unknown id, bad glob) as a ConfigError. */
export const tryPlan = <A>(f: () => A): Effect.Effect<A, ConfigError> =>
  Effect.try({ try: f, catch: (e) => new ConfigError({ message: (e as Error).message }) })
