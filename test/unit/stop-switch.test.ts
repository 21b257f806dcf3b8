// Shutdown cuts short a misplaced-collection pass: a node removed from the cluster finds every
// chunk it stores misplaced and asks each holder about each; with a holder that never answers (a
// paused peer), the pass, and the node's stop that awaited it, waited out whole request timeouts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MisplacedCollector } from '../../storage-node/src/chunks/misplaced-collector.ts';
import { StopSwitch } from '../../storage-node/src/node/stop-switch.ts';

const hash = 'ab'.repeat(32);

/** A collector on a node (n9) that stores one referenced chunk whose holders are n1..n3. */
function collectorWith(has: (peerId: string, hash: string) => Promise<boolean>, stopSwitch: StopSwitch) {
  const stored = new Set([hash]);
  const asked: string[] = [];
  const collector = new MisplacedCollector({
    blobs: {
      list: async function* () {
        yield* [...stored];
      },
      delete: async (h: string) => stored.delete(h),
      size: async () => 10,
    },
    metadata: { chunkRefState: () => ({ refcount: 1 }) as never },
    placement: { holders: () => ['n1', 'n2', 'n3'], selfId: 'n9', everyMemberHolds: () => false },
    blobClient: stopSwitch.has({
      has: (peerId, h) => {
        asked.push(peerId);
        return has(peerId, h);
      },
    }),
    guard: { isHeld: () => false },
    mayCollect: () => !stopSwitch.stopping,
  });
  return { collector, stored, asked };
}

describe('stop switch', () => {
  it('passes the answers through until tripped: a misplaced copy every holder has is deleted', async () => {
    const { collector, stored, asked } = collectorWith(async () => true, new StopSwitch());
    const pass = await collector.collect();
    assert.deepEqual(pass, { ran: true, misplaced: 1, deleted: 1 });
    assert.deepEqual(asked, ['n1', 'n2', 'n3']);
    assert.equal(stored.size, 0);
  });

  it('ends a pass waiting on a holder that never answers, deleting nothing', async () => {
    const stopSwitch = new StopSwitch();
    const { collector, stored, asked } = collectorWith(() => new Promise<boolean>(() => {}), stopSwitch);
    const pass = collector.collect();
    // Let the pass reach its first HEAD, then stop.
    for (let i = 0; i < 20 && asked.length === 0; i++) await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(asked, ['n1'], 'the pass is waiting on its first holder');
    stopSwitch.trip();
    assert.deepEqual(await pass, { ran: true, misplaced: 1, deleted: 0 });
    assert.ok(stored.has(hash), 'nothing deleted on a "not there" answer');
    // After the trip no peer is asked at all, and a new pass does not run.
    assert.deepEqual(await collector.collect(), { ran: false, misplaced: 0, deleted: 0 });
    assert.deepEqual(asked, ['n1']);
  });
});
