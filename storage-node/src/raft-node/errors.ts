import type { MembershipRefusal } from '../raft/membership.ts';
import type { NodeId, RefusalReason } from '../raft/types.ts';

/** This node cannot take the request now; `leaderId` says where to go when known. */
export class NotLeaderError extends Error {
  override readonly name = 'NotLeaderError';
  constructor(
    readonly leaderId: NodeId | null,
    message: string,
    readonly reason: RefusalReason | 'noLeader' = 'notLeader',
  ) {
    super(message);
  }
}

/** The proposal's log slot went to another leader's entry: it definitely did not happen. */
export class ProposalLostError extends Error {
  override readonly name = 'ProposalLostError';
}

/** The outcome is unknown: the proposal may still commit later. */
export class RaftTimeoutError extends Error {
  override readonly name: string = 'RaftTimeoutError';
}

/**
 * The node stopped while the proposal waited: it may still commit under another leader. The
 * client should retry with the same Idempotency-Key, which makes the write happen once.
 */
export class OutcomeUnknownError extends RaftTimeoutError {
  override readonly name = 'OutcomeUnknownError';
}

/** The leader refused a membership change (another pending, not a member, learner behind…). */
export class MembershipChangeError extends Error {
  override readonly name = 'MembershipChangeError';
  constructor(
    readonly reason: MembershipRefusal,
    message: string,
    readonly leaderId: NodeId | null,
  ) {
    super(message);
  }
}
