// etcd under the same load as our small-file sections, with the same client (undici Pools, the
// closed loop of load.ts), through its v3 HTTP/JSON gateway (base64 keys and values):
//   puts      4 KiB values at concurrency 1, 16 and 64, sent to its leader
//   range     4 KiB values at concurrency 64, linearizable and serializable, sent to its leader
//   failover  SIGKILL of the leader while 4 clients put 1-4 KiB values, each retrying a failed
//             attempt at once on the next member: from the kill to the first acknowledged put
//             after the process is gone (like our failover section)
import { randomBytes } from 'node:crypto';
import type { Pool } from 'undici';
import { errorText, pauseToFirstAck, percentile, sleep } from './common.ts';
import type { Table } from './common.ts';
import { EtcdCluster } from './etcd-cluster.ts';
import { closedLoop, keepAlivePool, statsJson, statsText } from './load.ts';
import type { LoadStats } from './load.ts';
import { seededBuffer } from './seeded-bytes.ts';

const valueBytes = 4096;
/** The failover clients give up on one attempt after this long and retry on the next member. */
const failoverAttemptTimeoutMs = 200;
/** Pause between a failed attempt and the retry (keeps a refused connection from spinning). */
const failoverRetryDelayMs = 10;
const failoverWriters = 4;
/** The longest the failover waits for a put to succeed after a kill. */
const failoverGiveUpMs = 30_000;
/** A restarted member counts as caught up within this many entries of the leader. */
const caughtUpEntries = 100;

const b64 = (text: string) => Buffer.from(text).toString('base64');

/** One JSON-gateway call; throws unless 200. Returns the parsed answer. */
async function call(pool: Pool, path: string, body: unknown, timeoutMs?: number): Promise<Record<string, unknown>> {
  const res = await pool.request({
    method: 'POST',
    path,
    body: JSON.stringify(body),
    headers: { 'content-type': 'application/json' },
    ...(timeoutMs !== undefined ? { headersTimeout: timeoutMs, bodyTimeout: timeoutMs } : {}),
  });
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`etcd ${path} answered ${res.statusCode} ${text.slice(0, 200)}`);
  return JSON.parse(text) as Record<string, unknown>;
}

function put(pool: Pool, prefix: string, key: string, value: Buffer, timeoutMs?: number) {
  return call(pool, `${prefix}/kv/put`, { key: b64(key), value: value.toString('base64') }, timeoutMs);
}

async function putLoad(cluster: EtcdCluster, leaderUrl: string, concurrency: number, seconds: number, prefix: string): Promise<LoadStats> {
  const pool = keepAlivePool(leaderUrl, concurrency);
  try {
    let n = 0;
    // Fresh bytes every time, made the same way as for our files (the client's cost is the same).
    return await closedLoop({ concurrency, durationMs: seconds * 1000, op: (seq) => put(pool, cluster.apiPrefix, `${prefix}/${seq}`, seededBuffer(`${prefix} ${n++}`, valueBytes)).then(() => undefined) });
  } finally {
    await pool.close();
  }
}

export async function benchEtcdPuts(cluster: EtcdCluster, settings: { seconds: number; warmUpSeconds: number; concurrency: readonly number[] }, table: Table) {
  const leader = await cluster.waitForLeader();
  const leaderUrl = cluster.members[leader].clientUrl;
  // The same warm-up as our write paths get (connections, the first pages of the db).
  await putLoad(cluster, leaderUrl, 64, settings.warmUpSeconds, 'warmup');
  const out: Record<string, unknown> = {};
  for (const concurrency of settings.concurrency) {
    const stats = await putLoad(cluster, leaderUrl, concurrency, settings.seconds, `put-c${concurrency}`);
    out[`concurrency_${concurrency}`] = statsJson(stats);
    table.row('etcd', `4 KiB puts, concurrency ${concurrency}, to its leader`, statsText(stats));
  }
  return { value_bytes: valueBytes, seconds_per_measurement: settings.seconds, warm_up: `${settings.warmUpSeconds} s at concurrency 64 first, not counted`, sent_to: `its leader (${cluster.members[leader].name})`, ...out };
}

export async function benchEtcdRanges(cluster: EtcdCluster, settings: { seconds: number; keys: number; concurrency: number }, table: Table) {
  const leader = await cluster.waitForLeader();
  const leaderUrl = cluster.members[leader].clientUrl;
  const prefix = cluster.apiPrefix;
  // The keys to read, written at concurrency 64 to the leader.
  const writer = keepAlivePool(leaderUrl, 64);
  try {
    let next = 0;
    await Promise.all(Array.from({ length: 64 }, async () => {
      for (let i = next++; i < settings.keys; i = next++) await put(writer, prefix, `sr/${i}`, seededBuffer(`small read ${i}`, valueBytes));
    }));
  } finally {
    await writer.close();
  }
  const read = async (serializable: boolean) => {
    const pool = keepAlivePool(leaderUrl, settings.concurrency);
    const op = async (seq: number) => {
      const answer = await call(pool, `${prefix}/kv/range`, { key: b64(`sr/${(seq * 7919) % settings.keys}`), serializable });
      const kvs = answer.kvs as Array<{ value?: string }> | undefined;
      const bytes = Buffer.from(kvs?.[0]?.value ?? '', 'base64').length;
      if (bytes !== valueBytes) throw new Error(`range gave ${bytes} bytes of ${valueBytes}`);
    };
    try {
      await closedLoop({ concurrency: settings.concurrency, durationMs: 300, op }); // warm-up
      return await closedLoop({ concurrency: settings.concurrency, durationMs: settings.seconds * 1000, op });
    } finally {
      await pool.close();
    }
  };
  const linearizable = await read(false);
  table.row('etcd', `4 KiB range, c${settings.concurrency}, linearizable, its leader`, statsText(linearizable));
  const serializable = await read(true);
  table.row('etcd', `4 KiB range, c${settings.concurrency}, serializable, its leader`, statsText(serializable));
  return {
    concurrency: settings.concurrency,
    keys: settings.keys,
    value_bytes: valueBytes,
    seconds_per_measurement: settings.seconds,
    sent_to: `its leader (${cluster.members[leader].name})`,
    linearizable: statsJson(linearizable),
    serializable: statsJson(serializable),
  };
}

export interface EtcdSmallFilePlan {
  readonly puts?: { seconds: number; warmUpSeconds: number; concurrency: readonly number[] };
  readonly range?: { seconds: number; keys: number; concurrency: number };
}

/**
 * A fresh cluster under `dir` for the puts, then the range reads, of `plan`; stopped and removed
 * after. A part that fails is `{ error }` (the others still run); a cluster that does not start
 * throws.
 */
export async function benchEtcdSmallFiles(binary: string, dir: string, plan: EtcdSmallFilePlan, table: Table) {
  const cluster = await EtcdCluster.start(binary, dir);
  const out: { api_prefix: string; puts?: unknown; range?: unknown } = { api_prefix: cluster.apiPrefix };
  try {
    const runs = { puts: plan.puts && (() => benchEtcdPuts(cluster, plan.puts!, table)), range: plan.range && (() => benchEtcdRanges(cluster, plan.range!, table)) };
    for (const part of ['puts', 'range'] as const) {
      const run = runs[part];
      if (run === undefined) continue;
      try {
        out[part] = await run();
      } catch (err) {
        out[part] = { error: errorText(err) };
        table.row('etcd', `${part} failed`, errorText(err).slice(0, 200));
      }
    }
  } finally {
    await cluster.stop();
  }
  return out;
}

/** Waits until every member follows one leader and the restarted one has caught up with it. */
async function waitSettled(cluster: EtcdCluster): Promise<number> {
  const deadline = performance.now() + 60_000;
  for (;;) {
    const leader = await cluster.waitForLeader(60_000);
    const statuses = await Promise.all(cluster.members.map((_, i) => cluster.status(i)));
    const top = statuses[leader]?.raftIndex ?? 0;
    if (statuses.every((s) => s !== null && s.raftAppliedIndex >= top - caughtUpEntries)) return leader;
    if (performance.now() > deadline) throw new Error(`etcd: a member did not catch up within 60 s: ${JSON.stringify(statuses)}`);
    await sleep(100);
  }
}

/** A fresh cluster under `dir`; `kills` times: SIGKILL of the leader under 4 fast-retrying clients. */
export async function measureEtcdFailover(binary: string, dir: string, settings: { kills: number }, table: Table) {
  const cluster = await EtcdCluster.start(binary, dir);
  const urls = cluster.clientUrls;
  const pools = urls.map((url) => keepAlivePool(url, failoverWriters));
  let stop = false;
  const acks: number[] = [];
  let acked = 0;
  let failedAttempts = 0;
  let firstError: string | undefined;
  let seq = 0;
  let turn = 0;
  // Like etcd's own Go client (3.4): each request to the next member in turn; a failed attempt
  // is retried at once on the next one.
  const writers = Array.from({ length: failoverWriters }, async () => {
    while (!stop) {
      const pool = pools[turn++ % pools.length];
      try {
        await put(pool, cluster.apiPrefix, `failover/${seq++}`, randomBytes(1024 + Math.floor(Math.random() * 3072)), failoverAttemptTimeoutMs);
        acked++;
        acks.push(performance.now());
      } catch (err) {
        failedAttempts++;
        firstError ??= errorText(err);
        await sleep(failoverRetryDelayMs);
      }
    }
  });
  const pausesMs: number[] = [];
  try {
    for (let i = 0; i < settings.kills; i++) {
      await sleep(500);
      const leader = await waitSettled(cluster);
      const killedAt = performance.now();
      await cluster.kill(leader, 'SIGKILL');
      const exitedAt = performance.now();
      pausesMs.push(
        await pauseToFirstAck(acks, killedAt, exitedAt, failoverGiveUpMs, () => `etcd: no put succeeded within ${failoverGiveUpMs / 1000} s of the kill (${failedAttempts} failed attempts, first: ${firstError})`),
      );
      cluster.restart(leader);
    }
  } finally {
    stop = true;
    await Promise.all(writers);
    await Promise.all(pools.map((p) => p.close()));
    await cluster.stop();
  }
  // The same p50 as our failover section's: the lower middle of the tries.
  const p50Ms = percentile([...pausesMs].sort((a, b) => a - b), 50);
  const maxMs = Math.max(...pausesMs);
  table.row('etcd', `kill -9 of its leader under ${failoverWriters} retrying clients, ${pausesMs.length} tries`, `p50 ${p50Ms} ms, max ${maxMs} ms`, `${failedAttempts} attempts failed and were retried`);
  return {
    tries: pausesMs.length,
    p50_ms: p50Ms,
    max_ms: maxMs,
    pauses_ms: pausesMs,
    acked_puts: acked,
    failed_attempts: failedAttempts,
    ...(firstError !== undefined ? { first_error: firstError } : {}),
    what: `SIGKILL of the leader while ${failoverWriters} clients put 1-4 KiB values, each request to the next member in turn (as etcd's Go client does); a failed attempt (refused, an error answer, or no answer within ${failoverAttemptTimeoutMs} ms) is retried on the next member after ${failoverRetryDelayMs} ms: from the kill to the first put acknowledged after the process is gone; the killed member is restarted before the next try`,
  };
}
