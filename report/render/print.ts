// How the report prints: escaping for HTML and Markdown, cells that carry both, tables,
// sections and figure frames, and the Printer that records every printed number under a
// stable key (the `values` tests check the report file against).
import { type Spec, renderSvg } from "../charts.ts"
import type { PaperValue } from "../paper.ts"
import { mean, meanCI, sampleStd } from "../stats.ts"

export const esc = (s: string): string => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;")
// Markdown viewers pass raw HTML through, so markup in data (a path, a synset name, a
// config value) is written as entities, which every viewer shows as the characters.
export const mdEsc = (s: string): string => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/\|/g, "\\|").replace(/\n/g, " ")

export interface Cell {
  readonly html: string
  readonly md: string
}
export const text = (s: string): Cell => ({ html: esc(s), md: mdEsc(s) })
export const DASH: Cell = { html: "&mdash;", md: "—" }

export class Printer {
  readonly values: Record<string, number> = {}

  /** Records `x` under `key` and returns it formatted, tagged with the key in HTML. */
  num(key: string, x: number, format: (x: number) => string): Cell {
    if (!Number.isFinite(x)) return { html: "n/a", md: "n/a" }
    if (key in this.values && this.values[key] !== x) throw new Error(`report key "${key}" printed twice with different values (${this.values[key]} and ${x})`)
    this.values[key] = x
    const s = format(x)
    return { html: `<span data-key="${esc(key)}" data-value="${x}">${esc(s)}</span>`, md: s }
  }

  /** mean ± std [95% t-interval of the mean over seeds] (n); records key/mean, /std, /ci-lo, /ci-hi, /n. */
  summary(key: string, xs: readonly number[], format: (x: number) => string): Cell {
    if (xs.length === 0) return DASH
    const ci = meanCI(xs)
    const m = this.num(`${key}/mean`, mean(xs), format)
    const n = this.num(`${key}/n`, xs.length, String)
    if (xs.length < 2) return { html: `${m.html} <small>(n=${n.html})</small>`, md: `${m.md} (n=${n.md})` }
    const s = this.num(`${key}/std`, sampleStd(xs), format)
    const lo = this.num(`${key}/ci-lo`, ci.lo, format)
    const hi = this.num(`${key}/ci-hi`, ci.hi, format)
    return {
      html: `${m.html} &plusmn; ${s.html} <small>[${lo.html}, ${hi.html}] (n=${n.html})</small>`,
      md: `${m.md} ± ${s.md} [${lo.md}, ${hi.md}] (n=${n.md})`,
    }
  }

  /** A paper number as printed: `digits` decimals for the value, `pmDigits` for its ± (undefined: as transcribed). */
  paper(key: string, v: PaperValue | undefined, digits: number, pmDigits?: number): Cell {
    if (!v) return DASH
    const val = this.num(`paper/${key}`, v.value, (x) => x.toFixed(digits))
    if (v.pm === null) return { html: `<span class="paper">${val.html}</span>`, md: val.md }
    const pm = this.num(`paper/${key}/pm`, v.pm, (x) => (pmDigits === undefined ? String(x) : x.toFixed(pmDigits)))
    return { html: `<span class="paper">${val.html} &plusmn; ${pm.html}</span>`, md: `${val.md} ± ${pm.md}` }
  }
}

export const pct = (x: number): string => (100 * x).toFixed(2)
export const fixed = (d: number) => (x: number): string => x.toFixed(d)
export const int = (x: number): string => Math.round(x).toLocaleString("en-US")

export interface Table {
  readonly headers: readonly string[]
  readonly rows: readonly (readonly Cell[])[]
}

export const tableHtml = (t: Table, id: string): string =>
  `<table id="${id}"><thead><tr>${t.headers.map((h) => `<th>${esc(h)}</th>`).join("")}</tr></thead><tbody>${t.rows
    .map((r) => `<tr>${r.map((c) => `<td>${c.html}</td>`).join("")}</tr>`)
    .join("")}</tbody></table>`

export const tableMd = (t: Table): string =>
  [`| ${t.headers.map(mdEsc).join(" | ")} |`, `|${t.headers.map(() => "---").join("|")}|`, ...t.rows.map((r) => `| ${r.map((c) => c.md).join(" | ")} |`)].join("\n")

export interface Section {
  readonly id: string
  readonly title: string
  readonly html: string
  readonly md: string
}

export const INIT_LABEL: Record<string, string> = { "random": "random init", "transfer": "transfer", "mean-var": "Mean Var" }

export const svgBlock = async (spec: Spec): Promise<string> => `<div class="svg">${await renderSvg(spec)}</div>`

export const missing = (what: string): { html: string; md: string } => ({
  html: `<p class="missing">No data for this figure in the report input (${esc(what)}).</p>`,
  md: `_No data for this figure in the report input (${what})._`,
})

export const figureSection = (id: string, title: string, caption: string | Cell, body: string, md: string): Section => {
  const c = typeof caption === "string" ? text(caption) : caption
  return { id, title, html: `<figure id="${id}-figure">${body}<figcaption>${c.html}</figcaption></figure>`, md: `${c.md}\n\n${md}` }
}
