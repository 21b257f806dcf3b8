// How a node enters its cluster at start: as a founder (--peers: the first membership, with the
// founders' addresses), as a node that joined before (join.json in its data directory), or as a
// new node that asks to be admitted now (--join). The answer is what Raft starts from.
import { StartError } from '../../../shared/run-program.ts';
import type { Membership } from '../raft/types.ts';
import type { NodeConfig } from '../node/config.ts';
import { encodeMemberAddress, type MemberUrls } from './member-address.ts';
import { joinCluster } from './join-cluster.ts';
import { readJoinRecord, writeJoinRecord } from './join-record.ts';

export class ClusterEntryError extends StartError {
  override readonly name = 'ClusterEntryError';
}

export interface ClusterEntry {
  /** The membership before the log says anything (none for a node that joined). */
  readonly membership: Membership;
  /** For a node that joined: the index of the config entry that admitted it. */
  readonly joinedAt?: number;
  /** Addresses known before the log says anything. */
  readonly seed: ReadonlyMap<string, MemberUrls>;
  /** A node that joined and does not ask to become a voter (--learner when it joined, or now). */
  readonly staysLearner: boolean;
}

export async function enterCluster(config: NodeConfig, storeIsEmpty: boolean): Promise<ClusterEntry> {
  const founders = new Map<string, MemberUrls>([...config.peers.values()].map((p) => [p.id, { clientUrl: p.clientUrl, clusterUrl: p.clusterUrl }]));
  const record = readJoinRecord(config.dataDir);
  if (record !== null) {
    if (record.id !== config.id) throw new ClusterEntryError(`${config.dataDir} holds node ${record.id}, not ${config.id}`);
    if (config.join !== null) console.log(`node ${config.id}: joined the cluster before (at index ${record.joinedAt}); --join is not needed any more`);
    const seed = new Map([...Object.entries(record.members), ...founders]);
    return { membership: { voters: [], learners: [] }, joinedAt: record.joinedAt, seed, staysLearner: record.learner || config.learner };
  }
  if (config.peers.size > 0) {
    const addresses = Object.fromEntries([...founders].map(([id, urls]) => [id, encodeMemberAddress(urls)]));
    return { membership: { voters: [...founders.keys()], learners: [], addresses }, seed: founders, staysLearner: false };
  }
  if (config.join === null) throw new ClusterEntryError('no cluster to enter: give --peers (to found a new cluster) or --join <client URL of a member> (to join one)');
  if (!storeIsEmpty) {
    throw new ClusterEntryError(`${config.dataDir} holds the state of a cluster member but no join record: start it as before (with --peers), or wipe the directory to join anew`);
  }
  console.log(`node ${config.id}: asking ${config.join} to admit it as ${config.self.clientUrl} (cluster ${config.self.clusterUrl})`);
  const admitted = await joinCluster({ id: config.id, self: config.self, joinUrl: config.join, learner: config.learner, clusterSecret: config.clusterSecret, tlsCa: config.tlsCa, log: (line) => console.log(line) });
  writeJoinRecord(config.dataDir, admitted);
  console.log(`node ${config.id}: admitted as a learner at index ${admitted.joinedAt}; catching up`);
  return { membership: { voters: [], learners: [] }, joinedAt: admitted.joinedAt, seed: new Map(Object.entries(admitted.members)), staysLearner: config.learner };
}
