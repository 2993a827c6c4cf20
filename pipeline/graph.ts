// The graph a profile expands into: nodes by id in a topological order, with the
// selection rules of `run <ids or globs>` (a selected node brings its upstreams along).
import { encodedParams, type AnyNode } from "./stage.ts"
import { canonicalJson } from "./canonical.ts"

export interface Graph {
  /** Topological order: every node after all of its inputs; ties keep profile order. */
  readonly nodes: readonly AnyNode[]
  readonly byId: ReadonlyMap<string, AnyNode>
}

export class GraphError extends Error {
  override readonly name = "GraphError"
}

export const buildGraph = (roots: readonly AnyNode[]): Graph => {
  const byId = new Map<string, AnyNode>()
  const order: AnyNode[] = []
  const state = new Map<string, "visiting" | "done">()
  const visit = (node: AnyNode, path: string[]): void => {
    const seen = byId.get(node.id)
    if (seen && seen !== node) {
      if (seen.kind !== node.kind || canonicalJson(encodedParams(seen)) !== canonicalJson(encodedParams(node))) {
        throw new GraphError(`two different stages share the id "${node.id}" (kinds ${seen.kind.kind} and ${node.kind.kind}); ids must be unique`)
      }
    }
    const s = state.get(node.id)
    if (s === "done") return
    if (s === "visiting") throw new GraphError(`cycle: ${[...path, node.id].join(" -> ")}`)
    state.set(node.id, "visiting")
    byId.set(node.id, node)
    for (const input of Object.values(node.inputs)) visit(input, [...path, node.id])
    state.set(node.id, "done")
    order.push(node)
  }
  for (const root of roots) visit(root, [])
  return { nodes: order, byId }
}

/** Glob over ids: `*` matches within one path segment, `**` across segments. */
export const globToRegExp = (glob: string): RegExp => {
  let re = ""
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!
    if (c === "*") {
      if (glob[i + 1] === "*") {
        re += ".*"
        i++
      } else re += "[^/]*"
    } else if (c === "?") re += "[^/]"
    else re += c.replace(/[.+^${}()|[\]\\]/g, "\\$&")
  }
  return new RegExp(`^${re}$`)
}

/** Ids matching any pattern (an exact id, a glob, or a prefix such as `ingest` for `ingest/...`). */
export const matchIds = (graph: Graph, patterns: readonly string[]): Set<string> => {
  const wanted = new Set<string>()
  for (const pattern of patterns) {
    const re = globToRegExp(pattern)
    const prefix = pattern.replace(/\/+$/, "") + "/"
    const hits = graph.nodes.filter((n) => re.test(n.id) || n.id.startsWith(prefix))
    if (hits.length === 0) throw new GraphError(`no stage matches "${pattern}" (the \`dag\` verb lists the ids)`)
    for (const n of hits) wanted.add(n.id)
  }
  return wanted
}

/**
 * The nodes `run <patterns>` must consider, in topological order: those matching any pattern
 * (an exact id, or a glob; a plain prefix such as `ingest` selects everything under `ingest/`)
 * plus their upstreams. No pattern selects the whole graph.
 */
export const selectNodes = (graph: Graph, patterns: readonly string[]): readonly AnyNode[] => {
  if (patterns.length === 0) return graph.nodes
  const wanted = matchIds(graph, patterns)
  const closure = new Set<string>()
  const add = (node: AnyNode): void => {
    if (closure.has(node.id)) return
    closure.add(node.id)
    for (const input of Object.values(node.inputs)) add(input)
  }
  for (const id of wanted) add(graph.byId.get(id)!)
  return graph.nodes.filter((n) => closure.has(n.id))
}
