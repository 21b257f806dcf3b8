// The gateway's replayable request body (gateway/src/held-body.ts), in process: a held body is
// sent again whole, from the start, even when an attempt was cut half-way through; past the limit
// it streams once; the client's stream failing is told apart from a node failing.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ClientBodyError, HeldBody } from '../../gateway/src/held-body.ts';

const bytes = (n: number, fill: number) => new Uint8Array(n).fill(fill);

async function* pieces(list: Uint8Array[], pauseMs = 0): AsyncGenerator<Uint8Array> {
  for (const piece of list) {
    if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
    yield piece;
  }
}

async function collect(stream: AsyncIterable<Uint8Array>, max = Infinity): Promise<Buffer> {
  const out: Uint8Array[] = [];
  for await (const piece of stream) {
    out.push(piece);
    if (out.length >= max) break;
  }
  return Buffer.concat(out);
}

describe('gateway held body', () => {
  it('replays the whole body after an attempt that stopped half-way', async () => {
    const list = [bytes(10, 1), bytes(10, 2), bytes(10, 3), bytes(10, 4)];
    const held = new HeldBody(pieces(list), 100);
    const first = await collect(held.stream(), 2); // the node failed after two pieces
    assert.equal(first.length, 20);
    assert.ok(held.replayable);
    const second = await collect(held.stream());
    assert.deepEqual(second, Buffer.concat(list));
    assert.deepEqual(await collect(held.stream()), Buffer.concat(list));
    assert.equal(held.readBytes, 40);
  });

  it('a newer attempt makes the older stream fail', async () => {
    const held = new HeldBody(pieces([bytes(5, 1), bytes(5, 2)]), 100);
    const old = held.stream()[Symbol.asyncIterator]();
    await old.next();
    const fresh = await collect(held.stream());
    assert.equal(fresh.length, 10);
    await assert.rejects(old.next(), /newer attempt/);
  });

  it('readAll() and whole() for a small body', async () => {
    const held = new HeldBody(pieces([bytes(3, 7), bytes(4, 8)]), 100);
    assert.equal(await held.readAll(), true);
    assert.deepEqual(Buffer.from(held.whole()), Buffer.concat([bytes(3, 7), bytes(4, 8)]));
  });

  it('ofBytes(): a body read whole already is replayable and whole', async () => {
    const held = HeldBody.ofBytes(bytes(4096, 9));
    assert.equal(held.replayable, true);
    assert.equal(await held.readAll(), true);
    assert.deepEqual(Buffer.from(held.whole()), Buffer.from(bytes(4096, 9)));
    assert.deepEqual(await collect(held.stream()), Buffer.from(bytes(4096, 9)));
    assert.deepEqual(await collect(held.stream()), Buffer.from(bytes(4096, 9)), 'sent again whole');
  });

  it('past the limit it streams once and is no longer replayable', async () => {
    const list = [bytes(60, 1), bytes(60, 2), bytes(60, 3)];
    const held = new HeldBody(pieces(list), 100);
    assert.deepEqual(await collect(held.stream()), Buffer.concat(list));
    assert.equal(held.replayable, false);
    assert.equal(held.heldBytes, 0);
    assert.throws(() => held.stream(), /cannot be sent twice/);
  });

  it('outgrowing the limit during a replay fails that replay instead of losing bytes', async () => {
    const list = [bytes(40, 1), bytes(40, 2), bytes(40, 3)];
    const held = new HeldBody(pieces(list, 5), 100);
    await collect(held.stream(), 2); // two pieces held, 80 bytes
    const replay = held.stream();
    assert.deepEqual(await collect(replay), Buffer.concat(list)); // caught up before the overflow
    assert.equal(held.replayable, false);
  });

  it("the client's stream failing is a ClientBodyError", async () => {
    async function* broken(): AsyncGenerator<Uint8Array> {
      yield bytes(3, 1);
      throw new Error('socket hang up');
    }
    const held = new HeldBody(broken(), 100);
    await assert.rejects(collect(held.stream()), ClientBodyError);
    assert.equal(held.clientFailed, true);
  });
});
