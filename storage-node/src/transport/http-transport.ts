// Sends Raft messages to peers' cluster ports. send() never waits on the network: messages wait
// in a bounded per-peer queue and leave on one long-lived stream per peer (POST /raft/stream, one
// JSON message per line), in order, with no round trip per batch: a message costs one one-way
// hop, like etcd's stream transport. Loss is fine (Raft retransmits), so nothing is ever resent:
// a broken stream drops what it carried and the next message opens a new one.
import { Readable } from 'node:stream';
import { Pool } from 'undici';
import { assert } from '../../../shared/assert.ts';
import type { Entry, InstallSnapshotMessage, Message, NodeId } from '../raft/types.ts';
import { CLUSTER_SECRET_HEADER } from './cluster-auth.ts';
import { encodeMessageHeader, RAFT_MESSAGE_HEADER } from './raft-routes.ts';

export interface HttpTransportOptions {
  readonly selfId: NodeId;
  readonly secret: string;
  /** Node id to cluster base URL (`http://127.0.0.1:3031`). An entry for selfId is ignored. */
  readonly peers: ReadonlyMap<NodeId, string>;
  /** Per peer; beyond it the oldest queued messages are dropped. */
  readonly queueMessagesMax?: number;
  /** Deadline for connecting to a peer. */
  readonly requestTimeoutMs?: number;
  /** Roughly the most JSON characters written to a stream at once. */
  readonly batchBytesMax?: number;
  /** A stream is ended and a new one opened after this long, so no request lives forever. */
  readonly streamLifetimeMs?: number;
  /**
   * A stream to a peer we have not heard from for this long while we keep sending is cut and
   * opened again: a silent network partition leaves TCP retrying into a dead connection for
   * minutes, long after the link has healed.
   */
  readonly silentPeerResetMs?: number;
  /** Milliseconds since any message from the peer arrived (undefined: never). */
  readonly heardFromAgoMs?: (peerId: NodeId) => number | undefined;
  /** A snapshot transfer is aborted after this long without progress (sending or awaiting 204). */
  readonly snapshotIdleTimeoutMs?: number;
  /** TLS options for https:// peers (the CA their certificates are verified against). */
  readonly connect?: { readonly ca?: Buffer };
  /** Messages to this peer were lost (the stream broke or could not be opened). */
  readonly onUnreachable?: (peerId: NodeId, error: unknown) => void;
  /** Seconds a batch waited in the queue before its stream took it (for /metrics). */
  readonly onBatchQueued?: (seconds: number) => void;
}

export interface TransportStats {
  /** Messages written to a stream (a stream that breaks later may still lose them). */
  readonly sentMessages: number;
  readonly sentBatches: number;
  /** Messages lost: queue overflow, unknown peer, broken streams, closed transport. */
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
  /** performance.now() when the queue last went from empty to non-empty. */
  queuedSinceMs: number;
  /** The open stream, or null when none is open. */
  stream: PeerStream | null;
  /** No new stream before this time (performance.now()): a peer that refuses is not hammered. */
  retryAtMs: number;
  removed: boolean;
}

interface PeerStream {
  /**
   * The request body: queued messages are pushed into it as JSON lines. A push made outside the
   * body's read() reaches undici's 'data' handler, and so the socket, before send() returns: no
   * wait for a later turn of the event loop on the way out.
   */
  readonly body: Readable;
  /** The body wants more (its read() was called and no push has said stop since). */
  wantsData: boolean;
  /** The end of the body has been pushed. */
  ended: boolean;
  readonly abort: AbortController;
  readonly openedMs: number;
  ending: boolean;
  lifetime: NodeJS.Timeout | null;
}

/** The error codes in `error`, its causes and (AggregateError) the errors it gathers. */
function errorCodes(error: unknown, depth = 0): string[] {
  if (typeof error !== 'object' || error === null || depth > 5) return [];
  const { code, cause, errors } = error as { code?: unknown; cause?: unknown; errors?: unknown };
  const inner = Array.isArray(errors) ? errors.flatMap((e) => errorCodes(e, depth + 1)) : [];
  return [...(typeof code === 'string' ? [code] : []), ...inner, ...errorCodes(cause, depth + 1)];
}

/** Whether `error` (from undici) says that nothing listens at the peer's address. */
export function isConnectionRefused(error: unknown): boolean {
  return errorCodes(error).includes('ECONNREFUSED');
}

const brokenConnectionCodes = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE']);

/** Whether `error` (from undici) says an open connection was cut (the peer may have died). */
function isConnectionBroken(error: unknown): boolean {
  return errorCodes(error).some((code) => brokenConnectionCodes.has(code));
}

/** After a stream fails, wait this long before opening the next one. */
const streamRetryDelayMs = 100;

export class HttpTransport {
  private readonly selfId: NodeId;
  private readonly secret: string;
  private readonly queueMessagesMax: number;
  private readonly requestTimeoutMs: number;
  private readonly batchBytesMax: number;
  private readonly snapshotIdleTimeoutMs: number;
  private readonly onUnreachable: ((peerId: NodeId, error: unknown) => void) | undefined;
  private readonly onBatchQueued: ((seconds: number) => void) | undefined;
  private readonly streamLifetimeMs: number;
  private readonly silentPeerResetMs: number;
  private readonly heardFromAgoMs: ((peerId: NodeId) => number | undefined) | undefined;
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
    this.onBatchQueued = options.onBatchQueued;
    this.streamLifetimeMs = options.streamLifetimeMs ?? 30_000;
    this.silentPeerResetMs = options.silentPeerResetMs ?? 3_000;
    this.heardFromAgoMs = options.heardFromAgoMs;
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
      if (peer.queue.length === 0) peer.queuedSinceMs = performance.now();
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
        this.endStream(peer, true);
        this.retire(peer.pool);
        this.peers.delete(id);
      } else if (url !== peer.url) {
        this.endStream(peer, true);
        this.retire(peer.pool);
        peer.pool = this.newPool(url);
        peer.url = url;
      }
    }
    for (const [id, url] of peers) {
      if (id === this.selfId || this.peers.has(id)) continue;
      this.peers.set(id, { id, url, pool: this.newPool(url), queue: [], queuedSinceMs: 0, stream: null, retryAtMs: 0, removed: false });
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
      this.endStream(peer, false);
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

  /** Hands queued messages to the peer's stream, opening one when none is open. */
  private flush(peer: Peer): void {
    if (peer.removed || peer.queue.length === 0) return;
    const stream = peer.stream;
    if (stream !== null) {
      if (this.isSilent(peer, stream)) {
        // Sending into a connection nothing comes back from: start afresh.
        this.endStream(peer, true);
      } else {
        this.pump(peer, stream);
        return;
      }
    }
    const waitMs = peer.retryAtMs - performance.now();
    if (waitMs > 0) {
      setTimeout(() => this.flush(peer), waitMs).unref();
      return;
    }
    this.openStream(peer);
  }

  private isSilent(peer: Peer, stream: PeerStream): boolean {
    if (this.heardFromAgoMs === undefined) return false;
    const now = performance.now();
    if (now - stream.openedMs < this.silentPeerResetMs) return false;
    const ago = this.heardFromAgoMs(peer.id);
    return ago === undefined || ago > this.silentPeerResetMs;
  }

  /** Ends the peer's open stream, if any (see stopStream). */
  private endStream(peer: Peer, abort: boolean): void {
    if (peer.stream !== null) this.stopStream(peer, peer.stream, abort);
  }

  /**
   * Ends `stream`: its body finishes (after what it is writing) or, with `abort`, the request is
   * cut; queued messages wait for the peer's next stream.
   */
  private stopStream(peer: Peer, stream: PeerStream, abort: boolean): void {
    if (peer.stream === stream) peer.stream = null;
    stream.ending = true;
    if (abort) stream.abort.abort(new Error('stream replaced'));
    this.pump(peer, stream);
  }

  private openStream(peer: Peer): void {
    const stream: PeerStream = {
      body: new Readable({
        read: () => {
          stream.wantsData = true;
          this.pump(peer, stream);
        },
      }),
      wantsData: false,
      ended: false,
      abort: new AbortController(),
      openedMs: performance.now(),
      ending: false,
      lifetime: null,
    };
    peer.stream = stream;
    // End the stream once it has lived long enough; messages still queued go on the next one.
    stream.lifetime = setTimeout(() => this.stopStream(peer, stream, false), this.streamLifetimeMs).unref();
    void peer.pool
      .request({
        method: 'POST',
        path: '/raft/stream',
        headers: { [CLUSTER_SECRET_HEADER]: this.secret, 'content-type': 'application/x-ndjson' },
        body: stream.body,
        signal: stream.abort.signal,
        // The stream lives for streamLifetimeMs; the peer answers only once it has ended.
        headersTimeout: 0,
        bodyTimeout: 0,
      })
      .then(async (res) => {
        const text = await res.body.text();
        if (res.statusCode !== 204) throw new Error(`answered ${res.statusCode}: ${text}`);
      })
      .catch((err: unknown) => {
        if (stream.abort.signal.aborted && stream.ending) return; // replaced or closed on purpose
        this.counters.failedRequests++;
        // What waits for a peer that cannot be reached is stale by the time it can: drop it.
        this.counters.droppedMessages += peer.queue.length;
        peer.queue = [];
        peer.retryAtMs = performance.now() + streamRetryDelayMs;
        this.onUnreachable?.(peer.id, err);
        // A stream that broke (rather than one never opened) may mean the peer's process died.
        // We may have nothing more to send it (a follower only answers its leader), so open a
        // stream again shortly anyway: a refused connection then tells the driver it is gone.
        if (isConnectionBroken(err)) {
          setTimeout(() => {
            if (!peer.removed && !this.closed && peer.stream === null) this.openStream(peer);
          }, streamRetryDelayMs).unref();
        }
      })
      .finally(() => {
        clearTimeout(stream.lifetime ?? undefined);
        this.stopStream(peer, stream, false);
        this.flush(peer);
      });
  }

  /**
   * Moves queued messages into the stream's body as JSON lines while it wants more; ends the
   * body once the stream is ending (what is still queued waits for the next stream).
   */
  private pump(peer: Peer, stream: PeerStream): void {
    if (stream.ended) return;
    if (stream.ending || peer.removed) {
      stream.ended = true;
      stream.body.push(null);
      return;
    }
    while (stream.wantsData && peer.queue.length > 0) {
      this.onBatchQueued?.((performance.now() - peer.queuedSinceMs) / 1000);
      let size = 0;
      let count = 0;
      const lines: string[] = [];
      for (const m of peer.queue) {
        const json = messageJson(m);
        if (count > 0 && size + json.length > this.batchBytesMax) break;
        lines.push(json);
        size += json.length + 1;
        count++;
      }
      peer.queue = count === peer.queue.length ? [] : peer.queue.slice(count);
      peer.queuedSinceMs = performance.now();
      this.counters.sentMessages += count;
      this.counters.sentBatches++;
      stream.wantsData = stream.body.push(Buffer.from(`${lines.join('\n')}\n`, 'utf8'));
    }
  }
}

/**
 * Each entry's JSON, by entry: the leader sends the same entries (the same objects, from its log)
 * to every follower, and a 4 KiB inline write's entry is about 5.5 KB of JSON to encode.
 */
const entryJsonCache = new WeakMap<Entry, string>();

function entryJson(entry: Entry): string {
  let json = entryJsonCache.get(entry);
  if (json === undefined) {
    json = JSON.stringify(entry);
    entryJsonCache.set(entry, json);
  }
  return json;
}

/** One message as its stream line: JSON.stringify(message), its entries encoded once for all peers. */
export function messageJson(message: Message): string {
  if (message.type !== 'AppendEntries' || message.entries.length === 0) return JSON.stringify(message);
  const { entries, ...rest } = message;
  const head = JSON.stringify(rest); // an object with fields: ends in "}" after a value
  return `${head.slice(0, -1)},"entries":[${entries.map(entryJson).join(',')}]}`;
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
