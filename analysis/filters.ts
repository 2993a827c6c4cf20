// Figure 5: the conv1 filters of a network as one PNG, each filter scaled on its own
// to [0, 255] (so the shapes, not the magnitudes, are compared), tiled with a 1 px border.
import type sharpType from "sharp"

export interface FilterGridOptions {
  /** Filters per row of the grid (default ceil(sqrt(filters))). */
  readonly columns?: number
  /** Each kernel pixel drawn as scale x scale pixels (default 1). */
  readonly scale?: number
  /** Grey level of the borders and of unused cells (default 255, white). */
  readonly border?: number
}

export interface FilterGrid {
  readonly width: number
  readonly height: number
  /** height x width x 3 RGB bytes. */
  readonly rgb: Uint8Array
}

/**
 * Lays out a conv kernel of shape [k, k, inChannels, filters] (tfjs/Keras order,
 * row-major; inChannels 3 drawn as RGB, 1 as grey) as an RGB raster.
 */
export const filterGrid = (kernel: Float32Array | Float64Array, shape: readonly number[], options: FilterGridOptions = {}): FilterGrid => {
  if (shape.length !== 4) throw new RangeError(`filterGrid: kernel shape must be [k, k, inChannels, filters], got ${JSON.stringify(shape)}`)
  const [kh, kw, cin, count] = shape as [number, number, number, number]
  if (kernel.length !== kh * kw * cin * count) throw new RangeError(`filterGrid: ${kernel.length} values for a kernel of shape ${JSON.stringify(shape)}`)
  if (cin !== 3 && cin !== 1) throw new RangeError(`filterGrid: conv1 filters need 3 (RGB) or 1 (grey) input channels, got ${cin}`)
  const columns = options.columns ?? Math.ceil(Math.sqrt(count))
  const rows = Math.ceil(count / columns)
  const scale = options.scale ?? 1
  const border = options.border ?? 255
  const cellW = kw * scale, cellH = kh * scale
  const width = columns * (cellW + 1) + 1, height = rows * (cellH + 1) + 1
  const rgb = new Uint8Array(width * height * 3).fill(border)
  for (let f = 0; f < count; f++) {
    let min = Infinity, max = -Infinity
    for (let i = 0; i < kh * kw * cin; i++) {
      const v = kernel[i * count + f]!
      if (v < min) min = v
      if (v > max) max = v
    }
    const range = max - min
    const ox = (f % columns) * (cellW + 1) + 1, oy = Math.floor(f / columns) * (cellH + 1) + 1
    for (let y = 0; y < kh; y++)
      for (let x = 0; x < kw; x++)
        for (let c = 0; c < 3; c++) {
          const v = kernel[((y * kw + x) * cin + (cin === 3 ? c : 0)) * count + f]!
          const byte = range > 0 ? Math.round(((v - min) / range) * 255) : 128
          for (let sy = 0; sy < scale; sy++)
            for (let sx = 0; sx < scale; sx++) rgb[((oy + y * scale + sy) * width + ox + x * scale + sx) * 3 + c] = byte
        }
  }
  return { width, height, rgb }
}

/** PNG bytes of filterGrid (sharp). */
export const filterGridPng = async (kernel: Float32Array | Float64Array, shape: readonly number[], options: FilterGridOptions = {}): Promise<Buffer> => {
  const grid = filterGrid(kernel, shape, options)
  const sharp = (await import("sharp")).default as typeof sharpType
  return sharp(Buffer.from(grid.rgb.buffer, grid.rgb.byteOffset, grid.rgb.byteLength), { raw: { width: grid.width, height: grid.height, channels: 3 } }).png().toBuffer()
}

/** Writes the filter grid PNG to `path`. */
export const writeFilterGridPng = async (path: string, kernel: Float32Array | Float64Array, shape: readonly number[], options: FilterGridOptions = {}): Promise<void> => {
  const { writeFile } = await import("node:fs/promises")
  await writeFile(path, await filterGridPng(kernel, shape, options))
}

/** Anything with a kernel's values and shape, e.g. a tfjs Tensor (conv1's kernel: model.getLayer("conv1").getWeights()[0]). */
export interface KernelLike {
  readonly shape: readonly number[]
  dataSync(): ArrayLike<number>
}

/** filterGridPng for a tensor-like kernel of shape [k, k, inChannels, filters]. */
export const kernelGridPng = (kernel: KernelLike, options: FilterGridOptions = {}): Promise<Buffer> => {
  const values = kernel.dataSync()
  return filterGridPng(values instanceof Float32Array || values instanceof Float64Array ? values : Float32Array.from(values), kernel.shape, options)
}
