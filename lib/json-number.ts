// Numbers as a stage result stores them. Results are written as JSON, which has no NaN:
// an undefined metric (an AUC on a split without positives) is written as null. Decoding
// reads that null back as NaN, so code reading a stored result sees the number it returned.
import * as Schema from "effect/Schema"

export const JsonNumber = Schema.transform(Schema.NullOr(Schema.Number), Schema.Number, {
  strict: true,
  decode: (stored) => stored ?? Number.NaN,
  encode: (n) => (Number.isFinite(n) ? n : null),
})
