// Representational similarity for one model (Figures 2-4): every block of transfer-trained
// vs random-trained networks and of random vs random (two seeds), at initialisation and
// after training, and each trained network against its own initialisation.
import * as Schema from "effect/Schema"
import { join } from "node:path"
import { defineStage } from "../pipeline/stage.ts"
import { attempt } from "./common.ts"
import type { ActivationsResult } from "./activations.ts"

export type Scores = Readonly<Record<string, { cca: number; svcca: number; pwcca: number; cka: number }>>

export interface SimilarityResult {
  readonly blocks: readonly string[]
  readonly reduction: string
  readonly pairs: readonly { comparison: "pretrained-vs-random" | "random-vs-random"; a: string; b: string; atInit: Scores; trained: Scores }[]
  readonly toInit: readonly { init: "random" | "transfer"; run: string; scores: Scores }[]
}

const Params = Schema.Struct({
  /** Pairs as [run a, run b, comparison]; runs named as in the activations stage's inputs. */
  pairs: Schema.Array(Schema.Tuple(Schema.String, Schema.String, Schema.Literal("pretrained-vs-random", "random-vs-random"))),
  /** Runs compared to their own initialisation, with their scheme. */
  toInit: Schema.Array(Schema.Tuple(Schema.String, Schema.Literal("random", "transfer"))),
  /** CCA's epsilon (spec.md: tutorials use 1e-10); raised per comparison when rank-deficient. */
  epsilon: Schema.Number,
})

export const similarityStage = defineStage<typeof Params.Type, typeof Params.Encoded, SimilarityResult, SimilarityResult, { activations: ActivationsResult }>({
  kind: "similarity",
  module: import.meta.url,
  params: Params,
  result: Schema.Unknown as unknown as Schema.Schema<SimilarityResult>,
  run: (ctx) =>
    attempt(async () => {
      const { compareActivationFiles } = await import("../analysis/compare.ts")
      const acts = ctx.inputs.activations
      const runs = new Map(acts.result.runs.map((r) => [r.run.split("/").at(-2) + "/" + r.run.split("/").at(-1), r]))
      const find = (name: string) => {
        const r = acts.result.runs.find((x) => x.run.endsWith(name))
        if (!r) throw new Error(`no dumped run named ${name} (have ${[...runs.keys()].join(", ")})`)
        return r
      }
      const compare = async (fa: Readonly<Record<string, string>>, fb: Readonly<Record<string, string>>): Promise<Scores> => {
        const out: Record<string, { cca: number; svcca: number; pwcca: number; cka: number }> = {}
        for (const block of acts.result.blocks) {
          // Small or briefly trained networks have near-dead neurons that make the variates
          // rank-deficient at the tutorials' epsilon; raise it (dropping those neurons) and say so.
          let c
          for (const epsilon of [ctx.params.epsilon, ctx.params.epsilon * 1e4, ctx.params.epsilon * 1e6]) {
            try {
              c = await compareActivationFiles(join(acts.dir, fa[block]!), join(acts.dir, fb[block]!), { epsilon })
              if (epsilon !== ctx.params.epsilon) ctx.log(`${fa[block]} vs ${fb[block]}: rank-deficient at epsilon ${ctx.params.epsilon}, used ${epsilon}`)
              break
            } catch (e) {
              if (!(e instanceof RangeError)) throw e
            }
          }
          if (!c) throw new Error(`${fa[block]} vs ${fb[block]}: similarity undefined even at epsilon ${ctx.params.epsilon * 1e6} (activations rank-deficient)`)
          out[block] = { cca: c.cca_mean, svcca: c.svcca, pwcca: c.pwcca, cka: c.cka }
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
