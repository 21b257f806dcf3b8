// Membership changes as the cluster tools ask for them (`dfs cluster add|promote|remove`, a new
// node's --join, a learner's own promotion): one single-server change at a time through Raft,
// answered once its config entry is committed. Only the leader changes the membership; the
// routes forward to it.
import { isMemberId } from '../../../shared/member-id.ts';
import type { MembershipChange, MembershipRefusal } from '../raft/membership.ts';
import { isMemberOf, learnersOf } from '../raft/membership.ts';
import { MembershipChangeError } from '../raft-node/errors.ts';
import type { NodeContext } from '../node/node-context.ts';
import { encodeMemberAddress, type MemberUrls } from './member-address.ts';
import type { Member } from './member-directory.ts';


export type MemberChangeCode =
  | 'invalid_id'
  | 'invalid_address'
  | 'already_member'
  | 'not_member'
  | 'not_learner'
  | 'learner_behind'
  | 'last_voter'
  | 'quorum_behind'
  | 'change_pending'
  | 'leader_not_ready'
  | 'transferring'
  | 'not_leader';

export class MemberChangeFailure extends Error {
  override readonly name = 'MemberChangeFailure';
  constructor(
    readonly code: MemberChangeCode,
    message: string,
  ) {
    super(message);
  }
}

const codeOfRefusal: Record<MembershipRefusal, MemberChangeCode> = {
  notLeader: 'not_leader',
  transferring: 'transferring',
  changePending: 'change_pending',
  leaderNotReady: 'leader_not_ready',
  alreadyMember: 'already_member',
  notMember: 'not_member',
  notLearner: 'not_learner',
  learnerBehind: 'learner_behind',
  lastVoter: 'last_voter',
  quorumBehind: 'quorum_behind',
  invalidId: 'invalid_id',
  invalidAddress: 'invalid_address',
};

export interface Admission {
  /** The index of the config entry that admitted the node (its RaftInitialState.joinedAt). */
  readonly joinedAt: number;
  readonly members: readonly Member[];
}

export class MembershipService {
  readonly #ctx: NodeContext;

  constructor(ctx: NodeContext) {
    this.#ctx = ctx;
  }

  /** Adds `id` as a learner reachable at `urls`; resolves once committed. */
  async add(id: string, urls: MemberUrls): Promise<Admission> {
    checkId(id);
    const { raft, members } = this.#ctx;
    const current = raft.membership().membership;
    if (isMemberOf(current, id)) {
      // A joining node whose first answer was lost asks again: the same learner at the same
      // address is admitted already. Any later config entry serves as its joinedAt (it only
      // makes the node wait longer before it trusts the log's memberships).
      const known = members.urlsOf(id);
      const same = known !== undefined && known.clientUrl === urls.clientUrl && known.clusterUrl === urls.clusterUrl;
      if (same && learnersOf(current).includes(id) && !raft.status().membershipChangePending) {
        return { joinedAt: raft.membership().index, members: members.members };
      }
      throw new MemberChangeFailure('already_member', `${id} is already a ${current.voters.includes(id) ? 'voter' : 'learner'}${same ? '' : ' at another address'}; remove it first to replace it`);
    }
    const { index } = await this.#change({ kind: 'addLearner', id, address: encodeMemberAddress(urls) });
    return { joinedAt: index, members: members.members };
  }

  /** Makes the learner `id` a voter; refused while its log is far behind the leader's. */
  async promote(id: string): Promise<void> {
    checkId(id);
    await this.#change({ kind: 'promote', id });
  }

  /**
   * Removes `id`, voter or learner. The leader may remove itself: it leads until the change
   * commits, then hands leadership over and steps down (the removed node then stops).
   */
  async remove(id: string): Promise<void> {
    checkId(id);
    await this.#change({ kind: 'remove', id });
  }

  async #change(change: MembershipChange): Promise<{ index: number }> {
    try {
      const result = await this.#ctx.raft.proposeMembershipChange(change);
      console.log(`node ${this.#ctx.config.id}: membership change ${change.kind} ${change.id} committed at index ${result.index}; voters ${result.membership.voters.join(',')}, learners ${learnersOf(result.membership).join(',') || '-'}`);
      return result;
    } catch (err) {
      if (err instanceof MembershipChangeError) throw new MemberChangeFailure(codeOfRefusal[err.reason], err.message);
      throw err;
    }
  }
}

function checkId(id: string): void {
  if (!isMemberId(id)) throw new MemberChangeFailure('invalid_id', `member id ${JSON.stringify(id)}: 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit`);
}
