// Requests to the nodes: one undici Pool of keep-alive connections per node for client traffic,
// and a separate small one for /status polls so that a busy node's queue never delays the poll
// that decides whether it is healthy. Counts each node's outstanding requests (for replica choice).
import { Pool } from 'undici';
import type { Dispatcher } from 'undici';

export interface UpstreamRequest {
  readonly method: Dispatcher.HttpMethod;
  /** Path and query, already normalized. */
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body: AsyncIterable<Uint8Array> | Uint8Array | null;
  /**
   * Time allowed for the answer's headers once the request's body is sent: an idle timer, since
   * undici holds it while the body is still being written and restarts it at each stall.
   */
  readonly headersTimeoutMs: number;
  /** Longest pause between two pieces of the answer's body (an idle timer, not a total). */
  readonly bodyTimeoutMs: number;
  readonly signal?: AbortSignal;
}

export interface UpstreamOptions {
  readonly connectionsPerNode: number;
  /** TLS options for https:// nodes (the CA their certificates are verified against). */
  readonly connect?: { readonly ca?: Buffer };
}

/** Connections kept for /status polls of one node. */
const statusConnections = 2;
/** An idle keep-alive connection is closed after this (the node's server closes after 5 s). */
const keepAliveTimeoutMs = 4_000;

export class Upstreams {
  readonly #options: UpstreamOptions;
  readonly #pools = new Map<string, Pool>();
  readonly #statusPools = new Map<string, Pool>();
  readonly #outstanding = new Map<string, number>();

  constructor(options: UpstreamOptions) {
    this.#options = options;
  }

  /** Requests sent to `origin` whose answer has not been fully passed on yet. */
  outstanding(origin: string): number {
    return this.#outstanding.get(origin) ?? 0;
  }

  #pool(map: Map<string, Pool>, origin: string, connections: number): Pool {
    let pool = map.get(origin);
    if (pool === undefined) {
      pool = new Pool(origin, { connections, keepAliveTimeout: keepAliveTimeoutMs, keepAliveMaxTimeout: keepAliveTimeoutMs, connect: { ...this.#options.connect } });
      map.set(origin, pool);
    }
    return pool;
  }

  #count(origin: string, delta: number): void {
    this.#outstanding.set(origin, this.outstanding(origin) + delta);
  }

  /**
   * Sends one request. The outstanding count holds until the answer's body is consumed or
   * destroyed, so a long download keeps counting against its node.
   */
  async request(origin: string, request: UpstreamRequest): Promise<Dispatcher.ResponseData> {
    this.#count(origin, +1);
    let response: Dispatcher.ResponseData;
    try {
      response = await this.#pool(this.#pools, origin, this.#options.connectionsPerNode).request({
        method: request.method,
        path: request.path,
        headers: request.headers,
        body: request.body as Dispatcher.DispatchOptions['body'],
        headersTimeout: request.headersTimeoutMs,
        bodyTimeout: request.bodyTimeoutMs,
        signal: request.signal,
      });
    } catch (err) {
      this.#count(origin, -1);
      throw err;
    }
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.#count(origin, -1);
    };
    response.body.once('close', release);
    response.body.once('end', release);
    response.body.once('error', release);
    return response;
  }

  /** GET /status of one node: its JSON, or an error when it fails, times out or is not 200. */
  async status(origin: string, timeoutMs: number): Promise<unknown> {
    const signal = AbortSignal.timeout(timeoutMs);
    const response = await this.#pool(this.#statusPools, origin, statusConnections).request({
      method: 'GET',
      path: '/status',
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      signal,
    });
    if (response.statusCode !== 200) {
      await response.body.dump();
      throw new Error(`/status answered ${response.statusCode}`);
    }
    return await response.body.json();
  }

  /** Closes the connections to a node that left the cluster. */
  async forget(origin: string): Promise<void> {
    const pools = [this.#pools.get(origin), this.#statusPools.get(origin)];
    this.#pools.delete(origin);
    this.#statusPools.delete(origin);
    await Promise.all(pools.map((p) => p?.close().catch(() => undefined)));
  }

  async close(): Promise<void> {
    const pools = [...this.#pools.values(), ...this.#statusPools.values()];
    this.#pools.clear();
    this.#statusPools.clear();
    await Promise.all(pools.map((p) => p.destroy().catch(() => undefined)));
  }
}

/** A short reason for a failed request to a node: "ECONNREFUSED", "UND_ERR_HEADERS_TIMEOUT: …". */
export function describeUpstreamError(err: unknown): string {
  const error = err as (Error & { code?: string; cause?: { code?: string; message?: string } }) | null;
  if (error === null || typeof error !== 'object') return String(err);
  const code = error.cause?.code ?? error.code;
  return code !== undefined ? `${code}: ${error.message}` : error.message;
}
