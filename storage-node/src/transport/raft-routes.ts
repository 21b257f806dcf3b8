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
import { stopOnAssertion } from '../../../shared/assert.ts';
import type { InstallSnapshotMessage, Message, NodeId } from '../raft/types.ts';
import { fsyncPath } from '../durability/fsync.ts';
import { addressProblem, describeIssues, membershipProblem, messageBatchSchema, messageSchema, snapshotMessageSchema } from './message-schema.ts';

/** One line of `POST /raft/stream`. */
const streamMessageSchema = messageSchema.refine((m) => m.type !== 'InstallSnapshot', 'InstallSnapshot goes to /raft/snapshot with its bytes');

/** Carries the InstallSnapshot message (base64url JSON) while the body carries the bytes. */
export const RAFT_MESSAGE_HEADER = 'x-dfs-raft-message';
export const MESSAGES_BODY_BYTES_MAX = 64 * 1024 * 1024;

export interface RaftRoutesOptions {
  /** This node: every message must be addressed to it. */
  readonly selfId: NodeId;
  /** Whether `id` is a member of the cluster: senders and snapshot voters must be. */
  readonly isMember: (id: NodeId) => boolean;
  /**
   * Hands one message to the Raft driver; called in the order the sender queued them. For an
   * InstallSnapshot, `snapshotPath` is the file (complete and fsync'd) that holds its bytes.
   */
  readonly deliver: (message: Message, snapshotPath?: string) => void;
  /** Where to write a snapshot's bytes; the file is fsync'd before the message is delivered. */
  readonly snapshotSink: (
    message: InstallSnapshotMessage,
  ) => { path: string } | Promise<{ path: string }>;
  /**
   * Why a snapshot's received bytes (complete and fsync'd at `path`) cannot be restored, or null
   * when they can. A refused snapshot is deleted and answered 400: the leader sends it again.
   */
  readonly snapshotProblem: (path: string, message: InstallSnapshotMessage) => string | null;
  readonly messagesBodyBytesMax?: number;
}

function fail(c: Context, status: ContentfulStatusCode, code: string, message: string): Response {
  return c.json({ error: { code, message } }, status);
}

/** The message on one line of a stream, or why it is refused. */
function parseStreamLine(line: string, selfId: NodeId, isMember: (id: NodeId) => boolean): Message | string {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return 'not JSON';
  }
  const parsed = streamMessageSchema.safeParse(value);
  if (!parsed.success) return `bad message: ${describeIssues(parsed.error)}`;
  return addressProblem(parsed.data, selfId, isMember) ?? parsed.data;
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
  const { deliver, snapshotSink, snapshotProblem, selfId, isMember } = options;
  const app = new Hono();

  app.onError((err, c) => {
    // A broken invariant in the driver or core (reached through deliver) stops the node.
    stopOnAssertion(err, `${c.req.method} ${c.req.path}`);
    return fail(c, 500, 'internal', err.message);
  });

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
      // The whole batch is checked before any of it is delivered: all or nothing.
      const parsed = messageBatchSchema.safeParse(body);
      if (!parsed.success) return fail(c, 400, 'bad_request', `bad message batch: ${describeIssues(parsed.error)}`);
      const { messages } = parsed.data;
      for (const [i, m] of messages.entries()) {
        const problem = addressProblem(m, selfId, isMember);
        if (problem !== null) return fail(c, 400, 'bad_request', `messages.${i}: ${problem}`);
      }
      for (const m of messages) deliver(m);
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
      // Only the new text is searched for line ends: a long line arriving in many pieces is
      // scanned once, not once per piece.
      const text = decoder.decode(piece, { stream: true });
      let lineStart = 0;
      let newline: number;
      while ((newline = text.indexOf('\n', lineStart)) >= 0) {
        const line = pending + text.slice(lineStart, newline);
        pending = '';
        lineStart = newline + 1;
        lineNumber++;
        const message = parseStreamLine(line, selfId, isMember);
        if (typeof message === 'string') return fail(c, 400, 'bad_request', `line ${lineNumber}: ${message}`);
        deliver(message);
      }
      pending += text.slice(lineStart);
      if (pending.length > lineBytesMax) return fail(c, 413, 'too_large', `line ${lineNumber + 1} exceeds ${lineBytesMax} characters`);
    }
    if (pending.trim() !== '') return fail(c, 400, 'bad_request', `line ${lineNumber + 1} is cut off`);
    return c.body(null, 204);
  });

  app.post('/raft/snapshot', async (c) => {
    const parsed = snapshotMessageSchema.safeParse(decodeMessageHeader(c.req.header(RAFT_MESSAGE_HEADER)));
    if (!parsed.success) {
      return fail(c, 400, 'bad_request', `header ${RAFT_MESSAGE_HEADER} must hold an InstallSnapshot message: ${describeIssues(parsed.error)}`);
    }
    const message = parsed.data;
    const misfit = addressProblem(message, selfId, isMember) ?? membershipProblem(message, isMember);
    if (misfit !== null) return fail(c, 400, 'bad_request', misfit);
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
    let problem: string | null;
    try {
      problem = snapshotProblem(path, message);
    } catch (err) {
      await rm(path, { force: true });
      throw err;
    }
    if (problem !== null) {
      await rm(path, { force: true });
      return fail(c, 400, 'bad_snapshot', `snapshot ${message.snapshot.index}/${message.snapshot.term} refused: ${problem}`);
    }
    deliver(message, path);
    return c.body(null, 204);
  });

  return app;
}
