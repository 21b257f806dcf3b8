// The node-wide upload memory budget: new uploads are admitted only while memory is free and no
// admitted upload waits; admitted uploads wait their turn, in order.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { UploadMemoryBudget } from '../../storage-node/src/files/upload-memory.ts';

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('upload memory budget', () => {
  it('admits while bytes fit, refuses past the budget, and admits again after a release', () => {
    const budget = new UploadMemoryBudget(100);
    assert.equal(budget.tryAcquire(60), true);
    assert.equal(budget.tryAcquire(40), true);
    assert.equal(budget.bytesInUse, 100);
    assert.equal(budget.tryAcquire(1), false);
    budget.release(40);
    assert.equal(budget.tryAcquire(30), true);
    assert.equal(budget.bytesInUse, 90);
    assert.throws(() => budget.release(91), /released 91 bytes of 90/);
    assert.throws(() => budget.tryAcquire(101), /cannot hold 101 bytes/);
  });

  it('waiting uploads are served in order before any new upload is admitted', async () => {
    const budget = new UploadMemoryBudget(100);
    assert.equal(budget.tryAcquire(100), true);
    const granted: string[] = [];
    const first = budget.acquire(60).then(() => granted.push('first'));
    const second = budget.acquire(50).then(() => granted.push('second'));
    budget.release(50);
    await tick();
    assert.deepEqual(granted, [], '60 bytes do not fit in 50');
    assert.equal(budget.tryAcquire(10), false, 'no new upload while others wait');
    budget.release(50);
    await first;
    assert.deepEqual(granted, ['first']);
    assert.equal(budget.bytesInUse, 60);
    budget.release(60);
    await second;
    assert.deepEqual(granted, ['first', 'second']);
    assert.equal(budget.bytesInUse, 50);
    assert.equal(budget.tryAcquire(50), true);
  });
});
