// Cluster membership: voters and learners, and how it changes at runtime.
//
// Single-server changes (Raft dissertation §4.1), not joint consensus: every change adds a
// learner, promotes one learner to voter, or removes one member, so the majorities of the
// configurations before and after a change always overlap and no two leaders can be elected
// with disjoint quorums. It needs no intermediate configuration and covers everything the
// cluster tools ask for (grow, shrink, replace one machine at a time); joint consensus would
// only add multi-server changes at once, which nobody asks for. The rules that make it safe:
//  - a server uses the latest configuration in its log, committed or not (so truncating an
//    uncommitted config entry restores the one before it);
//  - at most one change is uncommitted at a time;
//  - a leader proposes a change only once an entry of its own term has committed (the fix of
//    the single-server bug Ongaro posted to raft-dev in 2015: without it a new leader can
//    append a change based on a configuration a previous, deposed leader already replaced).
// Learners receive the log and snapshots but never count for commits, elections or ReadIndex,
// and never campaign.
//
// Removed nodes. The leader keeps replicating to the members the latest change removed, so
// they receive it and its commit and report `removed` (RaftStatus); they are dropped at the
// next change. A removed node never campaigns once the change is in its log. One that missed
// it cannot disrupt the cluster either: its log lacks the committed change, which a majority
// of the new configuration holds, and that majority overlaps every majority of its old one,
// so its pre-votes are refused and it never raises anyone's term (leases do the rest).
// Voters do NOT ignore vote requests from nodes outside their configuration: a voter that
// lags behind a promotion does not know the new voter yet, and ignoring it could leave a
// majority of the new configuration unable to elect anyone (e.g. {a,b} + promote c, committed
// by a and c; a dies; b must still vote for c).
//
// Reused ids. A node that joins again under an old id with a wiped disk replays the log of
// its earlier incarnation, votes and removal included. It is told the index of the config
// entry that added it (RaftInitialState.joinedAt) and ignores the configurations before it:
// it neither campaigns on them, nor votes until its log reaches that index, nor takes the
// earlier removal for its own.
import { assert } from '../../../shared/assert.ts';
import type { Entry, Membership, NodeId, SnapshotMeta } from './types.ts';

export type MembershipChangeKind = 'addLearner' | 'promote' | 'remove';

export interface MembershipChange {
  readonly kind: MembershipChangeKind;
  readonly id: NodeId;
  /** addLearner only: where the new member can be reached (Membership.addresses). */
  readonly address?: string;
}

/** Why a membership change was refused. */
export type MembershipRefusal =
  | 'notLeader'
  | 'transferring'
  /** Another change is not committed yet: one at a time. */
  | 'changePending'
  /** The leader has not yet committed an entry of its term; retry shortly. */
  | 'leaderNotReady'
  | 'alreadyMember'
  | 'notMember'
  | 'notLearner'
  /** The learner's log is too far behind the leader's to promote it safely now. */
  | 'learnerBehind'
  /** Removing the only voter would leave a cluster that can never commit again. */
  | 'lastVoter'
  /**
   * After the removal, fewer voters than a quorum would have logs close to the leader's: the
   * cluster could not commit until a lagging one caught up (etcd's strict reconfig check).
   */
  | 'quorumBehind'
  | 'invalidId'
  | 'invalidAddress';

export type MembershipChangeResult =
  | { readonly ok: true; readonly index: number; readonly term: number; readonly membership: Membership }
  | { readonly ok: false; readonly reason: MembershipRefusal; readonly message: string; readonly leaderId: NodeId | null };

export function learnersOf(membership: Membership): readonly NodeId[] {
  return membership.learners ?? [];
}

export function isVoterIn(membership: Membership, id: NodeId): boolean {
  return membership.voters.includes(id);
}

export function isMemberOf(membership: Membership, id: NodeId): boolean {
  return membership.voters.includes(id) || learnersOf(membership).includes(id);
}

/** Every member, voters first. */
export function membersOf(membership: Membership): NodeId[] {
  return [...membership.voters, ...learnersOf(membership)];
}

export function addressesOf(membership: Membership): Readonly<Record<NodeId, string>> {
  return membership.addresses ?? {};
}

export function sameMembership(a: Membership, b: Membership): boolean {
  const same = (x: readonly NodeId[], y: readonly NodeId[]) => x.length === y.length && x.every((id, i) => id === y[i]);
  const addressesA = Object.entries(addressesOf(a)).sort();
  const addressesB = Object.entries(addressesOf(b)).sort();
  return (
    same(a.voters, b.voters) &&
    same(learnersOf(a), learnersOf(b)) &&
    same(addressesA.map((e) => e.join('=')), addressesB.map((e) => e.join('=')))
  );
}

/** `membership` with `id`'s address set (a string) or dropped (null); no key when none is left. */
function withAddress(membership: { voters: NodeId[]; learners: NodeId[] }, addresses: Readonly<Record<NodeId, string>>, id: NodeId, address: string | null): Membership {
  const next: Record<NodeId, string> = { ...addresses };
  if (address === null) delete next[id];
  else next[id] = address;
  return Object.keys(next).length === 0 ? membership : { ...membership, addresses: next };
}

/** The membership after `change`, or why it is not a valid change of `membership`. */
export function applyChange(
  membership: Membership,
  change: MembershipChange,
): { ok: true; membership: Membership } | { ok: false; reason: MembershipRefusal; message: string } {
  const { kind, id } = change;
  const voters = membership.voters;
  const learners = learnersOf(membership);
  const addresses = addressesOf(membership);
  if (typeof id !== 'string' || id.length === 0) return { ok: false, reason: 'invalidId', message: 'a member id must be a non-empty string' };
  if (change.address !== undefined && (kind !== 'addLearner' || typeof change.address !== 'string' || change.address.length === 0)) {
    return { ok: false, reason: 'invalidAddress', message: 'an address is a non-empty string, given only to addLearner' };
  }
  switch (kind) {
    case 'addLearner':
      if (isMemberOf(membership, id)) return { ok: false, reason: 'alreadyMember', message: `${id} is already a ${voters.includes(id) ? 'voter' : 'learner'}` };
      return { ok: true, membership: withAddress({ voters: [...voters], learners: [...learners, id] }, addresses, id, change.address ?? null) };
    case 'promote':
      if (voters.includes(id)) return { ok: false, reason: 'notLearner', message: `${id} is already a voter` };
      if (!learners.includes(id)) return { ok: false, reason: 'notMember', message: `${id} is not a learner of the cluster (add it as a learner first)` };
      return { ok: true, membership: withAddress({ voters: [...voters, id], learners: learners.filter((l) => l !== id) }, addresses, id, addresses[id] ?? null) };
    case 'remove':
      if (!isMemberOf(membership, id)) return { ok: false, reason: 'notMember', message: `${id} is not a member of the cluster` };
      if (voters.length === 1 && voters[0] === id) return { ok: false, reason: 'lastVoter', message: `${id} is the only voter` };
      return { ok: true, membership: withAddress({ voters: voters.filter((v) => v !== id), learners: learners.filter((l) => l !== id) }, addresses, id, null) };
  }
}

/** The data of a 'config' entry: the whole new membership (not the change), as JSON. */
export function encodeMembership(membership: Membership): string {
  const { voters } = membership;
  const learners = learnersOf(membership);
  return JSON.stringify(membership.addresses === undefined ? { voters, learners } : { voters, learners, addresses: membership.addresses });
}

/** Reads a 'config' entry's data; a malformed one is a broken invariant (the transport checks peers' entries). */
export function decodeMembership(data: string): Membership {
  const problem = membershipDataProblem(data);
  assert(problem === null, `config entry: ${problem}`);
  const parsed = JSON.parse(data) as { voters: NodeId[]; learners: NodeId[]; addresses?: Record<NodeId, string> };
  const membership = { voters: parsed.voters, learners: parsed.learners };
  return parsed.addresses === undefined ? membership : { ...membership, addresses: parsed.addresses };
}

/** Why `data` is not a valid config entry, or null (exported for the transport's message schema). */
export function membershipDataProblem(data: string): string | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch {
    return 'not JSON';
  }
  if (typeof parsed !== 'object' || parsed === null) return 'not an object';
  const { voters, learners } = parsed as { voters?: unknown; learners?: unknown };
  const ids = (v: unknown): v is string[] => Array.isArray(v) && v.every((id) => typeof id === 'string' && id.length > 0);
  if (!ids(voters) || !ids(learners)) return 'voters and learners must be arrays of non-empty ids';
  if (voters.length === 0) return 'no voters';
  const all = [...voters, ...learners];
  if (new Set(all).size !== all.length) return 'a member is listed twice';
  const { addresses } = parsed as { addresses?: unknown };
  if (addresses !== undefined) {
    if (typeof addresses !== 'object' || addresses === null || Array.isArray(addresses)) return 'addresses must be an object';
    for (const [id, address] of Object.entries(addresses)) {
      if (!all.includes(id)) return `an address for ${JSON.stringify(id)}, not a member`;
      if (typeof address !== 'string' || address.length === 0) return `the address of ${id} is not a non-empty string`;
    }
  }
  return null;
}

interface ConfigPoint {
  readonly index: number;
  readonly membership: Membership;
}

/**
 * The configurations in a node's log: the one at its base (the snapshot's, or the bootstrap
 * membership at index 0) and one per config entry after it. The latest is the one in effect,
 * committed or not; it follows the log through appends, truncations, compactions and restores.
 */
export class MembershipLog {
  #base: ConfigPoint;
  /** Config entries after the base, in index order. */
  #changes: ConfigPoint[] = [];

  constructor(base: Membership, baseIndex: number, entries: readonly Entry[]) {
    this.#base = { index: baseIndex, membership: base };
    this.appended(entries);
  }

  /** The configuration in effect: the latest in the log. */
  get current(): Membership {
    return this.#latest().membership;
  }

  /** The index of the latest config entry (the base index when the log holds none). */
  get currentIndex(): number {
    return this.#latest().index;
  }

  /** The configuration before the latest change (the base one when there is no change). */
  get previous(): Membership {
    return this.#changes.length >= 2 ? this.#changes[this.#changes.length - 2].membership : this.#base.membership;
  }

  /** The configuration in effect at `index` (the latest at or before it). */
  at(index: number): Membership {
    assert(index >= this.#base.index, `membership at ${index} is before the log's base ${this.#base.index}`);
    for (let i = this.#changes.length - 1; i >= 0; i--) if (this.#changes[i].index <= index) return this.#changes[i].membership;
    return this.#base.membership;
  }

  /** New entries at the end of the log (in order). */
  appended(entries: readonly Entry[]): void {
    for (const entry of entries) {
      if (entry.type !== 'config') continue;
      assert(entry.index > this.currentIndex, `config entry ${entry.index} appended at or before config ${this.currentIndex}`);
      this.#changes.push({ index: entry.index, membership: decodeMembership(entry.data) });
    }
  }

  /** The log was cut from `index` on: configurations from there are gone, the one before is back. */
  truncatedFrom(index: number): void {
    assert(index > this.#base.index, `truncation at ${index} reaches the log's base ${this.#base.index}`);
    while (this.#changes.length > 0 && this.#changes[this.#changes.length - 1].index >= index) this.#changes.pop();
  }

  /** The log was compacted through `index`. */
  compacted(index: number): void {
    this.#base = { index, membership: this.at(index) };
    this.#changes = this.#changes.filter((c) => c.index > index);
  }

  /** A snapshot replaced the whole log. */
  restored(snapshot: SnapshotMeta): void {
    this.#base = { index: snapshot.index, membership: snapshot.membership };
    this.#changes = [];
  }

  #latest(): ConfigPoint {
    return this.#changes.length > 0 ? this.#changes[this.#changes.length - 1] : this.#base;
  }
}
