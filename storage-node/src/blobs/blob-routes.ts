// Cluster-port routes that move chunks between nodes. Mount under a Hono app that already runs
// clusterAuth. A corrupt or missing chunk answers 404 so the asker simply tries another peer.
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { Hono } from 'hono';
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { stopOnAssertion } from '../../../shared/assert.ts';
import {
  ChunkCorruptError,
  ChunkHashMismatchError,
  ChunkTooLargeError,
  isChunkHash,
} from './blob-store.ts';
import type { BlobStore } from './blob-store.ts';
import type { PushAdmission } from '../chunks/chunk-guard.ts';

export interface BlobRoutesOptions {
  readonly store: BlobStore;
  /** Largest chunk accepted; defaults to the store's bound. Keep it >= every node's chunk size. */
  readonly chunkBytesMax?: number;
  /**
   * Told of every valid push before its bytes are written: the push may belong to an upload this
   * node cannot see yet, so the collector must leave the chunk alone for a while. A push it does
   * not admit (too many remembered already) is refused with 503 and Retry-After.
   */
  readonly onPush?: (hash: string) => PushAdmission | void;
}

function fail(c: Context, status: ContentfulStatusCode, code: string, message: string): Response {
  return c.json({ error: { code, message } }, status);
}

function badHash(c: Context): Response {
  return fail(c, 400, 'bad_hash', 'a chunk hash is 64 lowercase hex characters');
}

function isOutOfDisk(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

export function blobRoutes(options: BlobRoutesOptions): Hono {
  const { store } = options;
  const chunkBytesMax = Math.min(options.chunkBytesMax ?? store.chunkBytesMax, store.chunkBytesMax);
  const app = new Hono();

  app.onError((err, c) => {
    stopOnAssertion(err, `${c.req.method} ${c.req.path}`); // a broken invariant stops the node
    return fail(c, 500, 'internal', err.message);
  });

  app.put('/blobs/:hash', async (c) => {
    const hash = c.req.param('hash');
    if (!isChunkHash(hash)) return badHash(c);
    const declared = Number(c.req.header('content-length') ?? NaN);
    if (declared > chunkBytesMax) {
      return fail(c, 413, 'too_large', `chunk of ${declared} bytes exceeds ${chunkBytesMax}`);
    }
    const admission = options.onPush?.(hash);
    if (admission?.admitted === false) {
      c.header('Retry-After', String(admission.retryAfterSeconds));
      return fail(c, 503, 'too_many_pushes', 'this node remembers as many recent pushes as it may; try again later');
    }
    // The Node request itself under @hono/node-server: no web stream around the socket.
    const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
    const body = incoming === undefined ? c.req.raw.body : null;
    const source: Readable = incoming ?? (body ? Readable.fromWeb(body as NodeReadableStream<Uint8Array>) : Readable.from([]));
    let sourceFailed = false;
    source.once('error', () => (sourceFailed = true));
    try {
      const created = await store.writeChunkStream(hash, source, chunkBytesMax);
      return c.body(null, created ? 201 : 200);
    } catch (err) {
      const text = err instanceof Error ? err.message : String(err);
      if (err instanceof ChunkHashMismatchError) return fail(c, 400, 'hash_mismatch', text);
      if (err instanceof ChunkTooLargeError) return fail(c, 413, 'too_large', text);
      if (sourceFailed) return fail(c, 400, 'incomplete_body', `chunk body ended early: ${text}`);
      if (isOutOfDisk(err)) return fail(c, 507, 'out_of_disk', text);
      throw err;
    }
  });

  // Every stored hash, one per line, streamed (fsck compares them with placement).
  app.get('/blobs', (c) => {
    const lines = Readable.from((async function* () {
      for await (const hash of store.list()) yield `${hash}\n`;
    })());
    return c.body(Readable.toWeb(lines) as unknown as ReadableStream, 200, { 'content-type': 'text/plain; charset=utf-8' });
  });

  // What this node stores, and the room left on its disk.
  app.get('/blob-stats', async (c) => c.json(await store.storageStats()));

  // Hono answers HEAD through this handler and drops the body; HEAD skips the read.
  app.get('/blobs/:hash', async (c) => {
    const hash = c.req.param('hash');
    if (!isChunkHash(hash)) return badHash(c);
    const headers = { 'content-type': 'application/octet-stream' };
    if (c.req.method === 'HEAD') {
      // Existence only, unverified: pushers must PUT (which verifies) rather than trust HEAD.
      const size = await store.size(hash);
      if (size === null) return fail(c, 404, 'not_found', `no chunk ${hash}`);
      return c.body(null, 200, { ...headers, 'content-length': String(size) });
    }
    let data: Buffer<ArrayBuffer> | null;
    try {
      // Verified whole before the status line goes out, so a bad chunk can still be a 404.
      data = await store.readChunk(hash);
    } catch (err) {
      if (err instanceof ChunkCorruptError) return fail(c, 404, 'not_found', err.message);
      throw err;
    }
    if (data === null) return fail(c, 404, 'not_found', `no chunk ${hash}`);
    return c.body(data, 200, headers);
  });

  return app;
}
