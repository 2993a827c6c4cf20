#!/usr/bin/env node
// Entry point: main.ts runs from a bundle cached under node_modules/.cache/transfusion and
// rebuilt whenever a source file in it changes (bin/launch.mjs); without esbuild, or
// with TRANSFUSION_LAUNCH=tsx, it runs through tsx's loader instead.
import { launch } from "./launch.mjs"

await launch({
  entry: new URL("../main.ts", import.meta.url),
  cacheDir: new URL("../node_modules/.cache/transfusion/", import.meta.url),
  // Worker processes run the stages, whose failure logs then show .ts lines.
  sourceMaps: process.argv[2] === "worker" || process.argv[2] === "exec",
})
