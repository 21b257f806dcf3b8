// A member's zone is replicated state, so every node places alike: each node announces its own
// --zone (or that it has none) once it is a member and knows a leader, whenever the replicated
// value differs from its flag: at its first start (founders and joiners alike), and after a
// restart with another --zone. The flag is the truth; the leader only records it.
import { request } from 'undici';
import { peerAgent } from '../../../shared/tls-client.ts';
import { isLeader, knownLeader, type NodeContext } from '../node/node-context.ts';
import { CLUSTER_SECRET_HEADER } from '../transport/cluster-auth.ts';
import { setMemberZone } from './settings-service.ts';

/** How often the replicated zone is compared with the flag (a map lookup when they agree). */
export const zoneCheckMs = 1000;
/** After an announcement, time for it to reach this node's state before announcing again. */
const announcedWaitMs = 5000;

export function startZoneAnnouncer(ctx: NodeContext): { stop(): void } {
  const { config } = ctx;
  let running = false;
  let lastProblem = '';
  let announcedAtMs = -Infinity;
  const round = async () => {
    if (ctx.raft.membership().removed || !ctx.members.isMember(config.id)) return;
    if (ctx.placement.zoneOf(config.id) === config.zone) return;
    if (performance.now() - announcedAtMs < announcedWaitMs) return;
    if (isLeader(ctx)) {
      await setMemberZone(ctx, config.id, config.zone);
    } else {
      const leader = knownLeader(ctx);
      if (leader === null) return;
      const response = await request(`${leader.clientUrl}/admin/members/${encodeURIComponent(config.id)}/zone`, {
        method: 'PUT',
        headers: { [CLUSTER_SECRET_HEADER]: config.clusterSecret, 'content-type': 'application/json' },
        body: JSON.stringify({ zone: config.zone }),
        dispatcher: peerAgent(config.tlsCa),
        headersTimeout: config.requestTimeoutMs * 2,
        bodyTimeout: config.requestTimeoutMs * 2,
      });
      const text = await response.body.text();
      if (response.statusCode !== 200) throw new Error(`the leader ${leader.id} answered ${response.statusCode} ${text.slice(0, 300)}`);
    }
    announcedAtMs = performance.now();
    console.log(`node ${config.id}: zone ${config.zone === null ? '(none)' : `"${config.zone}"`} announced`);
  };
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    round()
      .then(() => (lastProblem = ''))
      .catch((err: unknown) => {
        const problem = (err as Error).message;
        if (problem !== lastProblem) console.warn(`node ${config.id}: announcing the zone failed (retrying): ${problem}`);
        lastProblem = problem;
      })
      .finally(() => (running = false));
  }, zoneCheckMs);
  return { stop: () => clearInterval(timer) };
}
