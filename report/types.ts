// The one input of the report: everything the report prints comes from a
// ReportData value (filled by the lead's report stage from artifacts) or from the
// paper's published numbers in report/paper.ts. Nothing else is a number source.
//
// Units: AUCs and accuracies are fractions in [0, 1] (the report prints them as
// percentages); similarity scores are in [0, 1]; steps are optimiser steps.

/** The paper's models: the ids and names of models/types.ts, one vocabulary for both. */
import type { ArchName } from "../models/types.ts"
export type ModelId = ArchName
export { ARCH_NAMES as MODEL_IDS, CBR_MODELS, LARGE_MODELS, MODEL_NAMES, SMALL_CBR_MODELS } from "../models/types.ts"

export type DatasetId = "retina" | "chexpert"

/** The CheXpert pathologies of Table 2, in the paper's column order. */
import type { FindingKey } from "../data/findings.ts"
export type Pathology = FindingKey
export { FINDING_KEYS as PATHOLOGIES, FINDING_NAMES as PATHOLOGY_NAMES } from "../data/findings.ts"

/** Weight-transfusion prefixes (Figure 7): pretrained weights up to and including this stage, the rest random. */
export type TransfusionPrefix = "conv1" | "block1" | "block2" | "block3" | "block4"
export const TRANSFUSION_PREFIXES: readonly TransfusionPrefix[] = ["conv1", "block1", "block2", "block3", "block4"]

/**
 * How a run's weights were initialised (Sections 3 and 5, spec.md "Initialisations and hybrids").
 * - `random`: the framework's default initialisers.
 * - `transfer`: all pretrained weights except the output layer.
 * - `mean-var`: per layer iid N(mean, var) of the pretrained weights.
 * - `transfusion-<prefix>`: pretrained up to <prefix>, rest random. `transfusion-conv1` is
 *   Figure 8's "pretrained conv1". The Slim model is `model: "resnet50-slim"` with `transfusion-block2`.
 * - `gabor-conv1`: synthetic Gabor filters in conv1, the rest random.
 */
export type InitScheme = "random" | "transfer" | "mean-var" | "gabor-conv1" | `transfusion-${TransfusionPrefix}`

/** Full data (Tables 1, 2) or Section 3.3's very small data regime (Table 3: 5,000 RETINA examples). */
export type Regime = "full" | "small-data"

/**
 * Which validation metric a curve or a steps-to-threshold tracks:
 * `referable-auc` on RETINA, `<pathology>` (that pathology's AUC) or `mean-auc` on CheXpert.
 */
export type CurveMetric = "referable-auc" | Pathology | "mean-auc"

export interface CurvePoint {
  readonly step: number
  readonly value: number
}

export type UncertaintyPolicy = "U-Ignore" | "U-Zeros" | "U-Ones"

/** Where a number came from: shown per run in the report's provenance section. */
export interface Provenance {
  /** tfjs backend actually used, e.g. "tensorflow", "wasm", "cpu". */
  readonly backend: string
  /** Package and runtime versions, e.g. { node: "20.19.0", "@tensorflow/tfjs-core": "4.22.0" }. */
  readonly versions: Readonly<Record<string, string>>
  /** The stage parameters recorded in the artifact manifest (JSON values). */
  readonly params: Readonly<Record<string, unknown>>
  /** The artifact's fingerprint (artifacts/<stage>/<fingerprint>/). */
  readonly fingerprint: string
  /** "synthetic" for the generated stand-in datasets; any synthetic run puts a banner on the report. */
  readonly dataSource: "synthetic" | "real"
  /** The CheXpert uncertain-label policy applied per pathology (CheXpert runs only). */
  readonly chexpertUncertaintyPolicy?: Readonly<Record<Pathology, UncertaintyPolicy>>
}

/** One fine-tuning (or from-scratch) run on a medical task. */
export interface RunResult {
  /** Unique and stable, e.g. "finetune/resnet50/transfer/retina/full/seed1". */
  readonly id: string
  readonly model: ModelId
  readonly init: InitScheme
  readonly dataset: DatasetId
  readonly regime: Regime
  readonly seed: number
  /** Final test metrics. RETINA runs set `referableAuc`; CheXpert runs set `chexpertAuc`. */
  readonly metrics: {
    /** AUC of grade >= 2 ("moderate DR or worse") on RETINA. */
    readonly referableAuc?: number
    /** One AUC per pathology on CheXpert. */
    readonly chexpertAuc?: Readonly<Partial<Record<Pathology, number>>>
  }
  /** Validation curves through training, one per tracked metric, steps increasing. */
  readonly curves?: Readonly<Partial<Record<CurveMetric, readonly CurvePoint[]>>>
  /**
   * Steps until the validation metric first reached `ReportData.convergence` threshold
   * for this dataset; `null` when it never did within `trainedSteps`. When absent, the
   * report derives it from the curve of the threshold metric.
   */
  readonly stepsToThreshold?: number | null
  /** Total optimiser steps trained (bounds a censored steps-to-threshold). */
  readonly trainedSteps?: number
  /**
   * RETINA: per-image test scores P(grade >= 2) with patient ids and the referable label (0/1),
   * in test-split order, so comparisons can include test-set sampling (paired DeLong, patient bootstrap).
   */
  readonly testScores?: { readonly patients: readonly string[]; readonly labels: readonly number[]; readonly scores: readonly number[] }
  readonly provenance: Provenance
}

/**
 * One pretrained model (the weights that transfer runs start from): pretrained in-house,
 * with its ImageNet accuracy, or imported from a Keras file (the paper's Inception-v3 is
 * TF-Slim's released weights), which has no accuracy of ours, only the file it came from.
 */
export type PretrainedResult = TrainedPretrained | ImportedPretrained

interface PretrainedCommon {
  readonly model: ModelId
  /** Pretraining seed; several entries per model give mean ± std. */
  readonly seed: number
  /** Whether the ImageNet set was the real one or a synthetic stand-in. */
  readonly dataSource: "synthetic" | "real"
  /** The pretraining (or import) artifact's provenance, shown in the report when given. */
  readonly provenance?: Provenance
}

export interface TrainedPretrained extends PretrainedCommon {
  readonly origin: "trained"
  readonly top1: number
  readonly top5: number
}

export interface ImportedPretrained extends PretrainedCommon {
  readonly origin: "imported"
  /** The Keras weights file's name and the sha256 of its bytes. */
  readonly file: string
  readonly sha256: string
}

/** The entries pretrained in-house, the only ones with an ImageNet accuracy of ours. */
export const trainedPretrained = (xs: readonly PretrainedResult[]): TrainedPretrained[] => xs.filter((x): x is TrainedPretrained => x.origin === "trained")

/** Parameter counts of a model: Table 1's convention (spec.md) and the true trainable count. */
export interface ParameterCount {
  readonly model: ModelId
  /** Conv kernels excluding conv1 plus a 5-way dense without bias (reproduces Table 1 for CBRs). */
  /** null where no rule reproduces Table 1 (ResNet-50, Inception-v3). */
  readonly table1Convention: number | null
  readonly trainable: number
}

/**
 * Figure 2: similarity of the top two layers/stages before the output, averaged over the two,
 * one value per compared pair of trained networks.
 */
export interface Figure2Entry {
  readonly model: ModelId
  readonly dataset: DatasetId
  /** The two layers averaged, e.g. ["block3", "block4"]. */
  readonly layers: readonly string[]
  /** Transfer-trained vs random-init-trained, one value per pair of seeds. */
  readonly pretrainedVsRandom: readonly number[]
  /** Random-init-trained vs random-init-trained with another seed (the baseline). */
  readonly randomVsRandom: readonly number[]
}

/** Figure 3: per layer, similarity of a trained network to its own initialisation, one value per seed. */
export interface Figure3Entry {
  readonly model: ModelId
  readonly dataset: DatasetId
  /** Layers in order from input (index 0) to output. */
  readonly layers: ReadonlyArray<{
    readonly layer: string
    readonly randomInit: readonly number[]
    readonly pretrainedInit: readonly number[]
  }>
}

/** Figure 4: each point is one pair of networks, similarity at initialisation vs after training. */
export interface Figure4Entry {
  readonly model: ModelId
  readonly dataset: DatasetId
  readonly layer: string
  readonly comparison: "random-vs-random" | "pretrained-vs-random"
  readonly points: ReadonlyArray<{ readonly atInit: number; readonly afterTraining: number; readonly label?: string }>
}

/** Figure 5: conv1 filter images (PNG files written by the figures stage), embedded as data: URIs. */
export interface Figure5Panel {
  readonly model: ModelId
  readonly dataset: DatasetId
  readonly init: "random" | "transfer"
  readonly when: "init" | "trained"
  /** Absolute path, or relative to the process working directory. */
  readonly pngPath: string
}

export interface SimilarityData {
  /** Which score the figures show, e.g. "svcca" (default, the paper's (SV)CCA), "cca", "pwcca", "cka". */
  readonly measure: string
  /** How activations were reduced (spatial subsampling or pooling; spec.md Section 4). */
  readonly reduction?: string
  readonly figure2: readonly Figure2Entry[]
  readonly figure3: readonly Figure3Entry[]
  readonly figure4: readonly Figure4Entry[]
  /**
   * Figures 2-3 under a second measure, printed beside the main one (PWCCA beside the
   * paper's (SV)CCA): the same pairs and seeds, scored differently.
   */
  readonly companion?: { readonly measure: string; readonly figure2: readonly Figure2Entry[]; readonly figure3: readonly Figure3Entry[] }
  /** The similarity stage's artifact provenance, shown in the report when given. */
  readonly provenance?: Provenance
}

/** Convergence thresholds (Figure 7: 91% validation AUC on RETINA). */
export interface ConvergenceSettings {
  readonly retina: { readonly metric: "referable-auc"; readonly threshold: number }
  readonly chexpert: { readonly metric: CurveMetric; readonly threshold: number }
}

/**
 * The whole input of the report.
 *
 * Which runs each table/figure uses (the lead only has to put every run in `runs`):
 * - Table 1: dataset retina, regime full, init random/transfer, `metrics.referableAuc`.
 * - Table 2: dataset chexpert, regime full, init random/transfer, `metrics.chexpertAuc`.
 * - Table 3: dataset retina, regime small-data, init random/transfer.
 * - Figure 6: runs with curves and init random/transfer/mean-var (RETINA per model; CheXpert
 *   curves of metric `consolidation` for ResNet-50).
 * - Figure 7: ResNet-50 RETINA runs with init random, transfusion-*, transfer.
 * - Figure 8: ResNet-50 random/transfer and resnet50-slim (transfusion-block2); ResNet-50 and
 *   CBR-LargeW with gabor-conv1 / transfusion-conv1 / random.
 */
export interface ReportData {
  /** Profile name ("micro", "mini", "paper", ...). */
  readonly profile: string
  /** User config overrides applied on top of the profile (dotted path -> value). */
  readonly overrides: Readonly<Record<string, unknown>>
  /** ISO time the report data were assembled. */
  readonly generatedAt?: string
  readonly runs: readonly RunResult[]
  readonly pretrained: readonly PretrainedResult[]
  readonly parameterCounts?: readonly ParameterCount[]
  readonly similarity?: SimilarityData
  readonly figure5?: readonly Figure5Panel[]
  readonly convergence: ConvergenceSettings
  /**
   * Synthetic stand-ins only: the best test metric each generator's labels allow (RETINA: the
   * Bayes AUC of the lesion-based score against the noisy grades), printed beside its table.
   */
  readonly ceilings?: Partial<Record<"retina" | "chexpert" | "imagenet", { readonly metric: string; readonly value: number; readonly over: string; readonly how: string }>>
}
