// ImageNet pretraining of one architecture on the natural-image set: the weights every
// transfer, Mean Var and transfusion run starts from. Reports top-1/top-5 on validation.
import * as Schema from "effect/Schema"
import { defineStage } from "../pipeline/stage.ts"
import type { DatasetManifest } from "../data/manifest.ts"
import { attempt, libraryVersions, plannedBackend } from "./common.ts"
import { ModelParams, TrainedResultSchema, trainModel, type TrainedResult } from "./training.ts"

const Params = Schema.Struct(ModelParams)

export const pretrain = defineStage<typeof Params.Type, typeof Params.Encoded, TrainedResult, typeof TrainedResultSchema.Encoded, { data: DatasetManifest }>({
  kind: "pretrain",
  module: import.meta.url,
  isolation: "worker",
  params: Params,
  result: TrainedResultSchema,
  environment: (p) => ({ ...plannedBackend(p.backend), ...libraryVersions("apache-arrow") }),
  run: (ctx) =>
    attempt(async () => {
      const classes = ctx.inputs.data.result.labels.kind === "class" ? ctx.inputs.data.result.labels.classes : 0
      const { classificationTask } = await import("../ml/train.ts")
      return trainModel(ctx, {
        ...ctx.params,
        init: { kind: "random" },
        task: classificationTask(classes),
        data: ctx.inputs.data.dir,
        trainSplit: "train",
        validationSplit: "validation",
        testSplit: "validation",
      })
    }),
})
