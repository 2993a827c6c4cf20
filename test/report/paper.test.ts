import { test } from "uvu"
import * as assert from "uvu/assert"
import { existsSync, readFileSync } from "node:fs"
import { PAPER_FIGURE4_R2, PAPER_TABLE1, PAPER_TABLE2, PAPER_TABLE3, type PaperValue } from "../../report/paper.ts"
import { MODEL_NAMES, PATHOLOGIES, type ModelId } from "../../report/types.ts"
import { TABLE1_LINES, TABLE2_LINES, TABLE3_LINES } from "./fixtures/paper-lines.ts"

// The paper writes "Resnet-50"/"Resnet50"; everything else matches MODEL_NAMES.
const modelOf = (paperName: string): ModelId => {
  const norm = paperName.replace(/^Resnet-?50$/, "ResNet-50")
  const id = (Object.keys(MODEL_NAMES) as ModelId[]).find((m) => MODEL_NAMES[m] === norm)
  if (!id) throw new Error(`unknown model ${paperName}`)
  return id
}
const parseValue = (cell: string): PaperValue => {
  const m = /^([\d.]+)%?(?: \\pm ([\d.]+))?$/.exec(cell.trim())
  if (!m) throw new Error(`cannot parse "${cell}"`)
  return { value: Number(m[1]), pm: m[2] === undefined ? null : Number(m[2]) }
}

test("Table 1 constants equal the paper's rows", () => {
  assert.is(PAPER_TABLE1.length, TABLE1_LINES.length)
  TABLE1_LINES.forEach((line, i) => {
    const [, model, random, transfer, params, top5] = line.split("\t")
    const row = PAPER_TABLE1[i]!
    assert.is(row.model, modelOf(model!))
    assert.equal(row.random, parseValue(random!))
    assert.equal(row.transfer, parseValue(transfer!))
    assert.is(row.parameters, Number(params))
    assert.equal(row.imagenetTop5, parseValue(top5!))
  })
})

test("Table 2 constants equal the paper's rows", () => {
  assert.is(PAPER_TABLE2.length, TABLE2_LINES.length)
  TABLE2_LINES.forEach((line, i) => {
    const [name, ...cells] = line.split("\t")
    const row = PAPER_TABLE2[i]!
    const trans = name!.endsWith(" (trans)")
    assert.is(row.model, modelOf(name!.replace(" (trans)", "")))
    assert.is(row.init, trans ? "transfer" : "random")
    PATHOLOGIES.forEach((p, k) => assert.equal(row.auc[p], parseValue(cells[k]!), `${name} ${p}`))
  })
})

test("Table 3 constants and Figure 4 R^2 equal the paper", () => {
  assert.is(PAPER_TABLE3.length, TABLE3_LINES.length)
  TABLE3_LINES.forEach((line, i) => {
    const [model, random, transfer] = line.split("\t")
    assert.is(PAPER_TABLE3[i]!.model, modelOf(model!))
    assert.equal(PAPER_TABLE3[i]!.random, parseValue(random!))
    assert.equal(PAPER_TABLE3[i]!.transfer, parseValue(transfer!))
  })
  assert.equal([...PAPER_FIGURE4_R2], [0.75, 0.84])
})

const paperFile = "/work/shared/paper/transfusion-paper.txt"
test("the copied lines occur verbatim in the paper text (when the paper file is available)", () => {
  if (!existsSync(paperFile)) return
  const text = readFileSync(paperFile, "utf8")
  for (const line of [...TABLE1_LINES, ...TABLE2_LINES, ...TABLE3_LINES]) assert.ok(text.includes(line), line)
  assert.ok(text.includes("$R^2 = 0.75, 0.84$"))
})

test.run()
