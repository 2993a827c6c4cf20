// A stage is a value: a kind (code + parameter and result schemas + run) instantiated
// as nodes with an id, parameter values, upstream inputs, external files and resources.
// The engine never looks inside `run`; it only hands it a fresh directory and reads
// back the result, so a stage can be planned, fingerprinted, explained and executed
// anywhere (inline, in a worker process, on a cluster) without knowing where.
import * as Data from "effect/Data"
import type * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { fileURLToPath } from "node:url"
import { describeParseError } from "./schema-errors.ts"

/** What a node occupies while it runs; the scheduler never exceeds the run's slots. */
export interface Resources {
  /** CPU slots (one slot = one busy core). */
  readonly cpu: number
  /** GPU slots. */
  readonly gpu: number
  /** Memory hint in MiB, used by cluster executors. */
  readonly memoryMiB?: number
}

export const defaultResources: Resources = { cpu: 1, gpu: 0 }

/** A finished upstream stage as its dependants see it: its directory (read-only) and typed result. */
export interface Upstream<R> {
  readonly id: string
  readonly dir: string
  readonly fingerprint: string
  readonly result: R
}

export interface Progress {
  /** `done` of `total` units (steps, images...) finished; the engine adds rate and ETA. */
  (done: number, total: number, unit?: string): void
}

export interface StageContext<P, I> {
  readonly id: string
  readonly params: P
  /** Fresh, empty directory: everything the stage produces goes here. It becomes the artifact only if run succeeds. */
  readonly outDir: string
  /**
   * A directory that survives failed or killed attempts of this same fingerprint (for
   * checkpoints a rerun resumes from); removed once the artifact is committed.
   */
  readonly scratchDir: string
  readonly inputs: { readonly [K in keyof I]: Upstream<I[K]> }
  /** Declared external files or directories, by name (already hashed into the fingerprint). */
  readonly files: Readonly<Record<string, string>>
  /** Appends a line to the stage's log (kept beside the artifact). */
  readonly log: (line: string) => void
  readonly progress: Progress
  /** Aborted when the run is interrupted (Ctrl-C, a failing sibling in strict mode, a killed driver). */
  readonly signal: AbortSignal
}

/** The failure a stage reports for a reason it understands (bad input, diverged training...). */
export class StageFailure extends Data.TaggedError("StageFailure")<{
  readonly message: string
  readonly cause?: unknown
}> {}

/**
 * Where the local scheduler runs a node: "worker" in a worker process (heavy compute: a
 * single-threaded backend then gets a core of its own, a crash cannot take the driver
 * down), "inline" in the driver (light stages, where a process start would dominate). The
 * local executors carry the same two names (executors/local.ts); a node that needs a GPU
 * always runs on a worker. The Slurm scheduler runs every node as a job.
 */
export type Isolation = "worker" | "inline"

export interface StageKind<P, PI, R, RI, I> {
  readonly kind: string
  readonly isolation: Isolation
  /** Absolute path of the module that defines the kind: its source and local imports are the stage's code. */
  readonly module: string
  readonly params: Schema.Schema<P, PI>
  readonly result: Schema.Schema<R, RI>
  /** Things outside code and data that change results (backend, library versions), evaluated at plan time. */
  readonly environment?: (params: P) => Record<string, string>
  /**
   * The files under each declared directory that `run` reads, when that is fewer than all
   * of them (absolute paths, by declared name): only these are hashed into the fingerprint,
   * so files the stage never opens rerun nothing. Evaluated when planning; if it fails the
   * whole directory is hashed instead (and `run` then fails with the reader's own error).
   */
  readonly reads?: (params: P, files: Readonly<Record<string, string>>) => Promise<Readonly<Record<string, readonly string[]>>>
  readonly run: (ctx: StageContext<P, I>) => Effect.Effect<R, StageFailure>
  /** Makes a node of this kind. */
  readonly make: (node: NodeArgs<P, I>) => StageNode<R>
}

export interface NodeArgs<P, I> {
  readonly id: string
  readonly params: P
  readonly inputs: { readonly [K in keyof I]: StageNode<I[K]> }
  readonly files?: Readonly<Record<string, string>>
  readonly resources?: Partial<Resources>
  /** Overrides the kind's isolation for this node. */
  readonly isolation?: Isolation
  /**
   * Expected run time in seconds, for the local scheduler's order (longest remaining path
   * first) when the store has no recorded duration for this id yet.
   */
  readonly estimatedSeconds?: number
  /** Links the engine keeps pointing at this node's current artifact: link path (relative to the project root) -> path inside the artifact. */
  readonly links?: Readonly<Record<string, string>>
  /** Free-form labels for selection and reports (e.g. { table: "1" }). */
  readonly tags?: Readonly<Record<string, string>>
}

/** A node of the graph. `R` is its result type; the phantom keeps inputs typed. */
export interface StageNode<R> {
  readonly id: string
  readonly kind: StageKind<any, any, any, any, any>
  readonly params: unknown
  readonly inputs: Readonly<Record<string, StageNode<unknown>>>
  readonly files: Readonly<Record<string, string>>
  readonly resources: Resources
  readonly isolation: Isolation
  readonly estimatedSeconds?: number
  readonly links: Readonly<Record<string, string>>
  readonly tags: Readonly<Record<string, string>>
  readonly _result?: R
}

export type AnyNode = StageNode<unknown>

const idPattern = /^[A-Za-z0-9][A-Za-z0-9._=+-]*(\/[A-Za-z0-9][A-Za-z0-9._=+-]*)*$/

/**
 * Declares a stage kind. `module` is the defining module's `import.meta.url`; its source
 * and everything it imports from the project go into the fingerprint of every node.
 */
export const defineStage = <P, PI, R, RI, I = {}>(def: {
  readonly kind: string
  readonly module: string
  readonly params: Schema.Schema<P, PI>
  readonly result: Schema.Schema<R, RI>
  readonly isolation?: Isolation
  readonly environment?: (params: P) => Record<string, string>
  readonly reads?: (params: P, files: Readonly<Record<string, string>>) => Promise<Readonly<Record<string, readonly string[]>>>
  readonly run: (ctx: StageContext<P, I>) => Effect.Effect<R, StageFailure>
}): StageKind<P, PI, R, RI, I> => {
  const module = def.module.startsWith("file:") ? fileURLToPath(def.module) : def.module
  const kind: StageKind<P, PI, R, RI, I> = {
    ...def,
    isolation: def.isolation ?? "inline",
    module,
    make: (args) => {
      if (!idPattern.test(args.id)) {
        throw new Error(`stage id "${args.id}" is not valid: use path segments of letters, digits and . _ = + - separated by "/"`)
      }
      // Validate eagerly so a bad profile fails at plan time, naming the stage.
      const checked = Either.flatMap(Schema.encodeEither(def.params, { errors: "all" })(args.params), Schema.decodeUnknownEither(def.params, { errors: "all" }))
      if (Either.isLeft(checked)) throw new Error(`stage ${args.id}: invalid parameters: ${describeParseError(checked.left, "params")}`)
      return {
        id: args.id,
        kind: kind as StageKind<any, any, any, any, any>,
        params: args.params,
        inputs: args.inputs as Record<string, AnyNode>,
        files: args.files ?? {},
        resources: { ...defaultResources, ...args.resources },
        isolation: args.isolation ?? def.isolation ?? "inline",
        ...(args.estimatedSeconds === undefined ? {} : { estimatedSeconds: args.estimatedSeconds }),
        links: args.links ?? {},
        tags: args.tags ?? {},
      }
    },
  }
  return kind
}

/** Encoded (JSON-safe) parameter values of a node, as they enter the fingerprint and the manifest. */
export const encodedParams = (node: AnyNode): unknown => Schema.encodeSync(node.kind.params)(node.params)
