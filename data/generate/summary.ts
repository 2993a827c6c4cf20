// What a generator wrote, so tests and stages can check an ingest against it.

export interface LabelTally {
  positive: number
  negative: number
  /** -1.0 in the CSV, before any uncertainty policy. */
  uncertain: number
  blank: number
}

export const emptyTally = (): LabelTally => ({ positive: 0, negative: 0, uncertain: 0, blank: 0 })

/** Recorded by each synthetic generator: the best test metric its labels allow. */
export interface Ceiling {
  readonly metric: string
  readonly value: number
  /** Which images it was computed over. */
  readonly over: string
  readonly how: string
}

export interface GeneratedSummary {
  readonly format: "imagenet" | "eyepacs" | "chexpert"
  /** The directory to pass to ingest as `root`. */
  readonly root: string
  /** Image files written (all views, all splits). */
  readonly images: number
  readonly patients: number
  /** Single-label sets: images per class name, in class order. */
  readonly classCounts?: Readonly<Record<string, number>>
  /** Per source list (e.g. "train.csv", "valid.csv", "train", "val"): images per class. */
  readonly classCountsBySource?: Readonly<Record<string, Readonly<Record<string, number>>>>
  /** CheXpert: frontal images per CSV, and per CSV and finding how the CSV states it. */
  readonly frontalBySource?: Readonly<Record<string, number>>
  readonly labelCountsBySource?: Readonly<Record<string, Readonly<Record<string, LabelTally>>>>
  /** The generator's options after defaults, for the stage manifest. */
  readonly options: Readonly<Record<string, unknown>>
  /** The best test metric the generated labels allow, and how it was computed. */
  readonly ceiling?: Ceiling
}
