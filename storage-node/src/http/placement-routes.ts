// Placement's admin routes (cluster secret or admin token, like every /admin route): the
// replicated settings (replication, a member's zone, draining), a node's disk usage, and fsck.
// Changes go to the leader, as writes do; each answers once applied there.
import type { Context } from 'hono';
import { Hono } from 'hono';
import { isZoneName, replicationMax } from '../metadata/cluster-settings.ts';
import { isLeader, type NodeContext } from '../node/node-context.ts';
import { ownDiskUsage } from '../placement/disk-usage.ts';
import { fsck } from '../placement/fsck.ts';
import { setMemberFlag, setMemberZone, setReplication } from '../placement/settings-service.ts';
import { HttpError } from './errors.ts';
import { forwardToLeader } from './forward.ts';

export function placementRoutes(ctx: NodeContext): Hono {
  const app = new Hono();
  const settingsJson = () => ({
    replication: ctx.placement.replicationSetting(),
    effective_replication: ctx.placement.replication(),
    members: ctx.members.members.length,
    // As replicated: a member without a zone is absent.
    zones: ctx.metadata.settings().zones,
    draining: ctx.placement.draining(),
    full: ctx.placement.full(),
    down: ctx.placement.down(),
  });
  const member = (c: Context): string => {
    const id = c.req.param('id') ?? '';
    if (!ctx.members.isMember(id)) throw new HttpError(404, 'not_member', `${JSON.stringify(id)} is not a member of the cluster`);
    return id;
  };

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

  // A member's zone, `{"zone": "a"}` or `{"zone": null}`: each node announces its own --zone here
  // (placement/zone-announcer.ts), and puts it back should anyone else change it.
  app.put('/admin/members/:id/zone', async (c) => {
    if (!isLeader(ctx)) return forwardToLeader(ctx, c);
    const id = member(c);
    const body = (await c.req.json().catch(() => null)) as { zone?: unknown } | null;
    const zone = body?.zone;
    if (zone !== null && !isZoneName(zone)) throw new HttpError(400, 'bad_request', 'the body must be {"zone": "<name>"} (1 to 64 letters, digits, ".", "_", "-") or {"zone": null}');
    await setMemberZone(ctx, id, zone);
    return c.json({ id, zone });
  });

  // Draining: placement skips the member as a holder, so repair copies its chunks to the next
  // members and the misplaced collector deletes its copies once every holder has them. Removing
  // it (DELETE /admin/members/<id>) stays a separate step.
  app.post('/admin/members/:id/drain', async (c) => {
    if (!isLeader(ctx)) return forwardToLeader(ctx, c);
    const id = member(c);
    const skipped = new Set([...ctx.placement.draining(), ...ctx.placement.down(), id]);
    const left = ctx.members.members.filter((m) => !skipped.has(m.id)).length;
    if (left < ctx.placement.replicationSetting() && !ctx.placement.draining().includes(id)) {
      throw new HttpError(409, 'too_few_members', `draining ${id} would leave ${left} members up and not draining for replication ${ctx.placement.replicationSetting()}: add a member or lower the replication first`);
    }
    await setMemberFlag(ctx, 'setMemberDraining', id, true);
    return c.json({ id, draining: true, draining_members: ctx.placement.draining() });
  });

  app.post('/admin/members/:id/undrain', async (c) => {
    if (!isLeader(ctx)) return forwardToLeader(ctx, c);
    const id = member(c);
    await setMemberFlag(ctx, 'setMemberDraining', id, false);
    return c.json({ id, draining: false, draining_members: ctx.placement.draining() });
  });

  // This node's disk, for the leader's disk watch (placement/disk-watch.ts): statfs, cheap.
  app.get('/admin/disk', async (c) => c.json(await ownDiskUsage(ctx)));

  // Reads every member's chunk list: O(chunks) work and memory, for an operator, not a probe.
  app.get('/admin/fsck', async (c) => c.json(await fsck(ctx)));
  return app;
}
