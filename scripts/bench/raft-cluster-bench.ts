// Propose-to-commit latency and throughput of a real 3-process Raft cluster (kv-node harness):
// HTTP in, leader fsync, replication over HTTP, follower fsync, commit, apply, HTTP out.
// Run: npx tsx scripts/bench/raft-cluster-bench.ts
import { pathToFileURL } from 'node:url';
import { Pool } from 'undici';
import { Cluster } from '../../test/support/cluster.ts';

export interface ProposeToCommitResult {
  proposals: number;
  p50Ms: number;
  p99Ms: number;
  perSecond: number;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))];
}

/** `concurrency` clients propose ~100-byte values to the leader back to back for `seconds`. */
export async function benchProposeToCommit(options: { seconds: number; concurrency: number }): Promise<ProposeToCommitResult> {
  const cluster = await Cluster.start({ size: 3 });
  try {
    const leader = cluster.node(await cluster.waitForLeader());
    // Keep-alive connections, one per client, so connection setup stays out of the numbers.
    const pool = new Pool(leader.url, { connections: options.concurrency, keepAliveTimeout: 30_000 });
    try {
      const value = 'x'.repeat(100);
      const latencies: number[] = [];
      let failures = 0;
      let seq = 0;
      const propose = async (): Promise<boolean> => {
        const res = await pool.request({ method: 'POST', path: `/propose?key=k${seq++}`, body: value });
        await res.body.dump();
        return res.statusCode === 200;
      };
      // Warm up (JIT, connections, the first snapshot-free stretch of the log) before measuring.
      const warmupEnd = performance.now() + 500;
      while (performance.now() < warmupEnd) await propose();

      const started = performance.now();
      const deadline = started + options.seconds * 1000;
      await Promise.all(Array.from({ length: options.concurrency }, async () => {
        while (performance.now() < deadline) {
          const t0 = performance.now();
          if (await propose()) latencies.push(performance.now() - t0);
          else failures++;
        }
      }));
      const elapsed = (performance.now() - started) / 1000;
      if (failures > 0) console.error(`  ${failures} proposals failed (leader change?)`);
      latencies.sort((a, b) => a - b);
      return {
        proposals: latencies.length,
        p50Ms: round(percentile(latencies, 50)),
        p99Ms: round(percentile(latencies, 99)),
        perSecond: Math.round(latencies.length / elapsed),
      };
    } finally {
      await pool.close();
    }
  } finally {
    await cluster.stopAll();
  }
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}

async function main(): Promise<void> {
  for (const concurrency of [1, 16]) {
    const r = await benchProposeToCommit({ seconds: 5, concurrency });
    console.log(
      `concurrency ${String(concurrency).padStart(2)}: ${r.proposals} proposals, ${r.perSecond}/s, ` +
        `p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms`,
    );
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main();
}
