// For each unsafe rule of the core (config.ts), the fault settings under which the bug it lets
// in shows up quickly, and the checks expected to catch it. Used by the "checks can fail" tests
// and by `npm run sim -- --unsafe RULE`.
import type { UnsafeRules } from '../../storage-node/src/raft/config.ts';
import type { SimulationOptions } from './simulation.ts';

export type UnsafeRule = keyof UnsafeRules;

export interface UnsafeScenario {
  /** Simulation options besides seed, nodes and ticks. */
  readonly options: Partial<SimulationOptions>;
  /** The checks whose violation proves the bug was caught. */
  readonly caughtBy: readonly string[];
  /** How many seeds the tests search before giving up. */
  readonly seeds: number;
}

const SAFETY = ['election-safety', 'log-matching', 'leader-completeness', 'state-machine-safety', 'linearizability'];

// Leaders churn (crashes, isolation, transfers) under heavy loss while replication is partial,
// one entry per AppendEntries: the ground on which election and commit mistakes show.
const leaderChurn: UnsafeScenario['options'] = {
  appendBatchBytesMax: 0,
  clients: { opRate: 0.3, readRatio: 0.2 },
  faults: {
    lossRate: 0.25, dupRate: 0.05, delayMin: 1, delayMax: 5,
    partitionRate: 0.05, partitionTicks: [10, 40], partitionKinds: ['isolate', 'isolateLeader', 'oneWay'],
    crashRate: 0.02, crashLeaderRate: 0.8, crashInReadyRate: 0.2, downTicks: [5, 30], maxDown: 1,
    transferRate: 0.02, memberRate: 0,
  },
};

export const UNSAFE_SCENARIOS: Record<UnsafeRule, UnsafeScenario> = {
  // Stale nodes win elections: leaders churn (crashes, isolation) while replication is partial.
  voteWithoutLogCheck: {
    options: leaderChurn,
    caughtBy: SAFETY,
    seeds: 100,
  },
  // Figure 8: a new leader commits an old-term entry once a majority holds it, then loses
  // leadership before its own no-op spreads; a node holding a later-term entry at that index
  // wins and overwrites it. One entry per AppendEntries and heavy loss widen that window.
  commitPreviousTermByCount: {
    options: leaderChurn,
    caughtBy: SAFETY,
    seeds: 600,
  },
  // A deposed leader, cut off from the majority, answers reads while the others elect a new
  // leader and accept writes: many reads, the leader isolated for a few election timeouts.
  readIndexWithoutHeartbeat: {
    options: {
      clients: { opRate: 0.3, readRatio: 0.6 },
      faults: {
        lossRate: 0, dupRate: 0, delayMin: 1, delayMax: 3,
        partitionRate: 0.03, partitionTicks: [30, 80], partitionKinds: ['isolateLeader'],
        crashRate: 0, transferRate: 0.01, memberRate: 0,
      },
    },
    caughtBy: ['linearizability'],
    seeds: 100,
  },
  // A follower that kept entries of a deposed leader accepts the new leader's entries after
  // them without the prevLogTerm check, so its log keeps the stale prefix.
  appendWithoutLogMatch: {
    options: {
      clients: { opRate: 0.5, readRatio: 0.1 },
      faults: {
        lossRate: 0, dupRate: 0, delayMin: 1, delayMax: 2,
        partitionRate: 0.03, partitionTicks: [15, 40], partitionKinds: ['isolateLeader'],
        crashRate: 0, transferRate: 0.02, memberRate: 0,
      },
    },
    caughtBy: ['log-matching', 'leader-completeness', 'state-machine-safety', 'linearizability'],
    seeds: 100,
  },
  // A leader commits with its own unsynced entries and one follower, then crashes and loses
  // them; a node that never had them wins with the restarted leader's vote and overwrites the
  // follower's copy. Slow background syncs keep that window open for many ticks.
  countUnsyncedOwnLog: {
    options: { ...leaderChurn, backgroundSyncChance: 0.02 },
    caughtBy: ['committed-durability', ...SAFETY],
    seeds: 300,
  },
  // Two uncommitted changes (promote d, then e, in {a,b,c}+{d,e}): the old configuration's
  // majority {b,c} and the new one's {a,d,e} do not overlap, so a partition between them lets
  // both sides commit. Frequent changes and splits of the cluster.
  concurrentMembershipChanges: {
    options: {
      clients: { opRate: 0.3, readRatio: 0.2 },
      faults: {
        lossRate: 0.05, dupRate: 0, delayMin: 1, delayMax: 3,
        partitionRate: 0.03, partitionTicks: [20, 80], partitionKinds: ['split', 'isolateLeader'],
        crashRate: 0.005, crashLeaderRate: 0.5, crashInReadyRate: 0.2, downTicks: [5, 30], maxDown: 1,
        transferRate: 0, memberRate: 0.1,
      },
    },
    caughtBy: SAFETY,
    seeds: 300,
  },
  // Learners' copies count towards commits: a leader commits with learners while the voters
  // lack the entry, crashes, and a voter without it wins. Learners around, leaders crashing.
  countLearnerAcks: {
    options: {
      ...leaderChurn,
      faults: { ...leaderChurn.faults, memberRate: 0.05 },
    },
    caughtBy: ['committed-durability', ...SAFETY],
    seeds: 300,
  },
  // A follower keeps the membership of a config entry a new leader cut from its log.
  keepConfigOnTruncation: {
    options: {
      ...leaderChurn,
      faults: { ...leaderChurn.faults, memberRate: 0.1 },
    },
    caughtBy: ['config-from-log'],
    seeds: 300,
  },
  // A wiped node re-added under its old id votes (and campaigns) on configurations from before
  // it joined, for candidates its earlier incarnation's log would have refused.
  ignoreJoinedAt: {
    options: {
      ...leaderChurn,
      faults: { ...leaderChurn.faults, memberRate: 0.1, partitionKinds: ['split', 'isolate', 'bridge'] },
    },
    caughtBy: ['membership-roles', ...SAFETY],
    seeds: 300,
  },
};

export const UNSAFE_RULES = Object.keys(UNSAFE_SCENARIOS) as UnsafeRule[];

/** The check a violation line names (its first word). */
export function violationCheck(violation: string): string {
  return violation.split(' ')[0];
}
