import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import { ConfigError } from "../project.ts"

/** A verb's failure: printed as its message (no stack), exit code 1. */
export class CliFailure extends Data.TaggedError("CliFailure")<{ readonly message: string }> {}

/** Runs graph-level code that throws user-facing errors (unknown id, bad glob) as a ConfigError. */
export const tryPlan = <A>(f: () => A): Effect.Effect<A, ConfigError> =>
  Effect.try({ try: f, catch: (e) => new ConfigError({ message: (e as Error).message }) })

/** A mistyped flag or value: printed as its one-line message, exit code 2 as shells use for usage errors. */
export class UsageError extends Data.TaggedError("UsageError")<{ readonly message: string }> {}

/**
 * `run` and `status` take stage patterns as repeated positional arguments, so @effect/cli hands
 * them any flag it does not know. No stage id starts with "-": such a word is a mistyped flag,
 * refused as other verbs refuse one instead of failing later as "no stage matches".
 */
export const refuseUnknownFlags = (verb: string, words: readonly string[]): Effect.Effect<void, UsageError> => {
  const flag = words.find((w) => w.startsWith("-"))
  return flag === undefined
    ? Effect.void
    : Effect.fail(new UsageError({ message: `unknown flag '${flag}' for \`${verb}\` (\`${verb} --help\` lists its flags)` }))
}
