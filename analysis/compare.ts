// `transfusion similarity <a.parquet> <b.parquet>`: every similarity measure between
// two activation files of the same probe datapoints.
import { type SimilarityOptions, similarities } from "./cca.ts"
import { readActivationTable } from "./parquet.ts"

export interface FileComparison {
  /** The reference's thresholded mean CCA correlation. */
  readonly cca_mean: number
  /** SVCCA: thresholded mean CCA correlation after the 99%-variance SVD reduction. */
  readonly svcca: number
  readonly pwcca: number
  /** Linear CKA. */
  readonly cka: number
  readonly neuronsA: number
  readonly neuronsB: number
  readonly rows: number
  /** Singular directions kept by SVCCA on each side. */
  readonly svccaDirectionsA: number
  readonly svccaDirectionsB: number
  /** Caveats worth printing (e.g. too few datapoints per neuron). */
  readonly warnings: readonly string[]
}

/** Compares two files written by writeActivationTable/dumpActivations; their rows must be the same datapoints. */
export const compareActivationFiles = async (a: string, b: string, options: SimilarityOptions = {}): Promise<FileComparison> => {
  const [ta, tb] = await Promise.all([readActivationTable(a), readActivationTable(b)])
  if (ta.rows !== tb.rows)
    throw new Error(
      `cannot compare ${a} (${ta.rows} rows) with ${b} (${tb.rows} rows): similarity needs the same datapoints in both; ` +
        `dump both layers from the same probe set with the same reduction and seed`,
    )
  for (let r = 0; r < ta.rows; r++) {
    if (ta.image[r] !== tb.image[r] || ta.y[r] !== tb.y[r] || ta.x[r] !== tb.x[r])
      throw new Error(
        `cannot compare ${a} with ${b}: row ${r} is (image ${ta.image[r]}, y ${ta.y[r]}, x ${ta.x[r]}) in the first but ` +
          `(image ${tb.image[r]}, y ${tb.y[r]}, x ${tb.x[r]}) in the second; dump both from the same probe set with the same ` +
          `reduction and seed (subsampled positions follow the seed and the activation shape)`,
      )
  }
  const s = await similarities({ data: ta.data, neurons: ta.neurons, datapoints: ta.rows }, { data: tb.data, neurons: tb.neurons, datapoints: tb.rows }, options)
  const warnings: string[] = []
  const perNeuron = ta.rows / Math.max(ta.neurons, tb.neurons)
  if (perNeuron < 10)
    warnings.push(`only ${perNeuron.toFixed(1)} datapoints per neuron (fewer than 10): canonical correlations are biased upward; dump more probe images or positions`)
  return {
    cca_mean: s.cca.mean, svcca: s.svcca.mean, pwcca: s.pwcca.pwcca, cka: s.cka,
    neuronsA: ta.neurons, neuronsB: tb.neurons, rows: ta.rows,
    svccaDirectionsA: s.svcca.directionsX, svccaDirectionsB: s.svcca.directionsY,
    warnings,
  }
}

/** Plain-text report of a comparison for `transfusion similarity` (the --json form is the object itself). */
export const formatFileComparison = (r: FileComparison, a: string, b: string): string =>
  [
    `${a} (${r.neuronsA} neurons) vs ${b} (${r.neuronsB} neurons) over ${r.rows} datapoints`,
    `  CCA mean    ${r.cca_mean.toFixed(4)}`,
    `  SVCCA       ${r.svcca.toFixed(4)}   (${r.svccaDirectionsA} and ${r.svccaDirectionsB} directions kept for 99% of variance)`,
    `  PWCCA       ${r.pwcca.toFixed(4)}`,
    `  linear CKA  ${r.cka.toFixed(4)}`,
    ...r.warnings.map((w) => `  warning: ${w}`),
  ].join("\n")
