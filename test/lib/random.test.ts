import { test } from "uvu"
import * as assert from "uvu/assert"
import { Rng } from "../../lib/random.ts"

test("equal seeds give equal streams; different seeds and forks differ", () => {
  const a = new Rng(7), b = new Rng(7), c = new Rng(8)
  const xs = Array.from({ length: 5 }, () => a.nextUint32())
  assert.equal(Array.from({ length: 5 }, () => b.nextUint32()), xs)
  assert.not.equal(Array.from({ length: 5 }, () => c.nextUint32()), xs)
  assert.not.equal(new Rng(7).fork("x").next(), new Rng(7).fork("y").next())
  assert.is(new Rng(7).fork("x").next(), new Rng(7).fork("x").next())
})

test("uniform and normal moments match their distributions", () => {
  const r = new Rng("moments")
  const n = 200_000
  let s = 0, s2 = 0, ns = 0, ns2 = 0
  for (let i = 0; i < n; i++) {
    const u = r.next(); s += u; s2 += u * u
    const z = r.normal(); ns += z; ns2 += z * z
  }
  assert.ok(Math.abs(s / n - 0.5) < 0.005)
  assert.ok(Math.abs(s2 / n - s * s / n / n - 1 / 12) < 0.002)
  assert.ok(Math.abs(ns / n) < 0.01)
  assert.ok(Math.abs(ns2 / n - 1) < 0.02)
})

test("int is unbiased over a non-power-of-two range and permutation is a permutation", () => {
  const r = new Rng(1)
  const counts = [0, 0, 0]
  for (let i = 0; i < 30_000; i++) counts[r.int(3)]!++
  for (const c of counts) assert.ok(Math.abs(c - 10_000) < 400, String(counts))
  const p = r.permutation(100)
  assert.equal([...p].sort((x, y) => x - y), Array.from({ length: 100 }, (_, i) => i))
  assert.throws(() => r.int(0))
})

test.run()
