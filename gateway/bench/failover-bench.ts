// The gateway's two figures, on real processes with default settings (3 nodes, tick 50 ms, one
// gateway):
//   - the failover pause a client sees: from kill -9 of the leader to the next successful write
//     through the gateway (the first acknowledgement received after the killed process is seen to
//     exit, so it cannot be one the old leader sent), over several kills (p50 and max);
//   - the gateway's overhead: small writes/s at concurrency 16 straight to the leader and through
//     the gateway, alternating in the same run.
// Run: npx tsx gateway/bench/failover-bench.ts [--kills 5] [--seconds 3]
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { Pool } from 'undici';
import { pauseToFirstAck, percentile } from '../../scripts/bench/common.ts';
import { sleep } from '../../test/support/cluster.ts';
import { GatewayCluster } from '../../test/support/gateway-cluster.ts';

export interface FailoverPauseResult {
  readonly kills: number;
  readonly pausesMs: readonly number[];
  readonly p50Ms: number;
  readonly maxMs: number;
  /** Writes that failed as seen by the client (should be 0). */
  readonly failedWrites: number;
  readonly ackedWrites: number;
}

export interface OverheadResult {
  readonly concurrency: number;
  readonly bodyBytes: number;
  readonly directPerSecond: number;
  readonly gatewayPerSecond: number;
  /** 1 - gateway/direct, in percent. */
  readonly overheadPercent: number;
  readonly directP50Ms: number;
  readonly gatewayP50Ms: number;
}

/** Default node settings, except the test harness's fast tick, put back to the default. */
const defaultNodeFlags = ['--tick-ms', '50'];

/** The p50 as etcd's figures get it (nearest rank), so the two compare like for like. */
function median(values: readonly number[]): number {
  return percentile([...values].sort((a, b) => a - b), 50);
}

async function startCluster(): Promise<GatewayCluster> {
  return GatewayCluster.start({ storage: { flags: defaultNodeFlags } });
}

/** Kills the leader `kills` times while 4 clients write 1-4 KiB files through the gateway. */
export async function measureFailoverPause(options: { kills?: number } = {}): Promise<FailoverPauseResult> {
  const kills = options.kills ?? 5;
  const cluster = await startCluster();
  const pool = new Pool(cluster.url, { connections: 8 });
  try {
    let stop = false;
    let seq = 0;
    let failed = 0;
    let acked = 0;
    /** performance.now() of every acknowledgement. */
    const acks: number[] = [];
    const clients = Array.from({ length: 4 }, async () => {
      while (!stop) {
        try {
          const res = await pool.request({ method: 'PUT', path: `/files/failover/${seq++}`, body: randomBytes(1024 + Math.floor(Math.random() * 3072)) });
          await res.body.dump();
          if (res.statusCode === 201) {
            acked++;
            acks.push(performance.now());
          } else failed++;
        } catch {
          failed++;
        }
      }
    });
    const pausesMs: number[] = [];
    for (let i = 0; i < kills; i++) {
      await sleep(500);
      const leader = await cluster.waitForLeader();
      const killedAt = performance.now();
      await cluster.killNode(leader, 'SIGKILL');
      const exitedAt = performance.now();
      pausesMs.push(await pauseToFirstAck(acks, killedAt, exitedAt, 30_000, () => 'no write succeeded within 30 s of the kill'));
      await cluster.restartNode(leader);
    }
    stop = true;
    await Promise.all(clients);
    return { kills, pausesMs, p50Ms: median(pausesMs), maxMs: Math.max(...pausesMs), failedWrites: failed, ackedWrites: acked };
  } finally {
    await pool.close();
    await cluster.stopAll();
  }
}

async function writesPerSecond(url: string, concurrency: number, bodyBytes: number, durationMs: number, prefix: string): Promise<{ perSecond: number; p50Ms: number }> {
  const pool = new Pool(url, { connections: concurrency, keepAliveTimeout: 30_000 });
  try {
    const body = randomBytes(bodyBytes);
    let seq = 0;
    const latencies: number[] = [];
    const started = performance.now();
    const deadline = started + durationMs;
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        const t0 = performance.now();
        const res = await pool.request({ method: 'PUT', path: `/files/${prefix}/${seq++}`, body });
        await res.body.dump();
        if (res.statusCode !== 201) throw new Error(`write answered ${res.statusCode}`);
        latencies.push(performance.now() - t0);
      }
    }));
    return { perSecond: latencies.length / ((performance.now() - started) / 1000), p50Ms: median(latencies) };
  } finally {
    await pool.close();
  }
}

/** Small writes/s at `concurrency`, leader direct vs through the gateway, alternating rounds. */
export async function measureOverhead(options: { concurrency?: number; seconds?: number; bodyBytes?: number; rounds?: number } = {}): Promise<OverheadResult> {
  const concurrency = options.concurrency ?? 16;
  const bodyBytes = options.bodyBytes ?? 1024;
  const durationMs = (options.seconds ?? 3) * 1000;
  const rounds = options.rounds ?? 3;
  const cluster = await startCluster();
  try {
    const leaderUrl = cluster.storage.node(await cluster.waitForLeader()).url;
    await writesPerSecond(leaderUrl, concurrency, bodyBytes, 500, 'warmup-direct');
    await writesPerSecond(cluster.url, concurrency, bodyBytes, 500, 'warmup-gateway');
    const direct: Array<{ perSecond: number; p50Ms: number }> = [];
    const gateway: Array<{ perSecond: number; p50Ms: number }> = [];
    for (let round = 0; round < rounds; round++) {
      direct.push(await writesPerSecond(leaderUrl, concurrency, bodyBytes, durationMs, `direct-${round}`));
      gateway.push(await writesPerSecond(cluster.url, concurrency, bodyBytes, durationMs, `gateway-${round}`));
    }
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const directPerSecond = Math.round(mean(direct.map((r) => r.perSecond)));
    const gatewayPerSecond = Math.round(mean(gateway.map((r) => r.perSecond)));
    return {
      concurrency,
      bodyBytes,
      directPerSecond,
      gatewayPerSecond,
      overheadPercent: Math.round((1 - gatewayPerSecond / directPerSecond) * 1000) / 10,
      directP50Ms: Math.round(mean(direct.map((r) => r.p50Ms)) * 10) / 10,
      gatewayP50Ms: Math.round(mean(gateway.map((r) => r.p50Ms)) * 10) / 10,
    };
  } finally {
    await cluster.stopAll();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const arg = (name: string, fallback: number) => {
    const i = process.argv.indexOf(`--${name}`);
    return i < 0 ? fallback : Number(process.argv[i + 1]);
  };
  const overhead = await measureOverhead({ seconds: arg('seconds', 3) });
  console.log(`gateway overhead, 1 KiB writes at concurrency ${overhead.concurrency}: direct to the leader ${overhead.directPerSecond}/s (p50 ${overhead.directP50Ms} ms), through the gateway ${overhead.gatewayPerSecond}/s (p50 ${overhead.gatewayP50Ms} ms): ${overhead.overheadPercent}% fewer`);
  const failover = await measureFailoverPause({ kills: arg('kills', 5) });
  console.log(`failover pause (kill -9 of the leader to the next successful write through the gateway), ${failover.kills} kills: p50 ${failover.p50Ms} ms, max ${failover.maxMs} ms [${failover.pausesMs.join(', ')}]; writes acked ${failover.ackedWrites}, failed ${failover.failedWrites}`);
}
