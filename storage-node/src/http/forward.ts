// A follower passes writes to the leader: the body streams through, the answer streams back.
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { Context } from 'hono';
import { request } from 'undici';
import { knownLeader } from '../node/node-context.ts';
import type { NodeContext } from '../node/node-context.ts';
import { HttpError } from './errors.ts';

export const FORWARDED_HEADER = 'x-dfs-forwarded-by';
const hopByHop = new Set(['host', 'connection', 'keep-alive', 'transfer-encoding', 'te', 'upgrade', 'proxy-connection', 'trailer']);

export async function forwardToLeader(ctx: NodeContext, c: Context): Promise<Response> {
  const leader = knownLeader(ctx);
  if (leader === null || leader.id === ctx.config.id) throw new HttpError(503, 'no_leader', 'no leader is known yet; retry shortly');
  // One hop only: a node that is itself being forwarded to never forwards again.
  if (c.req.header(FORWARDED_HEADER) !== undefined) throw new HttpError(503, 'no_leader', 'the leader moved while the request was forwarded; retry');
  const incoming = new URL(c.req.url);
  const headers: Record<string, string> = {};
  c.req.raw.headers.forEach((value, key) => {
    if (!hopByHop.has(key)) headers[key] = value;
  });
  headers[FORWARDED_HEADER] = ctx.config.id;
  const body = c.req.raw.body;
  let res;
  try {
    res = await request(`${leader.clientUrl}${incoming.pathname}${incoming.search}`, {
      method: c.req.method as 'PUT',
      headers,
      body: body === null ? null : Readable.fromWeb(body as WebReadableStream<Uint8Array>),
      headersTimeout: ctx.config.requestTimeoutMs * 2,
      bodyTimeout: ctx.config.requestTimeoutMs * 2,
    });
  } catch (err) {
    throw new HttpError(503, 'leader_unreachable', `could not forward to the leader ${leader.id}: ${(err as Error).message}`);
  }
  const out = new Headers();
  for (const [key, value] of Object.entries(res.headers)) {
    if (value === undefined || hopByHop.has(key)) continue;
    for (const v of Array.isArray(value) ? value : [value]) out.append(key, v);
  }
  const noBody = res.statusCode === 204 || res.statusCode === 304 || c.req.method === 'HEAD';
  if (noBody) await res.body.dump();
  return new Response(noBody ? null : (Readable.toWeb(res.body) as unknown as ReadableStream), { status: res.statusCode, headers: out });
}
