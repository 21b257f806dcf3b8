// A follower passes writes (and `leader` reads) to the leader: the body streams through, the
// answer streams back. A node that receives a forwarded request but has meanwhile lost the
// leadership forwards it once more to the leader it now knows (the body is still unread), up to
// `forwardHopsMax` hops and never back to a node already on the way; beyond that, 503.
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { Context } from 'hono';
import { request } from 'undici';
import { knownLeader } from '../node/node-context.ts';
import type { NodeContext } from '../node/node-context.ts';
import type { PeerInfo } from '../node/config.ts';
import { HttpError } from './errors.ts';
import { CLUSTER_SECRET_HEADER } from '../transport/cluster-auth.ts';
import { rawPath } from './request-parts.ts';
import { peerAgent } from '../../../shared/tls-client.ts';
import { toWebStream } from '../../../shared/web-stream.ts';

/** The ids of the nodes that forwarded the request so far, comma-separated, in order. */
export const FORWARDED_HEADER = 'x-dfs-forwarded-by';
export const forwardHopsMax = 2;
const leaderPollMs = 10;
const hopByHop = new Set(['host', 'connection', 'keep-alive', 'transfer-encoding', 'te', 'upgrade', 'proxy-connection', 'trailer', 'expect']);

export function forwardedBy(c: Context): string[] {
  const header = c.req.header(FORWARDED_HEADER);
  if (header === undefined) return [];
  return header.split(',').map((id) => id.trim()).filter((id) => id !== '');
}

/** The leader, waiting up to about two election timeouts for one to be known. */
async function awaitLeader(ctx: NodeContext): Promise<PeerInfo | null> {
  const deadline = Date.now() + Math.min(ctx.config.requestTimeoutMs, 2 * ctx.config.electionTicks * ctx.config.tickMs);
  for (;;) {
    const leader = knownLeader(ctx);
    if (leader !== null || Date.now() >= deadline) return leader;
    await new Promise((resolve) => setTimeout(resolve, leaderPollMs));
  }
}

export async function forwardToLeader(ctx: NodeContext, c: Context): Promise<Response> {
  const chain = forwardedBy(c);
  const leader = await awaitLeader(ctx);
  if (leader === null) throw new HttpError(503, 'no_leader', 'no leader is known yet; retry shortly');
  if (leader.id === ctx.config.id) throw new HttpError(503, 'no_leader', 'this node is becoming the leader; retry shortly');
  if (chain.length >= forwardHopsMax || chain.includes(leader.id)) {
    throw new HttpError(503, 'no_leader', `the leader moved while the request was forwarded (via ${chain.join(', ')}); retry`);
  }
  const incoming = new URL(c.req.url);
  const headers: Record<string, string> = {};
  c.req.raw.headers.forEach((value, key) => {
    if (!hopByHop.has(key)) headers[key] = value;
  });
  headers[FORWARDED_HEADER] = [...chain, ctx.config.id].join(',');
  // With --auth required this node has checked the request's signature (http/native-auth.ts); the
  // leader would not (the Host it was signed for is not the leader's), so it is vouched for.
  if (ctx.config.auth === 'required') headers[CLUSTER_SECRET_HEADER] = ctx.config.clusterSecret;
  const body = c.req.raw.body;
  let res;
  try {
    res = await request(`${leader.clientUrl}${rawPath(c)}${incoming.search}`, {
      method: c.req.method as 'PUT',
      headers,
      body: body === null ? null : Readable.fromWeb(body as WebReadableStream<Uint8Array>),
      // Idle timers, not totals: undici's headers timer waits while the body still moves, and
      // its body timer is the longest pause inside the answer.
      headersTimeout: ctx.config.requestTimeoutMs * 2,
      bodyTimeout: ctx.config.idleTimeoutMs,
      dispatcher: peerAgent(ctx.config.tlsCa),
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
  return new Response(noBody ? null : toWebStream(res.body), { status: res.statusCode, headers: out });
}
