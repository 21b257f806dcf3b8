// Raft transport over real sockets: batching and order, auth, validation, streamed snapshots,
// and a peer that is down.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomFillSync } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Hono } from 'hono';
import type { HeartbeatMessage, InstallSnapshotMessage, Message } from '../../storage-node/src/raft/types.ts';
import { clusterAuth } from '../../storage-node/src/transport/cluster-auth.ts';
import { startClusterServer } from '../../storage-node/src/transport/cluster-server.ts';
import type { ClusterServer } from '../../storage-node/src/transport/cluster-server.ts';
import { HttpTransport, isConnectionRefused } from '../../storage-node/src/transport/http-transport.ts';
import { encodeMessageHeader, raftRoutes } from '../../storage-node/src/transport/raft-routes.ts';

const SECRET = 'test-cluster-secret';
const MiB = 1024 * 1024;

interface TestNode {
  id: string;
  url: string;
  server: ClusterServer;
  delivered: Message[];
  messageRequests: number;
  snapshotPaths: string[];
  snapshotStatuses: number[];
}

async function startNode(id: string, dir: string): Promise<TestNode> {
  const node = { id, delivered: [], messageRequests: 0, snapshotPaths: [], snapshotStatuses: [] } as unknown as TestNode;
  const app = new Hono();
  // Counted before auth so that refused requests show up too.
  app.use('/raft/*', async (c, next) => {
    if (c.req.path === '/raft/snapshot') return next();
    node.messageRequests++;
    await next();
  });
  app.use('/raft/snapshot', async (c, next) => {
    await next();
    node.snapshotStatuses.push(c.res.status);
  });
  app.use('*', clusterAuth({ secret: SECRET }));
  app.route(
    '/',
    raftRoutes({
      selfId: id,
      isMember: (peer) => peer === 'a' || peer === 'b',
      // The snapshots here are random bytes: the transport moves them without judging them.
      snapshotProblem: () => null,
      deliver: (m) => node.delivered.push(m),
      snapshotSink: (m) => {
        const path = join(dir, `${id}-snapshot-${m.snapshot.index}-${node.snapshotPaths.length}`);
        node.snapshotPaths.push(path);
        return { path };
      },
    }),
  );
  node.server = await startClusterServer({ port: 0, app });
  node.url = `http://127.0.0.1:${node.server.port}`;
  return node;
}

function heartbeat(from: string, to: string, seq: number): HeartbeatMessage {
  return { type: 'Heartbeat', from, to, term: 1, commit: 0, seq };
}

function snapshotMessage(from: string, to: string, index: number): InstallSnapshotMessage {
  return { type: 'InstallSnapshot', from, to, term: 2, snapshot: { index, term: 2, membership: { voters: ['a', 'b'] } } };
}

async function waitFor(what: string, condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** `bytes` of pseudo-random data in 64 KiB chunks, made on demand, hashed as they are made. */
function randomSource(bytes: number, hash: ReturnType<typeof createHash>, failAfter?: number): Readable {
  let produced = 0;
  return new Readable({
    read() {
      if (failAfter !== undefined && produced >= failAfter) {
        this.destroy(new Error('snapshot source failed'));
        return;
      }
      if (produced >= bytes) {
        this.push(null);
        return;
      }
      const chunk = randomFillSync(Buffer.allocUnsafe(Math.min(64 * 1024, bytes - produced)));
      produced += chunk.length;
      hash.update(chunk);
      this.push(chunk);
    },
  });
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function post(url: string, body: string, headers: Record<string, string>): Promise<Response> {
  return fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
}

describe('cluster transport', () => {
  let dir: string;
  let a: TestNode;
  let b: TestNode;
  const transports: HttpTransport[] = [];

  function transport(selfId: string, peers: Record<string, string>, extra: Partial<ConstructorParameters<typeof HttpTransport>[0]> = {}) {
    const t = new HttpTransport({ selfId, secret: SECRET, peers: new Map(Object.entries(peers)), ...extra });
    transports.push(t);
    return t;
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dfs-transport-'));
    a = await startNode('a', dir);
    b = await startNode('b', dir);
  });

  after(async () => {
    await Promise.all(transports.map((t) => t.close()));
    await Promise.all([a.server.close(), b.server.close()]);
    await rm(dir, { recursive: true, force: true });
  });

  it('exchanges thousands of messages in order, on one stream per peer', async () => {
    const ta = transport('a', { a: a.url, b: b.url });
    const tb = transport('b', { a: a.url, b: b.url });
    const total = 5000;
    // Bursts across event-loop turns, as a Raft driver would send them.
    for (let seq = 1; seq <= total; seq++) {
      ta.send([heartbeat('a', 'b', seq)]);
      tb.send([heartbeat('b', 'a', seq)]);
      if (seq % 50 === 0) await new Promise((r) => setImmediate(r));
    }
    for (const [t, receiver] of [[ta, b], [tb, a]] as const) {
      // Every message written to the stream, and every one of them delivered.
      await waitFor('delivery', () => t.stats().sentMessages + t.stats().droppedMessages === total);
      await waitFor('delivery', () => receiver.delivered.length === t.stats().sentMessages);
      const seqs = receiver.delivered.map((m) => (m as HeartbeatMessage).seq);
      for (let i = 1; i < seqs.length; i++) assert.ok(seqs[i] > seqs[i - 1], `out of order at ${i}`);
      const stats = t.stats();
      assert.equal(stats.sentMessages, receiver.delivered.length);
      assert.equal(stats.failedRequests, 0);
      assert.ok(receiver.messageRequests < total / 10, `${receiver.messageRequests} requests for ${total} messages`);
      console.log(`  ${receiver.id}: ${receiver.delivered.length} delivered, ${stats.droppedMessages} dropped, ${receiver.messageRequests} requests`);
    }
  });

  it('refuses requests without the right secret, and delivers nothing from them', async () => {
    const before = b.delivered.length;
    const body = JSON.stringify({ messages: [heartbeat('a', 'b', 1)] });
    const headerSets: Record<string, string>[] = [{}, { 'x-dfs-cluster-secret': 'wrong' }, { 'x-dfs-cluster-secret': SECRET + 'x' }];
    for (const headers of headerSets) {
      const res = await post(`${b.url}/raft/messages`, body, headers);
      assert.equal(res.status, 401);
      const json = (await res.json()) as { error: { code: string; message: string } };
      assert.equal(json.error.code, 'unauthorized');
      assert.equal(typeof json.error.message, 'string');
    }
    // A transport with the wrong secret sees its batch fail.
    const unreachable: string[] = [];
    const wrong = transport('a', { b: b.url }, { secret: 'wrong', onUnreachable: (id) => unreachable.push(id) });
    wrong.send([heartbeat('a', 'b', 1)]);
    await waitFor('failure report', () => unreachable.length === 1);
    assert.deepEqual(unreachable, ['b']);
    assert.equal(wrong.stats().failedRequests, 1);
    const paths = b.snapshotPaths.length;
    assert.equal(await wrong.sendSnapshot(snapshotMessage('a', 'b', 9), () => randomSource(MiB, createHash('sha256'))), false);
    assert.equal(b.snapshotPaths.length, paths, 'no snapshot file was even named');
    assert.equal(b.delivered.length, before);
  });

  it('drops the oldest messages when a peer queue overflows', async () => {
    const t = transport('a', { b: b.url }, { queueMessagesMax: 10 });
    const from = b.delivered.length;
    t.send(Array.from({ length: 1000 }, (_, i) => heartbeat('a', 'b', i + 1)));
    await waitFor('delivery', () => t.stats().sentMessages === 10 && b.delivered.length === from + 10);
    const seqs = b.delivered.slice(from).map((m) => (m as HeartbeatMessage).seq);
    assert.deepEqual(seqs, Array.from({ length: 10 }, (_, i) => 991 + i));
    assert.equal(t.stats().droppedMessages, 990);
  });

  it('answers 400 to bad bodies and 413 to oversized ones', async () => {
    const before = b.delivered.length;
    const auth = { 'x-dfs-cluster-secret': SECRET };
    const bad = [
      'not json',
      '[]',
      '{"messages": {}}',
      '{"messages": [42]}',
      '{"messages": [{"type":"Heartbeat","from":"a","to":"b"}]}',
      '{"messages": [{"type":"Heartbeat","from":"a","to":"b","term":"1"}]}',
      // Valid first message: the batch is refused whole, nothing delivered.
      JSON.stringify({ messages: [heartbeat('a', 'b', 1), { type: 'Heartbeat', from: 'a', to: 7, term: 1 }] }),
      JSON.stringify({ messages: [snapshotMessage('a', 'b', 5)] }),
    ];
    for (const body of bad) {
      const res = await post(`${b.url}/raft/messages`, body, auth);
      assert.equal(res.status, 400, body);
      const json = (await res.json()) as { error: { code: string } };
      assert.equal(json.error.code, 'bad_request');
    }
    const res = await fetch(`${b.url}/raft/snapshot`, { method: 'POST', body: 'x', headers: { ...auth, 'x-dfs-raft-message': 'garbage' } });
    assert.equal(res.status, 400);
    await res.body?.cancel();
    assert.equal(b.delivered.length, before);

    // The size limit, checked in-process against a small bound.
    const small = raftRoutes({ selfId: 'b', isMember: () => true, snapshotProblem: () => null, deliver: () => assert.fail('delivered'), snapshotSink: () => assert.fail('sink'), messagesBodyBytesMax: 1024 });
    const big = JSON.stringify({ messages: Array.from({ length: 100 }, (_, i) => heartbeat('a', 'b', i)) });
    const tooLarge = await small.request('/raft/messages', { method: 'POST', body: big, headers: { 'content-type': 'application/json' } });
    assert.equal(tooLarge.status, 413);
    assert.equal(((await tooLarge.json()) as { error: { code: string } }).error.code, 'too_large');
  });

  it('ends a message stream at its first bad line with 400: what came before is delivered, nothing after', async () => {
    const before = b.delivered.length;
    const auth = { 'x-dfs-cluster-secret': SECRET, 'content-type': 'application/x-ndjson' };
    const lines = [
      JSON.stringify(heartbeat('a', 'b', 1)),
      // The black-box run's killer: a term no integer can hold, indexes of the wrong type.
      '{"type":"Vote","from":"a","to":"b","term":1e308,"lastIndex":{},"lastTerm":[]}',
      JSON.stringify(heartbeat('a', 'b', 2)),
    ];
    const res = await fetch(`${b.url}/raft/stream`, { method: 'POST', body: lines.join('\n') + '\n', headers: auth });
    assert.equal(res.status, 400);
    const json = (await res.json()) as { error: { code: string; message: string } };
    assert.equal(json.error.code, 'bad_request');
    assert.match(json.error.message, /^line 2: /);
    assert.deepEqual(b.delivered.slice(before).map((m) => (m as HeartbeatMessage).seq), [1]);
    const cut = await fetch(`${b.url}/raft/stream`, { method: 'POST', body: JSON.stringify(heartbeat('a', 'b', 3)).slice(0, 20), headers: auth });
    assert.equal(cut.status, 400);
    await cut.body?.cancel();
    assert.equal(b.delivered.length, before + 1);
  });

  it('streams a 200 MiB snapshot byte-exact without buffering it', async () => {
    const ta = transport('a', { b: b.url });
    const size = 200 * MiB;
    const sent = createHash('sha256');
    const message = snapshotMessage('a', 'b', 1000);
    const rssBefore = process.memoryUsage().rss;
    let rssPeak = rssBefore;
    const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 5);
    let ok: boolean;
    try {
      ok = await ta.sendSnapshot(message, () => randomSource(size, sent));
    } finally {
      clearInterval(sampler);
    }
    assert.equal(ok, true);
    const delivered = b.delivered.at(-1);
    assert.deepEqual(delivered, message);
    const path = b.snapshotPaths.at(-1)!;
    assert.equal(await sha256File(path), sent.digest('hex'));
    const growthMb = (rssPeak - rssBefore) / MiB;
    console.log(`  rss grew by ${growthMb.toFixed(1)} MiB while moving ${size / MiB} MiB (sender and receiver in this process)`);
    assert.ok(growthMb < 100, `rss grew by ${growthMb.toFixed(1)} MiB`);
    assert.equal(ta.stats().snapshotsSent, 1);
  });

  it('deletes a cut-off snapshot and delivers nothing', async () => {
    const ta = transport('a', { b: b.url });
    const before = b.delivered.length;
    const statuses = b.snapshotStatuses.length;
    const ok = await ta.sendSnapshot(snapshotMessage('a', 'b', 2000), () =>
      randomSource(100 * MiB, createHash('sha256'), 10 * MiB),
    );
    assert.equal(ok, false);
    await waitFor('the receiver to finish the request', () => b.snapshotStatuses.length > statuses);
    assert.equal(b.snapshotStatuses.at(-1), 400);
    assert.equal(existsSync(b.snapshotPaths.at(-1)!), false);
    assert.equal(b.delivered.length, before);
    assert.equal(ta.stats().snapshotsFailed, 1);

    // Same by hand: a request whose body stops before its Content-Length.
    const { request } = await import('node:http');
    const raw = request(`${b.url}/raft/snapshot`, {
      method: 'POST',
      headers: {
        'x-dfs-cluster-secret': SECRET,
        'x-dfs-raft-message': encodeMessageHeader(snapshotMessage('a', 'b', 3000)),
        'content-length': String(10 * MiB),
      },
    });
    raw.on('error', () => undefined);
    raw.write(Buffer.alloc(MiB));
    await new Promise((r) => setTimeout(r, 100));
    raw.destroy();
    await waitFor('the receiver to finish the request', () => b.snapshotStatuses.length > statuses + 1);
    assert.equal(b.snapshotStatuses.at(-1), 400);
    assert.equal(existsSync(b.snapshotPaths.at(-1)!), false);
    assert.equal(b.delivered.length, before);
  });

  it('after a stream to a peer breaks, finds out that the peer is gone without anything more to send', async () => {
    // A follower only answers its leader: when the leader dies it has nothing to send it, yet
    // it must learn (connection refused) that the process is gone, to elect at once.
    const doomed = await startNode('d', dir);
    const refusals: string[] = [];
    const t = transport('a', { d: doomed.url }, { onUnreachable: (id, err) => isConnectionRefused(err) && refusals.push(id) });
    t.send([heartbeat('a', 'd', 1)]);
    await waitFor('delivery', () => doomed.delivered.length === 1);
    await doomed.server.close();
    await waitFor('a refused connection reported', () => refusals.length > 0);
    assert.deepEqual(refusals, ['d']);
  });

  it('reports a peer that is down without throwing', async () => {
    const gone = await startClusterServer({ port: 0, app: new Hono() });
    const deadUrl = `http://127.0.0.1:${gone.port}`;
    await gone.close();
    const unreachable: string[] = [];
    const t = transport('a', { c: deadUrl }, { onUnreachable: (id) => unreachable.push(id) });
    t.send([heartbeat('a', 'c', 1), heartbeat('a', 'c', 2)]);
    t.send([heartbeat('a', 'nobody', 1)]);
    await waitFor('failure report', () => unreachable.length > 0);
    assert.equal(unreachable[0], 'c');
    assert.equal(await t.sendSnapshot(snapshotMessage('a', 'c', 1), () => randomSource(MiB, createHash('sha256'))), false);
    await waitFor('all counted', () => t.stats().droppedMessages === 3);
    assert.ok(t.stats().failedRequests >= 1);
  });
});
