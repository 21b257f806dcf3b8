// Headers across the proxy: hop-by-hop ones stay on their own connection (RFC 9110 §7.6.1), and
// the nodes' internal forwarding marker never comes from outside.

const hopByHop = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'host', 'expect',
  // Set only by a node forwarding to its leader; a client must not be able to forge it.
  'x-dfs-forwarded-by',
]);

/** The client's request headers as they go to a node. */
export function upstreamRequestHeaders(incoming: Headers): Record<string, string> {
  const out: Record<string, string> = {};
  const listed = (incoming.get('connection') ?? '').toLowerCase().split(',').map((s) => s.trim());
  incoming.forEach((value, key) => {
    if (!hopByHop.has(key) && !listed.includes(key)) out[key] = value;
  });
  return out;
}

/** A node's response headers (undici's record) as they go to the client. */
export function downstreamResponseHeaders(upstream: Record<string, string | string[] | undefined>): Headers {
  const out = new Headers();
  for (const [key, value] of Object.entries(upstream)) {
    if (value === undefined || hopByHop.has(key)) continue;
    for (const item of Array.isArray(value) ? value : [value]) out.append(key, item);
  }
  return out;
}
