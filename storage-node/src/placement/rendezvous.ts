// Where a chunk lives: the first `replication` storage members by rendezvous (highest random
// weight) hashing of the chunk hash and the member id. Every node computes the same answer from
// the same member list and setting, with no table to keep; when a member joins or leaves, only
// the chunks whose top `replication` changed move (about replication/N of them). With zones, a
// chunk's copies go to as many zones as possible first, each zone's best member in weight order.
import { createHash } from 'node:crypto';
import { assert } from '../../../shared/assert.ts';

export interface PlacementMember {
  readonly id: string;
  /** Failure domain (--zone); members without one share the zone ''. */
  readonly zone?: string;
}

/** The weight of `member` for `hash`: the first 8 bytes of SHA-256(hash ‖ 0 ‖ id), as a bigint. */
export function rendezvousWeight(hash: string, memberId: string): bigint {
  return createHash('sha256').update(hash).update('\0').update(memberId).digest().readBigUInt64BE(0);
}

/** Every member in preference order for `hash` (holders first): zones spread, then weight. */
export function preferenceOrder(hash: string, members: readonly PlacementMember[]): PlacementMember[] {
  const weighted = members.map((member) => ({ member, weight: rendezvousWeight(hash, member.id) }));
  // Highest weight first; the id breaks a (practically impossible) tie so every node agrees.
  weighted.sort((a, b) => (a.weight === b.weight ? (a.member.id < b.member.id ? -1 : 1) : a.weight > b.weight ? -1 : 1));
  const zones = new Set(members.map((m) => m.zone ?? ''));
  if (zones.size <= 1) return weighted.map((w) => w.member);
  // Round-robin over zones: each round takes the best remaining member of every zone not yet
  // used in it, in weight order, so the first k members span min(k, zones) zones.
  const out: PlacementMember[] = [];
  const left = [...weighted];
  while (left.length > 0) {
    const usedThisRound = new Set<string>();
    for (let i = 0; i < left.length; ) {
      const zone = left[i].member.zone ?? '';
      if (usedThisRound.has(zone)) {
        i++;
        continue;
      }
      usedThisRound.add(zone);
      out.push(left[i].member);
      left.splice(i, 1);
    }
  }
  return out;
}

/** The ids of the members that hold `hash`: the first `replication` in preference order. */
export function holdersOf(hash: string, members: readonly PlacementMember[], replication: number): string[] {
  assert(Number.isSafeInteger(replication) && replication >= 1, `replication must be a positive integer, got ${replication}`);
  return preferenceOrder(hash, members).slice(0, replication).map((m) => m.id);
}
