// The upload's pipelined replication window: up to N chunks waiting for a majority at once, the
// first failure ends the upload, finish() waits for every majority, stragglers are bounded.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ReplicationWindow } from '../../storage-node/src/files/replication-window.ts';
import type { Replication } from '../../storage-node/src/files/replicate-chunk.ts';

interface Pending {
  readonly hash: string;
  readonly signal: AbortSignal;
  majority(): void;
  fail(err: Error): void;
  settle(): void;
}

/** A replicate() whose outcomes the test decides, one chunk at a time. */
function controlled() {
  const started: Pending[] = [];
  const replicate = (hash: string, _data: Buffer, signal: AbortSignal): Replication => {
    let majority!: () => void;
    let fail!: (err: Error) => void;
    let settle!: () => void;
    const majorityPromise = new Promise<void>((resolve, reject) => {
      majority = resolve;
      fail = reject;
    });
    const settled = new Promise<void>((resolve) => (settle = resolve));
    started.push({ hash, signal, majority, fail, settle });
    return { majority: majorityPromise, settled };
  };
  return { started, replicate };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));
const data = Buffer.alloc(1);

describe('replication window', () => {
  it('keeps up to N chunks in flight; the next add waits for a majority of the oldest', async () => {
    const { started, replicate } = controlled();
    const window = new ReplicationWindow(replicate, 2);
    await window.add('a', data);
    await window.add('b', data);
    let thirdAdded = false;
    const third = window.add('c', data).then(() => (thirdAdded = true));
    await tick();
    assert.equal(thirdAdded, false);
    assert.equal(started.length, 2);
    started[1].majority();
    await third;
    assert.equal(started.length, 3);
    let finished = false;
    const finish = window.finish().then(() => (finished = true));
    started[0].majority();
    await tick();
    assert.equal(finished, false, 'finish waits for every chunk');
    started[2].majority();
    await finish;
  });

  it('the first failure rejects the next add and finish', async () => {
    const { started, replicate } = controlled();
    const window = new ReplicationWindow(replicate, 4);
    await window.add('a', data);
    started[0].fail(new Error('replication_failed'));
    await tick();
    await assert.rejects(window.add('b', data), /replication_failed/);
    await assert.rejects(window.finish(), /replication_failed/);
  });

  it('aborts the oldest stragglers beyond N, and everything on abort()', async () => {
    const { started, replicate } = controlled();
    const window = new ReplicationWindow(replicate, 2);
    for (const hash of ['a', 'b', 'c']) {
      await window.add(hash, data);
      started[started.length - 1].majority(); // a majority holds it; one push still runs
      await tick();
    }
    assert.deepEqual(started.map((p) => p.signal.aborted), [true, false, false]);
    started[1].settle();
    await window.add('d', data);
    await tick();
    assert.deepEqual(started.map((p) => p.signal.aborted), [true, false, false, false]);
    window.abort();
    assert.deepEqual(started.map((p) => p.signal.aborted), [true, false, true, true], 'settled pushes are left alone');
  });

  it('says once when it no longer holds a chunk: after its pushes end, or at once when add rejects', async () => {
    const { started, replicate } = controlled();
    const window = new ReplicationWindow(replicate, 1);
    const released: string[] = [];
    await window.add('a', data, () => released.push('a'));
    started[0].majority();
    await tick();
    assert.equal(released.length, 0, 'a push still runs');
    started[0].settle();
    await tick();
    assert.deepEqual(released, ['a']);
    await window.add('b', data, () => released.push('b'));
    started[1].fail(new Error('replication_failed'));
    started[1].settle();
    await tick();
    await assert.rejects(window.add('c', data, () => released.push('c')), /replication_failed/);
    assert.deepEqual(released, ['a', 'b', 'c']);
    assert.equal(started.length, 2, 'c was never started');
  });
});
