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

  /**
   * Adds Gaussian noise (sensor noise), the same draw on all channels when `mono`.
   * Draws come from a 4096-entry table of normal quantiles indexed by the Rng: the
   * Box-Muller transform per pixel was most of the drawing time at 587 px.
   */
  noise(rng: Rng, std: number, mono = false): this {
    if (std <= 0) return this
    const c = this.channels, d = this.data, t = normalTable()
    for (let i = 0; i < d.length; i += c) {
      if (mono) { const z = t[rng.nextUint32() & 4095]! * std; for (let k = 0; k < c; k++) d[i + k] = d[i + k]! + z }
      else for (let k = 0; k < c; k++) d[i + k] = d[i + k]! + t[rng.nextUint32() & 4095]! * std
    }
    return this
  }

  /**
   * Multiplies by 1 + amount * (a smooth random field): bilinear interpolation of a
   * cells x cells grid of uniform draws in [-1, 1] (background unevenness in one pass).
   */
  unevenness(rng: Rng, cells: number, amount: number): this {
    const g = Array.from({ length: (cells + 1) * (cells + 1) }, () => rng.uniform(-1, 1))
    const w = this.width, h = this.height
    return this.modulate((x, y) => {
      const fx = (x / w) * cells, fy = (y / h) * cells
      const ix = Math.min(cells - 1, Math.floor(fx)), iy = Math.min(cells - 1, Math.floor(fy))
      const ax = fx - ix, ay = fy - iy, r = cells + 1
      const v = (g[iy * r + ix]! * (1 - ax) + g[iy * r + ix + 1]! * ax) * (1 - ay) + (g[(iy + 1) * r + ix]! * (1 - ax) + g[(iy + 1) * r + ix + 1]! * ax) * ay
      return 1 + amount * v
    })
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
    // Uint8ClampedArray.set clamps to 0..255 and rounds half to even, natively.
    const out = new Uint8ClampedArray(this.data.length)
    out.set(this.data)
    return new Uint8Array(out.buffer)
  }
}

let table: Float32Array | undefined
/** Standard normal quantiles at the midpoints of 4096 equal-probability bins. */
const normalTable = (): Float32Array => {
  if (table) return table
  // Acklam's rational approximation of the inverse normal CDF (|error| < 1.2e-9).
  const a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239]
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572]
  const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783]
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416]
  const inv = (p: number): number => {
    if (p < 0.02425) {
      const q = Math.sqrt(-2 * Math.log(p))
      return (((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) / ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1)
    }
    if (p > 1 - 0.02425) return -inv(1 - p)
    const q = p - 0.5, r = q * q
    return ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q) / (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1)
  }
  table = new Float32Array(4096)
  for (let i = 0; i < 4096; i++) table[i] = inv((i + 0.5) / 4096)
  return table
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
