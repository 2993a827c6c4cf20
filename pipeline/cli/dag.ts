// `dag`: the graph as text, Mermaid or Graphviz DOT.
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Effect from "effect/Effect"
import type { Graph } from "../graph.ts"
import type { Project } from "../project.ts"
import { globalOptions, planGraph } from "./session.ts"

const quote = (s: string) => JSON.stringify(s)

/** The graph as text; `name` (the project's) names a DOT digraph. */
export const renderDag = (graph: Graph, format: "text" | "mermaid" | "dot", name = "dag"): string => {
  const lines: string[] = []
  if (format === "mermaid") {
    lines.push("graph LR")
    const key = new Map(graph.nodes.map((n, i) => [n.id, `n${i}`]))
    for (const n of graph.nodes) lines.push(`  ${key.get(n.id)}[${quote(n.id)}]`)
    for (const n of graph.nodes) for (const up of Object.values(n.inputs)) lines.push(`  ${key.get(up.id)} --> ${key.get(n.id)}`)
  } else if (format === "dot") {
    lines.push(`digraph ${quote(name)} {`, "  rankdir=LR;")
    for (const n of graph.nodes) lines.push(`  ${quote(n.id)} [label=${quote(`${n.id}\n(${n.kind.kind})`)}];`)
    for (const n of graph.nodes) for (const up of Object.values(n.inputs)) lines.push(`  ${quote(up.id)} -> ${quote(n.id)};`)
    lines.push("}")
  } else {
    // Topological order; each stage lists what it reads.
    for (const n of graph.nodes) {
      const ins = Object.entries(n.inputs)
      lines.push(`${n.id}  [${n.kind.kind}]`)
      ins.forEach(([name, up], i) => lines.push(`  ${i === ins.length - 1 && !Object.keys(n.files).length ? "└─" : "├─"} ${name}: ${up.id}`))
      Object.entries(n.files).forEach(([name, path], i, all) => lines.push(`  ${i === all.length - 1 ? "└─" : "├─"} ${name}: file ${path}`))
    }
    lines.push(`${graph.nodes.length} stages`)
  }
  return lines.join("\n")
}

export const dagCommand = (project: Project) =>
  Command.make(
    "dag",
    { ...globalOptions, format: Options.choice("format", ["text", "mermaid", "dot"]).pipe(Options.withDefault("text" as const)) },
    (args) =>
      Effect.gen(function* () {
        // Structure only: no code or file is hashed (on real data that would read every image).
        const { graph } = yield* planGraph(project, args)
        console.log(renderDag(graph, args.format, project.name))
      }),
  ).pipe(Command.withDescription("print the graph (text, mermaid or dot)"))
