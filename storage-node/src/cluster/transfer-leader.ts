// Handing the leadership to another voter on request (`dfs cluster transfer-leader`), the way a
// node hands it over when it shuts down: the target catches up, then campaigns at once
// (TimeoutNow) instead of waiting out an election timeout.
import type { NodeContext } from '../node/node-context.ts';

/** How often the outcome is looked at while the transfer runs, ms. */
const transferPollMs = 10;

export type TransferOutcome =
  | { readonly ok: true; readonly leader: string; readonly changed: boolean; readonly tookMs: number }
  | { readonly ok: false; readonly code: 'unknown_member' | 'not_leader' | 'transfer_refused' | 'transfer_timeout'; readonly message: string };

/**
 * Asks this node (which must lead) to make `target` the leader, and waits until a leader other
 * than this node is known, or about two election timeouts.
 */
export async function transferLeader(ctx: NodeContext, target: string): Promise<TransferOutcome> {
  const { raft, config } = ctx;
  if (!ctx.members.isMember(target)) {
    return { ok: false, code: 'unknown_member', message: `no member ${target} (members: ${ctx.members.members.map((m) => m.id).join(', ')})` };
  }
  if (!ctx.members.isVoter(target)) return { ok: false, code: 'transfer_refused', message: `${target} is a learner: only a voter can lead (promote it first)` };
  if (raft.softState().role !== 'leader') return { ok: false, code: 'not_leader', message: `${config.id} does not lead now` };
  if (target === config.id) return { ok: true, leader: target, changed: false, tookMs: 0 };
  const started = performance.now();
  if (!(await raft.transferLeadership(target))) {
    return { ok: false, code: 'transfer_refused', message: `${config.id} cannot hand the leadership to ${target} (not a voter, or the leadership moved meanwhile)` };
  }
  const deadline = started + 2 * config.electionTicks * config.tickMs + 1000;
  for (;;) {
    const status = raft.status();
    if (status.role !== 'leader' && status.leaderId !== null) {
      const tookMs = Math.round(performance.now() - started);
      if (status.leaderId === target) return { ok: true, leader: target, changed: true, tookMs };
      return { ok: false, code: 'transfer_refused', message: `${status.leaderId} took the leadership instead of ${target}` };
    }
    if (status.role === 'leader' && status.transferTarget === null && performance.now() - started > config.electionTicks * config.tickMs) {
      return { ok: false, code: 'transfer_timeout', message: `${target} did not take over within an election timeout; ${config.id} still leads` };
    }
    if (performance.now() > deadline) return { ok: false, code: 'transfer_timeout', message: `no new leader within ${Math.round(deadline - started)} ms` };
    await new Promise((resolve) => setTimeout(resolve, transferPollMs));
  }
}
