// Waiting for a condition in integration tests: a generous deadline, and on failure the last
// thing the probe saw (a value it noted, or the error it threw), never a bare timeout.
import { sleep } from './cluster.ts';

/**
 * Polls `probe` until it returns a value (not undefined). The probe may `see(x)` what it looked
 * at, so a failure says what the cluster showed last.
 */
export async function waitFor<T>(what: string, probe: (see: (seen: unknown) => void) => Promise<T | undefined>, timeoutMs = 60_000, pollMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let seen: unknown = null;
  const see = (value: unknown) => {
    seen = value;
  };
  for (;;) {
    try {
      const value = await probe(see);
      if (value !== undefined) return value;
    } catch (err) {
      seen = (err as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms (last seen: ${JSON.stringify(seen)})`);
    await sleep(pollMs);
  }
}
