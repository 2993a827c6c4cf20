// Types for bin/launch.mjs (plain JavaScript: it runs before any TypeScript loader).

export interface LaunchOptions {
  /** The TypeScript entry (path or file URL). */
  readonly entry: string | URL
  /** Folder for cached bundles; it must lie inside the project so the bundle resolves its packages. */
  readonly cacheDir: string | URL
  /** Prefix of the warning printed when the bundle cannot be built. */
  readonly name?: string
  /** Map stack traces back to the .ts sources (costs start-up time). */
  readonly sourceMaps?: boolean
}

/** The per-entry cache folder under `cacheDir`. */
export declare const cacheDirFor: (entry: string | URL, cacheDir: string | URL) => string
/** Path of the up-to-date bundle for `entry`, built if missing or stale. */
export declare const bundleFor: (entry: string | URL, cacheDir: string | URL) => Promise<string>
/** Runs `entry` from its cached bundle (or through tsx if it cannot be built). */
export declare const launch: (options: LaunchOptions) => Promise<unknown>
