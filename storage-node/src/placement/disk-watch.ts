// The leader's watch over the members' disks, for placement: a member whose disk is in use past
// its --disk-high-water is marked full (a replicated setting), so every node stops counting it as
// a holder: it gets no new chunks, and its copies move to the next members in rendezvous order.
// It is marked not full once below the mark by `diskHysteresisPercent`, so a disk hovering at the
// mark does not flap. Only the leader decides, so every node places alike; an unreachable member
// keeps its verdict (liveness marks it down if it stays silent).
import { isLeader, type NodeContext } from '../node/node-context.ts';
import { memberDiskUsage } from './disk-usage.ts';
import { setMemberFlag } from './settings-service.ts';

export const diskHighWaterPercentDefault = 90;
/** Below the high-water mark by this many points before a full member takes chunks again. */
export const diskHysteresisPercent = 5;
/** How often the leader reads every member's disk (statfs; one request each). */
export const diskCheckMs = 5000;

/** Whether a member is full now, given its use, its mark and whether it was full. */
export function isDiskFull(usedPercent: number, highWaterPercent: number, wasFull: boolean): boolean {
  return usedPercent >= (wasFull ? highWaterPercent - diskHysteresisPercent : highWaterPercent);
}

export function startDiskWatch(ctx: NodeContext): { stop(): void } {
  let running = false;
  const check = async () => {
    if (!isLeader(ctx)) return;
    const full = new Set(ctx.placement.full());
    await Promise.all(ctx.members.members.map(async (member) => {
      let usage;
      try {
        usage = await memberDiskUsage(ctx, member.id);
      } catch {
        return; // unreachable: liveness judges that
      }
      const wasFull = full.has(member.id);
      const nowFull = isDiskFull(usage.used_percent, usage.high_water_percent, wasFull);
      if (nowFull === wasFull || !isLeader(ctx)) return;
      console.warn(nowFull
        ? `node ${ctx.config.id}: ${member.id}'s disk is ${usage.used_percent}% used (--disk-high-water ${usage.high_water_percent}): marked full, it gets no chunks to hold`
        : `node ${ctx.config.id}: ${member.id}'s disk is ${usage.used_percent}% used: no longer full`);
      await setMemberFlag(ctx, 'setMemberFull', member.id, nowFull);
    }));
  };
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    check()
      .catch((err: unknown) => console.error(`node ${ctx.config.id}: disk check failed: ${(err as Error).message}`))
      .finally(() => (running = false));
  }, diskCheckMs);
  return { stop: () => clearInterval(timer) };
}
