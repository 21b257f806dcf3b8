// Changing the cluster-wide settings (`dfs cluster set replication N`, `dfs cluster drain`, a
// member's zone, the leader's verdicts): one Raft entry each, answered once applied here. The new
// placement then moves chunks on every node (repair, misplaced copies).
import { stampHlc } from '../files/propose.ts';
import { encodeCommand } from '../metadata/commands.ts';
import type { ClusterSettings, SettingsCommand, SettingsResult } from '../metadata/cluster-settings.ts';
import type { NodeContext } from '../node/node-context.ts';

type Unstamped<C> = C extends SettingsCommand ? Omit<C, 'hlc' | 'requestId'> : never;

async function proposeSetting(ctx: NodeContext, command: Unstamped<SettingsCommand>): Promise<ClusterSettings> {
  ctx.metrics.proposals.inc({ op: command.op });
  const result = (await ctx.raft.propose(encodeCommand({ ...command, hlc: stampHlc(ctx) } as SettingsCommand))) as SettingsResult | undefined;
  if (result === undefined) throw new Error('the state machine gave no result for a settings command');
  return result.settings;
}

/** The leader marks a member down (or up again); see ClusterSettings.down. */
export function setMemberDown(ctx: NodeContext, id: string, down: boolean): Promise<ClusterSettings> {
  return proposeSetting(ctx, { op: 'setMemberDown', id, down });
}

/** A member's draining or full flag (see ClusterSettings). */
export function setMemberFlag(ctx: NodeContext, op: 'setMemberDraining' | 'setMemberFull', id: string, value: boolean): Promise<ClusterSettings> {
  return proposeSetting(ctx, op === 'setMemberDraining' ? { op, id, draining: value } : { op, id, full: value });
}

export function setMemberZone(ctx: NodeContext, id: string, zone: string | null): Promise<ClusterSettings> {
  return proposeSetting(ctx, { op: 'setMemberZone', id, zone });
}

export function setReplication(ctx: NodeContext, replication: number): Promise<ClusterSettings> {
  return proposeSetting(ctx, { op: 'setReplication', replication });
}
