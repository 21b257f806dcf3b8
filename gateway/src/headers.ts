// Headers across the proxy: hop-by-hop ones stay on their own connection (RFC 9110 §7.6.1), and
// the nodes' internal forwarding marker never comes from outside.
import type { IncomingMessage } from 'node:http';
import type { Context } from 'hono';
import { upstreamAuthorization } from './native-auth.ts';

const hopByHop = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'host', 'expect',
  // Set only by a node forwarding to its leader; a client must not be able to forge it.
  'x-dfs-forwarded-by',
]);

/**
 * The client's request headers as they go to a node: from Node's parsed record when there is one
 * (a web Headers object from it would be built and validated header by header on every request,
 * a measurable part of the gateway's CPU per small write), else from the web Request's.
 */
export function upstreamRequestHeaders(c: Context): Record<string, string> {
  const out = clientHeaders(c);
  // With --auth required, the gateway verified the signature and vouches for the request.
  const vouched = upstreamAuthorization(c);
  if (vouched !== undefined) out.authorization = vouched;
  return out;
}

function clientHeaders(c: Context): Record<string, string> {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  if (incoming === undefined) {
    const out: Record<string, string> = {};
    const headers = c.req.raw.headers;
    const listed = connectionListed(headers.get('connection') ?? undefined);
    headers.forEach((value, key) => {
      if (!hopByHop.has(key) && !listed.includes(key)) out[key] = value;
    });
    return out;
  }
  return incomingRequestHeaders(incoming);
}

/** A Node request's headers as they go to a node (hop-by-hop ones dropped). */
export function incomingRequestHeaders(incoming: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  const headers = incoming.headers;
  const listed = connectionListed(headers.connection);
  for (const key in headers) {
    const value = headers[key];
    if (value === undefined || hopByHop.has(key) || listed.includes(key)) continue;
    out[key] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

/** The header names a Connection header lists (they are hop-by-hop too). */
function connectionListed(connection: string | undefined): string[] {
  return connection === undefined ? [] : connection.toLowerCase().split(',').map((s) => s.trim());
}

/**
 * A node's response headers (undici's record) as they go to the client: a plain record, which
 * @hono/node-server hands to writeHead as is (a web Headers object is built, validated and
 * converted back header by header).
 */
export function downstreamResponseHeaders(upstream: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key in upstream) {
    const value = upstream[key];
    if (value === undefined || hopByHop.has(key)) continue;
    // A repeated header joins into one (RFC 9110 §5.3); nodes send no Set-Cookie.
    out[key] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}
