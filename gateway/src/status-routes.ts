// The gateway's own `/status` (the cluster as it sees it), `/health`, `/ready`, `/metrics`.
import { Hono } from 'hono';
import type { ClusterView } from './cluster-view.ts';
import type { GatewayConfig } from './config.ts';
import type { GatewayMetrics } from './gateway-metrics.ts';

export interface StatusDeps {
  readonly config: GatewayConfig;
  readonly view: ClusterView;
  readonly metrics: GatewayMetrics;
  readonly startedAtMs: number;
}

export function statusRoutes(deps: StatusDeps): Hono {
  const { config, view, metrics } = deps;
  const app = new Hono();
  app.get('/status', (c) => {
    const snapshot = view.snapshot();
    const leader = snapshot.leaderStatus;
    return c.json({
      // The fields of a node's /status (DESIGN.md: the gateway serves the same API), as the
      // leader reported them; then the gateway's own view.
      id: config.id,
      state: 'gateway',
      is_leader: false,
      leader_id: snapshot.leader?.id ?? null,
      leader_url: snapshot.leader?.url ?? null,
      term: snapshot.leader?.term ?? null,
      commit_index: leader?.commit_index ?? null,
      applied_index: leader?.applied_index ?? null,
      // The cluster's members: the leader's list once a leader is known. A seed URL the gateway
      // still polls after its node was removed is not a member (it stays in `members` below).
      nodes: snapshot.members
        .filter((m) => m.listed || snapshot.leader === null)
        .map((m) => ({ id: m.id, client_url: m.url, role: m.role, healthy: m.healthy, lag: m.lag, applied_index: m.applied_index })),
      files: leader?.files ?? null,
      bytes: leader?.bytes ?? null,
      gateway: {
        id: config.id,
        uptime_s: Math.round((Date.now() - deps.startedAtMs) / 1000),
        seeds: config.nodes,
        retry_buffer_bytes: config.retryBufferBytes,
        poll_interval_ms: config.pollIntervalMs,
      },
      leader_changes: snapshot.leader_changes,
      healthy: snapshot.members.filter((m) => m.healthy).length,
      members: snapshot.members,
    });
  });
  app.get('/health', (c) => c.json({ ok: true }));
  app.get('/ready', (c) => {
    const leader = view.leader();
    const ready = leader !== null;
    if (!ready) c.header('Retry-After', '1');
    return c.json({ ready, leader_id: leader?.id ?? null }, ready ? 200 : 503);
  });
  app.get('/metrics', async (c) => c.body(await metrics.registry.metrics(), 200, { 'Content-Type': metrics.registry.contentType }));
  return app;
}
