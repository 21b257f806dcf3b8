// The background work behind the replicated placement settings, on every node: the leader's
// watches (liveness marks members down, the disk watch marks them full) and this node's own
// announcement of its --zone, and the leader's clearing of removed members' settings.
import type { NodeContext } from '../node/node-context.ts';
import { startDiskWatch } from './disk-watch.ts';
import { startLiveness } from './liveness.ts';
import { startSettingsHousekeeping } from './settings-housekeeping.ts';
import { startZoneAnnouncer } from './zone-announcer.ts';

export function startPlacementTasks(ctx: NodeContext): { stop(): void } {
  const tasks = [startLiveness(ctx, ctx.config.deadAfterMs), startDiskWatch(ctx), startZoneAnnouncer(ctx), startSettingsHousekeeping(ctx)];
  return { stop: () => tasks.forEach((task) => task.stop()) };
}
