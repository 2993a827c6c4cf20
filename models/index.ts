// buildModel: the paper's architectures by name, randomly initialised from spec.seed.
import { GraphBuilder } from "./builder.ts"
import { buildCbr, CBR_CONFIGS } from "./cbr.ts"
import { buildInceptionV3, INCEPTION_MIN_INPUT } from "./inception-v3.ts"
import { buildResnet50 } from "./resnet50.ts"
import { ARCH_NAMES } from "./types.ts"
import type { BuiltModel, ModelSpec } from "./types.ts"

export type { ArchName, Block, BuiltModel, ModelSpec } from "./types.ts"
export { ARCH_NAMES } from "./types.ts"

/** Smallest input side each architecture accepts (valid-padded stems and five stride-2 stages). */
export const minInputSize = (arch: ModelSpec["arch"]): number =>
  arch === "inception-v3" ? INCEPTION_MIN_INPUT : arch === "resnet50" || arch === "resnet50-slim" ? 32 : 8

const validate = (spec: ModelSpec): void => {
  const bad = (field: string, value: unknown, want: string) => {
    throw new Error(`model spec field '${field}' is ${JSON.stringify(value)}; expected ${want}`)
  }
  if (!ARCH_NAMES.includes(spec.arch)) bad("arch", spec.arch, `one of ${ARCH_NAMES.join(", ")}`)
  const min = minInputSize(spec.arch)
  if (!Number.isInteger(spec.inputSize) || spec.inputSize < min) bad("inputSize", spec.inputSize, `an integer >= ${min} for ${spec.arch}`)
  if (!(spec.widthMultiplier > 0) || !Number.isFinite(spec.widthMultiplier)) bad("widthMultiplier", spec.widthMultiplier, "a positive number (1 = the paper's width)")
  if (!Number.isInteger(spec.outputs) || spec.outputs < 1) bad("outputs", spec.outputs, "a positive integer")
  if (spec.outputActivation !== "softmax" && spec.outputActivation !== "sigmoid") bad("outputActivation", spec.outputActivation, `"softmax" or "sigmoid"`)
  if (!Number.isInteger(spec.seed)) bad("seed", spec.seed, "an integer")
}

/**
 * Builds the model with Keras's default initialisers (glorot_uniform) seeded from spec.seed:
 * the same spec gives bit-identical weights on any backend. Needs a tfjs backend
 * to be selected (ml/backend.ts selectBackend).
 */
export const buildModel = (spec: ModelSpec): BuiltModel => {
  validate(spec)
  const b = new GraphBuilder(spec)
  const { input, output } =
    spec.arch === "resnet50" || spec.arch === "resnet50-slim" ? buildResnet50(b, spec.arch === "resnet50-slim")
    : spec.arch === "inception-v3" ? buildInceptionV3(b)
    : buildCbr(b, CBR_CONFIGS[spec.arch])
  return { model: b.finish(input, output), spec: { ...spec }, blocks: b.blocks }
}
