// Rendezvous placement: every node computes the same holders, spread evenly, and a membership
// change moves only the chunks whose top `replication` changed.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { holdersOf, preferenceOrder } from '../../storage-node/src/placement/rendezvous.ts';
import { MemberDirectory } from '../../storage-node/src/cluster/member-directory.ts';
import { replicationDefault, type ClusterSettings } from '../../storage-node/src/metadata/cluster-settings.ts';
import { Placement } from '../../storage-node/src/placement/placement.ts';
import { isDiskFull } from '../../storage-node/src/placement/disk-watch.ts';
import { staleMemberSettings } from '../../storage-node/src/placement/settings-housekeeping.ts';

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

  it('without zones, holders are exactly what they were before zones existed', () => {
    // Computed by the placement of the commit before zones (rendezvous by weight alone).
    const golden: [string, string[]][] = [
      ['77abc86d5c37fe261ce84966b29ddcc90a2ced0dc4ff460df01f852a98327ff8', ['n5', 'n4', 'n3']],
      ['2442ffeede6ab0781f47fb14845f2683237ccb5e6cd26af1d2be97f972d24b9e', ['n2', 'n5', 'n4']],
      ['7fc3c2c1eb9394af89bee45c15f85978439e1a17e71a3562f1706b10ea641b04', ['n1', 'n3', 'n5']],
      ['336e4be6f30cfa46f61ef5b3323991e17906cfee427513c00fef059ed4a9addd', ['n2', 'n5', 'n1']],
      ['899495bbab1c65f7145b3cd960010db25dda42adcb41885e3a375d011b8e2e90', ['n4', 'n5', 'n1']],
      ['d7837a735e63d4506ca548bc37308f3702329c20cdba0312a75ea7e971faccb4', ['n2', 'n3', 'n5']],
    ];
    const placement = placementOf(['n1', 'n2', 'n3', 'n4', 'n5'], settings({ replication: 3 }));
    for (const [hash, holders] of golden) {
      assert.deepEqual(holdersOf(hash, members(5), 3), holders);
      assert.deepEqual(placement.holders(hash), holders, `${hash} through Placement`);
    }
  });

  it('a/a/b/b/c at replication 3: every chunk on three zones, one zone-a or zone-b copy each', () => {
    const zones = { n1: 'a', n2: 'a', n3: 'b', n4: 'b', n5: 'c' } as Record<string, string>;
    const placement = placementOf(Object.keys(zones), settings({ replication: 3, zones }));
    const counts = new Map<string, number>();
    for (const hash of hashes.slice(0, 600)) {
      const holders = placement.holders(hash);
      assert.equal(new Set(holders.map((id) => zones[id])).size, 3, `${hash}: ${holders.join(',')}`);
      for (const id of holders) counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    // Zone c's only member holds every chunk; the others share their zone's copy.
    assert.equal(counts.get('n5'), 600);
    for (const id of ['n1', 'n2', 'n3', 'n4']) assert.ok(Math.abs((counts.get(id) ?? 0) / 600 - 0.5) < 0.1, `${id}: ${counts.get(id)}`);
  });

  it('members without a zone share one zone, beside the named ones', () => {
    const zoned = [{ id: 'n1', zone: 'a' }, { id: 'n2', zone: 'a' }, { id: 'n3' }, { id: 'n4' }];
    for (const hash of hashes.slice(0, 200)) {
      const holders = preferenceOrder(hash, zoned).slice(0, 2);
      assert.equal(holders.filter((m) => m.zone === 'a').length, 1, `${hash}: one copy in zone a, one among the unzoned`);
    }
  });

  it('skips draining and full members as holders, but still fetches from them', () => {
    const ids = ['n1', 'n2', 'n3', 'n4', 'n5'];
    const placement = placementOf(ids, settings({ replication: 3, draining: ['n2'], full: ['n4'] }));
    for (const hash of hashes.slice(0, 200)) {
      const holders = placement.holders(hash);
      assert.deepEqual([...holders].sort(), ['n1', 'n3', 'n5']);
      // n1's sources: the holders first, then the skipped members (which keep their copies until the holders have them).
      const sources = placement.sources(hash);
      assert.deepEqual(new Set(sources.slice(0, 2)), new Set(['n3', 'n5']));
      assert.deepEqual(new Set(sources.slice(2)), new Set(['n2', 'n4']));
    }
    assert.equal(placement.replication(), 3);
    assert.equal(placement.everyMemberHolds(), false);
  });

  it('a drained member of a cluster no larger than the setting is still emptied (not every member holds)', () => {
    const placement = placementOf(['n1', 'n2', 'n3'], settings({ replication: 3, draining: ['n3'] }));
    assert.equal(placement.replication(), 2);
    assert.equal(placement.everyMemberHolds(), false);
    assert.equal(placementOf(['n1', 'n2', 'n3'], settings({ replication: 3 })).everyMemberHolds(), true);
  });

  it('drops skips in turn when they would leave no holder: full, then draining, then down', () => {
    assert.deepEqual(placementOf(['n1', 'n2'], settings({ replication: 3, full: ['n1', 'n2'] })).holders(hashes[0]).sort(), ['n1', 'n2']);
    assert.deepEqual(placementOf(['n1', 'n2'], settings({ replication: 3, full: ['n1'], draining: ['n2'] })).holders(hashes[0]), ['n1']);
    assert.deepEqual(placementOf(['n1', 'n2'], settings({ replication: 3, down: ['n1'], draining: ['n2'] })).holders(hashes[0]), ['n2']);
  });

  it('a zone or a skip changes the signature (so repair rescans)', () => {
    const ids = ['n1', 'n2', 'n3', 'n4'];
    const plain = placementOf(ids, settings({})).signature();
    assert.notEqual(placementOf(ids, settings({ zones: { n1: 'a' } })).signature(), plain);
    assert.notEqual(placementOf(ids, settings({ draining: ['n1'] })).signature(), plain);
    assert.notEqual(placementOf(ids, settings({ full: ['n1'] })).signature(), plain);
  });

  it('finds the placement settings of members that are gone (the leader clears them)', () => {
    const members = new Set(['n1', 'n2']);
    const stale = staleMemberSettings({ down: ['n3'], draining: ['n2', 'n3'], full: ['n4'], zones: { n1: 'a', n3: 'b' } }, (id) => members.has(id));
    assert.deepEqual(stale, [{ id: 'n3', clear: ['down', 'draining', 'zone'] }, { id: 'n4', clear: ['full'] }]);
    assert.deepEqual(staleMemberSettings({ down: [], draining: ['n2'], full: [], zones: { n1: 'a' } }, (id) => members.has(id)), []);
  });

  it('marks a disk full at its high-water mark and not full only 5 points below', () => {
    assert.equal(isDiskFull(89.9, 90, false), false);
    assert.equal(isDiskFull(90, 90, false), true);
    assert.equal(isDiskFull(86, 90, true), true, 'still full: within the hysteresis');
    assert.equal(isDiskFull(84.9, 90, true), false);
    assert.equal(isDiskFull(23, 1, false), true, '--disk-high-water 1: any disk in use is full');
    assert.equal(isDiskFull(99.9, 100, false), false, '100: never full');
  });
});

function settings(partial: Partial<ClusterSettings>): () => ClusterSettings {
  const value: ClusterSettings = { replication: replicationDefault, down: [], draining: [], full: [], zones: {}, ...partial };
  return () => value;
}

function placementOf(ids: string[], current: () => ClusterSettings): Placement {
  return new Placement(new MemberDirectory(ids[0], new Map(), { voters: ids }), current);
}
