// Whether a process on this machine still runs, by its pid. Plain JavaScript so that the
// launcher (bin/launch.mjs), which runs before any TypeScript loader exists, and the
// engine (pipeline/owner.ts) share the one check.

/** True while `pid` names a running process (EPERM: it runs, as another user). */
export const isAlive = (pid) => {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return e.code === "EPERM"
  }
}
