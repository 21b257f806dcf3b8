// Cluster-port routes that carry Raft messages into this node. Mount under a Hono app that
// already runs clusterAuth; the blob routes will sit beside these on the same app.
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { Hono } from 'hono';
import type { Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { InstallSnapshotMessage, Message } from '../raft/types.ts';
import { fsyncPath } from '../durability/fsync.ts';

/** Carries the InstallSnapshot message (base64url JSON) while the body carries the bytes. */
export const RAFT_MESSAGE_HEADER = 'x-dfs-raft-message';
export const MESSAGES_BODY_BYTES_MAX = 64 * 1024 * 1024;

export interface RaftRoutesOptions {
  /**
   * Hands one message to the Raft driver; called in the order the sender queued them. For an
   * InstallSnapshot, `snapshotPath` is the file (complete and fsync'd) that holds its bytes.
   */
  readonly deliver: (message: Message, snapshotPath?: string) => void;
  /** Where to write a snapshot's bytes; the file is fsync'd before the message is delivered. */
  readonly snapshotSink: (
    message: InstallSnapshotMessage,
  ) => { path: string } | Promise<{ path: string }>;
  readonly messagesBodyBytesMax?: number;
}

function fail(c: Context, status: ContentfulStatusCode, code: string, message: string): Response {
  return c.json({ error: { code, message } }, status);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// Minimal: enough that the driver can route and term-check; the core judges the rest.
function isMessage(value: unknown): value is Message {
  return (
    isRecord(value) &&
    typeof value.type === 'string' &&
    typeof value.from === 'string' &&
    typeof value.to === 'string' &&
    typeof value.term === 'number' &&
    Number.isFinite(value.term)
  );
}

function isSnapshotMessage(value: unknown): value is InstallSnapshotMessage {
  if (!isMessage(value) || value.type !== 'InstallSnapshot') return false;
  const s: unknown = (value as { snapshot?: unknown }).snapshot;
  return (
    isRecord(s) &&
    typeof s.index === 'number' &&
    typeof s.term === 'number' &&
    isRecord(s.membership) &&
    Array.isArray(s.membership.voters) &&
    s.membership.voters.every((v) => typeof v === 'string')
  );
}

function streamLineProblem(line: string): string | null {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return 'not JSON';
  }
  if (!isMessage(value)) return 'lacks string type/from/to or numeric term';
  if (value.type === 'InstallSnapshot') return 'InstallSnapshot goes to /raft/snapshot with its bytes';
  return null;
}

export function encodeMessageHeader(message: Message): string {
  return Buffer.from(JSON.stringify(message), 'utf8').toString('base64url');
}

function decodeMessageHeader(value: string | undefined): unknown {
  if (value === undefined) return undefined;
  try {
    return JSON.parse(Buffer.from(value, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
}

export function raftRoutes(options: RaftRoutesOptions): Hono {
  const { deliver, snapshotSink } = options;
  const app = new Hono();

  app.onError((err, c) => fail(c, 500, 'internal', err.message));

  app.post(
    '/raft/messages',
    bodyLimit({
      maxSize: options.messagesBodyBytesMax ?? MESSAGES_BODY_BYTES_MAX,
      onError: (c) => fail(c, 413, 'too_large', 'message batch exceeds the body size limit'),
    }),
    async (c) => {
      let body: unknown;
      try {
        body = await c.req.json();
      } catch {
        return fail(c, 400, 'bad_request', 'body is not JSON');
      }
      if (!isRecord(body) || !Array.isArray(body.messages)) {
        return fail(c, 400, 'bad_request', 'body must be {"messages": [...]}');
      }
      const messages: unknown[] = body.messages;
      // Validate the whole batch before delivering any of it: all or nothing.
      for (const [i, m] of messages.entries()) {
        if (!isMessage(m)) {
          return fail(c, 400, 'bad_request', `messages[${i}] lacks string type/from/to or numeric term`);
        }
        if (m.type === 'InstallSnapshot') {
          return fail(c, 400, 'bad_request', 'InstallSnapshot goes to /raft/snapshot with its bytes');
        }
      }
      for (const m of messages as Message[]) deliver(m);
      return c.body(null, 204);
    },
  );

  // One long-lived stream per sending peer (HttpTransport): a JSON message per line, delivered
  // in order as each line completes. A bad line ends the stream with 400; what came before it
  // was delivered (each line is a message of its own, and Raft tolerates loss).
  app.post('/raft/stream', async (c) => {
    const body = c.req.raw.body;
    if (body === null) return c.body(null, 204);
    const lineBytesMax = options.messagesBodyBytesMax ?? MESSAGES_BODY_BYTES_MAX;
    const decoder = new TextDecoder();
    let pending = '';
    let lineNumber = 0;
    for await (const piece of body as unknown as AsyncIterable<Uint8Array>) {
      pending += decoder.decode(piece, { stream: true });
      let newline: number;
      while ((newline = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        lineNumber++;
        const problem = streamLineProblem(line);
        if (problem !== null) return fail(c, 400, 'bad_request', `line ${lineNumber}: ${problem}`);
        deliver(JSON.parse(line) as Message);
      }
      if (pending.length > lineBytesMax) return fail(c, 413, 'too_large', `line ${lineNumber + 1} exceeds ${lineBytesMax} characters`);
    }
    if (pending.trim() !== '') return fail(c, 400, 'bad_request', `line ${lineNumber + 1} is cut off`);
    return c.body(null, 204);
  });

  app.post('/raft/snapshot', async (c) => {
    const message = decodeMessageHeader(c.req.header(RAFT_MESSAGE_HEADER));
    if (!isSnapshotMessage(message)) {
      return fail(c, 400, 'bad_request', `header ${RAFT_MESSAGE_HEADER} must hold an InstallSnapshot message`);
    }
    const { path } = await snapshotSink(message);
    const body = c.req.raw.body;
    // Streamed straight to disk with backpressure: a snapshot may be far larger than memory.
    const source = body ? Readable.fromWeb(body as NodeReadableStream<Uint8Array>) : Readable.from([]);
    let sourceFailed = false;
    source.once('error', () => (sourceFailed = true));
    try {
      await pipeline(source, createWriteStream(path));
      await fsyncPath(path);
    } catch (err) {
      // A cut-off body leaves no partial snapshot behind and delivers nothing.
      await rm(path, { force: true });
      const text = err instanceof Error ? err.message : String(err);
      if (sourceFailed) return fail(c, 400, 'incomplete_body', `snapshot body ended early: ${text}`);
      if ((err as NodeJS.ErrnoException).code === 'ENOSPC') return fail(c, 507, 'out_of_disk', text);
      return fail(c, 500, 'internal', `writing the snapshot failed: ${text}`);
    }
    deliver(message, path);
    return c.body(null, 204);
  });

  return app;
}
