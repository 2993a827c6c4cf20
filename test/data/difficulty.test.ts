// The retina stand-in's label is learnable from local evidence, and the difficulty
// knobs move that evidence: a hand-made lesion detector (dark or yellow spots that
// stand out from their neighbourhood) separates referable grades, less so when the
// lesions are faint. AUC is computed here by the rank-sum formula.
import { test } from "uvu"
import * as assert from "uvu/assert"
import { Rng } from "../../lib/random.ts"
import { drawFundus, eyepacsDefaults } from "../../data/generate/eyepacs.ts"
import { Raster } from "../../data/raster.ts"

/** Mann-Whitney AUC with ties counted half. */
const auc = (scores: number[], positive: boolean[]) => {
  let pairs = 0, wins = 0
  scores.forEach((s, i) => {
    if (!positive[i]) return
    scores.forEach((t, j) => {
      if (positive[j]) return
      pairs++
      wins += s > t ? 1 : s === t ? 0.5 : 0
    })
  })
  return wins / pairs
}

/**
 * Pixels inside the fundus whose green channel rises above a blurred copy by more than
 * `by`: exudates and cotton-wool spots (grade >= 2). Red lesions are left out because
 * vessels, whose contrast varies with exposure, look the same to so crude a detector.
 */
const lesionScore = (img: Raster, by = 25) => {
  const smooth = new Raster(img.width, img.height, 3)
  smooth.data.set(img.data)
  smooth.blur(4).blur(4)
  let n = 0
  for (let i = 0; i < img.data.length; i += 3) {
    if (smooth.data[i]! < 40) continue // outside the fundus
    if (img.data[i + 1]! - smooth.data[i + 1]! > by) n++
  }
  return n
}

const separability = (lesionContrast: number) => {
  const rng = new Rng("difficulty")
  const scores: number[] = [], referable: boolean[] = []
  for (let i = 0; i < 60; i++) {
    const grade = i % 5 // balanced here: the question is separability, not prevalence
    const img = drawFundus(grade, i % 2 ? 1 : -1, rng.fork(i), { ...eyepacsDefaults, size: 128, lesionContrast })
    scores.push(lesionScore(img))
    referable.push(grade >= 2)
  }
  return auc(scores, referable)
}

test("a simple bright-lesion detector separates referable retinas, and fainter lesions separate worse", () => {
  const strong = separability(1)
  const faint = separability(0.25)
  assert.ok(strong > 0.8, `AUC at default contrast ${strong.toFixed(3)}`)
  assert.ok(faint < strong - 0.05, `AUC faint ${faint.toFixed(3)} vs default ${strong.toFixed(3)}`)
})

test.run()
