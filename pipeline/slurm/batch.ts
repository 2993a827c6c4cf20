// What one stage's job is: its sbatch flags (its resources, the run's settings, the jobs of
// its stale inputs) and the batch script that execs the CLI's `exec` verb.
import type { AnyNode } from "../stage.ts"
import type { SlurmSettings } from "./settings.ts"

const shellQuote = (s: string): string => `'${s.replaceAll("'", `'\\''`)}'`

/** A job's `--comment`: the project and the fingerprint, how a claimed job whose id was never recorded is found again. */
export const jobComment = (project: string, fingerprint: string): string => `${project} ${fingerprint}`

/** The `sbatch` flags for one stage: its resources, the settings, its upstream jobs. */
export const sbatchFlags = (
  node: AnyNode,
  settings: SlurmSettings,
  logPattern: string,
  cwd: string,
  afterOk: readonly string[],
  fingerprint: string,
  /** The project's name: with the fingerprint, the job's comment (what `squeue -o %k` shows). */
  project: string,
): string[] => {
  const r = node.resources
  const flags = [
    `--job-name=${node.id}`,
    `--comment=${jobComment(project, fingerprint)}`,
    `--output=${logPattern}`,
    `--chdir=${cwd}`,
    "--nodes=1",
    "--ntasks=1",
    `--cpus-per-task=${Math.max(1, Math.ceil(r.cpu))}`,
    // The job sees the driver's environment (as a local worker does), marked as a worker.
    "--export=ALL,TRANSFUSION_WORKER=1",
  ]
  if (r.gpu > 0) flags.push(`--gres=gpu:${r.gpu}`)
  if (r.memoryMiB !== undefined) flags.push(`--mem=${Math.ceil(r.memoryMiB)}M`)
  if (settings.partition) flags.push(`--partition=${settings.partition}`)
  if (settings.account) flags.push(`--account=${settings.account}`)
  if (settings.timeLimit) flags.push(`--time=${settings.timeLimit}`)
  if (afterOk.length) flags.push(`--dependency=afterok:${afterOk.join(":")}`)
  flags.push(...(settings.extraFlags ?? []))
  return flags
}

/**
 * The batch script: exec (not a child) so scancel's SIGTERM reaches the stage, which cleans
 * up. With `eventsDir`, the worker appends its events (progress...) to `<eventsDir>/<job id>.jsonl`.
 * A job given `gpus` GPUs (--gres) sees them as its devices 0..gpus-1 (Slurm sets
 * CUDA_VISIBLE_DEVICES), named to the stage as a local GPU worker's are (gpus.ts).
 */
export const batchScript = (node: string, execArgv: readonly string[], script: string, args: readonly string[], eventsDir?: string, gpus = 0): string =>
  `#!/bin/sh\n${eventsDir ? `TRANSFUSION_EVENTS_FILE=${shellQuote(eventsDir)}/"$SLURM_JOB_ID.jsonl"\nexport TRANSFUSION_EVENTS_FILE\n` : ""}${
    gpus > 0 ? `TRANSFUSION_GPU_DEVICE=${Array.from({ length: gpus }, (_, i) => i).join(",")}\nexport TRANSFUSION_GPU_DEVICE\n` : ""
  }exec ${[
    node,
    ...execArgv,
    script,
    ...args,
  ]
    .map(shellQuote)
    .join(" ")}\n`
