// The leader's watch over the members' liveness, for placement: a member it has not heard from
// for --dead-after is marked down (a replicated setting), so every node stops counting it as a
// holder and its chunks are copied to the next members in rendezvous order; once the leader
// hears from it again it is marked up, and rebalancing moves its share back. Only the leader
// decides, so every node places alike. A new leader gives every member --dead-after from its
// election before it judges it.
import { isLeader, type NodeContext } from '../node/node-context.ts';
import { setMemberDown } from './settings-service.ts';

/** How often the leader looks. */
export const livenessCheckMs = 1000;
/** Heard from within this long: up again. */
const aliveWithinMs = 3000;

export function startLiveness(ctx: NodeContext, deadAfterMs: number): { stop(): void } {
  let leadingSinceMs: number | null = null;
  let proposing = false;
  const check = async () => {
    if (!isLeader(ctx)) {
      leadingSinceMs = null;
      return;
    }
    leadingSinceMs ??= performance.now();
    const leadingMs = performance.now() - leadingSinceMs;
    const contact = ctx.raft.lastContactMs();
    const down = new Set(ctx.placement.down());
    for (const member of ctx.members.members) {
      if (member.id === ctx.config.id) continue;
      const silentMs = Math.min(contact.get(member.id) ?? Infinity, leadingMs);
      if (!down.has(member.id) && silentMs > deadAfterMs) {
        console.warn(`node ${ctx.config.id}: ${member.id} unreachable for ${Math.round(silentMs / 1000)} s (--dead-after ${deadAfterMs / 1000} s): marked down, its chunks are copied to other members`);
        await setMemberDown(ctx, member.id, true);
      } else if (down.has(member.id) && (contact.get(member.id) ?? Infinity) < aliveWithinMs) {
        console.log(`node ${ctx.config.id}: ${member.id} answers again: marked up`);
        await setMemberDown(ctx, member.id, false);
      }
    }
  };
  const timer = setInterval(() => {
    if (proposing) return;
    proposing = true;
    check()
      .catch((err: unknown) => console.error(`node ${ctx.config.id}: liveness check failed: ${(err as Error).message}`))
      .finally(() => (proposing = false));
  }, livenessCheckMs);
  return { stop: () => clearInterval(timer) };
}
