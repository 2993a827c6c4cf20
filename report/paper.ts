// The paper's published numbers, transcribed exactly from
// /work/shared/paper/transfusion-paper.txt (Raghu et al. 2019). These are the only
// constants the report prints that do not come from ReportData. Percentages stay
// percentages as printed; `pm` is the paper's "±" value (same unit), null where the
// paper prints none.

import type { ModelId, Pathology } from "./types.ts"

export interface PaperValue {
  readonly value: number
  readonly pm: number | null
}

const v = (value: number, pm: number | null = null): PaperValue => ({ value, pm })

export interface PaperTable1Row {
  readonly model: ModelId
  /** RETINA referable-DR AUC (%), random init. */
  readonly random: PaperValue
  /** RETINA referable-DR AUC (%), transfer. */
  readonly transfer: PaperValue
  readonly parameters: number
  /** ImageNet top-5 accuracy (%). */
  readonly imagenetTop5: PaperValue
}

/** Table 1 (Section 3.2), rows in the paper's order. */
export const PAPER_TABLE1: readonly PaperTable1Row[] = [
  { model: "resnet50", random: v(96.4, 0.05), transfer: v(96.7, 0.04), parameters: 23570408, imagenetTop5: v(92.0, 0.06) },
  { model: "inception-v3", random: v(96.6, 0.13), transfer: v(96.7, 0.05), parameters: 22881424, imagenetTop5: v(93.9) },
  { model: "cbr-larget", random: v(96.2, 0.04), transfer: v(96.2, 0.04), parameters: 8532480, imagenetTop5: v(77.5, 0.03) },
  { model: "cbr-largew", random: v(95.8, 0.04), transfer: v(95.8, 0.05), parameters: 8432128, imagenetTop5: v(75.1, 0.3) },
  { model: "cbr-small", random: v(95.7, 0.04), transfer: v(95.8, 0.01), parameters: 2108672, imagenetTop5: v(67.6, 0.3) },
  { model: "cbr-tiny", random: v(95.8, 0.03), transfer: v(95.8, 0.01), parameters: 1076480, imagenetTop5: v(73.5, 0.05) },
]

export interface PaperTable2Row {
  readonly model: ModelId
  readonly init: "random" | "transfer"
  /** CheXpert AUC (%) per pathology. */
  readonly auc: Readonly<Record<Pathology, PaperValue>>
}

const t2 = (model: ModelId, init: "random" | "transfer", a: PaperValue, c: PaperValue, co: PaperValue, e: PaperValue, p: PaperValue): PaperTable2Row => ({
  model,
  init,
  auc: { "atelectasis": a, "cardiomegaly": c, "consolidation": co, "edema": e, "pleural-effusion": p },
})

/** Table 2 (Section 3.2); "(trans)" rows are init "transfer". */
export const PAPER_TABLE2: readonly PaperTable2Row[] = [
  t2("resnet50", "random", v(79.52, 0.31), v(75.23, 0.35), v(85.49, 1.32), v(88.34, 1.17), v(88.70, 0.13)),
  t2("resnet50", "transfer", v(79.76, 0.47), v(74.93, 1.41), v(84.42, 0.65), v(88.89, 1.66), v(88.07, 1.23)),
  t2("cbr-larget", "random", v(81.52, 0.25), v(74.83, 1.66), v(88.12, 0.25), v(87.97, 1.40), v(88.37, 0.01)),
  t2("cbr-larget", "transfer", v(80.89, 1.68), v(76.84, 0.87), v(86.15, 0.71), v(89.03, 0.74), v(88.44, 0.84)),
  t2("cbr-largew", "random", v(79.79, 0.79), v(74.63, 0.69), v(86.71, 1.45), v(84.80, 0.77), v(86.53, 0.54)),
  t2("cbr-largew", "transfer", v(80.70, 0.31), v(77.23, 0.84), v(86.87, 0.33), v(89.57, 0.34), v(87.29, 0.69)),
  t2("cbr-small", "random", v(80.43, 0.72), v(74.36, 1.06), v(88.07, 0.60), v(86.20, 1.35), v(86.14, 1.78)),
  t2("cbr-small", "transfer", v(80.18, 0.85), v(75.24, 1.43), v(86.48, 1.13), v(89.09, 1.04), v(87.88, 1.01)),
  t2("cbr-tiny", "random", v(80.81, 0.55), v(75.17, 0.73), v(85.31, 0.82), v(84.87, 1.13), v(85.56, 0.89)),
  t2("cbr-tiny", "transfer", v(80.02, 1.06), v(75.74, 0.71), v(84.28, 0.82), v(89.81, 1.08), v(87.69, 0.75)),
]

export interface PaperTable3Row {
  readonly model: ModelId
  /** RETINA AUC (%) trained on 5,000 examples. */
  readonly random: PaperValue
  readonly transfer: PaperValue
}

/** Table 3 (Section 3.3, very small data regime: 5,000 RETINA examples); no ± printed. */
export const PAPER_TABLE3: readonly PaperTable3Row[] = [
  { model: "resnet50", random: v(92.2), transfer: v(94.6) },
  { model: "cbr-larget", random: v(93.6), transfer: v(93.9) },
  { model: "cbr-largew", random: v(93.6), transfer: v(93.7) },
]

/**
 * Figure 4 caption (and spec.md): R^2 = 0.75, 0.84 for ResNet-50 conv1, similarity at
 * initialisation vs after convergence. The caption lists both the pretrained-vs-random
 * and random-vs-random panels but does not say which value belongs to which panel.
 */
export const PAPER_FIGURE4_R2: readonly number[] = [0.75, 0.84]

export const paperTable1Row = (model: ModelId): PaperTable1Row | undefined => PAPER_TABLE1.find((r) => r.model === model)
export const paperTable2Row = (model: ModelId, init: "random" | "transfer"): PaperTable2Row | undefined =>
  PAPER_TABLE2.find((r) => r.model === model && r.init === init)
export const paperTable3Row = (model: ModelId): PaperTable3Row | undefined => PAPER_TABLE3.find((r) => r.model === model)
