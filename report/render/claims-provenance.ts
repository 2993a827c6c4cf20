// The report's last two sections: each claim's verdict with its rule, evidence and
// numbers (report/claims.ts decides them), and the provenance of every run.
import type { ClaimResult } from "../claims.ts"
import { MODEL_NAMES, type Provenance, type ReportData, type RunResult } from "../types.ts"
import { Printer, type Section, esc, mdEsc, tableHtml, tableMd, text } from "./print.ts"

export const claimsSection = (claims: readonly ClaimResult[], p: Printer): Section => {
  const html: string[] = []
  const md: string[] = []
  for (const c of claims) {
    const numbers = Object.entries(c.numbers).map(([k, x]) => [text(k), p.num(`claims/${c.key}/${k}`, x, (y) => (Number.isInteger(y) ? String(y) : y.toPrecision(6)))])
    const numbersHtml = numbers.length ? `<details><summary>Numbers behind the verdict</summary>${tableHtml({ headers: ["Name", "Value"], rows: numbers }, `claim-${c.id}-numbers`)}</details>` : ""
    const cls = c.verdict.replace(" ", "-")
    html.push(
      `<div class="claim" id="claim-${c.id}" data-claim="${esc(c.key)}" data-verdict="${esc(c.verdict)}"><h3>Claim ${c.id}: ${esc(c.claim)} <span class="verdict ${cls}">${esc(c.verdict)}</span></h3><p class="source">${esc(c.source)}</p><p><b>Rule.</b> ${esc(c.rule)}</p><ul>${c.evidence.map((e) => `<li>${esc(e)}</li>`).join("")}</ul>${numbersHtml}</div>`,
    )
    md.push(`### Claim ${c.id}: ${c.claim} — **${c.verdict}**\n\n_${c.source}._ Rule: ${c.rule}\n\n${c.evidence.map((e) => `- ${e}`).join("\n")}`)
  }
  return { id: "claims", title: "The paper's claims", html: html.join(""), md: md.join("\n\n") }
}

export const provenanceSection = (data: ReportData): Section => {
  const runs = data.runs.slice().sort((a, b) => a.id.localeCompare(b.id))
  const policy = (r: RunResult): string =>
    r.provenance.chexpertUncertaintyPolicy ? Object.entries(r.provenance.chexpertUncertaintyPolicy).map(([k, v]) => `${k}:${v}`).join(" ") : ""
  const headers = ["Run", "Model", "Init", "Dataset", "Regime", "Seed", "Data", "Backend", "Fingerprint", "CheXpert policy", "Versions", "Params"]
  const rows = runs.map((r) => [
    r.id,
    MODEL_NAMES[r.model],
    r.init,
    r.dataset,
    r.regime,
    String(r.seed),
    r.provenance.dataSource,
    r.provenance.backend,
    r.provenance.fingerprint,
    policy(r),
    Object.entries(r.provenance.versions).map(([k, v]) => `${k} ${v}`).join(", "),
    JSON.stringify(r.provenance.params),
  ])
  const describe = (pv: Provenance | undefined): string =>
    pv
      ? `; backend ${pv.backend}; fingerprint ${pv.fingerprint}; versions ${Object.entries(pv.versions).map(([k, v]) => `${k} ${v}`).join(", ")}; params ${JSON.stringify(pv.params)}`
      : ""
  const others = [
    ...data.pretrained.map((x) =>
      x.origin === "imported"
        ? `Pretrained ${MODEL_NAMES[x.model]}: imported weights (${x.file}, sha256 ${x.sha256})${describe(x.provenance)}`
        : `Pretrained ${MODEL_NAMES[x.model]} seed ${x.seed}: trained, ${x.dataSource} ImageNet${describe(x.provenance)}`,
    ),
    ...(data.similarity?.provenance ? [`Similarity (${data.similarity.measure}): ${data.similarity.provenance.dataSource} data${describe(data.similarity.provenance)}`] : []),
  ]
  const html = `<table id="provenance-data" class="provenance"><thead><tr>${headers.map((h) => `<th>${h}</th>`).join("")}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map((c, i) => `<td>${i >= 8 ? `<code>${esc(c)}</code>` : esc(c)}</td>`).join("")}</tr>`)
    .join("")}</tbody></table>${others.length ? `<h4>Pretrained models and analyses</h4><ul class="provenance">${others.map((x) => `<li>${esc(x)}</li>`).join("")}</ul>` : ""}`
  const md = `${tableMd({ headers, rows: rows.map((r) => r.map(text)) })}${others.length ? `\n\n${others.map((x) => `- ${mdEsc(x)}`).join("\n")}` : ""}`
  return { id: "provenance", title: "Provenance per run", html, md }
}
