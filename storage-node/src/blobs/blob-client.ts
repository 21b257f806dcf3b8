// Moves chunks to and from peers' cluster ports over keep-alive pools. Every chunk fetched is
// verified against its hash here: the network and the peer's disk are both untrusted.
import { createHash } from 'node:crypto';
import { Pool } from 'undici';
import { assert } from '../../../shared/assert.ts';
import { CLUSTER_SECRET_HEADER } from '../transport/cluster-auth.ts';
import { assertChunkHash, CHUNK_BYTES_MAX_DEFAULT, ChunkHashMismatchError, ChunkTooLargeError } from './blob-store.ts';

export interface BlobClientOptions {
  readonly secret: string;
  /** Node id to cluster base URL (`http://127.0.0.1:3031`). */
  readonly peers: ReadonlyMap<string, string>;
  /** Deadline for one push or fetch: connect, transfer and answer (the peer fsyncs before answering). */
  readonly requestTimeoutMs?: number;
  /** Concurrent connections per peer, so pipelined pushes do not queue behind each other. */
  readonly connectionsPerPeer?: number;
  /** Largest chunk a peer may send back. */
  readonly chunkBytesMax?: number;
  /** TLS options for https:// peers (the CA their certificates are verified against). */
  readonly connect?: { readonly ca?: Buffer };
}

/** A peer answered, but not with what was asked. */
export class BlobRequestError extends Error {
  override readonly name = 'BlobRequestError';
  constructor(
    readonly peerId: string,
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

interface Peer {
  readonly url: string;
  readonly pool: Pool;
}

export class BlobClient {
  readonly #secret: string;
  readonly #requestTimeoutMs: number;
  readonly #connectionsPerPeer: number;
  readonly #chunkBytesMax: number;
  readonly #connect: { readonly ca?: Buffer };
  readonly #peers = new Map<string, Peer>();
  readonly #closing = new Set<Promise<void>>();
  #closed = false;

  constructor(options: BlobClientOptions) {
    this.#secret = options.secret;
    this.#requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
    this.#connectionsPerPeer = options.connectionsPerPeer ?? 8;
    this.#chunkBytesMax = options.chunkBytesMax ?? CHUNK_BYTES_MAX_DEFAULT;
    this.#connect = options.connect ?? {};
    assert(this.#connectionsPerPeer >= 1, 'connectionsPerPeer must be at least 1');
    this.setPeers(options.peers);
  }

  /** Replaces the peer addresses; pools of removed or moved peers close once idle. */
  setPeers(peers: ReadonlyMap<string, string>): void {
    if (this.#closed) return;
    for (const [id, peer] of this.#peers) {
      if (peers.get(id) === peer.url) continue;
      this.#retire(peer.pool);
      this.#peers.delete(id);
    }
    for (const [id, url] of peers) {
      if (this.#peers.has(id)) continue;
      const pool = new Pool(new URL(url).origin, {
        connections: this.#connectionsPerPeer,
        connect: { ...this.#connect, timeout: this.#requestTimeoutMs },
      });
      this.#peers.set(id, { url, pool });
    }
  }

  /**
   * Stores a chunk on a peer. Resolves true when it was newly written, false when the peer
   * already held an intact copy; either way the peer holds it durably. Rejects otherwise, and
   * when `signal` aborts first (an upload giving up on a straggler).
   */
  async push(peerId: string, hash: string, data: Buffer, signal?: AbortSignal): Promise<boolean> {
    assertChunkHash(hash);
    const res = await this.#pool(peerId).request({
      method: 'PUT',
      path: `/blobs/${hash}`,
      headers: {
        [CLUSTER_SECRET_HEADER]: this.#secret,
        'content-type': 'application/octet-stream',
        'content-length': String(data.length),
      },
      body: data,
      signal: signal === undefined ? AbortSignal.timeout(this.#requestTimeoutMs) : AbortSignal.any([signal, AbortSignal.timeout(this.#requestTimeoutMs)]),
    });
    const text = await res.body.text();
    if (res.statusCode === 201) return true;
    if (res.statusCode === 200) return false;
    throw new BlobRequestError(peerId, res.statusCode, `push of ${hash} to ${peerId} answered ${res.statusCode}: ${text}`);
  }

  /** The chunk from one peer, verified; null when the peer does not have it (or had it corrupt). */
  async fetch(peerId: string, hash: string): Promise<Buffer | null> {
    assertChunkHash(hash);
    const signal = AbortSignal.timeout(this.#requestTimeoutMs);
    const res = await this.#pool(peerId).request({
      method: 'GET',
      path: `/blobs/${hash}`,
      headers: { [CLUSTER_SECRET_HEADER]: this.#secret },
      signal,
    });
    if (res.statusCode === 404) {
      await res.body.dump();
      return null;
    }
    if (res.statusCode !== 200) {
      const text = await res.body.text();
      throw new BlobRequestError(peerId, res.statusCode, `fetch of ${hash} from ${peerId} answered ${res.statusCode}: ${text}`);
    }
    // Bounded: a peer cannot make us buffer more than one chunk's worth.
    const pieces: Buffer[] = [];
    let received = 0;
    const hasher = createHash('sha256');
    for await (const piece of res.body) {
      const bytes = piece as Buffer;
      received += bytes.length;
      if (received > this.#chunkBytesMax) {
        res.body.destroy();
        throw new ChunkTooLargeError(this.#chunkBytesMax);
      }
      hasher.update(bytes);
      pieces.push(bytes);
    }
    const actual = hasher.digest('hex');
    if (actual !== hash) throw new ChunkHashMismatchError(hash, actual);
    return Buffer.concat(pieces, received);
  }

  /** Whether `peerId` stores `hash` (HEAD: existence, not verified; the scrubber verifies). */
  async has(peerId: string, hash: string): Promise<boolean> {
    assertChunkHash(hash);
    const res = await this.#pool(peerId).request({
      method: 'HEAD',
      path: `/blobs/${hash}`,
      headers: { [CLUSTER_SECRET_HEADER]: this.#secret },
      signal: AbortSignal.timeout(this.#requestTimeoutMs),
    });
    await res.body.dump();
    if (res.statusCode === 200) return true;
    if (res.statusCode === 404) return false;
    throw new BlobRequestError(peerId, res.statusCode, `HEAD of ${hash} at ${peerId} answered ${res.statusCode}`);
  }

  /** Every hash `peerId` stores (GET /blobs, streamed line by line). */
  async *list(peerId: string): AsyncGenerator<string> {
    const res = await this.#pool(peerId).request({ method: 'GET', path: '/blobs', headers: { [CLUSTER_SECRET_HEADER]: this.#secret } });
    if (res.statusCode !== 200) {
      const text = await res.body.text();
      throw new BlobRequestError(peerId, res.statusCode, `listing chunks of ${peerId} answered ${res.statusCode}: ${text}`);
    }
    let rest = '';
    for await (const piece of res.body) {
      const lines = (rest + (piece as Buffer).toString('latin1')).split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) if (line !== '') yield line;
    }
    if (rest !== '') yield rest;
  }

  /** What `peerId` stores and the room left on its disk. */
  async stats(peerId: string): Promise<{ chunks: number; bytes: number; free_bytes: number; disk_bytes: number }> {
    const res = await this.#pool(peerId).request({ method: 'GET', path: '/blob-stats', headers: { [CLUSTER_SECRET_HEADER]: this.#secret }, signal: AbortSignal.timeout(this.#requestTimeoutMs * 4) });
    const text = await res.body.text();
    if (res.statusCode !== 200) throw new BlobRequestError(peerId, res.statusCode, `blob stats of ${peerId} answered ${res.statusCode}: ${text}`);
    return JSON.parse(text) as { chunks: number; bytes: number; free_bytes: number; disk_bytes: number };
  }

  /**
   * Tries the peers in turn. Null only when every one of them answered that it lacks the chunk;
   * when some could not be asked, rejects so the caller retries later instead of giving up.
   */
  async fetchFromAny(hash: string, peerIds: Iterable<string>): Promise<Buffer | null> {
    assertChunkHash(hash);
    const failures: unknown[] = [];
    for (const peerId of peerIds) {
      try {
        const data = await this.fetch(peerId, hash);
        if (data !== null) return data;
      } catch (err) {
        failures.push(err);
      }
    }
    if (failures.length === 0) return null;
    throw new AggregateError(failures, `chunk ${hash}: not found, and ${failures.length} peer(s) failed`);
  }

  /** Closes every pool after its requests in flight finish. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const peer of this.#peers.values()) this.#retire(peer.pool);
    this.#peers.clear();
    await Promise.all(this.#closing);
  }

  #pool(peerId: string): Pool {
    // Not an assertion: background repairs may still race a shutdown.
    if (this.#closed) throw new Error('BlobClient is closed');
    const peer = this.#peers.get(peerId);
    if (peer === undefined) throw new Error(`unknown peer ${peerId}`);
    return peer.pool;
  }

  #retire(pool: Pool): void {
    const done = pool.close().catch(() => undefined);
    this.#closing.add(done);
    void done.then(() => this.#closing.delete(done));
  }
}
