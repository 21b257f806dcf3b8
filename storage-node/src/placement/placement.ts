// This node's view of placement: the chunk's holders among the current members (the Raft
// membership, voters and learners alike) under the replicated settings: `replication`, each
// member's zone, and the members placement skips (down, draining, full). Recomputed from the
// member list and the settings each time, so a membership change or a new setting moves chunks
// (repair fetches what a node now holds, the misplaced collector drops what it no longer holds).
import { assert } from '../../../shared/assert.ts';
import type { MemberDirectory } from '../cluster/member-directory.ts';
import type { ClusterSettings } from '../metadata/cluster-settings.ts';
import { holdersOf, preferenceOrder, rendezvousWeight, type PlacementMember } from './rendezvous.ts';

/** What decides every chunk's holders: the members that may hold, with their zones, and the copies wanted. */
export interface PlacementView {
  readonly members: readonly PlacementMember[];
  readonly replication: number;
}

/** The holders of `hash` under `view` (the view of another moment, say before a change). */
export function holdersIn(view: PlacementView, hash: string, selfId: string): string[] {
  if (view.members.length === 0) return [selfId];
  const holders = holdersOf(hash, view.members, view.replication);
  assert(holders.length === Math.min(view.replication, view.members.length) && new Set(holders).size === holders.length, `placement of ${hash} gave holders ${holders.join(',')} for replication ${view.replication}`);
  return holders;
}

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

  /** Copies each chunk gets now: the setting, capped at the number of members that may hold. */
  replication(): number {
    return Math.max(1, Math.min(this.#settings().replication, this.#storageMembers().length));
  }

  /** The setting itself (what `dfs cluster set replication` last chose). */
  replicationSetting(): number {
    return this.#settings().replication;
  }

  /** Every member holds every chunk (no member skipped, no more members than copies): nothing can be misplaced. */
  everyMemberHolds(): boolean {
    return this.#storageMembers().length === this.#memberIds().length && this.replication() >= this.#memberIds().length;
  }

  /** Everything holders depend on, as of now (repair compares it with an earlier one). */
  view(): PlacementView {
    return { members: this.#storageMembers(), replication: this.replication() };
  }

  holders(hash: string): string[] {
    return holdersIn(this.view(), hash, this.selfId);
  }

  isHolder(hash: string, id: string = this.selfId): boolean {
    return this.holders(hash).includes(id);
  }

  /**
   * Every other member, holders first (where to fetch `hash` from); then the members placement
   * skips, which may still have a copy (a draining or full one keeps it until the holders have
   * theirs), the ones marked down last.
   */
  sources(hash: string): string[] {
    const storage = this.#storageMembers();
    const first = preferenceOrder(hash, storage).map((m) => m.id);
    const down = new Set(this.#settings().down);
    const placed = new Set(first);
    const rest = this.#memberIds()
      .filter((id) => !placed.has(id))
      .map((id) => ({ id, down: down.has(id), weight: rendezvousWeight(hash, id) }))
      .sort((a, b) => (a.down !== b.down ? (a.down ? 1 : -1) : a.weight === b.weight ? 0 : a.weight > b.weight ? -1 : 1))
      .map((m) => m.id);
    return [...first, ...rest].filter((id) => id !== this.selfId);
  }

  /** Changes whenever any chunk's holders may have changed (the members, a zone, the setting). */
  signature(): string {
    const view = this.view();
    return `${view.replication}|${view.members.map((m) => `${m.id}@${m.zone ?? ''}`).sort().join(',')}`;
  }

  /** Members the leader marked down (unreachable past --dead-after): they hold nothing meanwhile. */
  down(): readonly string[] {
    return this.#settings().down;
  }

  /** Members being emptied by an operator (`dfs cluster drain`). */
  draining(): readonly string[] {
    return this.#settings().draining;
  }

  /** Members above their disk high-water mark, as the leader last found. */
  full(): readonly string[] {
    return this.#settings().full;
  }

  /** The zone a member announced (null: none). */
  zoneOf(id: string): string | null {
    return this.#settings().zones[id] ?? null;
  }

  /** Every current member, skipped or not. */
  memberIds(): string[] {
    return this.#memberIds();
  }

  #memberIds(): string[] {
    const { membership } = this.#members;
    return [...membership.voters, ...(membership.learners ?? [])];
  }

  /**
   * The members that may hold chunks: up, not draining, not full. Should that leave none, the
   * skips are dropped in turn (full, then draining, then down): chunks must live somewhere, and
   * everyone marked down cannot last (the leader is up).
   */
  #storageMembers(): PlacementMember[] {
    const ids = this.#memberIds();
    const { down, draining, full, zones } = this.#settings();
    const skipped = [new Set(down), new Set(draining), new Set(full)];
    let chosen: string[] = ids;
    for (let skips = skipped.length; skips > 0; skips--) {
      const left = ids.filter((id) => !skipped.slice(0, skips).some((set) => set.has(id)));
      if (left.length > 0) {
        chosen = left;
        break;
      }
    }
    return chosen.map((id) => (zones[id] === undefined ? { id } : { id, zone: zones[id] }));
  }
}
