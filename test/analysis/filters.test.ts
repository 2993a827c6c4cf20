import { test } from "uvu"
import * as assert from "uvu/assert"
import sharp from "sharp"
import { filterGrid, filterGridPng, kernelGridPng } from "../../analysis/filters.ts"

// A 2x2x3x3 kernel: filter 0 is a ramp 0..11 over (y, x, c), filter 1 its negative, filter 2 constant.
const k = 2, cin = 3, count = 3
const kernel = new Float32Array(k * k * cin * count)
for (let i = 0; i < k * k * cin; i++) {
  kernel[i * count + 0] = i
  kernel[i * count + 1] = -2 * i
  kernel[i * count + 2] = 0.5
}

test("each filter is scaled to 0..255 on its own and tiled with 1 px borders", () => {
  const g = filterGrid(kernel, [k, k, cin, count])
  // 2 columns (ceil(sqrt(3))) x 2 rows of 2x2 cells: 2 * (2 + 1) + 1 = 7.
  assert.is(g.width, 7)
  assert.is(g.height, 7)
  const px = (x: number, y: number) => Array.from(g.rgb.subarray((y * g.width + x) * 3, (y * g.width + x) * 3 + 3))
  assert.equal(px(0, 0), [255, 255, 255])
  assert.equal(px(3, 1), [255, 255, 255]) // vertical border between cells
  // Filter 0 at (1, 1): kernel (y=0, x=0) is values 0, 1, 2 of the ramp 0..11.
  assert.equal(px(1, 1), [0, Math.round(255 / 11), Math.round(510 / 11)])
  assert.equal(px(2, 2), [Math.round((9 * 255) / 11), Math.round((10 * 255) / 11), 255])
  // Filter 1 (negated ramp) at (4, 1): its largest value is at (y=0, x=0).
  assert.equal(px(4, 1), [255, Math.round((10 * 255) / 11), Math.round((9 * 255) / 11)])
  // Constant filter 2 (bottom-left) is mid-grey; the unused fourth cell is border colour.
  assert.equal(px(1, 4), [128, 128, 128])
  assert.equal(px(4, 4), [255, 255, 255])
})

test("the PNG decodes to the same raster, scaled up when asked", async () => {
  const png = await filterGridPng(kernel, [k, k, cin, count], { scale: 3, border: 0, columns: 3 })
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true })
  assert.is(info.width, 3 * (6 + 1) + 1)
  assert.is(info.height, 6 + 2)
  assert.is(info.channels, 3)
  const want = filterGrid(kernel, [k, k, cin, count], { scale: 3, border: 0, columns: 3 })
  assert.equal(Array.from(data), Array.from(want.rgb))
  assert.equal(Array.from(data.subarray(0, 3)), [0, 0, 0])
})

test("a tensor-like kernel gives the same PNG", async () => {
  const direct = await filterGridPng(kernel, [k, k, cin, count])
  const viaTensor = await kernelGridPng({ shape: [k, k, cin, count], dataSync: () => Array.from(kernel) })
  assert.equal(Array.from(viaTensor), Array.from(direct))
})

test("bad shapes are refused with the shape in the message", () => {
  assert.throws(() => filterGrid(kernel, [k, k, 4, count]), /36 values for a kernel of shape \[2,2,4,3\]/)
  assert.throws(() => filterGrid(new Float32Array(16), [2, 2, 4, 1]), /3 \(RGB\) or 1 \(grey\) input channels, got 4/)
})

test.run()
