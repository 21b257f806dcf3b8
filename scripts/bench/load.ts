// Closed-loop load: `concurrency` workers each run one operation after another until the deadline;
// throughput and latency percentiles of the operations that succeeded. The HTTP clients are undici
// Pools with keep-alive connections, one connection per worker, so connection set-up stays out.
import { Pool } from 'undici';
import { errorText, percentile, round, sleep } from './common.ts';

export interface LoadStats {
  readonly concurrency: number;
  readonly ops: number;
  readonly errors: number;
  readonly seconds: number;
  readonly perSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly firstError?: string;
}

export async function closedLoop(options: {
  concurrency: number;
  durationMs: number;
  /** One operation; throws when it fails. */
  op: (seq: number, worker: number) => Promise<void>;
}): Promise<LoadStats> {
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  let seq = 0;
  const started = performance.now();
  const deadline = started + options.durationMs;
  await Promise.all(
    Array.from({ length: options.concurrency }, async (_, worker) => {
      while (performance.now() < deadline) {
        const t0 = performance.now();
        try {
          await options.op(seq++, worker);
          latencies.push(performance.now() - t0);
        } catch (err) {
          errors++;
          firstError ??= errorText(err);
          await sleep(10); // a failing target must not turn into a busy loop
        }
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    concurrency: options.concurrency,
    ops: latencies.length,
    errors,
    seconds: round(seconds, 2),
    perSecond: Math.round(latencies.length / seconds),
    p50Ms: round(percentile(latencies, 50), 2),
    p99Ms: round(percentile(latencies, 99), 2),
    ...(firstError !== undefined ? { firstError } : {}),
  };
}

/** A keep-alive pool (generous timeouts: the machines are shared and CI is slow). */
export function keepAlivePool(origin: string, connections: number): Pool {
  return new Pool(origin, {
    connections,
    keepAliveTimeout: 30_000,
    keepAliveMaxTimeout: 60_000,
    headersTimeout: 120_000,
    bodyTimeout: 120_000,
  });
}

/** PUT `body` to `path`; throws unless the answer is 201. */
export async function putFile(pool: Pool, path: string, body: Uint8Array, headers: Record<string, string> = {}): Promise<unknown> {
  const res = await pool.request({ method: 'PUT', path, body, headers: { 'content-type': 'application/octet-stream', ...headers } });
  if (res.statusCode !== 201) {
    const text = await res.body.text().catch(() => '');
    throw new Error(`PUT ${path} answered ${res.statusCode} ${text.slice(0, 200)}`);
  }
  return res.body.json();
}

/** GET `path`, reading and discarding the body; throws unless 200. Returns the bytes read. */
export async function getFile(pool: Pool, path: string, headers: Record<string, string> = {}): Promise<number> {
  const res = await pool.request({ method: 'GET', path, headers });
  if (res.statusCode !== 200) {
    const text = await res.body.text().catch(() => '');
    throw new Error(`GET ${path} answered ${res.statusCode} ${text.slice(0, 200)}`);
  }
  let bytes = 0;
  for await (const piece of res.body) bytes += (piece as Buffer).length;
  return bytes;
}

export function statsText(stats: LoadStats): string {
  const errors = stats.errors > 0 ? `, ${stats.errors} errors` : '';
  return `${stats.perSecond}/s, p50 ${stats.p50Ms} ms, p99 ${stats.p99Ms} ms${errors}`;
}

/** A measurement as it goes into bench/results.json. */
export function statsJson(stats: LoadStats) {
  return {
    writes_or_reads_per_second: stats.perSecond,
    p50_ms: stats.p50Ms,
    p99_ms: stats.p99Ms,
    ops: stats.ops,
    errors: stats.errors,
    seconds: stats.seconds,
    ...(stats.firstError !== undefined ? { first_error: stats.firstError } : {}),
  };
}
