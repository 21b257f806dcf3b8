// Who the members are and where they are reached, following the Raft membership at runtime.
// `--peers` seeds it (the founders of a cluster, and the addresses of clusters whose log predates
// addresses in the membership); every configuration the log brings adds the addresses it names.
// An address stays known after its member is removed: the leader still sends the removal and its
// commit to that node, so it learns that it was removed.
import { addressesOf, isMemberOf, learnersOf, membersOf } from '../raft/membership.ts';
import type { Membership, NodeId } from '../raft/types.ts';
import { decodeMemberAddress, type MemberUrls } from './member-address.ts';

export interface Member extends MemberUrls {
  readonly id: NodeId;
  /** Counts for commits and elections; a learner only receives the log. */
  readonly voter: boolean;
}

export class MemberDirectory {
  readonly selfId: NodeId;
  readonly #urls = new Map<NodeId, MemberUrls>();
  #membership: Membership;
  #members: readonly Member[] = [];
  #otherIds: readonly NodeId[] = [];
  readonly #listeners: ((directory: MemberDirectory) => void)[] = [];

  /** `seed`: addresses known before the log says anything (--peers, a join answer). */
  constructor(selfId: NodeId, seed: ReadonlyMap<NodeId, MemberUrls>, membership: Membership) {
    this.selfId = selfId;
    for (const [id, urls] of seed) this.#urls.set(id, urls);
    this.#membership = membership;
    this.#learn(membership);
  }

  /** The configuration in effect changed (a config entry, a truncation, a snapshot). */
  update(membership: Membership): void {
    this.#membership = membership;
    this.#learn(membership);
    for (const listener of this.#listeners) listener(this);
  }

  onChange(listener: (directory: MemberDirectory) => void): void {
    this.#listeners.push(listener);
  }

  get membership(): Membership {
    return this.#membership;
  }

  /** The current members, voters first, with their URLs (a member with no known address is left out). */
  get members(): readonly Member[] {
    return this.#members;
  }

  /** The other current members' ids. */
  get otherIds(): readonly NodeId[] {
    return this.#otherIds;
  }

  get voterIds(): readonly NodeId[] {
    return this.#membership.voters;
  }

  isMember(id: NodeId): boolean {
    return isMemberOf(this.#membership, id);
  }

  isVoter(id: NodeId): boolean {
    return this.#membership.voters.includes(id);
  }

  isLearner(id: NodeId): boolean {
    return learnersOf(this.#membership).includes(id);
  }

  /** The URLs of any node this one knows, member or not. */
  urlsOf(id: NodeId): MemberUrls | undefined {
    return this.#urls.get(id);
  }

  /** Cluster URLs of every other node known, members and removed ones alike (for the transport). */
  clusterUrls(): Map<NodeId, string> {
    const out = new Map<NodeId, string>();
    for (const [id, urls] of this.#urls) if (id !== this.selfId) out.set(id, urls.clusterUrl);
    return out;
  }

  #learn(membership: Membership): void {
    for (const [id, address] of Object.entries(addressesOf(membership))) {
      const urls = decodeMemberAddress(address);
      if (urls !== null) this.#urls.set(id, urls);
    }
    this.#members = membersOf(membership).flatMap((id) => {
      const urls = this.#urls.get(id);
      return urls === undefined ? [] : [{ id, voter: membership.voters.includes(id), ...urls }];
    });
    this.#otherIds = membersOf(membership).filter((id) => id !== this.selfId);
  }
}
