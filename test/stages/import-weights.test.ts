// The import-weights stage on Keras-layout *_notop.h5 files (issue 16): a ResNet-50 and an
// Inception-v3 file written by test/fixtures/keras_notop.py with h5py, from keras.applications'
// layer names and shapes (written out there independently of models/), filled with seeded
// values. Checks that every weighted layer maps, that values land in the right tensors, that
// the parameter counts are those Table 1 prints as ours, and that a file missing a layer or
// built at another width fails naming the layer and the fix. The files (~90 MB each) are
// written at test time into a temp dir; without python3 + h5py the test skips, saying so.
import { test } from "uvu"
import * as assert from "uvu/assert"
import { spawnSync } from "node:child_process"
import { mkdirSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { importKerasWeights } from "../../stages/import-weights.ts"
import { FINAL_WEIGHTS, INIT_WEIGHTS, type TrainedResult } from "../../stages/training.ts"
import { readTensorFile } from "../../ml/checkpoint.ts"
import { paramCounts } from "../../models/count.ts"
import { hashFile } from "../../pipeline/canonical.ts"
import { pretrainedEntry } from "../../stages/report.ts"

const script = resolve(import.meta.dirname, "../fixtures/keras_notop.py")
// pyenv and the like can shadow the distribution's python3 (where apt puts python3-h5py).
const python = ["python3", "/usr/bin/python3"].find((py) => spawnSync(py, ["-c", "import h5py"]).status === 0)

interface Written { layers: string[]; trainable: number; total: number; spot: { layer: string; weight: string; index: number; value: number }[] }

const dir = mkdtempSync(join(tmpdir(), "transfusion-import-"))
test.after(() => rmSync(dir, { recursive: true, force: true }))

const writeNotop = (arch: "resnet50" | "inception_v3", name: string, extra: string[] = []): { path: string; written: Written } => {
  const path = join(dir, name)
  const r = spawnSync(python!, [script, arch, path, ...extra], { encoding: "utf8", maxBuffer: 1 << 24 })
  if (r.status !== 0) throw new Error(`${script} ${arch} failed: ${r.stderr}`)
  return { path, written: JSON.parse(r.stdout) as Written }
}

type Arch = "resnet50" | "inception-v3"
const runImport = async (arch: Arch, weights: string, widthMultiplier = 1) => {
  const outDir = join(dir, `out-${arch}-${widthMultiplier}-${Math.random().toString(36).slice(2)}`)
  mkdirSync(outDir)
  const log: string[] = []
  const ctx = {
    id: `import-weights/${arch}`,
    params: { arch, widthMultiplier, inputSize: arch === "inception-v3" ? 75 : 32, backend: "cpu" as const },
    outDir,
    scratchDir: join(outDir, "scratch"),
    inputs: {},
    files: { weights },
    log: (line: string) => log.push(line),
    progress: () => {},
    signal: new AbortController().signal,
  }
  const result = await Effect.runPromise(Effect.either(importKerasWeights.run(ctx)))
  return { result, outDir, log }
}

/** The saved weights by "<layer>/<weight>" (the checkpoint's own names, with the model prefix dropped). */
const savedWeights = async (path: string): Promise<Map<string, { shape: readonly number[]; data: Float32Array }>> => {
  const { tensors } = await readTensorFile(path)
  return new Map(tensors.map((t) => [t.name.replace(/^model\//, ""), { shape: t.shape, data: t.data as Float32Array }]))
}

const close = (a: number, b: number) => Math.abs(a - b) <= 1e-7 * Math.max(1, Math.abs(b))

const checkImported = async (arch: Arch, path: string, written: Written, modelLayer: (fileLayer: string) => string) => {
  const { result, outDir, log } = await runImport(arch, path)
  if (Either.isLeft(result)) throw new Error(`import failed: ${result.left.message}`)
  const r: TrainedResult = result.right
  // Every weighted layer of the file maps onto the model, and nothing else stays random but the head.
  assert.is(r.init.pretrained, written.layers.length, `${arch}: layers imported`)
  assert.is(r.init.random, 1, `${arch}: only the 1000-way head is left random`)
  assert.equal(r.imported, { file: path.split("/").pop(), sha256: hashFile(path).sha256 })
  assert.equal(r.test, {}, "no ImageNet metrics of ours for imported weights")
  assert.match(log.join("\n"), new RegExp(`imported ${written.layers.length} layers from .* \\(sha256 [0-9a-f]{64}\\)`))
  // The report takes it as imported weights (file and hash), not as a pretraining without metrics.
  const common = { model: arch, seed: r.spec.seed, dataSource: "real" as const }
  assert.equal(pretrainedEntry(common, `import-weights/${arch}`, r), { ...common, origin: "imported", file: r.imported!.file, sha256: r.imported!.sha256 })
  const { imported: _, ...notImported } = r
  assert.throws(() => pretrainedEntry(common, "pretrain/x", notImported), /pretrained .* \(pretrain\/x\) has no ImageNet accuracy\/top5 in its test metrics \(none\) and is not imported/)
  // The parameter counts Table 1 prints as ours are the file's (the paper's own 23,570,408 /
  // 22,881,424 match no standard count: models/count.ts).
  assert.equal({ trainable: written.trainable, total: written.total }, { trainable: paramCounts(arch).trainable, total: paramCounts(arch).total })
  const saved = await savedWeights(join(outDir, FINAL_WEIGHTS))
  const init = await savedWeights(join(outDir, INIT_WEIGHTS))
  let sum = 0
  for (const [name, w] of saved) if (!name.startsWith("head/")) sum += w.data.length
  assert.is(sum, written.total, `${arch}: weights saved without the head`)
  assert.ok(written.spot.length >= 6)
  for (const s of written.spot) {
    const key = `${modelLayer(s.layer)}/${s.weight}`
    const w = saved.get(key)
    assert.ok(w, `${key} (file layer ${s.layer}) is in the saved weights`)
    assert.ok(close(w!.data[s.index]!, s.value), `${key}[${s.index}] = ${w!.data[s.index]} but the file has ${s.value}`)
    assert.ok(close(init.get(key)!.data[s.index]!, s.value), `${key}: the init weights are the imported ones too`)
  }
}

test("ResNet-50: every layer of a Keras resnet50 notop file lands in its tensor, counts match, the result names the file and its sha256", async () => {
  if (!python) return console.log("  skipped: no python3 with h5py (apt-get install python3-h5py)")
  const { path, written } = writeNotop("resnet50", "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5")
  assert.is(written.layers.length, 106) // 53 convolutions + 53 batch norms
  await checkImported("resnet50", path, written, (l) => l)
})

test("Inception-v3: the released file's Keras 2.0 names (conv2d_1 ... conv2d_94) map onto tf.keras's (conv2d ... conv2d_93), as do tf.keras's own", async () => {
  if (!python) return console.log("  skipped: no python3 with h5py (apt-get install python3-h5py)")
  const released = writeNotop("inception_v3", "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5")
  assert.is(released.written.layers.length, 188)
  assert.equal(released.written.layers.slice(0, 2), ["conv2d_1", "batch_normalization_1"])
  // Keras 2.0 base_k is tf.keras base_(k-1), base_1 being the bare base.
  const fromOneBased = (l: string) => l.replace(/^(conv2d|batch_normalization)_(\d+)$/, (_, base: string, k: string) => (k === "1" ? base : `${base}_${Number(k) - 1}`))
  await checkImported("inception-v3", released.path, released.written, fromOneBased)
  rmSync(released.path)
  const zeroBased = writeNotop("inception_v3", "inception_v3_tf_keras_notop.h5", ["--zero-based"])
  assert.equal(zeroBased.written.layers.slice(0, 3), ["conv2d", "batch_normalization", "conv2d_1"])
  await checkImported("inception-v3", zeroBased.path, zeroBased.written, (l) => l)
  rmSync(zeroBased.path)
})

test("a file missing a layer, or a model at another width, fails naming the layer and the fix", async () => {
  if (!python) return console.log("  skipped: no python3 with h5py (apt-get install python3-h5py)")
  const { path } = writeNotop("resnet50", "resnet50_missing_notop.h5", ["--drop", "conv3_block2_2_conv"])
  const missing = await runImport("resnet50", path)
  assert.ok(Either.isLeft(missing.result), "a file without conv3_block2_2_conv must not import")
  if (Either.isLeft(missing.result)) {
    const m = missing.result.left.message
    assert.match(m, /importing resnet50 weights: .*resnet50_missing_notop\.h5: the model's layer "conv3_block2_2_conv" is not in the file/)
    assert.match(m, /Fix: point importedWeights\.resnet50 at the Keras resnet50_weights_tf_dim_ordering_tf_kernels_notop\.h5/)
  }
  rmSync(path)
  const full = writeNotop("resnet50", "resnet50_full_notop.h5")
  const narrow = await runImport("resnet50", full.path, 0.5)
  assert.ok(Either.isLeft(narrow.result), "a half-width model must not take full-width weights")
  if (Either.isLeft(narrow.result)) {
    assert.match(narrow.result.left.message, /layer "conv1_conv" weight "kernel" has shape \[7x7x3x64\] in the file but \[7x7x3x32\] in the model/)
    assert.match(narrow.result.left.message, /run with widthMultiplier 1 \(now 0\.5\)/)
  }
  rmSync(full.path)
})

test.run()
