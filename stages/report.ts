// The report: Tables 1-3 and Figures 2-8 beside the paper's numbers, the claims' verdicts
// and every run's provenance, as one self-contained HTML file and a Markdown summary.
// Every number is read from an upstream artifact: the inputs ARE the report's sources.
import * as Schema from "effect/Schema"
import { join } from "node:path"
import { defineStage } from "../pipeline/stage.ts"
import { DatasetManifestSchema } from "../data/manifest.ts"
import { CHEXPERT_FINDINGS, findingKey } from "../data/findings.ts"
import type { CurvePoint as ReportCurvePoint, ModelId, Pathology, PretrainedResult, ReportData, RunResult, InitScheme, Provenance, Figure4Entry, TrainedPretrained } from "../report/types.ts"
import { JsonNumber } from "../lib/json-number.ts"
import { attempt, inputOf } from "./common.ts"
import { describeParseError } from "../pipeline/schema-errors.ts"
import { TestScoresSchema, TrainedResultSchema, type TrainedResult } from "./training.ts"
import { SimilarityResultSchema, type SimilarityResult } from "./similarity.ts"
import { FiltersResultSchema } from "./filters.ts"

// Every input is keyed by its stage id, and the parameters name the ids each role reads.
const RunRole = Schema.Struct({
  /** The fine-tuning run's stage id. */
  stage: Schema.String,
  model: Schema.String,
  init: Schema.String,
  dataset: Schema.Literal("retina", "chexpert"),
  regime: Schema.Literal("full", "small-data"),
  seed: Schema.Int,
})

/** One fine-tuning run as the report reads it: which table or figure cell it fills. */
export type ReportRunRole = typeof RunRole.Type

const Params = Schema.Struct({
  profile: Schema.String,
  overrides: Schema.Array(Schema.String),
  runs: Schema.Array(RunRole),
  pretrained: Schema.Array(Schema.Struct({ stage: Schema.String, model: Schema.String })),
  similarity: Schema.Array(Schema.Struct({ stage: Schema.String, model: Schema.String })),
  /** Stage ids of the ingested datasets (their manifests give the data source and the policy). */
  datasets: Schema.Struct({ retina: Schema.String, chexpert: Schema.String, imagenet: Schema.String }),
  synthetic: Schema.Struct({ retina: Schema.Boolean, chexpert: Schema.Boolean, imagenet: Schema.Boolean }),
  /** The conv1 filters stage's id. */
  filters: Schema.String,
  measure: Schema.Literal("pwcca", "svcca", "cca", "cka"),
  convergence: Schema.Struct({ retinaThreshold: Schema.Number, chexpertThreshold: Schema.Number }),
})

export const ReportResultSchema = Schema.Struct({
  /** The report's files, relative to the artifact. */
  html: Schema.String,
  markdown: Schema.String,
  /** Every number the report prints, by stable key (NaN where undefined). */
  values: Schema.Record({ key: Schema.String, value: JsonNumber }),
  verdicts: Schema.Array(Schema.Struct({ key: Schema.String, verdict: Schema.String })),
})
export type ReportResult = typeof ReportResultSchema.Type

/** Architecture names are the report's model ids (models/types.ts); the report's input check rejects any other. */
export const reportModel = (arch: string): ModelId => arch as ModelId

/** CSV finding name (as training names its metrics) -> the report's pathology key. */
const pathologyKey: Record<string, Pathology> = Object.fromEntries(CHEXPERT_FINDINGS.map((f) => [f, findingKey(f)]))

/** A fine-tune's per-image test scores, checked, with the file and field named when they are not what the training stage writes. */
const readTestScores = async (path: string) => {
  const { readFile } = await import("node:fs/promises")
  let json: unknown
  try {
    json = JSON.parse(await readFile(path, "utf8"))
  } catch (e) {
    throw new Error(`${path}: the test scores do not read as JSON (${(e as Error).message}); rerun that fine-tune with --force`)
  }
  const decoded = Schema.decodeUnknownEither(TestScoresSchema, { errors: "all" })(json)
  if (decoded._tag === "Left") throw new Error(`${path}: ${describeParseError(decoded.left, "scores")}; rerun that fine-tune with --force`)
  return decoded.right
}

const curveOf = (curve: TrainedResult["curve"], metric: string): ReportCurvePoint[] =>
  curve.filter((p) => Number.isFinite(p.metrics[metric])).map((p) => ({ step: p.step, value: p.metrics[metric]! }))

/** Table 1's counts at the paper's width (full-size models, built once each). */
const parameterCounts = async (archs: readonly string[]) => {
  const { selectBackend } = await import("../ml/backend.ts")
  await selectBackend("auto")
  const { paramCounts } = await import("../models/count.ts")
  return [...new Set(archs)].map((arch) => {
    const c = paramCounts(arch as Parameters<typeof paramCounts>[0])
    return { model: reportModel(arch), table1Convention: c.table1Convention, trainable: c.trainable }
  })
}

/** A pretrained model as the report sees it: its ImageNet accuracy, or, for imported weights, the file they came from. */
export const pretrainedEntry = (common: Omit<TrainedPretrained, "origin" | "top1" | "top5">, id: string, result: TrainedResult): PretrainedResult => {
  if (result.imported) return { ...common, origin: "imported", file: result.imported.file, sha256: result.imported.sha256 }
  const { accuracy, top5 } = result.test
  if (accuracy === undefined || top5 === undefined) {
    throw new Error(`report: pretrained ${common.model} (${id}) has no ImageNet accuracy/top5 in its test metrics (${Object.keys(result.test).join(", ") || "none"}) and is not imported`)
  }
  return { ...common, origin: "trained", top1: accuracy, top5 }
}

export const buildReport = defineStage<typeof Params.Type, typeof Params.Encoded, ReportResult, typeof ReportResultSchema.Encoded, Record<string, unknown>>({
  kind: "report",
  module: import.meta.url,
  isolation: "worker",
  params: Params,
  result: ReportResultSchema,
  run: (ctx) =>
    attempt(async () => {
      const p = ctx.params
      const dataset = (d: "retina" | "chexpert" | "imagenet") => inputOf(ctx.inputs, p.datasets[d], DatasetManifestSchema).result
      const trained = (stage: string) => inputOf(ctx.inputs, stage, TrainedResultSchema)
      const chexpert = dataset("chexpert")
      // dataset.json records the policy the ingest applied, per finding (data/formats/chexpert.ts).
      const applied = (chexpert.policy as { uncertain?: Record<string, string> } | undefined)?.uncertain ?? {}
      const policy = Object.fromEntries(Object.entries(applied).flatMap(([k, v]) => (pathologyKey[k] ? [[pathologyKey[k], v]] : []))) as Provenance["chexpertUncertaintyPolicy"]
      const provenance = (up: { fingerprint: string; result: TrainedResult }, params: Record<string, unknown>, dataset: "retina" | "chexpert" | "imagenet"): Provenance => ({
        backend: up.result.backend.name,
        versions: { node: process.version, ...up.result.backend.versions },
        params,
        fingerprint: up.fingerprint,
        dataSource: p.synthetic[dataset] ? "synthetic" : "real",
        ...(dataset === "chexpert" && policy ? { chexpertUncertaintyPolicy: policy } : {}),
      })
      const runs: RunResult[] = await Promise.all(p.runs.map(async (role) => {
        const up = trained(role.stage)
        const r = up.result
        // RETINA per-image scores: the stored label is the written grade, referable from grade 2.
        const stored = role.dataset === "retina" && r.testScores ? await readTestScores(join(up.dir, r.testScores)) : undefined
        const testScores = stored && stored.labelWidth === 1 && stored.scoreWidth === 1
          ? { patients: stored.patients, labels: stored.labels.map((g) => (g === null ? NaN : g >= 2 ? 1 : 0)), scores: stored.scores }
          : undefined
        const curves =
          role.dataset === "retina"
            ? { "referable-auc": curveOf(r.curve, "auc") }
            : {
                "mean-auc": curveOf(r.curve, "auc"),
                ...Object.fromEntries(Object.entries(pathologyKey).map(([name, key]) => [key, curveOf(r.curve, `auc/${name}`)])),
              }
        return {
          id: up.id,
          model: reportModel(role.model),
          init: role.init as InitScheme,
          dataset: role.dataset,
          regime: role.regime,
          seed: role.seed,
          metrics:
            role.dataset === "retina"
              ? { referableAuc: r.test.auc! }
              : { chexpertAuc: Object.fromEntries(Object.entries(pathologyKey).map(([name, key]) => [key, r.test[`auc/${name}`]!])) },
          curves,
          trainedSteps: r.steps,
          ...(testScores ? { testScores } : {}),
          provenance: provenance(up, { spec: r.spec, init: r.init.scheme, ...(r.checkpoint ? { checkpoint: r.checkpoint } : {}) }, role.dataset),
        }
      }))
      const pretrained = p.pretrained.map(({ stage, model }) => {
        const up = trained(stage)
        const common = {
          model: reportModel(model),
          seed: up.result.spec.seed,
          dataSource: p.synthetic.imagenet ? ("synthetic" as const) : ("real" as const),
          provenance: provenance(up, { spec: up.result.spec }, "imagenet"),
        }
        return pretrainedEntry(common, up.id, up.result)
      })
      // Figures 2-4 from the per-model similarity tables, in the chosen measure; Figures 2-3
      // also in a companion measure (PWCCA beside (SV)CCA) from the same stored scores.
      type Scores = { cca: number; svcca: number; pwcca: number; cka: number }
      const companionMeasure = p.measure === "pwcca" ? "svcca" : "pwcca"
      const similarities = p.similarity.map(({ stage, model }) => ({ model, sim: inputOf(ctx.inputs, stage, SimilarityResultSchema).result }))
      const figures = (measure: keyof Scores) => {
        const score = (s: Scores) => s[measure]
        const figure2 = [], figure3 = [], figure4: Figure4Entry[] = []
        for (const { model, sim } of similarities) {
          const top = sim.blocks.slice(-2)
          const topMean = (scores: SimilarityResult["pairs"][number]["trained"]) => top.reduce((s, b) => s + score(scores[b]!), 0) / top.length
          figure2.push({
            model: reportModel(model),
            dataset: "retina" as const,
            layers: top,
            pretrainedVsRandom: sim.pairs.filter((x) => x.comparison === "pretrained-vs-random").map((x) => topMean(x.trained)),
            randomVsRandom: sim.pairs.filter((x) => x.comparison === "random-vs-random").map((x) => topMean(x.trained)),
          })
          figure3.push({
            model: reportModel(model),
            dataset: "retina" as const,
            layers: sim.blocks.map((b) => ({
              layer: b,
              randomInit: sim.toInit.filter((t) => t.init === "random").map((t) => score(t.scores[b]!)),
              pretrainedInit: sim.toInit.filter((t) => t.init === "transfer").map((t) => score(t.scores[b]!)),
            })),
          })
          for (const comparison of ["random-vs-random", "pretrained-vs-random"] as const) {
            const conv1 = sim.blocks[0]!
            figure4.push({
              model: reportModel(model),
              dataset: "retina",
              layer: conv1,
              comparison,
              points: sim.pairs.filter((x) => x.comparison === comparison).map((x) => ({ atInit: score(x.atInit[conv1]!), afterTraining: score(x.trained[conv1]!), label: `${x.a} vs ${x.b}` })),
            })
          }
        }
        return { figure2, figure3, figure4 }
      }
      const { figure2, figure3, figure4 } = figures(p.measure)
      const companion = figures(companionMeasure)
      const filters = inputOf(ctx.inputs, p.filters, FiltersResultSchema)
      const figure5 = filters.result.panels.map((panel) => {
        const role = p.runs.find((r) => r.stage === panel.run)
        if (!role) throw new Error(`filters panel ${panel.file} is of ${panel.run}, which is none of the report's runs`)
        return {
          model: reportModel(role.model),
          dataset: role.dataset,
          init: role.init as "random" | "transfer",
          when: panel.when,
          pngPath: join(filters.dir, panel.file),
        }
      })
      const data: ReportData = {
        profile: p.profile,
        overrides: Object.fromEntries(p.overrides.map((o) => { const i = o.indexOf(" = "); return [o.slice(0, i), JSON.parse(o.slice(i + 3))] })),
        generatedAt: new Date().toISOString(),
        runs,
        pretrained,
        parameterCounts: await parameterCounts(ctx.params.runs.map((r) => r.model)),
        similarity: {
          measure: p.measure,
          reduction: similarities[0]!.sim.reduction,
          figure2,
          figure3,
          figure4,
          companion: { measure: companionMeasure, figure2: companion.figure2, figure3: companion.figure3 },
        },
        figure5,
        convergence: {
          retina: { metric: "referable-auc", threshold: p.convergence.retinaThreshold },
          chexpert: { metric: "consolidation", threshold: p.convergence.chexpertThreshold },
        },
        ceilings: Object.fromEntries(
          (["retina", "chexpert", "imagenet"] as const).flatMap((d) => {
            const c = dataset(d).generator?.ceiling
            return c ? [[d, c]] : []
          }),
        ),
      }
      const { writeReportFiles } = await import("../report/render.ts")
      const written = await writeReportFiles(data, ctx.outDir)
      const verdicts = written.claims.map((c) => ({ key: c.key, verdict: c.verdict }))
      for (const v of verdicts) ctx.log(`claim ${v.key}: ${v.verdict}`)
      return { html: "report.html", markdown: "report.md", values: written.values, verdicts }
    }),
})
