// This node's view of placement: the chunk's holders among the current members (the Raft
// membership, voters and learners alike) under the replicated `replication` setting. Recomputed
// from the member list and the setting each time, so a membership change or a new setting moves
// chunks (repair fetches what a node now holds, the rebalancer drops what it no longer holds).
import type { MemberDirectory } from '../cluster/member-directory.ts';
import type { ClusterSettings } from '../metadata/cluster-settings.ts';
import { holdersOf, preferenceOrder, type PlacementMember } from './rendezvous.ts';

export class Placement {
  readonly #members: MemberDirectory;
  readonly #settings: () => ClusterSettings;

  constructor(members: MemberDirectory, settings: () => ClusterSettings) {
    this.#members = members;
    this.#settings = settings;
  }

  get selfId(): string {
    return this.#members.selfId;
  }

  /** Copies each chunk gets now: the setting, capped at the number of members. */
  replication(): number {
    return Math.max(1, Math.min(this.#settings().replication, this.#storageMembers().length));
  }

  /** The setting itself (what `dfs cluster set replication` last chose). */
  replicationSetting(): number {
    return this.#settings().replication;
  }

  /** Every member holds every chunk (no more members than copies): nothing can be misplaced. */
  everyMemberHolds(): boolean {
    return this.replication() >= this.#storageMembers().length;
  }

  holders(hash: string): string[] {
    const members = this.#storageMembers();
    if (members.length === 0) return [this.selfId];
    return holdersOf(hash, members, this.replication());
  }

  isHolder(hash: string, id: string = this.selfId): boolean {
    return this.holders(hash).includes(id);
  }

  /** Every other member, holders first (where to fetch `hash` from). */
  sources(hash: string): string[] {
    return preferenceOrder(hash, this.#storageMembers()).map((m) => m.id).filter((id) => id !== this.selfId);
  }

  /** Changes whenever any chunk's holders may have changed (the members or the setting). */
  signature(): string {
    return `${this.replication()}|${this.#storageMembers().map((m) => m.id).sort().join(',')}`;
  }

  /** Members the leader marked down (unreachable past --dead-after): they hold nothing meanwhile. */
  down(): readonly string[] {
    return this.#settings().down;
  }

  #storageMembers(): PlacementMember[] {
    const { membership } = this.#members;
    const ids = [...membership.voters, ...(membership.learners ?? [])];
    const down = new Set(this.#settings().down);
    const up = ids.filter((id) => !down.has(id));
    // Everyone marked down (cannot last: the leader is up) would place nothing: use them all.
    return (up.length > 0 ? up : ids).map((id) => ({ id }));
  }
}
