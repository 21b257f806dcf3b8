// Repair order: a chunk that lost a copy before one that only moves, the fewest survivors first.
// Survivors are estimated from the placement before the change and who is alive now.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { repairOrder, repairPriority } from '../../storage-node/src/chunks/repair-priority.ts';

describe('repair priority', () => {
  const alive = new Set(['n1', 'n2', 'n3', 'n5']); // n4 is down or removed

  it('a chunk whose previous holders are all alive only moves (this node is a new holder)', () => {
    assert.deepEqual(repairPriority(['n1', 'n2', 'n3'], alive, 'n5'), { kind: 'rebalance', survivors: 3 });
  });

  it('a previous holder down or removed: a lost copy, with the others as survivors', () => {
    assert.deepEqual(repairPriority(['n1', 'n4', 'n3'], alive, 'n5'), { kind: 'lost_copy', survivors: 2 });
    assert.deepEqual(repairPriority(['n4', 'n6', 'n3'], alive, 'n5'), { kind: 'lost_copy', survivors: 1 });
  });

  it('this node was a holder and lacks the chunk (quarantined, deleted, a missed push): its own copy is lost', () => {
    assert.deepEqual(repairPriority(['n1', 'n5', 'n3'], alive, 'n5'), { kind: 'lost_copy', survivors: 2 });
    assert.deepEqual(repairPriority(['n4', 'n5'], alive, 'n5'), { kind: 'lost_copy', survivors: 0 });
  });

  it('orders lost copies by survivors, then moves, stable among equals', () => {
    const items = [
      { name: 'move-a', priority: repairPriority(['n1', 'n2', 'n3'], alive, 'n5') },
      { name: 'two-left', priority: repairPriority(['n1', 'n4', 'n3'], alive, 'n5') },
      { name: 'none-left', priority: repairPriority(['n4', 'n5'], alive, 'n5') },
      { name: 'move-b', priority: repairPriority(['n2', 'n3'], alive, 'n5') },
      { name: 'one-left', priority: repairPriority(['n4', 'n6', 'n3'], alive, 'n5') },
      { name: 'two-left-b', priority: repairPriority(['n5', 'n1', 'n2'], alive, 'n5') },
    ];
    assert.deepEqual(repairOrder(items).map((i) => i.name), ['none-left', 'one-left', 'two-left', 'two-left-b', 'move-a', 'move-b']);
  });
});
