// One paper-shaped fine-tune on the chosen backend, for bench/gpu-check.sh: the paper's
// RETINA fine-tuning settings (ResNet-50 at full width, 224 px, batch 32, Adam 1e-3, flips)
// on an in-memory, learnable stand-in (grade = brightness of a central disc, flip-invariant,
// so the loss can fall), then the test-split evaluation. Prints img/s of the training steps and the metrics.
// `node --import tsx bench/gpu-finetune.ts --backend webgpu --steps 200 [--size 224 --batch 32 --width 1 --arch resnet50]`
import { memoryImageSet } from "../data/imageset.ts"
import { Rng } from "../lib/random.ts"
import { BACKEND_REQUESTS, formatBackend, selectBackend, type BackendRequest } from "../ml/backend.ts"
import { evaluate, retinaTask, train } from "../ml/train.ts"
import { flopsPerImage } from "../models/count.ts"
import { ARCH_NAMES, buildModel, type ArchName } from "../models/index.ts"

const args = process.argv.slice(2)
const option = (name: string, fallback: string): string => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : fallback
}
const backend = option("backend", "webgpu") as BackendRequest
const arch = option("arch", "resnet50") as ArchName
const [steps, size, batch, width] = [Number(option("steps", "200")), Number(option("size", "224")), Number(option("batch", "32")), Number(option("width", "1"))]
if (!BACKEND_REQUESTS.includes(backend)) throw new Error(`--backend ${backend} is none of ${BACKEND_REQUESTS.join(", ")}`)
if (!ARCH_NAMES.includes(arch)) throw new Error(`--arch ${arch} is none of ${ARCH_NAMES.join(", ")}`)
for (const [k, v] of Object.entries({ steps, size, batch, width })) if (!(v > 0)) throw new Error(`--${k} must be a positive number`)

/** `count` images whose grade (0-4) sets the brightness of a central disc; seeded. */
const standIn = (count: number, seed: string) => {
  const r = new Rng(seed)
  const pixels = new Uint8Array(count * size * size * 3)
  const labels = new Float32Array(count)
  for (let n = 0; n < count; n++) {
    const grade = r.int(5)
    labels[n] = grade
    for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) for (let c = 0; c < 3; c++) {
      const base = (x - size / 2) ** 2 + (y - size / 2) ** 2 < (size / 3) ** 2 ? 40 + grade * 45 : 120
      pixels[((n * size + y) * size + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(base + r.normal(0, 20))))
    }
  }
  return memoryImageSet({ height: size, width: size, labels: { kind: "class", classes: 5 }, pixels, labelValues: labels, patients: Array.from({ length: count }, (_, i) => `p${i}`) })
}

const info = await selectBackend(backend)
console.log(`backend ${formatBackend(info)}`)
const trainSet = standIn(Math.max(4 * batch, 128), "train"), testSet = standIn(Math.max(batch, 64), "test")
const built = buildModel({ arch, inputSize: size, widthMultiplier: width, outputs: 5, outputActivation: "softmax", seed: 1 })
const started = performance.now()
let warm = started, warmStep = 0
const result = await train({
  model: built.model, train: trainSet, task: retinaTask(), optimizer: { kind: "adam", learningRate: 1e-3 }, batchSize: batch, steps, seed: 1, flip: true,
  onProgress: (p) => {
    // the first steps compile shaders: time from step 2 on
    if (p.step === Math.min(2, steps)) [warm, warmStep] = [performance.now(), p.step]
    if (p.step % 20 === 0 || p.step === steps) console.log(`step ${p.step}/${steps} loss ${p.loss.toFixed(4)}`)
  },
})
const seconds = (performance.now() - warm) / 1000
const imagesPerSec = ((result.steps - warmStep) * batch) / seconds
const evaluation = await evaluate(built.model, testSet, retinaTask())
console.log(`fine-tune ${arch} x${width} ${size}px batch ${batch}: ${result.steps} steps in ${((performance.now() - started) / 1000).toFixed(1)} s; ` +
  `${imagesPerSec.toFixed(1)} img/s after warm-up, ${((3 * flopsPerImage(built) * imagesPerSec) / 1e9).toFixed(2)} GFLOP/s eff.; ` +
  `loss ${result.losses[0]?.toFixed(4)} -> ${result.losses.at(-1)?.toFixed(4)}; test ${JSON.stringify(evaluation.metrics)}`)
built.model.dispose()
