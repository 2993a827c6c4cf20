// The engine checks every stage's result against the stage's own result schema before it
// commits: a malformed result fails the stage, names the field, and leaves nothing in the
// store. The stages here run the real training stages' result schema (stages/training.ts).
import { test } from "uvu"
import * as assert from "uvu/assert"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { executeStage, upstreamsOf, type ExecEnv, type StageError } from "../../pipeline/execute.ts"
import { ENGINE_FORMAT, fingerprintOf, type Fingerprinted, type FingerprintParts } from "../../pipeline/fingerprint.ts"
import { Locks } from "../../pipeline/lock.ts"
import { defineStage, type AnyNode } from "../../pipeline/stage.ts"
import { Store } from "../../pipeline/store.ts"
import { fineTune } from "../../stages/finetune.ts"
import { TestScoresSchema, type TrainedResult } from "../../stages/training.ts"

/** A trained result as the fine-tuning stage returns it. */
const trained: TrainedResult = {
  spec: { arch: "cbr-tiny", inputSize: 32, widthMultiplier: 1, outputs: 5, outputActivation: "softmax", seed: 1 },
  blocks: [{ name: "conv1", output: "conv1/relu" }, { name: "head", output: "head" }],
  init: { scheme: "random", pretrained: 0, meanVar: 0, random: 4, gabor: 0 },
  test: { auc: 0.71, loss: 1.2 },
  curve: [{ step: 10, metrics: { auc: 0.64 } }],
  steps: 10,
  seconds: 2.5,
  backend: { name: "cpu", versions: { "@tensorflow/tfjs-core": "4.22.0" } },
  checkpoint: { choice: "last", step: 10 },
}

/** A stage that returns `result`, declared with the fine-tuning stage's result schema. */
const returning = (id: string, result: unknown): Fingerprinted => {
  const kind = defineStage({
    kind: "returns-a-trained-result",
    module: import.meta.url,
    params: Schema.Struct({}),
    result: fineTune.result,
    run: () => Effect.succeed(result as TrainedResult),
  })
  const node = kind.make({ id, params: {}, inputs: {} }) as AnyNode
  const parts: FingerprintParts = { id, kind: node.kind.kind, params: {}, code: {}, inputs: {}, files: {}, environment: {}, engine: ENGINE_FORMAT }
  return { node, fingerprint: fingerprintOf(parts), parts }
}

const withStore = async (body: (env: ExecEnv) => Promise<void>) => {
  const root = mkdtempSync(join(tmpdir(), "transfusion-result-schemas-"))
  try {
    await body({ store: new Store(join(root, "store")), locks: new Locks(join(root, "locks"), () => {}), reporter: { event: () => {} }, root })
  } finally {
    rmSync(root, { recursive: true, force: true })
  }
}

const failureOf = async (env: ExecEnv, target: Fingerprinted): Promise<StageError> => {
  const exit = await Effect.runPromiseExit(executeStage(env, target, new Map([[target.node.id, target]])))
  if (Exit.isSuccess(exit)) throw new Error(`${target.node.id} committed a result its schema should reject: ${JSON.stringify(exit.value.manifest.result)}`)
  const failure = Cause.failureOption((exit as Exit.Failure<unknown, StageError>).cause)
  if (Option.isNone(failure)) throw new Error(`${target.node.id} did not fail with a StageError: ${String(exit)}`)
  return failure.value
}

const nothingCommitted = (env: ExecEnv, target: Fingerprinted) => {
  assert.not.ok(env.store.isComplete(target.node.id, target.fingerprint), "no artifact is complete")
  assert.not.ok(existsSync(env.store.artifactDir(target.node.id, target.fingerprint)), "no artifact directory")
  const temp = join(env.store.root, ".tmp")
  assert.equal(existsSync(temp) ? readdirSync(temp) : [], [], "the attempt's temp directory is gone")
}

test("a malformed result is rejected at commit with the field named, and nothing is committed", async () => {
  await withStore(async (env) => {
    const target = returning("finetune/bad-auc", { ...trained, test: { auc: "x", loss: 1.2 } })
    const error = await failureOf(env, target)
    assert.is(error.failure.reason, "invalid-result")
    assert.match(error.message, 'result.test.auc: Expected number, actual "x"')
    nothingCommitted(env, target)
    // The failed attempt's log is kept, with the reason, as for any failed stage.
    assert.ok(error.logPath && readFileSync(error.logPath, "utf8").includes("result.test.auc"), "the kept log says why")
  })
})

test("every malformed field is named, nested ones by their path, and a field the schema lacks too", async () => {
  await withStore(async (env) => {
    const { step: _dropped, ...checkpoint } = trained.checkpoint
    const target = returning("finetune/several", { ...trained, checkpoint, curve: [{ step: 1.5, metrics: {} }], testScore: "test-scores.json" })
    const error = await failureOf(env, target)
    assert.is(error.failure.reason, "invalid-result")
    assert.match(error.message, "result.checkpoint.step: is missing")
    assert.match(error.message, "result.curve[0].step: Expected an integer, actual 1.5")
    assert.match(error.message, "result.testScore: is unexpected")
    nothingCommitted(env, target)
  })
})

test("a well-formed result commits; an undefined metric is stored as null and read back as NaN", async () => {
  await withStore(async (env) => {
    const target = returning("finetune/good", { ...trained, test: { auc: Number.NaN, loss: 1.2 } })
    const exit = await Effect.runPromiseExit(executeStage(env, target, new Map([[target.node.id, target]])))
    assert.ok(Exit.isSuccess(exit), "committed")
    assert.equal((env.store.readManifest(target.node.id, target.fingerprint)!.result as TrainedResult).test, { auc: null, loss: 1.2 })
    // A dependant sees the number the stage returned.
    const dependant = { ...target, node: { ...target.node, id: "downstream", inputs: { run: target.node } } }
    const { run } = upstreamsOf(env.store, dependant, new Map([[target.node.id, target]]))
    assert.ok(Number.isNaN((run!.result as TrainedResult).test.auc), "NaN again")
  })
})

test("per-image test scores: the widths must agree with the counts, and a null label (a finding left out) reads", () => {
  const decode = Schema.decodeUnknownEither(TestScoresSchema, { errors: "all" })
  const good = { patients: ["p1", "p2"], paths: ["a.png", "b.png"], labels: [2, null], labelWidth: 1, scores: [0.9, 0.1], scoreWidth: 1 }
  assert.ok(Either.isRight(decode(good)))
  const short = decode({ ...good, scores: [0.9] })
  assert.ok(Either.isLeft(short))
  assert.match(String(short.left), "2 patients, 2 paths, 2 labels (1 per image) and 1 scores (1 per image) do not agree")
  assert.ok(Either.isLeft(decode({ ...good, labelWidth: 0 })))
})

test("invalid parameters fail at plan time with every field named by its path", () => {
  const kind = defineStage({
    kind: "takes-settings",
    module: import.meta.url,
    params: Schema.Struct({ steps: Schema.Int, training: Schema.Struct({ rate: Schema.Number }) }),
    result: Schema.Struct({}),
    run: () => Effect.succeed({}),
  })
  assert.throws(
    () => kind.make({ id: "x/bad", params: { steps: 1.5, training: { rate: "fast" } } as never, inputs: {} }),
    (e: Error) => e.message === 'stage x/bad: invalid parameters: params.steps: Expected an integer, actual 1.5; params.training.rate: Expected number, actual "fast"',
  )
})

test.run()
