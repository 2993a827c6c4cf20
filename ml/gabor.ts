// Synthetic Gabor filters for the paper's "synthetic Gabor conv1" hybrid
// (Section 5). Parameterisation from spec.md (the appendix's exact one is not known):
//   g(x, y) = exp(-(x'^2 + gamma^2 y'^2) / (2 sigma^2)) cos(2 pi x' / lambda + psi)
//   x' = x cos(theta) + y sin(theta),  y' = -x sin(theta) + y cos(theta)
// on a k x k grid centred at 0, per filter theta ~ U[0, pi), lambda ~ U[2, k],
// sigma ~ U[0.3, 0.6] * lambda, gamma ~ U[0.5, 1], psi ~ U[0, 2 pi).

import type { Rng } from "../lib/random.ts"

export interface GaborParams {
  readonly theta: number
  readonly lambda: number
  readonly sigma: number
  readonly gamma: number
  readonly psi: number
}

/** Ranges of the per-filter draws; sigma is drawn as a multiple of lambda. */
export interface GaborRanges {
  readonly lambda: readonly [number, number] | "2..k"
  readonly sigmaOverLambda: readonly [number, number]
  readonly gamma: readonly [number, number]
}

export const defaultGaborRanges: GaborRanges = { lambda: "2..k", sigmaOverLambda: [0.3, 0.6], gamma: [0.5, 1] }

export const sampleGaborParams = (rng: Rng, size: number, ranges: GaborRanges = defaultGaborRanges): GaborParams => {
  const [l0, l1] = ranges.lambda === "2..k" ? [2, Math.max(2, size)] : ranges.lambda
  const theta = rng.uniform(0, Math.PI)
  const lambda = rng.uniform(l0, l1)
  const sigma = rng.uniform(ranges.sigmaOverLambda[0], ranges.sigmaOverLambda[1]) * lambda
  const gamma = rng.uniform(ranges.gamma[0], ranges.gamma[1])
  const psi = rng.uniform(0, 2 * Math.PI)
  return { theta, lambda, sigma, gamma, psi }
}

/** One size x size Gabor kernel, row-major (row = y, column = x), grid centred at 0. */
export const gaborKernel = (size: number, p: GaborParams): Float64Array => {
  const out = new Float64Array(size * size)
  const c = (size - 1) / 2
  const cos = Math.cos(p.theta), sin = Math.sin(p.theta)
  for (let row = 0; row < size; row++) {
    const y = row - c
    for (let col = 0; col < size; col++) {
      const x = col - c
      const xr = x * cos + y * sin
      const yr = -x * sin + y * cos
      out[row * size + col] =
        Math.exp(-(xr * xr + p.gamma * p.gamma * yr * yr) / (2 * p.sigma * p.sigma)) * Math.cos((2 * Math.PI * xr) / p.lambda + p.psi)
    }
  }
  return out
}

export interface GaborBank {
  /** Kernel in TF/Keras conv layout [k, k, inChannels, filters], flattened row-major. */
  readonly kernel: Float32Array
  readonly shape: readonly [number, number, number, number]
  readonly params: readonly GaborParams[]
}

/**
 * A conv1 kernel of Gabor filters: one kernel per output filter, the same on every input
 * channel, each filter made zero-mean, then the whole layer scaled so its standard
 * deviation equals `targetStd` (the random initialiser's, so activations keep the scale
 * the rest of the randomly initialised network expects).
 */
export const gaborFilterBank = (
  rng: Rng,
  args: { size: number; inChannels: number; filters: number; targetStd: number; ranges?: GaborRanges },
): GaborBank => {
  const { size, inChannels, filters, targetStd } = args
  if (!(size >= 1 && inChannels >= 1 && filters >= 1)) throw new RangeError(`gaborFilterBank: bad shape ${size}x${size}x${inChannels}x${filters}`)
  if (!(targetStd > 0)) throw new RangeError(`gaborFilterBank: targetStd must be > 0, got ${targetStd}`)
  const params: GaborParams[] = []
  const kernels: Float64Array[] = []
  for (let f = 0; f < filters; f++) {
    const p = sampleGaborParams(rng, size, args.ranges)
    params.push(p)
    const k = gaborKernel(size, p)
    const mean = k.reduce((s, v) => s + v, 0) / k.length
    for (let i = 0; i < k.length; i++) k[i] -= mean
    kernels.push(k)
  }
  // Layer mean is 0 after per-filter centring, so std is the root mean square.
  let sq = 0
  for (const k of kernels) for (const v of k) sq += v * v
  const rms = Math.sqrt(sq / (filters * size * size))
  // A 1x1 kernel is constant, hence zero after centring: nothing to scale.
  const scale = rms > 0 ? targetStd / rms : 0
  const kernel = new Float32Array(size * size * inChannels * filters)
  for (let pos = 0; pos < size * size; pos++)
    for (let c = 0; c < inChannels; c++)
      for (let f = 0; f < filters; f++) kernel[(pos * inChannels + c) * filters + f] = kernels[f][pos] * scale
  return { kernel, shape: [size, size, inChannels, filters], params }
}
