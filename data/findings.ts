// The five CheXpert findings the paper (and the CheXpert competition) scores: the one list.
// `CHEXPERT_FINDINGS` are the CSV column names, which are also the paper's display names;
// `findingKey` gives the report's keys ("pleural-effusion"). Everything else derives from these.

/** In the paper's Table 2 column order. */
export const CHEXPERT_FINDINGS = ["Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Pleural Effusion"] as const
export type ChexpertFinding = (typeof CHEXPERT_FINDINGS)[number]

type Kebab<S extends string> = S extends `${infer Head} ${infer Tail}` ? `${Head}-${Kebab<Tail>}` : S
/** A finding as the report keys it: lower case, spaces as hyphens. */
export type FindingKey = Kebab<Lowercase<ChexpertFinding>>

export const findingKey = <F extends ChexpertFinding>(finding: F): Kebab<Lowercase<F>> =>
  finding.toLowerCase().replaceAll(" ", "-") as Kebab<Lowercase<F>>

export const FINDING_KEYS: readonly FindingKey[] = CHEXPERT_FINDINGS.map(findingKey)

/** Report key -> the paper's name (= the CSV column). */
export const FINDING_NAMES = Object.fromEntries(CHEXPERT_FINDINGS.map((f) => [findingKey(f), f])) as Record<FindingKey, ChexpertFinding>

/** CSV column -> report key, for the columns that are competition findings. */
export const findingKeyOf = (column: string): FindingKey | undefined =>
  (CHEXPERT_FINDINGS as readonly string[]).includes(column) ? findingKey(column as ChexpertFinding) : undefined
