// Typed-array drawing for the synthetic stand-ins: a float raster (values 0..255,
// interleaved channels) with anti-aliased shapes blended over what is there. Drawing
// at the stand-in's own resolution in plain loops is fast enough for thousands of
// images a minute, and keeps every pixel a deterministic function of the seed.
import type { Rng } from "../lib/random.ts"

export type Colour = readonly number[]

const clamp01 = (x: number) => (x < 0 ? 0 : x > 1 ? 1 : x)

export class Raster {
  readonly data: Float32Array
  constructor(readonly width: number, readonly height: number, readonly channels: 1 | 3) {
    this.data = new Float32Array(width * height * channels)
  }

  fill(colour: Colour): this {
    const c = this.channels
    for (let i = 0; i < this.data.length; i += c) for (let k = 0; k < c; k++) this.data[i + k] = colour[k]!
    return this
  }

  /**
   * Blends `colour` into the box [x0,x1)x[y0,y1) with per-pixel opacity alphaAt(x, y),
   * evaluated at pixel centres. Every shape below is this plus an opacity function.
   */
  paint(x0: number, y0: number, x1: number, y1: number, colour: Colour, alphaAt: (x: number, y: number) => number): this {
    const c = this.channels, w = this.width, d = this.data
    const xa = Math.max(0, Math.floor(x0)), xb = Math.min(w, Math.ceil(x1))
    const ya = Math.max(0, Math.floor(y0)), yb = Math.min(this.height, Math.ceil(y1))
    for (let y = ya; y < yb; y++) {
      for (let x = xa; x < xb; x++) {
        const a = alphaAt(x + 0.5, y + 0.5)
        if (a <= 0) continue
        const o = (y * w + x) * c
        for (let k = 0; k < c; k++) d[o + k] = d[o + k]! + (colour[k]! - d[o + k]!) * (a > 1 ? 1 : a)
      }
    }
    return this
  }

  /** Filled ellipse rotated by `angle`, edge softened over `soft` pixels. */
  ellipse(cx: number, cy: number, rx: number, ry: number, angle: number, colour: Colour, alpha = 1, soft = 1): this {
    const cos = Math.cos(angle), sin = Math.sin(angle), r = Math.max(rx, ry) + soft
    return this.paint(cx - r, cy - r, cx + r, cy + r, colour, (x, y) => {
      const dx = x - cx, dy = y - cy
      const u = (dx * cos + dy * sin) / rx, v = (-dx * sin + dy * cos) / ry
      const q = Math.sqrt(u * u + v * v)
      // distance to the boundary in pixels, approximately
      return alpha * clamp01(((1 - q) * Math.min(rx, ry)) / soft + 0.5)
    })
  }

  disc(cx: number, cy: number, r: number, colour: Colour, alpha = 1, soft = 1): this {
    return this.ellipse(cx, cy, r, r, 0, colour, alpha, soft)
  }

  /** A Gaussian spot: opacity peak*exp(-d^2 / 2 sigma^2) (lesions, haze, glow). */
  gaussian(cx: number, cy: number, sigmaX: number, sigmaY: number, colour: Colour, peak: number, angle = 0): this {
    const cos = Math.cos(angle), sin = Math.sin(angle), r = 3 * Math.max(sigmaX, sigmaY)
    return this.paint(cx - r, cy - r, cx + r, cy + r, colour, (x, y) => {
      const dx = x - cx, dy = y - cy
      const u = (dx * cos + dy * sin) / sigmaX, v = (-dx * sin + dy * cos) / sigmaY
      return peak * Math.exp(-0.5 * (u * u + v * v))
    })
  }

  /** A thick segment with round caps, width interpolated from w0 to w1. */
  segment(x0: number, y0: number, x1: number, y1: number, w0: number, w1: number, colour: Colour, alpha = 1): this {
    const m = Math.max(w0, w1) / 2 + 1
    const dx = x1 - x0, dy = y1 - y0, len2 = dx * dx + dy * dy || 1e-9
    return this.paint(Math.min(x0, x1) - m, Math.min(y0, y1) - m, Math.max(x0, x1) + m, Math.max(y0, y1) + m, colour, (x, y) => {
      const t = clamp01(((x - x0) * dx + (y - y0) * dy) / len2)
      const px = x0 + t * dx - x, py = y0 + t * dy - y
      const half = (w0 + (w1 - w0) * t) / 2
      return alpha * clamp01(half - Math.sqrt(px * px + py * py) + 0.5)
    })
  }

  /** Consecutive segments through points, width tapering from w0 to w1 along the path. */
  polyline(points: readonly (readonly [number, number])[], w0: number, w1: number, colour: Colour, alpha = 1): this {
    const n = points.length - 1
    for (let i = 0; i < n; i++) {
      const [ax, ay] = points[i]!, [bx, by] = points[i + 1]!
      this.segment(ax, ay, bx, by, w0 + ((w1 - w0) * i) / n, w0 + ((w1 - w0) * (i + 1)) / n, colour, alpha)
    }
    return this
  }

  /** Multiplies every pixel by f(x, y) (vignetting, exposure fall-off). */
  modulate(f: (x: number, y: number) => number): this {
    const c = this.channels, w = this.width, d = this.data
    for (let y = 0; y < this.height; y++)
      for (let x = 0; x < w; x++) {
        const g = f(x + 0.5, y + 0.5), o = (y * w + x) * c
        for (let k = 0; k < c; k++) d[o + k] = d[o + k]! * g
      }
    return this
  }

  /** Adds iid Gaussian noise (sensor noise), the same draw on all channels when `mono`. */
  noise(rng: Rng, std: number, mono = false): this {
    if (std <= 0) return this
    const c = this.channels, d = this.data
    for (let i = 0; i < d.length; i += c) {
      if (mono) { const z = rng.normal(0, std); for (let k = 0; k < c; k++) d[i + k] = d[i + k]! + z }
      else for (let k = 0; k < c; k++) d[i + k] = d[i + k]! + rng.normal(0, std)
    }
    return this
  }

  /** Separable box blur of the given radius (twice ~ a Gaussian): softens acquisition. */
  blur(radius: number): this {
    const r = Math.round(radius)
    if (r < 1) return this
    const c = this.channels, w = this.width, h = this.height, d = this.data
    const tmp = new Float32Array(d.length)
    const pass = (src: Float32Array, dst: Float32Array, n: number, m: number, step: number, lineStep: number) => {
      for (let l = 0; l < m; l++) {
        for (let k = 0; k < c; k++) {
          const base = l * lineStep + k
          let acc = 0
          for (let j = -r; j <= r; j++) acc += src[base + Math.min(n - 1, Math.max(0, j)) * step]!
          for (let i = 0; i < n; i++) {
            dst[base + i * step] = acc / (2 * r + 1)
            acc += src[base + Math.min(n - 1, i + r + 1) * step]! - src[base + Math.max(0, i - r) * step]!
          }
        }
      }
    }
    pass(d, tmp, w, h, c, w * c)
    pass(tmp, d, h, w, w * c, c)
    return this
  }

  toUint8(): Uint8Array {
    const out = new Uint8Array(this.data.length)
    for (let i = 0; i < out.length; i++) {
      const v = this.data[i]!
      out[i] = v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v)
    }
    return out
  }
}

/** Encodes a raster with sharp (imported lazily: generators run inside stages). */
export const encodeRaster = async (raster: Raster, format: "jpeg" | "png", quality = 90): Promise<Buffer> => {
  const { default: sharp } = await import("sharp")
  const img = sharp(raster.toUint8(), { raw: { width: raster.width, height: raster.height, channels: raster.channels } })
  return format === "jpeg" ? img.jpeg({ quality, chromaSubsampling: "4:4:4" }).toBuffer() : img.png().toBuffer()
}

/** Runs `task(i)` for i in 0..n-1 with at most `limit` in flight; results in order. */
export const mapLimit = async <T>(n: number, limit: number, task: (i: number) => Promise<T>): Promise<T[]> => {
  const out = new Array<T>(n)
  let next = 0
  const worker = async () => {
    while (next < n) {
      const i = next++
      out[i] = await task(i)
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, n) }, worker))
  return out
}
