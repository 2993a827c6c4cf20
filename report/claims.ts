// The paper's claims, each turned into a stated decision rule over ReportData.
// With three seeds per cell no rule can be a strong test; the rules are written so a
// reader sees exactly what was compared, with which numbers, and why the verdict follows.
//
// Every interval is a Student/Welch t-interval over seeds (report/stats.ts): it covers the
// seed-to-seed variation of training, not the sampling error of the fixed test set.
// Three rule shapes recur:
// - "equivalent within a margin" (claims of "little", "comparable", "matches", "same effect"):
//   Schuirmann's two one-sided tests (TOST) at alpha = 0.05. Supported if the 90% t-interval
//   lies inside (-margin, margin); not supported if the 95% t-interval lies wholly outside it;
//   inconclusive otherwise (few or noisy seeds cannot show equivalence);
// - "a meaningful positive effect": supported if the 95% interval's lower end is above 0 and
//   the mean effect reaches the minimum effect, not supported if its upper end is below the
//   minimum effect, inconclusive otherwise;
// - families of tests where one hit decides (claim 5's layers, claim 11's stages) are
//   corrected with Holm's step-down procedure.
// A comparison of final AUCs, or of the similarities of the Table 1 runs, is judged only when
// every run it rests on converged (its validation curve reached the profile's threshold);
// otherwise it is inconclusive, naming the unconverged models, inits and seeds (rules.ts,
// Builder.gateOnConvergence).
// Sub-verdicts combine as: any "not supported" -> not supported; all "supported" -> supported;
// otherwise (or nothing to judge) inconclusive.
//
// The claims live in report/claims/: rules.ts (the result types, verdict shapes,
// formatting and evidence Builder every claim uses), performance.ts (claims 1, 2, 3, 9:
// final AUCs), representations.ts (4, 5, 8: similarity) and convergence.ts (6, 7, 10, 11:
// steps to threshold).

import { isSynthetic } from "./select.ts"
import type { ReportData } from "./types.ts"
import { claimConv1LargestSpeedup, claimGaborMatches, claimMeanVarSpeedsUp, claimSlimMatches } from "./claims/convergence.ts"
import { claimImagenetDoesNotPredict, claimSmallDataLargeOnly, claimSmallMatchesLarge, claimTransferAddsLittle } from "./claims/performance.ts"
import { claimLargeChangeLess, claimLargeRepresentationsDiffer, claimReuseLowest } from "./claims/representations.ts"
import { resolveOptions, SYNTHETIC_NOTE, type ClaimOptions, type ClaimResult } from "./claims/rules.ts"

export { combineVerdicts, equivalence, meaningfulPositive, type ClaimOptions, type ClaimResult, type Verdict } from "./claims/rules.ts"

/** All claims, in order, each with its verdict, rule and evidence. */
export const evaluateClaims = (data: ReportData, options: ClaimOptions = {}): ClaimResult[] => {
  const o = resolveOptions(options)
  const synthetic = isSynthetic(data)
  return [
    claimTransferAddsLittle,
    claimSmallMatchesLarge,
    claimImagenetDoesNotPredict,
    claimLargeChangeLess,
    claimReuseLowest,
    claimMeanVarSpeedsUp,
    claimGaborMatches,
    claimLargeRepresentationsDiffer,
    claimSmallDataLargeOnly,
    claimSlimMatches,
    claimConv1LargestSpeedup,
  ].map((f) => {
    const r = f(data, o)
    const evidence = r.evidence.length === 0 ? ["no runs in the report data bear on this claim -> inconclusive"] : r.evidence
    return { ...r, evidence: synthetic ? [SYNTHETIC_NOTE, ...evidence] : evidence, synthetic }
  })
}
