// Representational similarity for one model (Figures 2-4): every block of transfer-trained
// vs random-trained networks and of random vs random (two seeds), at initialisation and
// after training, and each trained network against its own initialisation.
import * as Schema from "effect/Schema"
import { join } from "node:path"
import { defineStage } from "../pipeline/stage.ts"
import { JsonNumber } from "../lib/json-number.ts"
import { attempt, libraryVersions } from "./common.ts"
import type { ActivationsResult } from "./activations.ts"
import type { Activations } from "../analysis/matrix.ts"

/** Every measure between two dumps of one layer (NaN where a measure is undefined). */
const ScoreSchema = Schema.Struct({ cca: JsonNumber, svcca: JsonNumber, pwcca: JsonNumber, cka: JsonNumber })
type Score = typeof ScoreSchema.Type

/** Block name -> its scores. */
const ScoresSchema = Schema.Record({ key: Schema.String, value: ScoreSchema })
export type Scores = typeof ScoresSchema.Type

export const SimilarityResultSchema = Schema.Struct({
  blocks: Schema.Array(Schema.String),
  reduction: Schema.String,
  pairs: Schema.Array(
    Schema.Struct({
      comparison: Schema.Literal("pretrained-vs-random", "random-vs-random"),
      a: Schema.String,
      b: Schema.String,
      atInit: ScoresSchema,
      trained: ScoresSchema,
    }),
  ),
  toInit: Schema.Array(Schema.Struct({ init: Schema.Literal("random", "transfer"), run: Schema.String, scores: ScoresSchema })),
})
export type SimilarityResult = typeof SimilarityResultSchema.Type

const Params = Schema.Struct({
  /** Pairs as [run a, run b, comparison]; runs named as in the activations stage's inputs. */
  pairs: Schema.Array(Schema.Tuple(Schema.String, Schema.String, Schema.Literal("pretrained-vs-random", "random-vs-random"))),
  /** Runs compared to their own initialisation, with their scheme. */
  toInit: Schema.Array(Schema.Tuple(Schema.String, Schema.Literal("random", "transfer"))),
  /** CCA's epsilon (spec.md: tutorials use 1e-10); raised per comparison when rank-deficient. */
  epsilon: Schema.Number,
})

/**
 * Every measure between two dumps of one layer. Near-dead neurons can make the variates
 * rank-deficient at the tutorials' epsilon: raise it (dropping those neurons). A layer
 * with fewer datapoints than twice its neurons is compared on its top principal
 * directions (analysis/reduce.ts). Both are logged.
 */
const similarityOf = async (a: string, b: string, epsilon: number, log: (line: string) => void): Promise<Score> => {
  const { readActivationTable } = await import("../analysis/parquet.ts")
  const { similarities } = await import("../analysis/cca.ts")
  const { principalScores } = await import("../analysis/reduce.ts")
  const [ta, tb] = await Promise.all([readActivationTable(a), readActivationTable(b)])
  if (ta.rows !== tb.rows) throw new Error(`${a} has ${ta.rows} rows but ${b} has ${tb.rows}; dump both from the same probe set`)
  let x: Activations = { data: ta.data, neurons: ta.neurons, datapoints: ta.rows }
  let y: Activations = { data: tb.data, neurons: tb.neurons, datapoints: tb.rows }
  if (ta.rows < 2 * Math.max(ta.neurons, tb.neurons)) {
    const cap = Math.max(1, Math.floor(ta.rows / 2))
    const rx = principalScores(x, cap), ry = principalScores(y, cap)
    log(`${a.split("/").slice(-3).join("/")}: ${ta.rows} datapoints for ${ta.neurons}/${tb.neurons} neurons; compared on ${rx.kept}/${ry.kept} principal directions (${(rx.variance * 100).toFixed(1)}%/${(ry.variance * 100).toFixed(1)}% of variance)`)
    x = rx
    y = ry
  }
  for (const eps of [epsilon, epsilon * 1e4, epsilon * 1e6]) {
    try {
      const s = await similarities(x, y, { epsilon: eps })
      if (eps !== epsilon) log(`${a.split("/").slice(-3).join("/")}: rank-deficient at epsilon ${epsilon}, used ${eps}`)
      return { cca: s.cca.mean, svcca: s.svcca.mean, pwcca: s.pwcca.pwcca, cka: s.cka }
    } catch (e) {
      if (!(e instanceof RangeError)) throw e
    }
  }
  throw new Error(`${a} vs ${b}: similarity undefined even at epsilon ${epsilon * 1e6} (activations rank-deficient)`)
}

export const similarityStage = defineStage<typeof Params.Type, typeof Params.Encoded, SimilarityResult, typeof SimilarityResultSchema.Encoded, { activations: ActivationsResult }>({
  kind: "similarity",
  module: import.meta.url,
  environment: () => libraryVersions("apache-arrow", "parquet-wasm"),
  params: Params,
  result: SimilarityResultSchema,
  run: (ctx) =>
    attempt(async () => {
      const acts = ctx.inputs.activations
      const runs = new Map(acts.result.runs.map((r) => [r.name, r]))
      const find = (name: string) => {
        const r = runs.get(name)
        if (!r) throw new Error(`no dumped run named ${name} (have ${[...runs.keys()].join(", ")})`)
        return r
      }
      const compare = async (fa: Readonly<Record<string, string>>, fb: Readonly<Record<string, string>>): Promise<Scores> => {
        const out: Record<string, Score> = {}
        for (const block of acts.result.blocks) {
          out[block] = await similarityOf(join(acts.dir, fa[block]!), join(acts.dir, fb[block]!), ctx.params.epsilon, ctx.log)
        }
        return out
      }
      const total = ctx.params.pairs.length + ctx.params.toInit.length
      let done = 0
      const pairs = []
      for (const [a, b, comparison] of ctx.params.pairs) {
        const ra = find(a), rb = find(b)
        pairs.push({ comparison, a, b, atInit: await compare(ra.init, rb.init), trained: await compare(ra.final, rb.final) })
        ctx.progress(++done, total, "comparisons")
      }
      const toInit = []
      for (const [name, init] of ctx.params.toInit) {
        const r = find(name)
        toInit.push({ init, run: name, scores: await compare(r.init, r.final) })
        ctx.progress(++done, total, "comparisons")
      }
      ctx.log(`${pairs.length} pairs and ${toInit.length} runs-to-init over blocks ${acts.result.blocks.join(", ")}`)
      return { blocks: acts.result.blocks, reduction: acts.result.reduction, pairs, toInit }
    }),
})
