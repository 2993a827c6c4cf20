// Fine-tuning on a medical task under one initialisation scheme (random, transfer, Mean Var,
// weight transfusion up to a block, slim, synthetic Gabor conv1), for one seed. Keeps the
// weights at initialisation and after training for the representational analysis.
import * as Schema from "effect/Schema"
import { join } from "node:path"
import { defineStage } from "../pipeline/stage.ts"
import type { DatasetManifest } from "../data/manifest.ts"
import { attempt, libraryVersions, plannedBackend } from "./common.ts"
import { FINAL_WEIGHTS, InitSchema, ModelParams, TrainedResultSchema, trainModel, type TrainedResult } from "./training.ts"

const Params = Schema.Struct({
  ...ModelParams,
  task: Schema.Literal("retina", "chexpert"),
  init: InitSchema,
  /** "train", or "train-small" for Table 3's small-data regime. */
  trainSplit: Schema.Literal("train", "train-small"),
})

export const fineTune = defineStage<typeof Params.Type, typeof Params.Encoded, TrainedResult, typeof TrainedResultSchema.Encoded, { data: DatasetManifest; pretrained?: TrainedResult }>({
  kind: "finetune",
  module: import.meta.url,
  isolation: "worker",
  params: Params,
  result: TrainedResultSchema,
  environment: (p) => ({ ...plannedBackend(p.backend), ...libraryVersions("apache-arrow") }),
  run: (ctx) =>
    attempt(async () => {
      const { retinaTask, chexpertTask } = await import("../ml/train.ts")
      const labels = ctx.inputs.data.result.labels
      const task = ctx.params.task === "retina" ? retinaTask(2, 5) : chexpertTask(labels.kind === "multilabel" ? labels.names : [])
      const pretrained = ctx.inputs.pretrained
      return trainModel(ctx, {
        ...ctx.params,
        task,
        data: ctx.inputs.data.dir,
        validationSplit: "validation",
        testSplit: "test",
        ...(pretrained ? { pretrainedWeights: join(pretrained.dir, FINAL_WEIGHTS) } : {}),
      })
    }),
})
