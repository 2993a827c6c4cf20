// transfusion: the paper's project handed to the generic engine (pipeline/), plus two
// project verbs: `models` (Table 1's parameter counts, FLOPs) and `similarity` (any two dumps).
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { readFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { runCli } from "./pipeline/cli/main.ts"
import { CliFailure } from "./pipeline/cli/errors.ts"
import { detectGpuCount } from "./pipeline/gpus.ts"
import { ConfigError, type Project } from "./pipeline/project.ts"
import { ConfigProblem, profiles, resolveConfig } from "./stages/config.ts"
import { expandGraph } from "./stages/grid.ts"
import { resultsSpec } from "./stages/results.ts"

const root = dirname(fileURLToPath(import.meta.url))
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string }

const modelsCommand = Command.make(
  "models",
  { size: Options.integer("size").pipe(Options.withDescription("input side in pixels for FLOPs"), Options.withDefault(224)) },
  ({ size }) =>
    Effect.tryPromise({
      try: async () => {
        const { selectBackend } = await import("./ml/backend.ts")
        await selectBackend("auto")
        const { modelsTable } = await import("./models/count.ts")
        console.log(modelsTable(size))
      },
      catch: (e) => new CliFailure({ message: (e as Error).message }),
    }),
).pipe(Command.withDescription("parameter counts (Table 1 convention and true) and FLOPs of every architecture"))

const similarityCommand = Command.make(
  "similarity",
  {
    a: Args.file({ name: "a", exists: "yes" }).pipe(Args.withDescription("activation file: .parquet (a float column per neuron), .npy or .npz")),
    b: Args.file({ name: "b", exists: "yes" }),
    json: Options.boolean("json"),
    datapointsFirst: Options.boolean("datapoints-first").pipe(Options.withDescription(".npy/.npz arrays are datapoints x neurons (default: svcca's neurons x datapoints)")),
    npzKey: Options.text("npz-key").pipe(Options.withDescription("the array to read from a .npz holding several"), Options.optional),
  },
  ({ a, b, json, datapointsFirst, npzKey }) =>
    Effect.tryPromise({
      try: async () => {
        const { compareActivationFiles, formatFileComparison } = await import("./analysis/compare.ts")
        const r = await compareActivationFiles(a, b, { datapointsFirst, npzKey: Option.getOrUndefined(npzKey) })
        console.log(json ? JSON.stringify(r, null, 2) : formatFileComparison(r, a, b))
      },
      catch: (e) => new CliFailure({ message: (e as Error).message }),
    }),
).pipe(Command.withDescription("CCA mean, SVCCA, PWCCA and linear CKA between two activation files (.parquet, .npy, .npz)"))

export const project: Project = {
  name: "transfusion",
  version: pkg.version,
  root,
  storeRoot: join(root, "artifacts"),
  profiles: Object.keys(profiles),
  defaultProfile: "mini",
  codeHashIgnore: ["pipeline/"],
  entry: {
    script: join(root, "bin", "transfusion.mjs"),
    execArgv: [],
  },
  plan: ({ profile, configFile }) =>
    Effect.try({
      try: () => {
        const { config, overrides, experimentOverrides } = resolveConfig(profile, configFile, process.cwd())
        return { nodes: expandGraph(config, profile, experimentOverrides, process.cwd()), overrides, executor: config.executor }
      },
      catch: (e) => new ConfigError({ message: e instanceof ConfigProblem ? e.message : `${(e as Error).message}` }),
    }),
  // `run` without --gpus: TRANSFUSION_GPUS if set, else this machine's /dev/nvidia<N> devices,
  // so `run --profile paper` on a GPU box trains on its GPUs without flags.
  gpuCount: () => detectGpuCount("TRANSFUSION_GPUS"),
  results: ({ profile, configFile }) => resultsSpec(resolveConfig(profile, configFile, process.cwd()).config.convergence),
  commands: [modelsCommand, similarityCommand] as never,
}

runCli(project)
