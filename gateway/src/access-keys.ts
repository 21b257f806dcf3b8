// The access keys the gateway accepts: the root key of its configuration, plus the live keys of
// the replicated metadata, read from a node (`GET /admin/keys?secrets=1`, with the admin token)
// every `keyRefreshMs` and, for a key id it does not know, at most once per `unknownKeyRefreshMs`.
// A revoked key stops working within one refresh. Secrets stay in memory, never in a log.
import { request } from 'undici';
import { peerAgent } from '../../shared/tls-client.ts';
import type { KeyLookup } from '../../shared/sigv4/verify-request.ts';
import type { ClusterView } from './cluster-view.ts';
import type { GatewayConfig } from './config.ts';

/** How often the key list is read again, ms. */
export const keyRefreshMs = 2000;
/** The least time between two reads caused by unknown key ids, ms (one client with a bad key must not flood the nodes). */
export const unknownKeyRefreshMs = 1000;
/** How long one read of the key list may take, ms. */
const keyFetchTimeoutMs = 3000;

interface KeyRow {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

export class AccessKeys implements KeyLookup {
  readonly #config: GatewayConfig;
  readonly #view: ClusterView;
  #live = new Map<string, string>();
  #timer: NodeJS.Timeout | null = null;
  #inFlight: Promise<void> | null = null;
  #lastFetchStartMs = 0;
  #lastProblem: string | null = null;

  constructor(config: GatewayConfig, view: ClusterView) {
    this.#config = config;
    this.#view = view;
  }

  /** Whether runtime keys are read at all (they need the admin token). */
  get enabled(): boolean {
    return this.#config.adminToken !== '';
  }

  start(): void {
    if (!this.enabled) return;
    void this.refresh();
    this.#timer = setInterval(() => void this.refresh(), keyRefreshMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  secretFor(accessKeyId: string): string | null {
    const root = this.#config.rootKey;
    if (root !== null && accessKeyId === root.accessKeyId) return root.secretAccessKey;
    return this.#live.get(accessKeyId) ?? null;
  }

  /**
   * Before a request signed with `accessKeyId` is verified: a key just created may not be known
   * yet, so an unknown id reads the list again first (at most once per unknownKeyRefreshMs).
   */
  async prepare(accessKeyId: string | null): Promise<void> {
    if (!this.enabled || accessKeyId === null || this.secretFor(accessKeyId) !== null) return;
    if (this.#inFlight !== null) return this.#inFlight;
    if (Date.now() - this.#lastFetchStartMs < unknownKeyRefreshMs) return;
    await this.refresh();
  }

  /** Reads the key list from a node (healthy ones first, then the seeds); keeps the last on failure. */
  refresh(): Promise<void> {
    if (this.#inFlight !== null) return this.#inFlight;
    this.#lastFetchStartMs = Date.now();
    this.#inFlight = this.#fetch().finally(() => {
      this.#inFlight = null;
    });
    return this.#inFlight;
  }

  async #fetch(): Promise<void> {
    const members = this.#view.snapshot().members;
    const urls = [...new Set([...members.filter((m) => m.healthy).map((m) => m.url), ...members.map((m) => m.url), ...this.#config.nodes])];
    let problem = 'no node to ask';
    for (const url of urls) {
      try {
        const res = await request(`${url}/admin/keys?secrets=1`, {
          headers: { authorization: `Bearer ${this.#config.adminToken}`, 'x-consistency': 'linearizable' },
          headersTimeout: keyFetchTimeoutMs,
          bodyTimeout: keyFetchTimeoutMs,
          dispatcher: peerAgent(this.#config.tlsCa),
        });
        if (res.statusCode !== 200) {
          problem = `${url} answered ${res.statusCode}`;
          await res.body.dump();
          continue;
        }
        const body = (await res.body.json()) as { keys?: KeyRow[] };
        if (!Array.isArray(body.keys)) {
          problem = `${url} answered no key list`;
          continue;
        }
        this.#live = new Map(body.keys.map((k) => [k.accessKeyId, k.secretAccessKey]));
        if (this.#lastProblem !== null) console.error(`gateway: the access keys are read again (${this.#live.size} live)`);
        this.#lastProblem = null;
        return;
      } catch (err) {
        problem = `${url}: ${(err as Error).message}`;
      }
    }
    // Said once per kind of problem: the refresh runs every few seconds.
    if (problem !== this.#lastProblem) console.error(`gateway: cannot read the access keys (keeping the ${this.#live.size} known): ${problem}`);
    this.#lastProblem = problem;
  }
}

/** The key id a SigV4 request names (Authorization's Credential, or X-Amz-Credential), or null. */
export function claimedAccessKeyId(headers: Headers, rawQuery: string): string | null {
  const authorization = headers.get('authorization');
  const credential = authorization !== null ? /Credential=([^/,\s]+)\//.exec(authorization)?.[1] : new URLSearchParams(rawQuery).get('X-Amz-Credential')?.split('/')[0];
  return credential === undefined || credential === '' ? null : credential;
}
