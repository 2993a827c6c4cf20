// The project's one seeded random source. Nothing in the science code may call
// Math.random: every draw comes from an Rng derived from a run's seed, so a fixed
// seed gives the same data, initialisation, batch order and subsample everywhere.
//
// sfc32 (Chris Doty-Humphrey's Small Fast Counting generator): 128-bit state,
// passes PractRand, and is cheap in JS because it stays in 32-bit integer ops.

/** 32-bit FNV-1a followed by a murmur3 finaliser: turns labels into well-mixed seeds. */
export const hash32 = (text: string, seed = 0x811c9dc5): number => {
  let h = seed >>> 0
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

export class Rng {
  private a: number
  private b: number
  private c: number
  private d: number
  private spareNormal: number | undefined

  /** `seed` may be a number or any string; equal seeds give equal streams. */
  constructor(readonly seed: number | string) {
    const s = String(seed)
    this.a = hash32(s, 0x9e3779b9)
    this.b = hash32(s, 0x243f6a88)
    this.c = hash32(s, 0xb7e15162)
    this.d = 1
    for (let i = 0; i < 12; i++) this.nextUint32() // warm up away from the seeding correlations
  }

  /** An independent stream for a named purpose, e.g. rng.fork("flip"). Does not advance this one. */
  fork(label: string | number): Rng {
    return new Rng(`${String(this.seed)}/${String(label)}`)
  }

  nextUint32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0
    this.d = (this.d + 1) | 0
    this.a = this.b ^ (this.b >>> 9)
    this.b = (this.c + (this.c << 3)) | 0
    this.c = (this.c << 21) | (this.c >>> 11)
    this.c = (this.c + t) | 0
    return t >>> 0
  }

  /** Uniform in [0, 1) with 32 bits of resolution. */
  next(): number {
    return this.nextUint32() / 4294967296
  }

  /** Uniform in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next()
  }

  /** Uniform integer in [0, n), without modulo bias. */
  int(n: number): number {
    if (!(n >= 1) || !Number.isInteger(n)) throw new RangeError(`Rng.int needs a positive integer, got ${n}`)
    if (n > 4294967296) return Math.floor(this.next() * n)
    const limit = 4294967296 - (4294967296 % n)
    let x = this.nextUint32()
    while (x >= limit) x = this.nextUint32()
    return x % n
  }

  /** Standard normal by Box-Muller (caches the second value). */
  normal(mean = 0, std = 1): number {
    if (this.spareNormal !== undefined) {
      const z = this.spareNormal
      this.spareNormal = undefined
      return mean + std * z
    }
    let u = 0
    while (u === 0) u = this.next()
    const v = this.next()
    const r = Math.sqrt(-2 * Math.log(u))
    this.spareNormal = r * Math.sin(2 * Math.PI * v)
    return mean + std * r * Math.cos(2 * Math.PI * v)
  }

  bernoulli(p: number): boolean {
    return this.next() < p
  }

  /** Index drawn with probability proportional to weights. */
  categorical(weights: ArrayLike<number>): number {
    let total = 0
    for (let i = 0; i < weights.length; i++) total += weights[i]!
    let x = this.next() * total
    for (let i = 0; i < weights.length; i++) {
      x -= weights[i]!
      if (x < 0) return i
    }
    return weights.length - 1
  }

  /** Fisher-Yates shuffle in place; returns the array. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1)
      const t = items[i]!
      items[i] = items[j]!
      items[j] = t
    }
    return items
  }

  /** A random permutation of 0..n-1. */
  permutation(n: number): number[] {
    return this.shuffle(Array.from({ length: n }, (_, i) => i))
  }

  /** k distinct indices from 0..n-1, in increasing order. */
  sample(n: number, k: number): number[] {
    if (k > n) throw new RangeError(`cannot sample ${k} of ${n}`)
    return this.permutation(n).slice(0, k).sort((x, y) => x - y)
  }

  /** A seed for APIs that take a number (tfjs initialisers), derived from a label. */
  seedFor(label: string | number): number {
    return hash32(`${String(this.seed)}/${String(label)}`) % 2147483647
  }
}
