// A small RFC 4180 CSV reader that keeps 1-based line numbers, so every skip or
// error can name the exact line of the user's file. Quoted fields may hold commas,
// doubled quotes and newlines (CheXpert and Kaggle files are plain, but hand-edited
// copies saved by spreadsheets are not).

export interface CsvRow {
  /** 1-based line of the file on which the row starts (the header is line 1). */
  readonly line: number
  readonly fields: readonly string[]
}

export interface CsvTable {
  readonly header: readonly string[]
  readonly rows: readonly CsvRow[]
}

/** Thrown for an unterminated quote; other shape problems are judged by the caller per row. */
export class CsvSyntaxError extends Error {
  constructor(readonly line: number, message: string) {
    super(message)
    this.name = "CsvSyntaxError"
  }
}

export const parseCsv = (text: string): CsvTable => {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1) // Excel's BOM
  const records: CsvRow[] = []
  let fields: string[] = []
  let field = ""
  let line = 1
  let rowLine = 1
  let inQuotes = false
  let quoteLine = 0
  let i = 0
  const endRow = () => {
    fields.push(field)
    field = ""
    // Blank lines (a trailing newline, spacing) are not rows.
    if (!(fields.length === 1 && fields[0] === "")) records.push({ line: rowLine, fields })
    fields = []
  }
  while (i < text.length) {
    const ch = text[i]!
    if (inQuotes) {
      if (ch === '"') {
        if (text[i + 1] === '"') { field += '"'; i += 2; continue }
        inQuotes = false; i++; continue
      }
      if (ch === "\n") line++
      field += ch; i++; continue
    }
    if (ch === '"' && field === "") { inQuotes = true; quoteLine = line; i++; continue }
    if (ch === ",") { fields.push(field); field = ""; i++; continue }
    if (ch === "\r" && text[i + 1] === "\n") { i++; continue }
    if (ch === "\n" || ch === "\r") { endRow(); line++; rowLine = line; i++; continue }
    field += ch; i++
  }
  if (inQuotes) throw new CsvSyntaxError(quoteLine, `unterminated quoted field starting on line ${quoteLine}`)
  if (field !== "" || fields.length > 0) endRow()
  const [head, ...rows] = records
  return { header: head ? head.fields.map((h) => h.trim()) : [], rows }
}
