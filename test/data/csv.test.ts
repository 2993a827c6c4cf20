import { test } from "uvu"
import * as assert from "uvu/assert"
import { parseCsv, CsvSyntaxError } from "../../data/csv.ts"

test("rows keep their 1-based starting line through quotes, CRLF, blank lines and a BOM", () => {
  const text = '\ufeffa,b,c\r\n1,"x, y",3\r\n\r\n"multi\nline",2,"say ""hi"""\n4,,\n'
  const t = parseCsv(text)
  assert.equal(t.header, ["a", "b", "c"])
  assert.equal(t.rows.map((r) => r.line), [2, 4, 6])
  assert.equal(t.rows[0]!.fields, ["1", "x, y", "3"])
  assert.equal(t.rows[1]!.fields, ["multi\nline", "2", 'say "hi"'])
  assert.equal(t.rows[2]!.fields, ["4", "", ""])
})

test("a file without a trailing newline keeps its last row; ragged rows are returned as they are", () => {
  const t = parseCsv("a,b\n1,2\n3")
  assert.equal(t.rows.map((r) => r.fields), [["1", "2"], ["3"]])
})

test("an unterminated quote names the line it starts on", () => {
  try {
    parseCsv('a,b\n1,2\n3,"oops\n4,5\n')
    assert.unreachable()
  } catch (e) {
    assert.instance(e, CsvSyntaxError)
    assert.is((e as CsvSyntaxError).line, 3)
  }
})

test.run()
