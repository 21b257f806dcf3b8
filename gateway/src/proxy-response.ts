// A node's answer, passed on to the client as it arrives: the body is a stream with backpressure
// (the node is read only as fast as the client takes it), never collected in memory beyond a
// small answer of known length.
import type { ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import type { Context } from 'hono';
import type { Dispatcher } from 'undici';
import { nodeResponseOf } from '../../shared/node-response.ts';
import { toWebStream } from '../../shared/web-stream.ts';
import { downstreamResponseHeaders } from './headers.ts';

const noBodyStatuses = new Set([204, 205, 304]);

/**
 * The client's answer from a node's, recorded for the request metrics (proxiedAnswer).
 * `extraHeaders` (lower-case names) are added, and the gateway's own X-DFS-Gateway, since the
 * answer's headers are not touched after this. Under @hono/node-server it is written straight to
 * the client's socket (answerStraight) and the Response returned is node-server's "already sent"
 * marker; in process (the S3 layer's requests) it is a web Response.
 */
export async function passOn(c: Context, gatewayId: string, response: Dispatcher.ResponseData, method: string, extraHeaders: Record<string, string> = {}): Promise<Response> {
  proxiedAnswers.set(c, { node: answeringNodeOf(response), status: response.statusCode });
  const withGateway = { ...extraHeaders, 'x-dfs-gateway': gatewayId };
  const outgoing = nodeResponseOf(c);
  if (outgoing !== undefined) {
    await answerStraight(outgoing, response, method, withGateway);
    return RESPONSE_ALREADY_SENT;
  }
  const headers = answerHeaders(response, withGateway);
  if (method === 'HEAD' || noBodyStatuses.has(response.statusCode)) {
    await response.body.dump();
    return new Response(null, { status: response.statusCode, headers });
  }
  if (isSmall(response)) return new Response(Buffer.from(await response.body.arrayBuffer()), { status: response.statusCode, headers });
  // Not Readable.toWeb: see shared/web-stream.ts (a client hanging up must not crash us).
  return new Response(toWebStream(response.body), { status: response.statusCode, headers });
}

/**
 * Writes a node's answer to the client's Node response. A small answer of known length (a
 * write's JSON, a small file) is taken whole and written in one go. A larger one goes from the
 * node's socket to the client's with Node's own backpressure: a web stream in between (and
 * node-server's reader loop draining it) cost as much CPU as the bytes' trip through the kernel.
 * Either side failing destroys the other, so a client sees a cut-off answer, never a short one
 * that looks whole. Resolves once the answer is under way (a large body keeps flowing after).
 */
export async function answerStraight(outgoing: ServerResponse, response: Dispatcher.ResponseData, method: string, extraHeaders: Record<string, string>): Promise<void> {
  const headers = answerHeaders(response, extraHeaders);
  if (method === 'HEAD' || noBodyStatuses.has(response.statusCode)) {
    await response.body.dump();
    outgoing.writeHead(response.statusCode, headers);
    outgoing.end();
    return;
  }
  if (isSmall(response)) {
    const body = Buffer.from(await response.body.arrayBuffer());
    outgoing.writeHead(response.statusCode, headers);
    outgoing.end(body);
    return;
  }
  outgoing.writeHead(response.statusCode, headers);
  pipeline(response.body, outgoing).catch(() => {
    // Already destroyed on both sides; the client sees its connection cut.
  });
}

function answerHeaders(response: Dispatcher.ResponseData, extraHeaders: Record<string, string>): Record<string, string> {
  const headers = downstreamResponseHeaders(response.headers);
  for (const key in extraHeaders) headers[key] = extraHeaders[key]!;
  return headers;
}

function isSmall(response: Dispatcher.ResponseData): boolean {
  const length = Number(response.headers['content-length']);
  return Number.isSafeInteger(length) && length <= wholeBodyBytesMax;
}

/** Answers up to this long (bytes, by Content-Length) are passed on whole rather than streamed. */
export const wholeBodyBytesMax = 64 * 1024;

/** The start of a refusal's body, for a message (its JSON error code when it has one). */
export async function refusalText(response: Dispatcher.ResponseData): Promise<string> {
  let text = '';
  try {
    for await (const piece of response.body) {
      text += Buffer.from(piece as Uint8Array).toString('utf8');
      if (text.length > 4096) break;
    }
  } catch {
    // The node went away while refusing: the status says enough.
  }
  response.body.destroy();
  try {
    const parsed = JSON.parse(text) as { error?: { code?: string; message?: string } };
    if (parsed.error?.code !== undefined) return `${response.statusCode} ${parsed.error.code}: ${parsed.error.message ?? ''}`;
  } catch {
    // not JSON
  }
  return `${response.statusCode} ${text.slice(0, 200)}`;
}

/** An answer that means "not now, try another node or the next leader". */
export function isRefusal(statusCode: number): boolean {
  return statusCode === 503 || statusCode === 502 || statusCode === 504 || statusCode === 421;
}

/** The node that answered (its X-DFS-Node), for the request metrics. */
export function answeringNodeOf(response: Dispatcher.ResponseData): string {
  const node = response.headers['x-dfs-node'];
  return typeof node === 'string' ? node : 'unknown';
}

/** Each proxied request's answer (by its context): which node gave it, and its status. */
const proxiedAnswers = new WeakMap<Context, { readonly node: string; readonly status: number }>();

/** The node and status of the answer this request passed on, or null for the gateway's own answers. */
export function proxiedAnswer(c: Context): { readonly node: string; readonly status: number } | null {
  return proxiedAnswers.get(c) ?? null;
}
