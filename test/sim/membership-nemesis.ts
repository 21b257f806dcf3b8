// The membership nemesis: during the fault phase it asks the current leader to change the
// membership — remove a member (the leader itself too), add a removed node back as a learner
// with a wiped data directory (a new incarnation under the old id), promote a learner — while
// partitions, crashes and transfers go on. Changes the core refuses (one pending already, a
// learner still behind, a leader not ready) are traced and counted, never forced.
import type { MembershipChange } from '../../storage-node/src/raft/membership.ts';
import { isMemberOf, learnersOf } from '../../storage-node/src/raft/membership.ts';
import type { FaultContext } from './faults.ts';
import type { Prng } from './prng.ts';

export interface MembershipStats {
  proposed: number;
  refused: number;
  removals: number;
  leaderRemovals: number;
  readds: number;
  promotions: number;
}

export class MembershipNemesis {
  readonly stats: MembershipStats = { proposed: 0, refused: 0, removals: 0, leaderRemovals: 0, readds: 0, promotions: 0 };

  /**
   * @param rate chance per tick of a change
   * @param minVoters never remove a voter below this many (so a majority survives the faults)
   * @param isCommitted whether the entry at (index, term) is known committed (someone applied it)
   */
  constructor(
    private readonly rng: Prng,
    private readonly rate: number,
    private readonly minVoters: number,
    private readonly isCommitted: (index: number, term: number) => boolean,
  ) {}

  step(ctx: FaultContext): void {
    if (!this.rng.chance(this.rate)) return;
    const leader = ctx.leaders()[0];
    if (leader === undefined) return;
    const status = leader.core!.status();
    const membership = status.membership;
    const learners = learnersOf(membership);
    const outside = ctx.ids.filter((id) => !isMemberOf(membership, id));
    const removable = [...membership.voters, ...learners].filter((id) => learners.includes(id) || membership.voters.length > this.minVoters);

    let change: MembershipChange;
    const roll = this.rng.int(100);
    if (learners.length > 0 && roll < 60) change = { kind: 'promote', id: this.rng.pick(learners) };
    else if (outside.length > 0 && roll < 85) {
      const id = this.rng.pick(outside);
      change = { kind: 'addLearner', id, address: `sim://${id}` }; // opaque to the core; checked by config-from-log
    }
    else if (removable.length > 0) change = { kind: 'remove', id: this.rng.pick(removable) };
    else return;

    // Wiping a node is safe only once its removal is committed (the leader's configuration
    // without it, not a pending one): a voter that forgets its votes and log breaks Raft.
    if (change.kind === 'addLearner') {
      const at = status.membershipIndex;
      const fromSnapshot = at <= (status.snapshot?.index ?? 0);
      const term = leader.core!.log().find((e) => e.index === at)?.term ?? -1;
      if (!fromSnapshot && !this.isCommitted(at, term)) return;
    }

    this.stats.proposed++;
    const result = leader.proposeMembershipChange(change);
    if (result === null) return;
    if (!result.ok) {
      this.stats.refused++;
      ctx.trace(`MEMBER ${leader.id} refused ${change.kind} ${change.id}: ${result.reason} (${result.message})`);
      return;
    }
    ctx.trace(`MEMBER ${leader.id} proposed ${change.kind} ${change.id} at ${result.index}/${result.term}: voters=[${result.membership.voters}] learners=[${learnersOf(result.membership)}]`);
    if (change.kind === 'promote') this.stats.promotions++;
    if (change.kind === 'remove') {
      this.stats.removals++;
      if (change.id === leader.id) this.stats.leaderRemovals++;
    }
    if (change.kind === 'addLearner') {
      this.stats.readds++;
      ctx.nodes.get(change.id)!.wipeAndJoin(result.index);
    }
  }
}

