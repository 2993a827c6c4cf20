// Types for lib/process-alive.mjs (plain JavaScript: the launcher uses it before any TypeScript loader).

/** True while `pid` names a running process (EPERM: it runs, as another user). */
export declare const isAlive: (pid: number) => boolean
