// Everything a verb needs, built once per invocation: the planned graph with every
// node's fingerprint, the store and its locks. Options shared by the verbs live here.
import * as Options from "@effect/cli/Options"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { resolve, join } from "node:path"
import { CodeHasher, FileHasher, fingerprintAll, listReads, recordedFileHashes, readFileHashes, type Fingerprinted } from "../fingerprint.ts"
import { ImportScanner } from "../imports.ts"
import { buildGraph, GraphError, selectNodes, type Graph } from "../graph.ts"
import { Locks } from "../lock.ts"
import { ConfigError, type ExecutorConfig, type Project } from "../project.ts"
import { Store } from "../store.ts"

export const profileOption = Options.text("profile").pipe(
  Options.withAlias("p"),
  Options.withDescription("profile to expand into the graph"),
  Options.optional,
)
export const configOption = Options.file("config").pipe(
  Options.withDescription("user config file overriding profile parameters (default: the project's own config file, when present)"),
  Options.optional,
)
export const storeOption = Options.directory("store").pipe(
  Options.withDescription("artifact store root (default: artifacts/)"),
  Options.optional,
)
export const jsonOption = Options.boolean("json").pipe(Options.withDescription("machine-readable output"))

export interface GlobalArgs {
  readonly profile: Option.Option<string>
  readonly config: Option.Option<string>
  readonly store: Option.Option<string>
}

export const globalOptions = { profile: profileOption, config: configOption, store: storeOption }

export interface Session {
  readonly project: Project
  readonly profile: string
  readonly configFile: string | undefined
  readonly graph: Graph
  readonly fps: Map<string, Fingerprinted>
  readonly overrides: readonly string[]
  readonly store: Store
  readonly locks: Locks
  /** The global options again, for worker processes and cluster jobs. */
  readonly argv: readonly string[]
  /** The config's executor choice, if any. */
  readonly executor: ExecutorConfig | undefined
}

export const storeFor = (project: Project, store: Option.Option<string>): Store =>
  new Store(resolve(Option.getOrElse(store, () => project.storeRoot)))

/** How a session learns the hashes of declared external files (datasets). */
export type FileHashing =
  /** Read them (a stat per file when cached): what `run` and the workers need. */
  | "read"
  /**
   * Take them from each stage's last artifact, reading nothing: the verbs that report
   * (`status`, `ls`, `show`, `diff`, `results`) must not walk a dataset. A dataset edited
   * since that artifact goes unnoticed there until `run`.
   */
  | "recorded"

export interface SessionOptions {
  /** Fingerprint only this stage and its upstreams (a worker needs no more, and starts faster). */
  readonly only?: string
  readonly files?: FileHashing
}

/** A profile planned into its graph, before anything is hashed. */
export interface PlannedGraph {
  readonly profile: string
  readonly configFile: string | undefined
  readonly graph: Graph
  readonly overrides: readonly string[]
  readonly executor: ExecutorConfig | undefined
}

/** Plans the profile into its graph, hashing nothing: enough for a structural verb (`dag`). */
export const planGraph = (project: Project, args: GlobalArgs): Effect.Effect<PlannedGraph, ConfigError> =>
  Effect.gen(function* () {
    const profile = Option.getOrElse(args.profile, () => project.defaultProfile)
    if (!project.profiles.includes(profile)) {
      return yield* new ConfigError({ message: `unknown profile "${profile}"; known profiles: ${project.profiles.join(", ")}` })
    }
    const configFile = Option.getOrUndefined(Option.map(args.config, (p) => resolve(p)))
    const planned = yield* project.plan({ profile, configFile })
    const graph = yield* Effect.try({
      try: () => buildGraph(planned.nodes),
      catch: (e) => new ConfigError({ message: e instanceof GraphError ? e.message : (e as Error).message }),
    })
    return { profile, configFile, graph, overrides: planned.overrides, executor: planned.executor }
  })

/** The store's locks, waiting at most TRANSFUSION_LOCK_TIMEOUT seconds for a live holder when that is set. */
export const locksFor = (store: Store, say: (line: string) => void): Effect.Effect<Locks, ConfigError> => {
  const lockWait = process.env.TRANSFUSION_LOCK_TIMEOUT
  const waitSeconds = lockWait === undefined || lockWait === "" ? undefined : Number(lockWait)
  if (waitSeconds !== undefined && !(waitSeconds > 0))
    return Effect.fail(new ConfigError({ message: `TRANSFUSION_LOCK_TIMEOUT="${lockWait}" is not a positive number of seconds` }))
  return Effect.succeed(new Locks(join(store.root, ".locks"), say, waitSeconds === undefined ? {} : { waitTimeoutMs: waitSeconds * 1000 }))
}

/** Plans the profile and fingerprints its nodes. */
export const openSession = (project: Project, args: GlobalArgs, say: (line: string) => void, options: SessionOptions = {}): Effect.Effect<Session, ConfigError> =>
  Effect.gen(function* () {
    const { only, files = "read" } = options
    const { profile, configFile, graph, overrides, executor } = yield* planGraph(project, args)
    const store = storeFor(project, args.store)
    const nodes = only ? selectNodes(graph, [only]) : graph.nodes
    // Which files under a dataset root its ingest reads (the CSV and the listed images).
    const reads = files === "read" ? yield* Effect.promise(() => listReads(nodes)) : new Map()
    const fps = yield* Effect.try({
      try: () =>
        fingerprintAll(
          nodes,
          new CodeHasher(project.root, project.codeHashIgnore, new ImportScanner(join(store.root, ".cache", "code-imports.json"))),
          files === "read" ? readFileHashes(new FileHasher(join(store.root, ".cache", "file-hashes.json")), reads) : recordedFileHashes(store),
        ),
      catch: (e) => new ConfigError({ message: e instanceof GraphError ? e.message : (e as Error).message }),
    })
    const locks = yield* locksFor(store, say)
    const argv = [
      "--profile",
      profile,
      ...(configFile ? ["--config", configFile] : []),
      "--store",
      store.root,
    ]
    return { project, profile, configFile, graph, fps, overrides, store, locks, argv, executor }
  })
