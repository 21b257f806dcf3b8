// `--auth required` on a node's client port: the native API answers only requests signed with
// SigV4 by the root key (DFS_S3_ACCESS_KEY_ID/DFS_S3_SECRET_ACCESS_KEY) or a live access key
// (the replicated access_keys table), or passed on by who verified them: a gateway (the admin
// token as `Authorization: Bearer`) or a follower forwarding to its leader (the cluster secret).
// /status, /health, /ready and /metrics stay open; /admin/* has its own token check.
import type { MiddlewareHandler } from 'hono';
import { isOpenPath, nativeAuthRefusal } from '../../../shared/sigv4/native-auth-check.ts';
import type { KeyLookup } from '../../../shared/sigv4/verify-request.ts';
import type { NodeContext } from '../node/node-context.ts';
import { adminCredentialMatcher } from '../transport/cluster-auth.ts';
import { errorResponse } from './errors.ts';
import { rawRequestTarget, targetPath } from '../../../shared/names.ts';

export function nativeAuth(ctx: NodeContext): MiddlewareHandler {
  const { config } = ctx;
  const hasAdminCredential = adminCredentialMatcher({ clusterSecret: config.clusterSecret, adminToken: config.adminToken });
  const keys: KeyLookup = {
    secretFor: (id) => (config.rootKey !== null && id === config.rootKey.accessKeyId ? config.rootKey.secretAccessKey : ctx.metadata.accessKeySecret(id)),
  };
  return async (c, next) => {
    if (config.auth === 'open' || isOpenPath(c.req.path)) return next();
    if (hasAdminCredential(c)) return next();
    const target = rawRequestTarget(c.env, c.req.url);
    const queryAt = target.indexOf('?');
    const request = { method: c.req.method, rawPath: targetPath(target), rawQuery: queryAt === -1 ? '' : target.slice(queryAt + 1), headers: c.req.raw.headers };
    let refusal = nativeAuthRefusal(request, config.s3Region, keys, Date.now());
    if (refusal?.code === 'invalid_access_key_id') {
      // A key made a moment ago may be committed but not yet applied here: catch up, look again.
      await ctx.raft.readBarrier();
      refusal = nativeAuthRefusal(request, config.s3Region, keys, Date.now());
    }
    if (refusal === null) return next();
    if (refusal.status === 401) c.header('WWW-Authenticate', 'AWS4-HMAC-SHA256');
    return errorResponse(c, refusal.status, refusal.code, refusal.message);
  };
}
