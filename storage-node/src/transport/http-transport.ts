// Sends Raft messages to peers' cluster ports. send() never waits on the network: messages wait
// in a bounded per-peer queue, and whatever queued up while a request was in flight goes out as
// the next batch. Loss is fine (Raft retransmits), so nothing is ever retried here.
import { Readable } from 'node:stream';
import { Pool } from 'undici';
import { assert } from '../../../shared/assert.ts';
import type { InstallSnapshotMessage, Message, NodeId } from '../raft/types.ts';
import { CLUSTER_SECRET_HEADER } from './cluster-auth.ts';
import { encodeMessageHeader, RAFT_MESSAGE_HEADER } from './raft-routes.ts';

export interface HttpTransportOptions {
  readonly selfId: NodeId;
  readonly secret: string;
  /** Node id to cluster base URL (`http://127.0.0.1:3031`). An entry for selfId is ignored. */
  readonly peers: ReadonlyMap<NodeId, string>;
  /** Per peer; beyond it the oldest queued messages are dropped. */
  readonly queueMessagesMax?: number;
  /** Deadline for one message batch: connect, upload and answer. */
  readonly requestTimeoutMs?: number;
  /** Roughly the largest batch body (JSON characters); keeps well below the receiver's limit. */
  readonly batchBytesMax?: number;
  /** A snapshot transfer is aborted after this long without progress (sending or awaiting 204). */
  readonly snapshotIdleTimeoutMs?: number;
  /** TLS options for https:// peers (the CA their certificates are verified against). */
  readonly connect?: { readonly ca?: Buffer };
  /** A message batch to this peer was lost (network error, timeout or non-204 answer). */
  readonly onUnreachable?: (peerId: NodeId, error: unknown) => void;
}

export interface TransportStats {
  /** Messages in batches the peer acknowledged with 204. */
  readonly sentMessages: number;
  readonly sentBatches: number;
  /** Messages lost: queue overflow, unknown peer, failed batches, closed transport. */
  readonly droppedMessages: number;
  readonly failedRequests: number;
  readonly queuedMessages: number;
  readonly snapshotsSent: number;
  readonly snapshotsFailed: number;
}

interface Peer {
  readonly id: NodeId;
  url: string;
  pool: Pool;
  queue: Message[];
  inFlight: boolean;
  removed: boolean;
}

export class HttpTransport {
  private readonly selfId: NodeId;
  private readonly secret: string;
  private readonly queueMessagesMax: number;
  private readonly requestTimeoutMs: number;
  private readonly batchBytesMax: number;
  private readonly snapshotIdleTimeoutMs: number;
  private readonly onUnreachable: ((peerId: NodeId, error: unknown) => void) | undefined;
  private readonly connect: { readonly ca?: Buffer };
  private readonly peers = new Map<NodeId, Peer>();
  private readonly closingPools = new Set<Promise<void>>();
  private readonly snapshotAborts = new Set<AbortController>();
  private closed = false;
  private counters = {
    sentMessages: 0,
    sentBatches: 0,
    droppedMessages: 0,
    failedRequests: 0,
    snapshotsSent: 0,
    snapshotsFailed: 0,
  };

  constructor(options: HttpTransportOptions) {
    this.selfId = options.selfId;
    this.secret = options.secret;
    this.queueMessagesMax = options.queueMessagesMax ?? 4096;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 5000;
    this.batchBytesMax = options.batchBytesMax ?? 16 * 1024 * 1024;
    this.snapshotIdleTimeoutMs = options.snapshotIdleTimeoutMs ?? 30_000;
    this.onUnreachable = options.onUnreachable;
    this.connect = options.connect ?? {};
    assert(this.queueMessagesMax >= 1, 'queueMessagesMax must be at least 1');
    this.setPeers(options.peers);
  }

  /** Queues messages for their peers and returns at once. */
  send(messages: readonly Message[]): void {
    const touched = new Set<Peer>();
    for (const m of messages) {
      assert(m.type !== 'InstallSnapshot', 'InstallSnapshot must go through sendSnapshot()');
      const peer = this.closed ? undefined : this.peers.get(m.to);
      if (peer === undefined) {
        this.counters.droppedMessages++;
        continue;
      }
      peer.queue.push(m);
      touched.add(peer);
    }
    for (const peer of touched) {
      const excess = peer.queue.length - this.queueMessagesMax;
      if (excess > 0) {
        peer.queue.splice(0, excess);
        this.counters.droppedMessages += excess;
      }
      this.flush(peer);
    }
  }

  /**
   * Streams a snapshot's bytes to the peer alongside the message that names them. Resolves
   * true once the peer has the file durably and has delivered the message; never rejects.
   */
  async sendSnapshot(
    message: InstallSnapshotMessage,
    open: () => NodeJS.ReadableStream,
  ): Promise<boolean> {
    const peer = this.closed ? undefined : this.peers.get(message.to);
    if (peer === undefined) {
      this.counters.snapshotsFailed++;
      return false;
    }
    const abort = new AbortController();
    this.snapshotAborts.add(abort);
    let timer: NodeJS.Timeout | undefined;
    const touch = () => {
      clearTimeout(timer);
      timer = setTimeout(
        () => abort.abort(new Error('snapshot transfer made no progress')),
        this.snapshotIdleTimeoutMs,
      ).unref();
    };
    let source: NodeJS.ReadableStream | undefined;
    try {
      touch();
      source = open();
      const res = await peer.pool.request({
        method: 'POST',
        path: '/raft/snapshot',
        headers: {
          [CLUSTER_SECRET_HEADER]: this.secret,
          [RAFT_MESSAGE_HEADER]: encodeMessageHeader(message),
          'content-type': 'application/octet-stream',
        },
        body: Readable.from(progress(source, touch), { objectMode: false }),
        signal: abort.signal,
        // The idle watchdog above replaces undici's timeouts: the peer fsyncs before answering.
        headersTimeout: 0,
        bodyTimeout: 0,
      });
      const text = await res.body.text();
      if (res.statusCode !== 204) throw new Error(`answered ${res.statusCode}: ${text}`);
      this.counters.snapshotsSent++;
      return true;
    } catch {
      this.counters.snapshotsFailed++;
      return false;
    } finally {
      clearTimeout(timer);
      this.snapshotAborts.delete(abort);
      // The body may never have been read (refused connection, early 401): release the file.
      const destroyable = source as { destroy?: () => void } | undefined;
      destroyable?.destroy?.();
    }
  }

  /** Replaces the peer addresses. Queues survive an address change; removed peers lose theirs. */
  setPeers(peers: ReadonlyMap<NodeId, string>): void {
    if (this.closed) return;
    for (const [id, peer] of this.peers) {
      const url = peers.get(id);
      if (url === undefined) {
        peer.removed = true;
        this.counters.droppedMessages += peer.queue.length;
        peer.queue = [];
        this.retire(peer.pool);
        this.peers.delete(id);
      } else if (url !== peer.url) {
        this.retire(peer.pool);
        peer.pool = this.newPool(url);
        peer.url = url;
      }
    }
    for (const [id, url] of peers) {
      if (id === this.selfId || this.peers.has(id)) continue;
      this.peers.set(id, { id, url, pool: this.newPool(url), queue: [], inFlight: false, removed: false });
    }
  }

  stats(): TransportStats {
    let queuedMessages = 0;
    for (const peer of this.peers.values()) queuedMessages += peer.queue.length;
    return { ...this.counters, queuedMessages };
  }

  /** Lets requests in flight finish (bounded by their timeouts), drops the queues, closes pools. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const abort of this.snapshotAborts) abort.abort(new Error('transport closed'));
    for (const peer of this.peers.values()) {
      peer.removed = true;
      this.counters.droppedMessages += peer.queue.length;
      peer.queue = [];
      this.retire(peer.pool);
    }
    this.peers.clear();
    await Promise.all(this.closingPools);
  }

  private newPool(url: string): Pool {
    // A few connections so a long snapshot upload never blocks the message stream.
    return new Pool(new URL(url).origin, {
      connections: 4,
      connect: { ...this.connect, timeout: this.requestTimeoutMs },
    });
  }

  private retire(pool: Pool): void {
    const done = pool.close().catch(() => undefined);
    this.closingPools.add(done);
    void done.then(() => this.closingPools.delete(done));
  }

  // At most one batch in flight per peer: that is both the ordering guarantee and the batching.
  private flush(peer: Peer): void {
    if (peer.inFlight || peer.removed || peer.queue.length === 0) return;
    const parts: string[] = [];
    let size = 0;
    for (const m of peer.queue) {
      const json = JSON.stringify(m);
      if (parts.length > 0 && size + json.length > this.batchBytesMax) break;
      parts.push(json);
      size += json.length + 1;
    }
    peer.queue = parts.length === peer.queue.length ? [] : peer.queue.slice(parts.length);
    peer.inFlight = true;
    void this.post(peer, parts).finally(() => {
      peer.inFlight = false;
      this.flush(peer);
    });
  }

  private async post(peer: Peer, parts: string[]): Promise<void> {
    try {
      const res = await peer.pool.request({
        method: 'POST',
        path: '/raft/messages',
        headers: { [CLUSTER_SECRET_HEADER]: this.secret, 'content-type': 'application/json' },
        body: `{"messages":[${parts.join(',')}]}`,
        signal: AbortSignal.timeout(this.requestTimeoutMs),
      });
      const text = await res.body.text();
      if (res.statusCode !== 204) throw new Error(`answered ${res.statusCode}: ${text}`);
      this.counters.sentMessages += parts.length;
      this.counters.sentBatches++;
    } catch (err) {
      this.counters.failedRequests++;
      this.counters.droppedMessages += parts.length;
      this.onUnreachable?.(peer.id, err);
    }
  }
}

// Resets the idle watchdog on every chunk; undici pulls from it with backpressure.
async function* progress(
  source: NodeJS.ReadableStream,
  touch: () => void,
): AsyncGenerator<string | Buffer> {
  for await (const chunk of source) {
    touch();
    yield chunk;
  }
  touch();
}
