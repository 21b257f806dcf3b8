// `--auth required` on the gateway's native API: a request must be signed (SigV4) by the root key
// or a live access key (access-keys.ts); the gateway checks it here, once, and vouches for it to
// the nodes with the admin token (a signature names the Host it was made for, the gateway's, so a
// node could not check it again). The x-amz-content-sha256 header goes on untouched: the node
// that reads the body checks its hash. The S3 layer's own in-process requests (no socket) were
// verified by the S3 layer. /status, /health, /ready, /metrics stay open; /admin/* goes on as
// sent (the nodes check the admin token).
import type { IncomingMessage } from 'node:http';
import type { Context, MiddlewareHandler } from 'hono';
import { isOpenPath, nativeAuthRefusal } from '../../shared/sigv4/native-auth-check.ts';
import { claimedAccessKeyId } from './access-keys.ts';
import type { AccessKeys } from './access-keys.ts';
import type { GatewayConfig } from './config.ts';
import { rawTarget } from './request-name.ts';
import { targetPath } from '../../shared/names.ts';

/** The context variable holding the Authorization that goes to the nodes in place of the client's. */
const upstreamAuthorizationKey = 'dfsUpstreamAuthorization';

/** The Authorization the proxy sends instead of the client's, when the gateway vouches for the request. */
export function upstreamAuthorization(c: Context): string | undefined {
  return (c.var as Record<string, unknown>)[upstreamAuthorizationKey] as string | undefined;
}

export function nativeAuth(config: GatewayConfig, keys: AccessKeys): MiddlewareHandler {
  const vouch = `Bearer ${config.adminToken}`;
  return async (c, next) => {
    if (config.auth === 'open' || isOpenPath(c.req.path)) return next();
    const fromSocket = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming !== undefined;
    if (fromSocket) {
      const target = rawTarget(c);
      const queryAt = target.indexOf('?');
      const rawQuery = queryAt === -1 ? '' : target.slice(queryAt + 1);
      const headers = c.req.raw.headers;
      await keys.prepare(claimedAccessKeyId(headers, rawQuery));
      const refusal = nativeAuthRefusal({ method: c.req.method, rawPath: targetPath(target), rawQuery, headers }, config.region, keys, Date.now());
      if (refusal !== null) {
        if (refusal.status === 401) c.header('WWW-Authenticate', 'AWS4-HMAC-SHA256');
        return c.json({ error: { code: refusal.code, message: refusal.message } }, refusal.status);
      }
    }
    c.set(upstreamAuthorizationKey as never, vouch as never);
    return next();
  };
}
