// The membership routes (under /admin, so the cluster secret or the admin token opens them):
// list, add a learner, promote, remove. A follower passes changes to the leader, as it does writes.
import type { Context } from 'hono';
import { Hono } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { z } from 'zod';
import { memberUrlsSchema } from '../cluster/member-address.ts';
import type { Member } from '../cluster/member-directory.ts';
import { MemberChangeFailure, MembershipService, type MemberChangeCode } from '../cluster/membership-service.ts';
import { isLeader, type NodeContext } from '../node/node-context.ts';
import { drainingChunksOf, memberPlacement } from '../placement/placement-status.ts';
import { errorResponse, HttpError } from './errors.ts';
import { forwardToLeader } from './forward.ts';

const statusOfCode: Record<MemberChangeCode, ContentfulStatusCode> = {
  invalid_id: 400,
  invalid_address: 400,
  already_member: 409,
  not_member: 404,
  not_learner: 409,
  learner_behind: 409,
  last_voter: 409,
  quorum_behind: 409,
  change_pending: 409,
  leader_not_ready: 503,
  transferring: 503,
  not_leader: 503,
};

const addBody = z.object({ id: z.string(), client_url: z.string(), cluster_url: z.string() });

export function memberJson(member: Member) {
  return { id: member.id, client_url: member.clientUrl, cluster_url: member.clusterUrl, voter: member.voter };
}

/**
 * A member's placement: its zone, whether placement skips it (draining, full, down), and for a
 * draining member the chunks it still stores (its own last count, at most 5 s old: the drain is
 * done at 0; null while not counted yet or when it does not answer within 2 s).
 */
async function placementJson(ctx: NodeContext, id: string) {
  const flags = memberPlacement(ctx, id);
  return { ...flags, ...(flags.draining ? { chunks: await drainingChunksOf(ctx, id) } : {}) };
}

export function memberRoutes(ctx: NodeContext): Hono {
  const app = new Hono();
  const service = new MembershipService(ctx);
  const answer = async (c: Context, run: () => Promise<Response>): Promise<Response> => {
    if (!isLeader(ctx)) return forwardToLeader(ctx, c);
    try {
      return await run();
    } catch (err) {
      if (err instanceof MemberChangeFailure) return errorResponse(c, statusOfCode[err.code], err.code, err.message);
      throw err;
    }
  };

  app.get('/admin/members', async (c) => {
    const status = ctx.raft.status();
    const members = ctx.members.members;
    const placement = await Promise.all(members.map((m) => placementJson(ctx, m.id)));
    return c.json({
      leader_id: status.leaderId,
      membership_index: status.membershipIndex,
      change_pending: status.membershipChangePending,
      members: members.map((m, i) => ({ ...memberJson(m), ...placement[i] })),
    });
  });

  app.post('/admin/members', async (c) => {
    // Before the body is read: the leader reads it.
    if (!isLeader(ctx)) return forwardToLeader(ctx, c);
    let json: unknown;
    try {
      json = await c.req.json();
    } catch {
      throw new HttpError(400, 'bad_request', 'the body must be JSON: {"id":"n4","client_url":"http://…:8084","cluster_url":"http://…:3033"}');
    }
    const body = addBody.safeParse(json);
    if (!body.success) throw new HttpError(400, 'bad_request', 'the body must be {"id":"n4","client_url":"http://…:8084","cluster_url":"http://…:3033"}');
    const urls = memberUrlsSchema.safeParse({ clientUrl: body.data.client_url, clusterUrl: body.data.cluster_url });
    if (!urls.success) throw new HttpError(400, 'invalid_address', `client_url and cluster_url must be http(s) origins such as http://10.0.0.4:8084 (${urls.error.issues[0]?.message ?? ''})`);
    return answer(c, async () => {
      const admission = await service.add(body.data.id, urls.data);
      return c.json({ id: body.data.id, voter: false, joined_at: admission.joinedAt, members: admission.members.map(memberJson) }, 201);
    });
  });

  app.post('/admin/members/:id/promote', (c) =>
    answer(c, async () => {
      await service.promote(c.req.param('id'));
      return c.json({ id: c.req.param('id'), voter: true, members: ctx.members.members.map(memberJson) });
    }),
  );

  app.delete('/admin/members/:id', (c) =>
    answer(c, async () => {
      await service.remove(c.req.param('id'));
      return c.json({ id: c.req.param('id'), removed: true, members: ctx.members.members.map(memberJson) });
    }),
  );
  return app;
}
