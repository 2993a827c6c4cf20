// The synthetic RETINA's Bayes ceiling: checked where it is known in closed form.
import { test } from "uvu"
import * as assert from "uvu/assert"
import { mkdtemp, readFile, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Rng } from "../../lib/random.ts"
import { eyepacsDefaults, eyepacsLabels, generateEyepacs, lesionCounts, noisyGrade, referableScore, retinaCeiling } from "../../data/generate/eyepacs.ts"

const weights = eyepacsDefaults.gradeWeights

/** Eyes and written grades without drawing a pixel (the ceiling needs only the counts). */
const eyes = (n: number, knobs: { labelNoise: number; boundaryOverlap: number; lesionDistractors: number }, seed: string) => {
  const rng = new Rng(seed)
  const items = eyepacsLabels(rng.fork("labels"), n / 2, weights, 0.8)
  const lesions = items.map((it, i) => lesionCounts(it.grade, rng.fork(i).fork("lesions"), knobs))
  const grader = rng.fork("grader")
  const written = items.map((it) => noisyGrade(it.grade, grader, knobs.labelNoise))
  return { items, lesions, ceiling: retinaCeiling(lesions, written, { ...knobs, gradeWeights: weights }).value }
}

test("noiseless labels, no overlap, no look-alikes: the grade is visible, the ceiling is exactly 1", () => {
  const { items, lesions, ceiling } = eyes(4000, { labelNoise: 0, boundaryOverlap: 0, lesionDistractors: 0 }, "clean")
  assert.is(ceiling, 1)
  items.forEach((it, i) => assert.is(referableScore(lesions[i]!, weights, { labelNoise: 0, boundaryOverlap: 0, lesionDistractors: 0 }), it.grade >= 2 ? 1 : 0))
})

test("label noise only: the ceiling equals the closed-form AUC of P(written >= 2 | grade)", () => {
  const noise = 0.3
  // Grade g is written referable with probability r_g; a grade-perfect score ranks eyes by r_g.
  const r = [0, noise / 2, 1 - noise / 2, 1, 1]
  let pos = 0, neg = 0, wins = 0
  for (let g = 0; g < 5; g++) {
    for (let h = 0; h < 5; h++) {
      const pair = weights[g]! * r[g]! * weights[h]! * (1 - r[h]!)
      wins += r[g]! > r[h]! ? pair : r[g] === r[h] ? pair / 2 : 0
    }
    pos += weights[g]! * r[g]!
    neg += weights[g]! * (1 - r[g]!)
  }
  const expected = wins / (pos * neg)
  const { ceiling } = eyes(60_000, { labelNoise: noise, boundaryOverlap: 0, lesionDistractors: 0 }, "noisy")
  assert.ok(Math.abs(ceiling - expected) < 0.004, `ceiling ${ceiling}, closed form ${expected}`)
  assert.ok(expected < 0.99, `the closed form itself is below 1: ${expected}`)
})

test("overlapping grade 1/2 counts and lesion look-alikes lower the ceiling further", () => {
  const base = eyes(20_000, { labelNoise: 0.2, boundaryOverlap: 0, lesionDistractors: 0 }, "harder").ceiling
  const overlap = eyes(20_000, { labelNoise: 0.2, boundaryOverlap: 0.5, lesionDistractors: 0 }, "harder").ceiling
  const both = eyes(20_000, { labelNoise: 0.2, boundaryOverlap: 0.5, lesionDistractors: 2 }, "harder").ceiling
  assert.ok(overlap < base - 0.005 && both < overlap - 0.005, `${base} > ${overlap} > ${both}`)
})

test("the generator writes the noisy grades, records the ceiling and its label noise", async () => {
  const tmp = await mkdtemp(join(tmpdir(), "ceiling-test-"))
  try {
    const s = await generateEyepacs(tmp, { patients: 40, size: 24, seed: 3, labelNoise: 0.5, boundaryOverlap: 0.3, lesionDistractors: 1 })
    assert.is(s.options.labelNoise, 0.5)
    assert.ok(s.ceiling && s.ceiling.metric === "referable-auc" && s.ceiling.value > 0.5 && s.ceiling.value < 1, JSON.stringify(s.ceiling))
    const csv = (await readFile(join(tmp, "trainLabels.csv"), "utf8")).trim().split("\n").slice(1)
    const truth = eyepacsLabels(new Rng("eyepacs/3").fork("labels"), 40, weights, 0.8).map((it) => it.grade)
    const differ = csv.filter((line, i) => Number(line.split(",")[1]) !== truth[i]).length
    assert.ok(differ > 10 && differ < 60, `${differ} of 80 written grades differ from the truth at labelNoise 0.5`)
  } finally {
    await rm(tmp, { recursive: true, force: true })
  }
})

test("CheXpert's ceiling: exactly 1 where every label states the truth, below 1 when the labeler hedges", async () => {
  const { chexpertCeiling, chexpertColumns, chexpertObservations } = await import("../../data/generate/chexpert.ts")
  const truthOf = (on: boolean) => Object.fromEntries(chexpertObservations.map((o) => [o, on])) as never
  const row = (on: boolean, stated: string) => ({ truth: truthOf(on), frontal: true, cells: chexpertColumns.map((c, i) => (i < 5 ? c : stated)) })
  const exact = [row(true, "1.0"), row(false, "0.0"), row(true, "1.0"), row(false, "")]
  assert.is(chexpertCeiling(exact).value, 1)
  // One true positive stated uncertain: U-Zeros findings (3 of 5) read it as negative, U-Ones (2 of 5) as positive.
  const hedged = [row(true, "-1.0"), row(false, "0.0"), row(true, "1.0"), row(false, "")]
  // Labels [0,0,1,0] scored by truth [1,0,1,0]: the one positive (truth 1) beats 2 negatives and ties 1 -> (2 + 0.5) / 3.
  const zeros = (2 + 0.5) / 3
  close(chexpertCeiling(hedged).value, (3 * zeros + 2 * 1) / 5)
})

const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-12, `${a} vs ${b}`)

test.run()
