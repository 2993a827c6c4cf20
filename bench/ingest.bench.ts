// Ingest throughput on this machine's cores (it prints how many) for 587 px fundus JPEGs
// and 224 px x-rays (from CheXpert-small-sized 320 px films), beside sharp alone doing the same decode+resize
// on the same files (target: ingest within 1.5x of sharp alone), and peak RSS of an
// ingest of 1x and 4x the images in a fresh process (target: independent of size).
import { execFileSync } from "node:child_process"
import { existsSync } from "node:fs"
import { copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises"
import { availableParallelism, tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { generateEyepacs } from "../data/generate/eyepacs.ts"
import { generateChexpert } from "../data/generate/chexpert.ts"
import { ingest, decodeResize, type IngestOptions } from "../data/ingest.ts"
import { openShards } from "../data/shards.ts"
import { mapLimit } from "../data/raster.ts"

const self = fileURLToPath(import.meta.url)

/** Child modes: one ingest, or one full random-order pass over a split, in a fresh process, printing peak RSS. */
if (process.argv[1] === self && process.argv[2] === "--rss-child") {
  const options = JSON.parse(process.argv[3]!) as IngestOptions
  await ingest(options)
  console.log(JSON.stringify({ maxRssKiB: process.resourceUsage().maxRSS }))
  process.exit(0)
}
if (process.argv[1] === self && process.argv[2] === "--read-child") {
  const set = await openShards(process.argv[3]!, "train")
  const order = Array.from({ length: set.count }, (_, i) => (i * 7919) % set.count)
  for (let i = 0; i < order.length; i += 32) await set.read(order.slice(i, i + 32))
  await set.close()
  console.log(JSON.stringify({ maxRssKiB: process.resourceUsage().maxRSS }))
  process.exit(0)
}

const secs = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e9

/** Same work as ingest's decode step with sharp alone: read, decode, resize, raw RGB. */
const sharpAlone = async (files: string[], size: number, fit: "cover" | "contain", concurrency: number) => {
  const { default: sharp } = await import("sharp")
  const t0 = process.hrtime.bigint()
  await mapLimit(files.length, concurrency, async (i) => decodeResize(sharp, await readFile(files[i]!), size, size, fit))
  return secs(t0)
}

const rssChild = (options: IngestOptions | string): number => {
  const args = typeof options === "string" ? ["--read-child", options] : ["--rss-child", JSON.stringify(options)]
  const out = execFileSync(process.execPath, ["--import", "tsx", self, ...args], { encoding: "utf8" })
  return (JSON.parse(out.trim().split("\n").pop()!) as { maxRssKiB: number }).maxRssKiB / 1024
}

export default async function (): Promise<void> {
  const tmp = await mkdtemp(join(tmpdir(), "ingest-bench-"))
  const cores = availableParallelism()
  console.log(`ingest bench: ${cores} cores (shared machine: timings are noisy)`)
  try {
    // --- fundus, 587 px in and out ---
    let t0 = process.hrtime.bigint()
    const eye = await generateEyepacs(join(tmp, "eye"), { patients: 40, seed: 1, size: 587 })
    console.log(`generated ${eye.images} fundus JPEGs at 587 px in ${secs(t0).toFixed(1)} s (${(eye.images / secs(t0) * 60).toFixed(0)}/min)`)
    // 4x: the same files under new patient ids, so the RSS test sees 4x the images.
    const csv = (await readFile(join(eye.root, "trainLabels.csv"), "utf8")).trim().split("\n")
    const rows = csv.slice(1)
    const big = [...rows]
    for (let copy = 1; copy < 4; copy++) {
      for (const r of rows) {
        const [image, level] = r.split(",")
        const [pid, eyeSide] = image!.split("_")
        const name = `${Number(pid) + copy * 100000}_${eyeSide}`
        await copyFile(join(eye.root, "train", `${image}.jpeg`), join(eye.root, "train", `${name}.jpeg`))
        big.push(`${name},${level}`)
      }
    }
    const bigRoot = join(tmp, "eye4")
    await mkdir(bigRoot)
    await symlink(join(eye.root, "train"), join(bigRoot, "train"))
    await writeFile(join(bigRoot, "trainLabels.csv"), [csv[0], ...big].join("\n") + "\n")

    const eyeFiles = big.map((r) => join(eye.root, "train", `${r.split(",")[0]}.jpeg`))
    const concurrency = 2 * cores
    await sharpAlone(eyeFiles.slice(0, 8), 587, "contain", concurrency) // warm up libvips
    const shm = existsSync("/dev/shm") ? await mkdtemp("/dev/shm/ingest-bench-") : undefined
    try {
      for (const [where, dir] of [["disk", tmp], ["tmpfs", shm]] as const) {
        if (!dir) continue
        t0 = process.hrtime.bigint()
        await ingest({ format: "eyepacs", root: bigRoot, outDir: join(dir, "out-eye"), size: 587, fit: "contain", seed: 1 })
        const tIngest = secs(t0)
        const tSharp = await sharpAlone(eyeFiles, 587, "contain", concurrency)
        console.log(`fundus 587->587, shards on ${where}: ingest ${(eyeFiles.length / tIngest).toFixed(1)} img/s, sharp alone ${(eyeFiles.length / tSharp).toFixed(1)} img/s, ratio ingest/sharp time ${(tIngest / tSharp).toFixed(2)} (target <= 1.5)`)
        await rm(join(dir, "out-eye"), { recursive: true, force: true })
      }
    } finally {
      if (shm) await rm(shm, { recursive: true, force: true })
    }

    // --- x-rays: 320 px wide films (CheXpert-small) -> 224 px ---
    t0 = process.hrtime.bigint()
    const cx = await generateChexpert(join(tmp, "cx"), { patients: 120, seed: 1, width: 320, lateralRate: 0 })
    console.log(`generated ${cx.images} chest films at 320x384 in ${secs(t0).toFixed(1)} s (${(cx.images / secs(t0) * 60).toFixed(0)}/min)`)
    const cxFiles: string[] = []
    for (const f of ["train.csv", "valid.csv"]) {
      const text = await readFile(join(cx.root, "CheXpert-v1.0-small", f), "utf8")
      for (const line of text.trim().split("\n").slice(1)) cxFiles.push(join(cx.root, line.split(",")[0]!))
    }
    t0 = process.hrtime.bigint()
    await ingest({ format: "chexpert", root: cx.root, outDir: join(tmp, "out-cx"), size: 224, fit: "cover", seed: 1 })
    const tIngest = secs(t0)
    const tSharp = await sharpAlone(cxFiles, 224, "cover", concurrency)
    console.log(`x-ray 320x384->224: ingest ${(cxFiles.length / tIngest).toFixed(1)} img/s, sharp alone ${(cxFiles.length / tSharp).toFixed(1)} img/s, ratio ${(tIngest / tSharp).toFixed(2)} (target <= 1.5)`)

    // --- random reads from shards (what a training loop does) ---
    const set = await openShards(join(tmp, "out-cx"), "train")
    const order = Array.from({ length: set.count }, (_, i) => (i * 7919) % set.count)
    t0 = process.hrtime.bigint()
    for (let i = 0; i < order.length; i += 32) await set.read(order.slice(i, i + 32))
    console.log(`openShards random batches of 32 at 224 px: ${(set.count / secs(t0)).toFixed(0)} img/s`)
    await set.close()

    // --- peak RSS: 1x vs 4x fundus images, each in a fresh process ---
    const base = { format: "eyepacs" as const, size: 587, fit: "contain" as const, seed: 1 }
    const rss1 = rssChild({ ...base, root: eye.root, outDir: join(tmp, "rss1") })
    const rss4 = rssChild({ ...base, root: bigRoot, outDir: join(tmp, "rss4") })
    console.log(`peak RSS ingesting ${eye.images} fundus images: ${rss1.toFixed(0)} MiB; ${eye.images * 4} images: ${rss4.toFixed(0)} MiB; ratio ${(rss4 / rss1).toFixed(2)} (target ~1.0, independent of dataset size)`)
    const read1 = rssChild(join(tmp, "rss1")), read4 = rssChild(join(tmp, "rss4"))
    console.log(`peak RSS reading every train image through openShards in random batches of 32: ${read1.toFixed(0)} MiB (1x), ${read4.toFixed(0)} MiB (4x); ratio ${(read4 / read1).toFixed(2)} (batch cache bounded at 64 MiB)`)
  } finally {
    await rm(tmp, { recursive: true, force: true })
  }
}
