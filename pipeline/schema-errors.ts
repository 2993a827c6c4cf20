// A schema mismatch as a reader can act on it: one line per problem, naming the field
// path from a root (`result.test.auc: Expected number, actual "x"`).
import * as ParseResult from "effect/ParseResult"

const identifier = /^[A-Za-z_$][\w$]*$/

const pathFrom = (root: string, path: readonly PropertyKey[]): string =>
  root +
  path
    .map((key) =>
      typeof key === "number" ? `[${key}]` : typeof key === "string" && identifier.test(key) ? `.${key}` : `[${JSON.stringify(String(key))}]`,
    )
    .join("")

/** Every issue of `error` as `<root><path>: <what was expected>`, joined by "; ". */
export const describeParseError = (error: ParseResult.ParseError, root: string): string =>
  ParseResult.ArrayFormatter.formatErrorSync(error)
    .map((issue) => `${pathFrom(root, issue.path)}: ${issue.message}`)
    .join("; ")
