// Changing the cluster-wide settings (`dfs cluster set replication N`): one Raft entry, answered
// once applied here. The new placement then moves chunks on every node (repair, misplaced copies).
import { stampHlc } from '../files/propose.ts';
import { encodeCommand } from '../metadata/commands.ts';
import type { ClusterSettings, SettingsResult } from '../metadata/cluster-settings.ts';
import type { NodeContext } from '../node/node-context.ts';

/** The leader marks a member down (or up again); see ClusterSettings.down. */
export async function setMemberDown(ctx: NodeContext, id: string, down: boolean): Promise<ClusterSettings> {
  ctx.metrics.proposals.inc({ op: 'setMemberDown' });
  const result = (await ctx.raft.propose(encodeCommand({ op: 'setMemberDown', id, down, hlc: stampHlc(ctx) }))) as SettingsResult | undefined;
  if (result === undefined) throw new Error('the state machine gave no result for a settings command');
  return result.settings;
}

export async function setReplication(ctx: NodeContext, replication: number): Promise<ClusterSettings> {
  ctx.metrics.proposals.inc({ op: 'setReplication' });
  const result = (await ctx.raft.propose(encodeCommand({ op: 'setReplication', replication, hlc: stampHlc(ctx) }))) as SettingsResult | undefined;
  if (result === undefined) throw new Error('the state machine gave no result for a settings command');
  return result.settings;
}
