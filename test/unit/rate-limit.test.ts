// The repair rate cap: bytes taken beyond the rate wait; no cap (0) never waits.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RateLimit } from '../../storage-node/src/chunks/rate-limit.ts';

describe('RateLimit', () => {
  it('makes takers beyond the rate wait, and lets an uncapped one through', async () => {
    const capped = new RateLimit(1_000_000);
    const started = performance.now();
    await Promise.all([1, 2, 3, 4].map(() => capped.take(250_000)));
    await capped.take(500_000);
    // 1.5 MB at 1 MB/s with one second of credit at most: at least about half a second.
    assert.ok(performance.now() - started >= 400, `took ${performance.now() - started} ms`);
    const free = new RateLimit(0);
    const t0 = performance.now();
    for (let i = 0; i < 100; i++) await free.take(1e9);
    assert.ok(performance.now() - t0 < 1000);
  });
});
