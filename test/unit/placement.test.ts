// Rendezvous placement: every node computes the same holders, spread evenly, and a membership
// change moves only the chunks whose top `replication` changed.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { holdersOf, preferenceOrder } from '../../storage-node/src/placement/rendezvous.ts';

const hashes = Array.from({ length: 3000 }, (_, i) => createHash('sha256').update(String(i)).digest('hex'));
const members = (n: number) => Array.from({ length: n }, (_, i) => ({ id: `n${i + 1}` }));

describe('rendezvous placement', () => {
  it('gives each chunk `replication` distinct holders, the same whatever the member order', () => {
    const five = members(5);
    for (const hash of hashes.slice(0, 200)) {
      const holders = holdersOf(hash, five, 3);
      assert.equal(new Set(holders).size, 3);
      assert.deepEqual(holdersOf(hash, [...five].reverse(), 3), holders);
    }
    assert.deepEqual(holdersOf(hashes[0], members(2), 3).length, 2, 'fewer members than the setting: all of them');
  });

  it('spreads chunks evenly: each of 5 members holds about 3/5 of them', () => {
    const counts = new Map<string, number>();
    for (const hash of hashes) for (const id of holdersOf(hash, members(5), 3)) counts.set(id, (counts.get(id) ?? 0) + 1);
    for (const [id, count] of counts) assert.ok(Math.abs(count / hashes.length - 0.6) < 0.05, `${id} holds ${count} of ${hashes.length}`);
  });

  it('moves only what must move when a member joins or leaves', () => {
    let moved = 0;
    for (const hash of hashes) {
      const before = new Set(holdersOf(hash, members(5), 3));
      const after = holdersOf(hash, members(6), 3);
      moved += after.filter((id) => !before.has(id)).length;
      // A member leaving: the survivors keep their copies, one newcomer per lost copy.
      const without = holdersOf(hash, members(5).filter((m) => m.id !== 'n2'), 3);
      for (const id of before) if (id !== 'n2') assert.ok(without.includes(id), `${hash}: ${id} lost its copy when n2 left`);
    }
    // The new member takes about 3/6 of all chunks, one copy each.
    assert.ok(Math.abs(moved / hashes.length - 0.5) < 0.05, `moved ${moved} copies for ${hashes.length} chunks`);
  });

  it('spreads a chunk over zones before doubling up in one', () => {
    const zoned = [
      { id: 'a1', zone: 'a' }, { id: 'a2', zone: 'a' }, { id: 'a3', zone: 'a' },
      { id: 'b1', zone: 'b' }, { id: 'c1', zone: 'c' },
    ];
    for (const hash of hashes.slice(0, 300)) {
      const holders = preferenceOrder(hash, zoned).slice(0, 3);
      assert.deepEqual(new Set(holders.map((m) => m.zone)).size, 3, `${hash}: ${holders.map((m) => m.id).join(',')}`);
    }
  });
});
