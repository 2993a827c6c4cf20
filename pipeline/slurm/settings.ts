// How a run talks to the cluster: the `--slurm-*` options, or the project config's
// `executor` with `"type": "slurm"`.
/** How a run talks to the cluster: `--slurm-*` options, or the project config's `executor`. */
export interface SlurmSettings {
  /** `sbatch --partition`; the cluster's default partition when absent. */
  readonly partition?: string
  /** `sbatch --account` (the allocation jobs are charged to). */
  readonly account?: string
  /** `sbatch --time` per job, in Slurm's syntax ("90", "2:00:00", "1-00:00:00"). */
  readonly timeLimit?: string
  /** Further `sbatch` flags, passed verbatim (e.g. ["--qos=high", "--constraint=a100"]). */
  readonly extraFlags?: readonly string[]
  /**
   * The artifact store for cluster runs: a path on a filesystem every node mounts at the
   * same place. The run's `--store` wins over it; without either, the project's default.
   */
  readonly store?: string
  /** Seconds between `squeue` polls. */
  readonly pollSeconds: number
  /** The node binary on the compute nodes; defaults to the driver's (`process.execPath`). */
  readonly node?: string
}

export const defaultSlurmSettings: SlurmSettings = { pollSeconds: 5 }
