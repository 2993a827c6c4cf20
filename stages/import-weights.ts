// ImageNet weights imported from a Keras *_notop.h5 file (the paper fine-tunes released
// ImageNet weights rather than its own): stands in for pretrain/<arch> in the graph. The
// file is an external input, so its content hash is part of this stage's fingerprint.
import * as Schema from "effect/Schema"
import { basename, join } from "node:path"
import { defineStage } from "../pipeline/stage.ts"
import { attempt, BackendSchema, plannedBackend, useBackend } from "./common.ts"
import { ArchSchema, FINAL_WEIGHTS, INIT_WEIGHTS, TrainedResultSchema, type TrainedResult } from "./training.ts"

const Params = Schema.Struct({
  arch: ArchSchema,
  widthMultiplier: Schema.Number,
  inputSize: Schema.Int,
  backend: BackendSchema,
})

/** ImageNet's class count: the head a notop file lacks is built at this width and left random. */
const IMAGENET_CLASSES = 1000

export const importKerasWeights = defineStage<typeof Params.Type, typeof Params.Encoded, TrainedResult, typeof TrainedResultSchema.Encoded, Record<string, never>>({
  kind: "import-weights",
  module: import.meta.url,
  isolation: "worker",
  params: Params,
  result: TrainedResultSchema,
  environment: (p) => ({ ...plannedBackend(p.backend) }),
  run: (ctx) =>
    attempt(async () => {
      const started = Date.now()
      const file = ctx.files.weights
      const info = await useBackend(ctx.params.backend, ctx)
      const tf = await import("@tensorflow/tfjs-core")
      const { buildModel } = await import("../models/index.ts")
      const { loadKerasH5 } = await import("../models/keras-h5.ts")
      const { transferInit } = await import("../ml/inits.ts")
      const { saveModelWeights } = await import("../ml/checkpoint.ts")
      const spec = { arch: ctx.params.arch as "cbr-tiny", inputSize: ctx.params.inputSize, widthMultiplier: ctx.params.widthMultiplier, outputs: IMAGENET_CLASSES, outputActivation: "softmax" as const, seed: 1000 }
      const built = buildModel(spec)
      let weights: Map<string, import("@tensorflow/tfjs-core").Tensor[]>
      try {
        weights = await loadKerasH5(file, built.model)
      } catch (e) {
        const reason = (e as Error).message.replace(/\.$/, "")
        throw new Error(
          `importing ${ctx.params.arch} weights: ${reason}${reason.endsWith("?") ? "" : "."} ` +
            `Fix: point importedWeights.${ctx.params.arch} at the Keras ${ctx.params.arch === "inception-v3" ? "inception_v3" : "resnet50"}_weights_tf_dim_ordering_tf_kernels_notop.h5 ` +
            `(Keras 2 / tf.keras layout) and run with widthMultiplier 1 (now ${ctx.params.widthMultiplier}), or remove the key to pretrain in-house.`,
        )
      }
      const { hashFile } = await import("../pipeline/canonical.ts")
      const { sha256 } = hashFile(file)
      const report = transferInit(built, weights)
      for (const ts of weights.values()) tf.dispose(ts)
      ctx.log(`imported ${report.pretrained.length} layers from ${file} (sha256 ${sha256})`)
      await saveModelWeights(join(ctx.outDir, INIT_WEIGHTS), built.model)
      await saveModelWeights(join(ctx.outDir, FINAL_WEIGHTS), built.model)
      return {
        spec,
        blocks: built.blocks.map((b) => ({ name: b.name, output: b.output })),
        init: { scheme: "keras-import", pretrained: report.pretrained.length, meanVar: 0, random: report.random.length, gabor: 0 },
        // No ImageNet evaluation here: the file's published accuracy is the reference.
        test: {},
        curve: [],
        steps: 0,
        seconds: (Date.now() - started) / 1000,
        backend: { name: info.name, versions: info.versions },
        checkpoint: { choice: "last", step: 0 },
        imported: { file: basename(file), sha256 },
      }
    }),
})
