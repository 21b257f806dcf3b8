// Guards the cluster port: only peers that know the cluster secret may talk Raft or move blobs.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';

export const CLUSTER_SECRET_HEADER = 'x-dfs-cluster-secret';

export interface ClusterAuthOptions {
  readonly secret: string;
}

// Hashing both sides gives equal-length buffers, so timingSafeEqual never throws and the
// comparison leaks neither the secret's bytes nor its length.
function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/** Whether a header value given by a client is `expected` (compared in constant time). */
function matcher(expected: string): (given: string | undefined) => boolean {
  const expectedDigest = digest(expected);
  return (given) => given !== undefined && timingSafeEqual(digest(given), expectedDigest);
}

export function clusterAuth({ secret }: ClusterAuthOptions): MiddlewareHandler {
  if (secret.length === 0) throw new Error('clusterAuth: the cluster secret must not be empty');
  const isSecret = matcher(secret);
  return async (c, next) => {
    if (!isSecret(c.req.header(CLUSTER_SECRET_HEADER))) {
      return c.json(
        { error: { code: 'unauthorized', message: 'missing or wrong cluster secret' } },
        401,
      );
    }
    await next();
  };
}

export interface AdminAuthOptions {
  /** Peers and operators holding the cluster secret may use admin routes. */
  readonly clusterSecret: string;
  /** Sent as `Authorization: Bearer <token>`; empty: no admin token is accepted. */
  readonly adminToken: string;
}

/** Whether a request carries the cluster secret (its own header) or the admin token (Authorization: Bearer). */
export function adminCredentialMatcher({ clusterSecret, adminToken }: AdminAuthOptions): (c: Context) => boolean {
  if (clusterSecret.length === 0) throw new Error('adminAuth: the cluster secret must not be empty');
  const isSecret = matcher(clusterSecret);
  const isToken = adminToken.length === 0 ? () => false : matcher(adminToken);
  return (c) => {
    const bearer = /^Bearer (.+)$/.exec(c.req.header('authorization') ?? '')?.[1];
    return isSecret(c.req.header(CLUSTER_SECRET_HEADER)) || isToken(bearer);
  };
}

/**
 * Guards admin routes on the client port: the cluster secret (in its own header) or the admin
 * token (`Authorization: Bearer …`). 401 otherwise.
 */
export function adminAuth(options: AdminAuthOptions): MiddlewareHandler {
  const hasAdminCredential = adminCredentialMatcher(options);
  return async (c, next) => {
    if (!hasAdminCredential(c)) {
      c.header('WWW-Authenticate', 'Bearer realm="dfs-admin"');
      return c.json(
        { error: { code: 'unauthorized', message: `admin routes need the cluster secret (${CLUSTER_SECRET_HEADER}) or the admin token (Authorization: Bearer)` } },
        401,
      );
    }
    await next();
  };
}
