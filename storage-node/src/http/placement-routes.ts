// Placement's admin routes (cluster secret or admin token, like every /admin route): the
// replicated settings, and fsck.
import { Hono } from 'hono';
import { replicationMax } from '../metadata/cluster-settings.ts';
import { isLeader, type NodeContext } from '../node/node-context.ts';
import { fsck } from '../placement/fsck.ts';
import { setReplication } from '../placement/settings-service.ts';
import { HttpError } from './errors.ts';
import { forwardToLeader } from './forward.ts';

export function placementRoutes(ctx: NodeContext): Hono {
  const app = new Hono();
  const settingsJson = () => ({ replication: ctx.placement.replicationSetting(), effective_replication: ctx.placement.replication(), members: ctx.members.members.length });

  app.get('/admin/settings', (c) => c.json(settingsJson()));

  // `{"replication": N}`: copies of each chunk (capped at the number of members when placing).
  app.put('/admin/settings/replication', async (c) => {
    if (!isLeader(ctx)) return forwardToLeader(ctx, c);
    const body = (await c.req.json().catch(() => null)) as { replication?: unknown } | null;
    const replication = body?.replication;
    if (typeof replication !== 'number' || !Number.isSafeInteger(replication) || replication < 1 || replication > replicationMax) {
      throw new HttpError(400, 'bad_request', `the body must be {"replication": N} with N from 1 to ${replicationMax}`);
    }
    await setReplication(ctx, replication);
    return c.json(settingsJson());
  });

  // Reads every member's chunk list: O(chunks) work and memory, for an operator, not a probe.
  app.get('/admin/fsck', async (c) => c.json(await fsck(ctx)));
  return app;
}
