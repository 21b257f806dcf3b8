// Guards the cluster port: only peers that know the cluster secret may talk Raft or move blobs.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';

export const CLUSTER_SECRET_HEADER = 'x-dfs-cluster-secret';

export interface ClusterAuthOptions {
  readonly secret: string;
}

// Hashing both sides gives equal-length buffers, so timingSafeEqual never throws and the
// comparison leaks neither the secret's bytes nor its length.
function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

export function clusterAuth({ secret }: ClusterAuthOptions): MiddlewareHandler {
  if (secret.length === 0) throw new Error('clusterAuth: the cluster secret must not be empty');
  const expected = digest(secret);
  return async (c, next) => {
    const given = c.req.header(CLUSTER_SECRET_HEADER);
    if (given === undefined || !timingSafeEqual(digest(given), expected)) {
      return c.json(
        { error: { code: 'unauthorized', message: 'missing or wrong cluster secret' } },
        401,
      );
    }
    await next();
  };
}
