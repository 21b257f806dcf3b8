// `/status`, `/health`, `/ready`, and the admin routes (cluster secret or admin token).
import { join } from 'node:path';
import { Hono } from 'hono';
import { metadataDigestYielding } from '../metadata/metadata-digest.ts';
import type { NodeContext } from '../node/node-context.ts';
import { adminAuth } from '../transport/cluster-auth.ts';
import { transferLeader } from '../cluster/transfer-leader.ts';
import { isLeader } from '../node/node-context.ts';
import { HttpError } from './errors.ts';
import { forwardToLeader } from './forward.ts';
import { memberRoutes } from './member-routes.ts';
import { placementRoutes } from './placement-routes.ts';
import { drainCounterOf, type DrainCounter, memberPlacement, placementStatus } from '../placement/placement-status.ts';

export function nodeStatus(ctx: NodeContext, drain: DrainCounter = drainCounterOf(ctx)) {
  const status = ctx.raft.status();
  const leader = status.leaderId === null ? null : ctx.members.urlsOf(status.leaderId);
  const progress = new Map(status.progress.map((p) => [p.id, p]));
  const stats = ctx.metadata.stats();
  const applied = ctx.metadata.appliedIndex();
  const lastContact = ctx.raft.lastContactMs();
  return {
    id: ctx.config.id,
    state: status.role,
    is_leader: status.role === 'leader',
    leader_id: status.leaderId,
    leader_url: leader?.clientUrl ?? null,
    term: status.term,
    commit_index: status.commit,
    applied_index: applied,
    // The members as this node's log has them: a node added at runtime shows up here, a removed one leaves.
    membership_index: status.membershipIndex,
    removed: status.removed,
    nodes: ctx.members.members.map((peer) => {
      const self = peer.id === ctx.config.id;
      const p = progress.get(peer.id);
      return {
        id: peer.id,
        client_url: peer.clientUrl,
        cluster_url: peer.clusterUrl,
        role: self ? status.role : peer.id === status.leaderId ? 'leader' : 'follower',
        // A voter counts for commits and elections; a learner only receives the log.
        voter: peer.voter,
        match_index: self ? status.lastIndex : (p?.match ?? null),
        // ms since this node last heard from the member (the leader hears from all, every heartbeat).
        last_contact: self ? 0 : (lastContact.get(peer.id) ?? null),
        ...(p !== undefined ? { active: p.recentActive, replication: p.state } : {}),
        placement: memberPlacement(ctx, peer.id),
      };
    }),
    files: stats.files,
    bytes: stats.bytes,
    // Copies per chunk (the setting capped at the member count), and the repair work waiting here.
    replication: ctx.placement.replication(),
    replication_setting: ctx.placement.replicationSetting(),
    // This node's zone and flags, its repair queue by priority, its drain's progress.
    ...placementStatus(ctx, drain),
    scrub: ctx.scrubber.status(),
    // A joined learner waiting to ask for its promotion says why (null otherwise).
    promotion_waiting: ctx.promotion.waiting,
  };
}

export function statusRoutes(ctx: NodeContext): Hono {
  const app = new Hono();
  app.get('/status', (c) => c.json(nodeStatus(ctx)));
  app.get('/health', (c) => c.json({ ok: true }));
  app.use('/admin/*', adminAuth({ clusterSecret: ctx.config.clusterSecret, adminToken: ctx.config.adminToken }));
  // For comparing replicas: equal applied_index must mean equal digest. Read page by page on a
  // connection of its own, so a large store never stalls the event loop (and the heartbeats).
  app.get('/admin/metadata-digest', async (c) => {
    const digest = await metadataDigestYielding(join(ctx.config.dataDir, 'meta.db'));
    return c.json({ id: ctx.config.id, applied_index: digest.appliedIndex, digest: digest.digest, files: digest.files, versions: digest.versions });
  });
  // `dfs cluster transfer-leader <id>`: answered once the new leader is known. A follower passes
  // it to the leader, as it does writes.
  app.post('/admin/transfer-leader', async (c) => {
    const target = c.req.query('to');
    if (target === undefined || target === '') throw new HttpError(400, 'bad_request', 'say which member should lead: ?to=<member id>');
    if (!isLeader(ctx)) return forwardToLeader(ctx, c);
    const outcome = await transferLeader(ctx, target);
    if (outcome.ok) return c.json({ leader: outcome.leader, changed: outcome.changed, took_ms: outcome.tookMs });
    const status = ({ unknown_member: 404, not_leader: 503, transfer_refused: 409, transfer_timeout: 504 } as const)[outcome.code];
    throw new HttpError(status, outcome.code, outcome.message);
  });
  app.route('/', memberRoutes(ctx));
  app.route('/', placementRoutes(ctx));
  app.get('/ready', (c) => {
    const status = ctx.raft.status();
    const applied = ctx.metadata.appliedIndex();
    // Caught up with the leader's commit index as the leader last stated it, not merely with our
    // own (a wiped node's own commit index is 0 until it catches up).
    const ready = status.leaderId !== null && applied >= Math.max(status.commit, status.leaderCommit);
    if (!ready) c.header('Retry-After', '1');
    return c.json({ ready, leader_id: status.leaderId, commit_index: status.commit, leader_commit_index: status.leaderCommit, applied_index: applied }, ready ? 200 : 503);
  });
  return app;
}
