// The gateway on real processes: three storage nodes and two gateways (the first seeded with one
// node only, so it must learn the rest). Through the gateway, everything the node API does; then
// failures: the leader killed (-9) and restarted and a follower killed while a client writes
// continuously (no failed request, every acknowledged file exactly once, the pause printed);
// reads with a node down; a leader killed in the middle of a client's body; a gateway restart
// during a workload. The tests run in order on one cluster; each leaves every node running.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import { Agent, request } from 'undici';
import { sleep } from '../support/cluster.ts';
import { GatewayCluster } from '../support/gateway-cluster.ts';
import { inlineMaxDefault } from '../../storage-node/src/node/config.ts';

const chunkSize = 64 * 1024;
const retryBufferBytes = 256 * 1024;
const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

interface ErrorBody {
  error: { code: string; message: string };
}

/** Clients writing small files through `url` back to back until stopped. */
function startWriters(url: () => string, options: { concurrency: number; prefix: string; retryConnectionErrors?: boolean }) {
  const acked = new Map<string, string>();
  const failures: string[] = [];
  /** [sentAt, ackedAt] of every acknowledged write (performance.now()). */
  const acks: Array<[number, number]> = [];
  let stopping = false;
  let seq = 0;
  const writeOne = async (name: string, body: Uint8Array<ArrayBuffer>, key: string): Promise<void> => {
    const sentAt = performance.now();
    for (;;) {
      try {
        const res = await fetch(`${url()}/files/${name}`, { method: 'PUT', body, headers: { 'idempotency-key': key } });
        const text = await res.text();
        if (res.status === 201) {
          acked.set(name, sha256(body));
          acks.push([sentAt, performance.now()]);
        } else failures.push(`${name}: ${res.status} ${text}`);
        return;
      } catch (err) {
        // A client of a gateway that restarts sends the same request again (same key).
        if (options.retryConnectionErrors === true && !stopping) {
          await sleep(20);
          continue;
        }
        failures.push(`${name}: ${(err as Error).message}`);
        return;
      }
    }
  };
  const clients = Array.from({ length: options.concurrency }, async () => {
    while (!stopping) {
      const n = seq++;
      await writeOne(`${options.prefix}/${n}`, randomBytes(200 + Math.floor(Math.random() * 4000)), `${options.prefix}-${n}`);
    }
  });
  return {
    acked,
    failures,
    acks,
    /** Resolves once a write was acknowledged at or after `sinceMs`; gives the ack time. */
    async nextAckAfter(sinceMs: number, timeoutMs = 20_000): Promise<number> {
      const deadline = performance.now() + timeoutMs;
      for (;;) {
        const ack = acks.find(([, ackedAt]) => ackedAt >= sinceMs);
        if (ack !== undefined) return ack[1];
        if (performance.now() > deadline) throw new Error(`no write acknowledged within ${timeoutMs} ms (failures: ${failures.slice(0, 3).join('; ')})`);
        await sleep(2);
      }
    },
    async stop(): Promise<void> {
      stopping = true;
      await Promise.all(clients);
    },
  };
}

/** Every acknowledged file exists exactly once (one version) with its bytes. */
/** Until the gateway reports every node healthy (it has polled them since their restarts). */
async function gatewaySeesAllNodes(url: string, nodeIds: readonly string[], timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let metrics = '';
  for (;;) {
    metrics = await fetch(`${url}/metrics`).then((r) => r.text(), () => '');
    if (nodeIds.every((id) => new RegExp(`dfs_gateway_node_healthy\\{node="${id}",url="[^"]+"\\} 1`).test(metrics))) return;
    if (Date.now() > deadline) throw new Error(`the gateway did not see ${nodeIds.join(', ')} healthy in ${timeoutMs} ms:\n${metrics.split('\n').filter((l) => l.startsWith('dfs_gateway_node_healthy')).join('\n')}`);
    await sleep(50);
  }
}

async function checkAcked(url: string, acked: ReadonlyMap<string, string>): Promise<void> {
  const names = [...acked.keys()];
  for (let i = 0; i < names.length; i += 16) {
    await Promise.all(names.slice(i, i + 16).map(async (name) => {
      const versions = (await (await fetch(`${url}/files/${name}?versions`)).json()) as { versions: { version: number; etag: string }[] };
      assert.equal(versions.versions.length, 1, `${name} has ${versions.versions.length} versions`);
      const res = await fetch(`${url}/files/${name}`);
      assert.equal(res.status, 200, name);
      assert.equal(sha256(Buffer.from(await res.arrayBuffer())), acked.get(name), `${name}: wrong bytes`);
    }));
  }
}

/** An HTTP/1.1 request written by hand, so the test controls when each part of the body goes. */
async function rawRequest(url: string, head: string): Promise<{ socket: Socket; answer: Promise<string> }> {
  const { port } = new URL(url);
  const socket = connect(Number(port), '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  socket.on('error', () => undefined);
  let text = '';
  const answer = new Promise<string>((resolve) => {
    socket.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      const length = /content-length: (\d+)/i.exec(text);
      if (end >= 0 && length !== null && text.length >= end + 4 + Number(length[1])) resolve(text);
    });
    socket.on('close', () => resolve(text));
  });
  socket.write(head);
  return { socket, answer };
}

describe('gateway (3 real nodes, 2 gateways)', () => {
  let cluster: GatewayCluster;
  let gw: string;
  let node: (i: number) => string;

  before(async () => {
    cluster = await GatewayCluster.start({
      storage: { flags: ['--chunk-size', '64KiB'] },
      gateways: 2,
      gatewayFlags: ['--retry-buffer-bytes', String(retryBufferBytes)],
    });
    gw = cluster.url;
    node = (i) => cluster.storage.nodes[i].url;
  });
  after(async () => {
    await cluster?.stopAll();
  });

  it('learns every member from one seed; its /status, /health, /ready', async () => {
    const leader = await cluster.waitForLeader();
    let status: { leader_id: string; members: { id: string; healthy: boolean; role: string; lag: number }[] } | null = null;
    for (let i = 0; i < 100; i++) {
      status = (await (await fetch(`${gw}/status`)).json()) as typeof status;
      if (status!.members.filter((m) => m.healthy).length === 3) break;
      await sleep(50);
    }
    assert.deepEqual(status!.members.map((m) => m.id).sort(), ['n1', 'n2', 'n3']);
    assert.equal(status!.leader_id, leader);
    assert.ok(status!.members.every((m) => m.healthy && m.lag >= 0));
    assert.equal(status!.members.find((m) => m.id === leader)!.role, 'leader');
    // The same fields as a node's /status, as the leader reported them.
    const shaped = status as unknown as { is_leader: boolean; state: string; term: number; commit_index: number; applied_index: number; nodes: { id: string }[]; files: number };
    assert.equal(shaped.is_leader, false);
    assert.equal(shaped.state, 'gateway');
    assert.ok(shaped.term >= 1 && shaped.commit_index >= 1 && shaped.applied_index >= 1 && shaped.files >= 0);
    assert.deepEqual(shaped.nodes.map((n) => n.id).sort(), ['n1', 'n2', 'n3']);
    assert.deepEqual(await (await fetch(`${gw}/health`)).json(), { ok: true });
    assert.equal((await fetch(`${gw}/ready`)).status, 200);
  });

  it('quick start: upload, list, read; X-DFS-Node says who answered, writes from the leader', async () => {
    const leader = await cluster.waitForLeader();
    const put = await fetch(`${gw}/upload/my-first-file.txt`, { method: 'POST', body: 'hello, world\n', headers: { 'content-type': 'text/plain' } });
    assert.equal(put.status, 201);
    assert.equal(put.headers.get('x-dfs-node'), leader);
    assert.match(put.headers.get('idempotency-key') ?? '', /^gw-/);
    const file = (await put.json()) as { name: string; size: number; etag: string };
    assert.equal(file.etag, sha256(Buffer.from('hello, world\n')));
    const list = (await (await fetch(`${gw}/files`)).json()) as { files: { name: string }[]; next: string | null };
    assert.deepEqual(list.files.map((f) => f.name), ['my-first-file.txt']);
    const get = await fetch(`${gw}/upload/my-first-file.txt`);
    assert.equal(get.status, 200);
    assert.match(get.headers.get('x-dfs-node') ?? '', /^n[123]$/);
    assert.equal(get.headers.get('content-type'), 'text/plain');
    assert.equal(get.headers.get('etag'), `"${file.etag}"`);
    assert.equal(await get.text(), 'hello, world\n');
    // Every answer says which gateway gave it: a node's passed on, and the gateway's own.
    assert.equal(put.headers.get('x-dfs-gateway'), 'gw1');
    assert.equal(get.headers.get('x-dfs-gateway'), 'gw1');
    const own = await fetch(`${gw}/status`);
    assert.equal(own.headers.get('x-dfs-gateway'), 'gw1');
    await own.arrayBuffer();
    const refused = await fetch(`${gw}/files/a//b`, { method: 'PUT', body: 'x' });
    assert.equal(refused.status, 400);
    assert.equal(refused.headers.get('x-dfs-gateway'), 'gw1');
    await refused.arrayBuffer();
  });

  for (const size of [0, 1, chunkSize - 1, chunkSize, chunkSize + 1, 3 * chunkSize + 7, 20 * chunkSize]) {
    it(`round trip of ${size} bytes${size > retryBufferBytes ? ' (over the retry buffer: streamed)' : ''}`, async () => {
      const data = randomBytes(size);
      const put = await fetch(`${gw}/files/sizes/file-${size}.bin`, { method: 'PUT', body: data });
      assert.equal(put.status, 201, await put.clone().text());
      const file = (await put.json()) as { size: number; etag: string; chunks: string[] };
      assert.equal(file.size, size);
      // Up to --inline-max (64 KiB by default) the content is inline: no chunks.
      assert.equal(file.chunks.length, size <= inlineMaxDefault ? 0 : Math.ceil(size / chunkSize));
      const get = await fetch(`${gw}/files/sizes/file-${size}.bin`);
      assert.equal(get.headers.get('content-length'), String(size));
      assert.equal(sha256(Buffer.from(await get.arrayBuffer())), file.etag);
    });
  }

  it('a streamed body without Content-Length (chunked) round-trips', async () => {
    const parts = [randomBytes(100_000), randomBytes(300_000), randomBytes(5)];
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const next = parts.shift();
        if (next === undefined) controller.close();
        else controller.enqueue(next);
      },
    });
    const whole = Buffer.concat([...parts]);
    const put = await fetch(`${gw}/files/chunked.bin`, { method: 'PUT', body, duplex: 'half' } as RequestInit);
    assert.equal(put.status, 201);
    assert.equal(((await put.json()) as { etag: string }).etag, sha256(whole));
  });

  it('Range gives 206, past the end 416; HEAD; If-None-Match 304; consistency passes through', async () => {
    const data = randomBytes(2 * chunkSize + 100);
    assert.equal((await fetch(`${gw}/files/range.bin`, { method: 'PUT', body: data })).status, 201);
    const start = chunkSize - 10;
    const end = chunkSize + 20;
    const res = await fetch(`${gw}/files/range.bin`, { headers: { range: `bytes=${start}-${end}` } });
    assert.equal(res.status, 206);
    assert.equal(res.headers.get('content-range'), `bytes ${start}-${end}/${data.length}`);
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), data.subarray(start, end + 1));
    const bad = await fetch(`${gw}/files/range.bin`, { headers: { range: `bytes=${data.length}-` } });
    assert.equal(bad.status, 416);
    assert.equal(bad.headers.get('content-range'), `bytes */${data.length}`);
    await bad.arrayBuffer();
    const head = await fetch(`${gw}/files/range.bin`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), String(data.length));
    const cached = await fetch(`${gw}/files/range.bin`, { headers: { 'if-none-match': `"${sha256(data)}"` } });
    assert.equal(cached.status, 304);
    const local = await fetch(`${gw}/files/range.bin`, { headers: { 'x-consistency': 'local' } });
    assert.ok(Number(local.headers.get('x-applied-index')) > 0);
    await local.arrayBuffer();
    const leader = await cluster.waitForLeader();
    for (let i = 0; i < 5; i++) {
      const fromLeader = await fetch(`${gw}/files/range.bin?consistency=leader`, { method: 'HEAD' });
      assert.equal(fromLeader.headers.get('x-dfs-node'), leader);
    }
    const wrong = await fetch(`${gw}/files/range.bin`, { headers: { 'x-consistency': 'sometimes' } });
    assert.equal(wrong.status, 400);
    assert.equal(((await wrong.json()) as ErrorBody).error.code, 'bad_request');
  });

  it('a large download goes straight through: a client hanging up frees the node; a node killed mid-body cuts the client off, never a short answer', async () => {
    const data = randomBytes(32 * 1024 * 1024);
    assert.equal((await fetch(`${gw}/files/through.bin`, { method: 'PUT', body: data })).status, 201);
    const outstanding = async () => {
      const metrics = await (await fetch(`${gw}/metrics`)).text();
      return metrics.split('\n').filter((l) => l.startsWith('dfs_gateway_node_outstanding_requests{')).map((l) => Number(l.split(' ').pop()));
    };

    // The client takes one piece and hangs up: the gateway lets go of the node's answer.
    const dispatcher = new Agent({ connections: 1 });
    try {
      const cut = await request(`${gw}/files/through.bin`, { dispatcher });
      assert.equal(cut.statusCode, 200);
      for await (const piece of cut.body) {
        assert.deepEqual(Buffer.from(piece as Uint8Array), data.subarray(0, (piece as Uint8Array).length));
        break;
      }
      const deadline = Date.now() + 20_000;
      let seen = await outstanding();
      while (seen.some((n) => n > 0)) {
        if (Date.now() > deadline) throw new Error(`the gateway still counts requests to the nodes after the client hung up: ${seen.join(', ')}`);
        await sleep(50);
        seen = await outstanding();
      }

      // The node serving the read dies after the first piece: the client's body fails.
      const res = await request(`${gw}/files/through.bin`, { dispatcher });
      assert.equal(res.statusCode, 200);
      assert.equal(res.headers['content-length'], String(data.length));
      const server = String(res.headers['x-dfs-node']);
      const iterator = res.body[Symbol.asyncIterator]();
      const first = await iterator.next();
      assert.equal(first.done, false);
      let received = (first.value as Uint8Array).length;
      await cluster.killNode(server, 'SIGKILL');
      await assert.rejects(async () => {
        for (;;) {
          const next = await iterator.next();
          if (next.done === true) break;
          received += (next.value as Uint8Array).length;
        }
      }, `the body ended cleanly after ${received} of ${data.length} bytes although ${server} died mid-answer`);
      assert.ok(received < data.length, `all ${received} bytes arrived before ${server} died: the test proves nothing`);
      await cluster.restartNode(server);
    } finally {
      await dispatcher.close();
    }

    // Whole through the gateway again.
    const again = await fetch(`${gw}/files/through.bin`);
    assert.equal(again.status, 200);
    assert.equal(sha256(Buffer.from(await again.arrayBuffer())), sha256(data));
  });

  it('listing: prefix, after, limit and the next cursor, same as a node', async () => {
    for (const name of ['list/a', 'list/b', 'list/c', 'list/d/e', 'listx']) {
      assert.equal((await fetch(`${gw}/files/${name}`, { method: 'PUT', body: name })).status, 201);
    }
    const first = (await (await fetch(`${gw}/files?prefix=list/&limit=2`)).json()) as { files: { name: string }[]; next: string | null };
    assert.deepEqual(first.files.map((f) => f.name), ['list/a', 'list/b']);
    assert.ok(first.next !== null);
    const second = (await (await fetch(`${gw}/files?prefix=list/&limit=2&after=${encodeURIComponent(first.next!)}`)).json()) as { files: { name: string }[]; next: string | null };
    assert.deepEqual(second.files.map((f) => f.name), ['list/c', 'list/d/e']);
    const fromNode = await (await fetch(`${node(0)}/files?prefix=list`)).json();
    assert.deepEqual(await (await fetch(`${gw}/files?prefix=list`)).json(), fromNode);
    const badLimit = await fetch(`${gw}/files?limit=0`);
    assert.equal(badLimit.status, 400);
    assert.deepEqual(await badLimit.json(), await (await fetch(`${node(1)}/files?limit=0`)).json());
  });

  it('conditional writes: If-None-Match: * twice gives 412; If-Match with the right and a wrong etag', async () => {
    const first = await fetch(`${gw}/files/once.txt`, { method: 'PUT', body: 'one', headers: { 'if-none-match': '*' } });
    assert.equal(first.status, 201);
    const { etag } = (await first.json()) as { etag: string };
    const second = await fetch(`${gw}/files/once.txt`, { method: 'PUT', body: 'two', headers: { 'if-none-match': '*' } });
    assert.equal(second.status, 412);
    assert.equal(((await second.json()) as ErrorBody).error.code, 'precondition_failed');
    const wrong = await fetch(`${gw}/files/once.txt`, { method: 'PUT', body: 'three', headers: { 'if-match': `"${'0'.repeat(64)}"` } });
    assert.equal(wrong.status, 412);
    await wrong.arrayBuffer();
    const right = await fetch(`${gw}/files/once.txt`, { method: 'PUT', body: 'four', headers: { 'if-match': `"${etag}"` } });
    assert.equal(right.status, 201);
    await right.arrayBuffer();
    assert.equal(await (await fetch(`${gw}/files/once.txt`)).text(), 'four');
    const deleteWrong = await fetch(`${gw}/files/once.txt`, { method: 'DELETE', headers: { 'if-match': `"${etag}"` } });
    assert.equal(deleteWrong.status, 412);
    await deleteWrong.arrayBuffer();
  });

  it('versions newest first, ?version=N; delete 204 then 404 (both route families)', async () => {
    await fetch(`${gw}/files/versioned.txt`, { method: 'PUT', body: 'v1' });
    await fetch(`${gw}/files/versioned.txt`, { method: 'PUT', body: 'v2' });
    const list = (await (await fetch(`${gw}/files/versioned.txt?versions`)).json()) as { versions: { version: number }[] };
    assert.deepEqual(list.versions.map((v) => v.version), [2, 1]);
    assert.equal(await (await fetch(`${gw}/files/versioned.txt?version=1`)).text(), 'v1');
    const missing = await fetch(`${gw}/files/versioned.txt?version=9`);
    assert.equal(missing.status, 404);
    await missing.arrayBuffer();
    await fetch(`${gw}/upload/doomed.txt`, { method: 'POST', body: 'bye' });
    assert.equal((await fetch(`${gw}/upload/doomed.txt`, { method: 'DELETE' })).status, 204);
    const gone = await fetch(`${gw}/files/doomed.txt`);
    assert.equal(gone.status, 404);
    assert.equal(((await gone.json()) as ErrorBody).error.code, 'not_found');
    const again = await fetch(`${gw}/files/doomed.txt`, { method: 'DELETE' });
    assert.equal(again.status, 404);
    await again.arrayBuffer();
  });

  it('bad names: the same status and JSON error as a node, for writes and reads', async () => {
    for (const bad of ['a//b', 'bad%01name', 'trailing/', 'bad%ZZ', '', 'x%2F..%2Fy', 'x'.repeat(1025)]) {
      for (const method of ['PUT', 'GET', 'DELETE']) {
        const body = method === 'PUT' ? 'x' : undefined;
        const viaGateway = await fetch(`${gw}/files/${bad}`, { method, body });
        const viaNode = await fetch(`${node(2)}/files/${bad}`, { method, body });
        assert.equal(viaGateway.status, viaNode.status, `${method} ${bad}`);
        // `GET /files/` is the listing; everything else is a 400.
        if (!(method === 'GET' && bad === '')) assert.equal(viaGateway.status, 400, `${method} ${bad}`);
        assert.deepEqual(await viaGateway.json(), await viaNode.json(), `${method} ${bad}`);
      }
    }
  });

  it('small writes answer alike whether sent whole (the fast path) or streamed (chunked): status, headers, bodies, metrics', async () => {
    type Sent = { status: number; headers: Record<string, string | string[] | undefined>; body: string };
    const send = async (whole: boolean, method: 'PUT' | 'DELETE', name: string, body: string | null, headers: Record<string, string> = {}): Promise<Sent> => {
      const res = await request(`${gw}/files/${name}`, {
        method,
        headers,
        // Without a Content-Length (chunked) a write takes the streamed path through Hono.
        body: body === null ? (whole ? undefined : Readable.from([])) : whole ? Buffer.from(body) : Readable.from([Buffer.from(body)]),
      });
      return { status: res.statusCode, headers: res.headers, body: await res.body.text() };
    };
    const comparable = (sent: Sent) => {
      const { date: _date, 'content-length': _length, 'transfer-encoding': _te, connection: _c, 'keep-alive': _k, 'idempotency-key': key, 'x-dfs-node': node, etag: _etag, 'last-modified': _modified, location: _location, ...rest } = sent.headers;
      assert.ok(typeof key === 'string' && key !== '', `no Idempotency-Key on ${sent.status} ${sent.body}`);
      // Messages name the file: the two paths write under two names.
      const json = sent.body === '' ? null : (JSON.parse(sent.body.replaceAll(/alike-(whole|streamed)/g, '<name>')) as Record<string, unknown>);
      return {
        status: sent.status,
        headers: { ...rest, node: typeof node === 'string' },
        body: json === null ? null : 'error' in json ? json : { keys: Object.keys(json).sort(), size: json.size, version: json.version },
      };
    };
    const writesBefore = async () => {
      const metrics = await (await fetch(`${gw}/metrics`)).text();
      return metrics.split('\n').filter((l) => l.startsWith('dfs_gateway_requests_total{') && l.includes('route="files"') && /method="(PUT|DELETE)"/.test(l)).reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
    };
    const counted = await writesBefore();
    const cases: Array<[string, (whole: boolean, name: string) => Promise<Sent>]> = [
      ['new file', (whole, name) => send(whole, 'PUT', name, 'hello')],
      ['If-None-Match: * on an existing file', (whole, name) => send(whole, 'PUT', name, 'again', { 'if-none-match': '*' })],
      ['If-Match with a wrong etag', (whole, name) => send(whole, 'PUT', name, 'again', { 'if-match': '"0000"' })],
      ['a second version', (whole, name) => send(whole, 'PUT', name, 'second')],
      ['an empty body', (whole, name) => send(whole, 'PUT', `${name}-empty`, '')],
      ['a bad name', (whole, name) => send(whole, 'PUT', `${name}//x`, 'x')],
      ['delete', (whole, name) => send(whole, 'DELETE', name, null)],
      ['delete again (gone)', (whole, name) => send(whole, 'DELETE', name, null)],
    ];
    for (const [what, run] of cases) {
      const fast = comparable(await run(true, 'alike-whole'));
      const streamed = comparable(await run(false, 'alike-streamed'));
      assert.deepEqual(fast, streamed, what);
    }
    assert.equal(await writesBefore(), counted + 2 * cases.length, 'every write counted once in dfs_gateway_requests_total');
  });

  it('reads answer alike on the fast path and through Hono (a target in absolute form): status, headers, body', async () => {
    const data = randomBytes(3 * chunkSize + 7);
    assert.equal((await fetch(`${gw}/files/alike-read.bin`, { method: 'PUT', body: data })).status, 201);
    const { port } = new URL(gw);
    const read = async (absolute: boolean, method: string, path: string, extra = ''): Promise<{ status: number; headers: Record<string, string>; body: string }> => {
      // Only Node's request line differs: an absolute-form target is left to the Hono app.
      const target = absolute ? `http://127.0.0.1:${port}${path}` : path;
      const { socket, answer } = await rawRequest(gw, `${method} ${target} HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\nconnection: close\r\n${extra}\r\n`);
      const text = await answer;
      socket.destroy();
      const end = text.indexOf('\r\n\r\n');
      const [statusLine, ...lines] = text.slice(0, end).split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const colon = line.indexOf(':');
        const name = line.slice(0, colon).toLowerCase();
        if (!['date', 'connection', 'keep-alive', 'x-dfs-node', 'x-applied-index', 'transfer-encoding'].includes(name)) headers[name] = line.slice(colon + 1).trim();
      }
      return { status: Number(statusLine!.split(' ')[1]), headers, body: text.slice(end + 4) };
    };
    const cases: Array<[string, string, string]> = [
      ['GET', '/files/alike-read.bin', ''],
      ['HEAD', '/files/alike-read.bin', ''],
      ['GET', '/files/alike-read.bin', `range: bytes=${chunkSize - 3}-${chunkSize + 3}\r\n`],
      ['GET', '/files/alike-read.bin?consistency=local', ''],
      ['GET', '/files/alike-read.bin', `if-none-match: "${sha256(data)}"\r\n`],
      ['GET', '/files/no-such-file', ''],
      ['GET', '/files/alike-read.bin', 'x-consistency: sometimes\r\n'],
    ];
    for (const [method, path, extra] of cases) {
      const fast = await read(false, method, path, extra);
      const viaHono = await read(true, method, path, extra);
      assert.deepEqual(fast, viaHono, `${method} ${path} ${extra.trim()}`);
    }
    const whole = await read(false, 'GET', '/files/alike-read.bin');
    assert.equal(whole.status, 200);
    assert.equal(sha256(Buffer.from(whole.body, 'latin1')), sha256(data));
  });

  it('the same Idempotency-Key twice is applied once', async () => {
    const headers = { 'idempotency-key': 'client-key-1' };
    const first = await fetch(`${gw}/files/idem.txt`, { method: 'PUT', body: 'first', headers });
    const second = await fetch(`${gw}/files/idem.txt`, { method: 'PUT', body: 'first', headers });
    assert.equal(first.status, 201);
    assert.equal(second.status, 201);
    assert.equal(second.headers.get('idempotency-key'), 'client-key-1');
    assert.deepEqual(await second.json(), await first.json());
    const versions = (await (await fetch(`${gw}/files/idem.txt?versions`)).json()) as { versions: unknown[] };
    assert.equal(versions.versions.length, 1);
  });

  it('reads spread over the replicas (counted from X-DFS-Node); /metrics counts them', async () => {
    const counts = new Map<string, number>();
    for (let i = 0; i < 60; i++) {
      const res = await fetch(`${gw}/files/my-first-file.txt`);
      assert.equal(res.status, 200);
      await res.arrayBuffer();
      const id = res.headers.get('x-dfs-node')!;
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    assert.deepEqual([...counts.keys()].sort(), ['n1', 'n2', 'n3']);
    for (const [id, n] of counts) assert.ok(n >= 10, `${id} served only ${n} of 60 reads`);
    const metrics = await (await fetch(`${gw}/metrics`)).text();
    for (const id of ['n1', 'n2', 'n3']) {
      assert.match(metrics, new RegExp(`dfs_gateway_requests_total\\{route="files",method="GET",status="200",node="${id}"\\} \\d+`));
      assert.match(metrics, new RegExp(`dfs_gateway_node_healthy\\{node="${id}",url="[^"]+"\\} 1`));
    }
  });

  it('leader killed (-9), restarted, then a follower killed, under continuous writes: no failed request, each file once', async () => {
    const writers = startWriters(() => gw, { concurrency: 4, prefix: 'failover' });
    try {
      await writers.nextAckAfter(performance.now());
      await sleep(300);
      const leader = await cluster.waitForLeader();
      const killedAt = performance.now();
      await cluster.killNode(leader, 'SIGKILL');
      // Acks after the exit was seen cannot come from the old leader.
      const pauseMs = (await writers.nextAckAfter(performance.now())) - killedAt;
      console.log(`  write pause after kill -9 of the leader (tick 20 ms): ${Math.round(pauseMs)} ms`);
      await sleep(300);
      await cluster.restartNode(leader);
      await writers.nextAckAfter(performance.now());
      const newLeader = await cluster.waitForLeader();
      const follower = cluster.storage.nodes.find((n) => n.id !== newLeader)!.id;
      const followerKilledAt = performance.now();
      await cluster.killNode(follower, 'SIGKILL');
      const followerPauseMs = (await writers.nextAckAfter(performance.now())) - followerKilledAt;
      console.log(`  write pause after kill -9 of a follower: ${Math.round(followerPauseMs)} ms`);

      // Reads keep succeeding with the follower down, while the writes go on.
      await sleep(300);
      for (let i = 0; i < 20; i++) {
        const res = await fetch(`${gw}/files/my-first-file.txt`);
        assert.equal(res.status, 200);
        assert.equal(await res.text(), 'hello, world\n');
      }
      await sleep(300);
      await writers.stop();
      assert.deepEqual(writers.failures, []);
      assert.ok(writers.acked.size > 20, `only ${writers.acked.size} writes`);
      await checkAcked(gw, writers.acked);
      const listed = (await (await fetch(`${gw}/files?prefix=failover/&limit=10000`)).json()) as { files: { name: string }[] };
      assert.deepEqual(listed.files.map((f) => f.name).sort(), [...writers.acked.keys()].sort());

      // Without the writes (which keep the leader busy, so least-outstanding prefers the other
      // replica), reads spread over the two live replicas.
      const live = cluster.storage.nodes.filter((n) => n.id !== follower).map((n) => n.id).sort();
      const counts = new Map<string, number>();
      for (let i = 0; i < 40; i++) {
        const res = await fetch(`${gw}/files/my-first-file.txt`);
        assert.equal(res.status, 200);
        await res.arrayBuffer();
        const id = res.headers.get('x-dfs-node')!;
        counts.set(id, (counts.get(id) ?? 0) + 1);
      }
      assert.deepEqual([...counts.keys()].sort(), live);
      for (const [id, n] of counts) assert.ok(n >= 8, `${id} served only ${n} of 40 reads`);
    } finally {
      await writers.stop();
      await cluster.restartStoppedNodes();
    }
    const metrics = await (await fetch(`${gw}/metrics`)).text();
    assert.match(metrics, /dfs_gateway_leader_changes_total [1-9]/);
    assert.match(metrics, /dfs_gateway_retries_total\{kind="write",reason="unreachable"\} [1-9]/);
  });

  it('a small body still arriving when the leader dies is replayed to the next leader', async () => {
    await cluster.waitForLeader();
    await gatewaySeesAllNodes(gw, ['n1', 'n2', 'n3']);
    const data = randomBytes(160 * 1024);
    const { socket, answer } = await rawRequest(gw, `PUT /files/slow-small.bin HTTP/1.1\r\nHost: x\r\nContent-Length: ${data.length}\r\n\r\n`);
    try {
      socket.write(data.subarray(0, 100 * 1024));
      await sleep(200);
      await cluster.killNode(await cluster.waitForLeader(), 'SIGKILL');
      await sleep(100);
      socket.write(data.subarray(100 * 1024));
      const text = await answer;
      assert.match(text, /^HTTP\/1\.1 201/, text.slice(0, 300));
      const get = await fetch(`${gw}/files/slow-small.bin`);
      assert.equal(sha256(Buffer.from(await get.arrayBuffer())), sha256(data));
      const versions = (await (await fetch(`${gw}/files/slow-small.bin?versions`)).json()) as { versions: unknown[] };
      assert.equal(versions.versions.length, 1);
    } finally {
      socket.destroy();
      await cluster.restartStoppedNodes();
    }
  });

  it('a small body the client cuts off half-way stores nothing; the gateway goes on serving', async () => {
    await cluster.waitForLeader();
    const { socket } = await rawRequest(gw, `PUT /files/cut-by-client.bin HTTP/1.1\r\nHost: x\r\nContent-Length: 4096\r\n\r\n`);
    socket.write(randomBytes(1000));
    await sleep(200);
    socket.destroy();
    await sleep(300);
    const res = await fetch(`${gw}/files/cut-by-client.bin`);
    assert.equal(res.status, 404, 'a body that never ended was stored');
    await res.arrayBuffer();
    const put = await fetch(`${gw}/files/after-cut.bin`, { method: 'PUT', body: 'still here' });
    assert.equal(put.status, 201);
    assert.equal(await (await fetch(`${gw}/files/after-cut.bin`)).text(), 'still here');
  });

  it('a body over the retry buffer cut by a leader crash gets 503 with Retry-After; no file', async () => {
    await cluster.waitForLeader();
    await gatewaySeesAllNodes(gw, ['n1', 'n2', 'n3']);
    const length = 4 * retryBufferBytes;
    const { socket, answer } = await rawRequest(gw, `PUT /files/cut-large.bin HTTP/1.1\r\nHost: x\r\nContent-Length: ${length}\r\n\r\n`);
    try {
      socket.write(randomBytes(2 * retryBufferBytes));
      await sleep(300);
      await cluster.killNode(await cluster.waitForLeader(), 'SIGKILL');
      const text = await answer;
      assert.match(text, /^HTTP\/1\.1 503/, text.slice(0, 300));
      assert.match(text, /\r\nretry-after: \d+\r\n/i);
      assert.match(text, /"code":"leader_failed"/);
    } finally {
      socket.destroy();
      await cluster.restartStoppedNodes();
    }
    const res = await fetch(`${gw}/files/cut-large.bin`);
    assert.equal(res.status, 404);
    await res.arrayBuffer();
  });

  it('a gateway restart (-9) during a workload loses no acknowledged write; a second gateway serves alongside', async () => {
    const writers = startWriters(() => gw, { concurrency: 4, prefix: 'gw-restart', retryConnectionErrors: true });
    try {
      await writers.nextAckAfter(performance.now());
      await sleep(300);
      await cluster.stopGateway('gw1', 'SIGKILL');
      await sleep(200);
      cluster.startGateway('gw1');
      await cluster.waitGatewayReady('gw1');
      await writers.nextAckAfter(performance.now());
      await sleep(300);
    } finally {
      await writers.stop();
    }
    assert.deepEqual(writers.failures, []);
    const other = cluster.gateway('gw2').url;
    await checkAcked(other, writers.acked);
    const status = (await (await fetch(`${other}/status`)).json()) as { gateway: { id: string }; leader_id: string };
    assert.equal(status.gateway.id, 'gw2');
    assert.equal(status.leader_id, await cluster.waitForLeader());
  });
});
