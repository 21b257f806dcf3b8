// Ctrl-C (SIGINT) or SIGTERM mid-command: run what must not be left undone (a temp file removed,
// the terminal's cursor shown again), then exit as a signal would (128 + its number).
const cleanups = new Set<() => void>();

function interrupted(signal: NodeJS.Signals, code: number): void {
  for (const cleanup of [...cleanups]) {
    try {
      cleanup();
    } catch {
      // Best effort: the process is ending either way.
    }
  }
  process.stderr.write(`\ndfs: interrupted (${signal})\n`);
  process.exit(code);
}

/** Runs `cleanup` if the process is interrupted before the returned function is called. */
export function onInterrupt(cleanup: () => void): () => void {
  if (cleanups.size === 0) {
    process.once('SIGINT', onSigint);
    process.once('SIGTERM', onSigterm);
  }
  cleanups.add(cleanup);
  return () => {
    cleanups.delete(cleanup);
    if (cleanups.size === 0) {
      process.off('SIGINT', onSigint);
      process.off('SIGTERM', onSigterm);
    }
  };
}

const onSigint = () => interrupted('SIGINT', 130);
const onSigterm = () => interrupted('SIGTERM', 143);
