// `transfusion similarity <a.parquet> <b.parquet>`: every similarity measure between
// two activation files of the same probe datapoints.
import { type SimilarityOptions, similarities } from "./cca.ts"
import { type ReadMatrixOptions, readActivationMatrix } from "./activation-files.ts"

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

/** Compares two activation files (.parquet, .npy, .npz; see activation-files.ts) over the same datapoints. */
export const compareActivationFiles = async (a: string, b: string, options: SimilarityOptions & ReadMatrixOptions = {}): Promise<FileComparison> => {
  const [ta, tb] = await Promise.all([readActivationMatrix(a, options), readActivationMatrix(b, options)])
  if (ta.datapoints !== tb.datapoints)
    throw new Error(
      `cannot compare ${a} (${ta.neurons} neurons x ${ta.datapoints} datapoints) with ${b} (${tb.neurons} neurons x ${tb.datapoints} datapoints): ` +
        `similarity needs the same datapoints in both; dump both layers from the same probe set with the same reduction and seed` +
        (options.datapointsFirst ? "" : " (for datapoints x neurons arrays pass --datapoints-first)"),
    )
  const pa = ta.positions, pb = tb.positions
  if (pa && pb)
    for (let r = 0; r < ta.datapoints; r++) {
      if (pa.image[r] !== pb.image[r] || pa.y[r] !== pb.y[r] || pa.x[r] !== pb.x[r])
        throw new Error(
          `cannot compare ${a} with ${b}: row ${r} is (image ${pa.image[r]}, y ${pa.y[r]}, x ${pa.x[r]}) in the first but ` +
            `(image ${pb.image[r]}, y ${pb.y[r]}, x ${pb.x[r]}) in the second; dump both from the same probe set with the same ` +
            `reduction and seed (subsampled positions follow the seed and the activation shape)`,
        )
    }
  const rows = ta.datapoints
  const s = await similarities(ta, tb, options)
  const warnings: string[] = []
  const perNeuron = rows / Math.max(ta.neurons, tb.neurons)
  if (perNeuron < 10)
    warnings.push(`only ${perNeuron.toFixed(1)} datapoints per neuron (fewer than 10): canonical correlations are biased upward; dump more probe images or positions`)
  return {
    cca_mean: s.cca.mean, svcca: s.svcca.mean, pwcca: s.pwcca.pwcca, cka: s.cka,
    neuronsA: ta.neurons, neuronsB: tb.neurons, rows,
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
