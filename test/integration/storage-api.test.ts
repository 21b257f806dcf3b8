// What a user of the storage node checks, on a real 3-node cluster (256 KiB chunks): byte-exact
// round trips at chunk boundaries and of a streamed 100 MiB body, Range edge cases, listing
// pagination over thousands of names in byte order, name rules, racing conditional writes, the
// cluster port's secret, and Idempotency-Key retries.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { StorageCluster } from '../support/storage-cluster.ts';
import { inlineMaxDefault } from '../../storage-node/src/node/config.ts';
import type { StorageNodeHandle } from '../support/storage-cluster.ts';

const KiB = 1024;
const MiB = 1024 * KiB;
const chunkSize = 256 * KiB;
const sha256 = (data: Uint8Array | string) => createHash('sha256').update(data).digest('hex');
const emptySha = sha256('');

interface FileJson {
  name: string;
  size: number;
  etag: string;
  version: number;
  contentType: string;
  chunks: string[];
  modified: string;
}
interface ErrorJson {
  error: { code: string; message: string };
}
interface ListPage {
  files: { name: string; size: number; etag: string; version: number; contentType: string; modified: string }[];
  next: string | null;
}
interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** `name` as a URL path: each segment percent-encoded, `/` kept. */
const encodeName = (name: string) => name.split('/').map(encodeURIComponent).join('/');

async function callOnce(url: string, options: CallOptions): Promise<Answer> {
  const res = await request(url, {
    method: (options.method ?? 'GET') as 'GET',
    body: typeof options.body === 'function' ? options.body() : (options.body ?? null),
    headers: options.headers ?? {},
    headersTimeout: 60_000,
    bodyTimeout: 60_000,
  });
  const body = Buffer.from(await res.body.arrayBuffer());
  return { status: res.statusCode, headers: res.headers, body };
}

interface CallOptions {
  method?: string;
  /** A function when the body is a stream: it is called again for a retry. */
  body?: string | Buffer | (() => Readable) | null;
  headers?: Record<string, string>;
  /** Retry 503s (no leader yet, proposal lost, timeout) and refused connections. Default: for
   * reads, and for writes that carry an Idempotency-Key (which makes the retry safe). */
  retry?: boolean;
}

let retries = 0;

/** One request as a well-behaved client makes it: a 503 is retried after a pause, like a leader election. */
async function call(url: string, options: CallOptions = {}): Promise<Answer> {
  const method = options.method ?? 'GET';
  const retry = options.retry ?? (method === 'GET' || method === 'HEAD' || options.headers?.['idempotency-key'] !== undefined);
  const deadline = Date.now() + 30_000;
  for (;;) {
    let answer: Answer | null = null;
    let error: unknown = null;
    try {
      answer = await callOnce(url, options);
    } catch (err) {
      error = err;
    }
    const again = retry && Date.now() < deadline && (answer === null || answer.status === 503);
    if (!again) {
      if (answer === null) throw error;
      return answer;
    }
    retries++;
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** A PUT that is safe to retry: it carries a fresh Idempotency-Key. */
const putSafely = (url: string, body: CallOptions['body'], headers: Record<string, string> = {}) =>
  call(url, { method: 'PUT', body, headers: { 'idempotency-key': randomBytes(12).toString('hex'), ...headers } });

const json = <T>(answer: Answer): T => JSON.parse(answer.body.toString('utf8')) as T;
const header = (answer: Answer, name: string): string | undefined => {
  const value = answer.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
};

/** A request through node:http with the path exactly as given (fetch and undici would normalise `..`). */
function rawRequest(baseUrl: string, method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<Answer> {
  const { port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port: Number(port), method, path, headers, agent: false }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Streams a GET and hashes it: the body is never held whole. */
async function hashOf(url: string): Promise<{ status: number; sha: string; length: number; node: string | undefined; contentLength: string | undefined }> {
  for (let attempt = 1; ; attempt++) {
    const res = await request(url, { headersTimeout: 60_000, bodyTimeout: 60_000 });
    if (res.statusCode === 503 && attempt < 100) {
      await res.body.dump();
      retries++;
      await new Promise((r) => setTimeout(r, 200));
      continue;
    }
    const hash = createHash('sha256');
    let length = 0;
    for await (const piece of res.body) {
      hash.update(piece as Buffer);
      length += (piece as Buffer).length;
    }
    const node = res.headers['x-dfs-node'];
    const contentLength = res.headers['content-length'];
    return { status: res.statusCode, sha: hash.digest('hex'), length, node: node as string | undefined, contentLength: contentLength as string | undefined };
  }
}

/** `total` pseudo-random bytes from a seed (an AES-CTR keystream), produced a MiB at a time and
 * hashed as they are read: the same seed gives the same bytes, so an upload can be retried. */
function seededBody(seed: Buffer, total: number): { stream: Readable; digest: () => string; sent: () => number } {
  const cipher = createCipheriv('aes-256-ctr', createHash('sha256').update(seed).digest(), Buffer.alloc(16));
  const zeros = Buffer.alloc(MiB);
  const hash = createHash('sha256');
  let produced = 0;
  const stream = new Readable({
    read() {
      if (produced >= total) {
        this.push(null);
        return;
      }
      const piece = cipher.update(zeros.subarray(0, Math.min(MiB, total - produced)));
      produced += piece.length;
      hash.update(piece);
      this.push(piece);
    },
  });
  return { stream, digest: () => hash.digest('hex'), sent: () => produced };
}

/** Runs `task` over `items` with at most `limit` in flight. */
async function pool<T>(items: readonly T[], limit: number, task: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        await task(items[i], i);
      }
    }),
  );
}

describe('storage node API edge cases (3 real nodes, 256 KiB chunks)', () => {
  let cluster: StorageCluster;
  let nodes: StorageNodeHandle[];
  let leader: StorageNodeHandle;
  let followers: StorageNodeHandle[];

  before(async () => {
    cluster = await StorageCluster.start({ flags: ['--chunk-size', '256KiB'] });
    nodes = cluster.nodes;
    const status = json<{ leader_id: string }>(await call(`${nodes[0].url}/status`));
    leader = cluster.node(status.leader_id);
    followers = nodes.filter((n) => n !== leader);
  });
  after(async () => {
    // kill -9 by PID (a graceful stop is the business of storage-node.test.ts), then remove the dirs.
    if (cluster === undefined) return;
    await Promise.all(cluster.nodes.map((n) => cluster.stopNode(n.id, 'SIGKILL')));
    await cluster.stopAll();
    if (retries > 0) console.log(`# ${retries} requests were retried after a 503 or a refused connection`);
  });

  describe('byte-exact round trips, read back from every node', () => {
    for (const size of [0, 1, chunkSize - 1, chunkSize, chunkSize + 1]) {
      it(`${size} bytes`, async () => {
        const data = randomBytes(size);
        const name = `roundtrip/${size}.bin`;
        // Alternate between writing to the leader and through a follower.
        const writer = size % 2 === 0 ? leader : followers[0];
        const put = await putSafely(`${writer.url}/files/${name}`, data, { 'content-type': 'application/x-test' });
        assert.equal(put.status, 201, put.body.toString());
        const file = json<FileJson>(put);
        assert.equal(file.name, name);
        assert.equal(file.size, size);
        assert.equal(file.etag, sha256(data));
        // Up to --inline-max (64 KiB by default) the content is inline: no chunks.
        assert.equal(file.chunks.length, size <= inlineMaxDefault ? 0 : Math.ceil(size / chunkSize));
        assert.equal(header(put, 'etag'), `"${file.etag}"`);
        for (const node of nodes) {
          const get = await call(`${node.url}/files/${name}`);
          assert.equal(get.status, 200, `${node.id}: ${get.body.toString()}`);
          assert.equal(header(get, 'x-dfs-node'), node.id);
          assert.equal(header(get, 'content-length'), String(size));
          assert.equal(header(get, 'etag'), `"${file.etag}"`);
          assert.equal(header(get, 'content-type'), 'application/x-test');
          assert.ok(get.body.equals(data), `${node.id} served different bytes`);
          const head = await call(`${node.url}/files/${name}`, { method: 'HEAD' });
          assert.equal(head.status, 200);
          assert.equal(header(head, 'content-length'), String(size));
          assert.equal(head.body.length, 0);
        }
      });
    }

    it('a streamed 100 MiB body (through a follower) is served byte-exact by every node', async () => {
      const total = 100 * MiB;
      const seed = randomBytes(16);
      let body = seededBody(seed, total);
      const put = await putSafely(`${followers[1].url}/files/big/100MiB.bin`, () => (body = seededBody(seed, total)).stream, { 'content-length': String(total) });
      assert.equal(put.status, 201, put.body.toString());
      assert.equal(body.sent(), total);
      const sent = body.digest();
      const file = json<FileJson>(put);
      assert.equal(file.size, total);
      assert.equal(file.etag, sent);
      assert.equal(file.chunks.length, total / chunkSize);
      for (const node of nodes) {
        const got = await hashOf(`${node.url}/files/big/100MiB.bin`);
        assert.equal(got.status, 200);
        assert.equal(got.node, node.id);
        assert.equal(got.contentLength, String(total));
        assert.equal(got.length, total, `${node.id} served ${got.length} bytes`);
        assert.equal(got.sha, sent, `${node.id} served different bytes`);
      }
    });
  });

  describe('Range', () => {
    const size = 2 * chunkSize + 1000;
    const data = randomBytes(size);
    const name = 'range/file.bin';

    before(async () => {
      const put = await putSafely(`${leader.url}/files/${name}`, data);
      assert.equal(put.status, 201);
      assert.equal((await putSafely(`${leader.url}/files/range/empty.bin`, '')).status, 201);
    });

    const satisfiable: [string, string, number, number][] = [
      ['first byte', 'bytes=0-0', 0, 0],
      ['last byte', `bytes=${size - 1}-${size - 1}`, size - 1, size - 1],
      ['across the first chunk boundary', `bytes=${chunkSize - 3}-${chunkSize + 2}`, chunkSize - 3, chunkSize + 2],
      ['the first byte of the second chunk', `bytes=${chunkSize}-${chunkSize}`, chunkSize, chunkSize],
      ['spanning three chunks', `bytes=100-${2 * chunkSize + 10}`, 100, 2 * chunkSize + 10],
      ['suffix bytes=-N', 'bytes=-10', size - 10, size - 1],
      ['suffix longer than the file', `bytes=-${size + 50}`, 0, size - 1],
      ['open-ended bytes=N-', `bytes=${chunkSize + 5}-`, chunkSize + 5, size - 1],
      ['bytes=0- (whole file as 206)', 'bytes=0-', 0, size - 1],
      ['end past the end is clipped', `bytes=${size - 4}-${size + 1000}`, size - 4, size - 1],
    ];
    for (const [label, range, start, end] of satisfiable) {
      it(`${label}: ${range} → 206`, async () => {
        for (const node of nodes) {
          const res = await call(`${node.url}/files/${name}`, { headers: { range } });
          assert.equal(res.status, 206, `${node.id}: ${res.body.toString().slice(0, 200)}`);
          assert.equal(header(res, 'content-range'), `bytes ${start}-${end}/${size}`);
          assert.equal(header(res, 'content-length'), String(end - start + 1));
          assert.ok(res.body.equals(data.subarray(start, end + 1)), `${node.id}: wrong bytes for ${range}`);
        }
      });
    }

    const unsatisfiable: [string, string, string, number][] = [
      ['start at the size', `bytes=${size}-`, name, size],
      ['wholly past the end', `bytes=${size + 100}-${size + 200}`, name, size],
      ['empty suffix bytes=-0', 'bytes=-0', name, size],
      ['any range of an empty file', 'bytes=0-', 'range/empty.bin', 0],
      ['a suffix of an empty file', 'bytes=-5', 'range/empty.bin', 0],
    ];
    for (const [label, range, target, targetSize] of unsatisfiable) {
      it(`${label}: ${range} → 416 with Content-Range bytes */size`, async () => {
        for (const node of nodes) {
          const res = await call(`${node.url}/files/${target}`, { headers: { range } });
          assert.equal(res.status, 416, `${node.id}: ${range} gave ${res.status}`);
          assert.equal(header(res, 'content-range'), `bytes */${targetSize}`);
        }
      });
    }

    // RFC 9110 §14.2: a Range that cannot be parsed, or in a unit the server does not know, is
    // ignored (200 with the whole content). A server may also serve a multi-range request whole.
    for (const range of ['bytes=abc', 'bytes=', 'bytes=--5', 'items=0-5', 'bytes 0-5', 'bytes=0-1,4-5', 'bytes=1-2-3']) {
      it(`malformed or unsupported ${JSON.stringify(range)} is ignored: 200 with the whole file`, async () => {
        for (const node of nodes) {
          const res = await call(`${node.url}/files/${name}`, { headers: { range } });
          assert.equal(res.status, 200, `${node.id}: ${range} gave ${res.status}`);
          assert.equal(header(res, 'content-range'), undefined);
          assert.equal(header(res, 'content-length'), String(size));
          assert.ok(res.body.equals(data));
        }
      });
    }

    it('an invalid range (last < first) is ignored (200) or refused (416), never a wrong slice', async () => {
      for (const node of nodes) {
        const res = await call(`${node.url}/files/${name}`, { headers: { range: 'bytes=500-100' } });
        assert.ok(res.status === 200 || res.status === 416, `${node.id}: gave ${res.status}`);
        if (res.status === 200) assert.ok(res.body.equals(data));
        else assert.equal(header(res, 'content-range'), `bytes */${size}`);
      }
    });
  });

  describe('listing pagination', () => {
    // Prefixes chosen so that byte order differs from numeric order, from JavaScript's UTF-16
    // order (U+FF5E sorts after U+1F600 in UTF-16, before it in UTF-8) and so that `p1` is a
    // prefix of `p10/`.
    const prefixes = ['a/', 'b/', 'b/c/', 'p1/', 'p10/', 'Z/', 'é/', '\u{FF5E}/', '\u{1F600}/', 'z'];
    const names: string[] = [];
    for (let i = 0; i < 2000; i++) names.push(`${prefixes[i % prefixes.length]}f${Math.floor(i / prefixes.length)}`);
    const byteOrder = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));
    const sorted = [...names].sort(byteOrder);

    before(async () => {
      const failures: string[] = [];
      await pool(names, 64, async (name, i) => {
        const res = await putSafely(`${nodes[i % nodes.length].url}/files/list/${encodeName(name)}`, '');
        if (res.status !== 201) failures.push(`${name}: ${res.status} ${res.body.toString()}`);
      });
      assert.deepEqual(failures, []);
    });

    async function pageThrough(node: StorageNodeHandle, prefix: string, limit: number): Promise<{ names: string[]; pages: number }> {
      const seen: string[] = [];
      let after: string | null = null;
      let pages = 0;
      for (;;) {
        const query = new URLSearchParams({ prefix, limit: String(limit) });
        if (after !== null) query.set('after', after);
        const res = await call(`${node.url}/files?${query}`);
        assert.equal(res.status, 200, res.body.toString());
        const page = json<ListPage>(res);
        pages++;
        assert.ok(page.files.length <= limit, `a page of ${page.files.length} > limit ${limit}`);
        for (const f of page.files) {
          assert.equal(f.size, 0);
          assert.equal(f.etag, emptySha);
          assert.equal(f.version, 1);
          seen.push(f.name);
        }
        if (page.next === null) break;
        assert.equal(page.files.length, limit, 'a page before the last is full');
        assert.equal(page.next, page.files[page.files.length - 1].name, 'next is the last name of the page');
        after = page.next;
        assert.ok(pages < 10_000, 'paging does not end');
      }
      return { names: seen, pages };
    }

    it('pages of 137 from a follower: every name exactly once, in byte order', async () => {
      const { names: seen, pages } = await pageThrough(followers[0], 'list/', 137);
      assert.equal(pages, Math.ceil(2000 / 137));
      assert.equal(new Set(seen).size, seen.length, 'a name was listed twice');
      assert.deepEqual(seen, sorted.map((n) => `list/${n}`));
    });

    it('the default page is 1000 with a cursor; the same listing from every node', async () => {
      const pages = await Promise.all(nodes.map(async (node) => json<ListPage>(await call(`${node.url}/files?prefix=list/`))));
      for (const page of pages) {
        assert.equal(page.files.length, 1000);
        assert.equal(page.next, page.files[999].name);
        assert.deepEqual(page.files.map((f) => f.name), pages[0].files.map((f) => f.name));
      }
    });

    it('prefix filtering (with and without a trailing slash, multi-byte prefixes)', async () => {
      for (const prefix of ['list/a/', 'list/b/', 'list/b/c/', 'list/p1', 'list/p1/', 'list/p10/', 'list/é/', 'list/\u{FF5E}/', 'list/\u{1F600}/', 'list/z', 'list/nothing-here/']) {
        const expected = sorted.map((n) => `list/${n}`).filter((n) => n.startsWith(prefix));
        const { names: seen } = await pageThrough(followers[1], prefix, 50);
        assert.deepEqual(seen, expected, `prefix ${prefix}`);
      }
    });

    it('after: a cursor that is not a name, before every name and past every name', async () => {
      const all = sorted.map((n) => `list/${n}`);
      // Between names: `list/a/f1` < `list/a/f1!` < `list/a/f10`.
      const between = json<ListPage>(await call(`${leader.url}/files?${new URLSearchParams({ prefix: 'list/', after: 'list/a/f1!', limit: '3' })}`));
      const at = all.findIndex((n) => byteOrder(n, 'list/a/f1!') > 0);
      assert.deepEqual(between.files.map((f) => f.name), all.slice(at, at + 3));
      const before = json<ListPage>(await call(`${leader.url}/files?${new URLSearchParams({ prefix: 'list/', after: 'list', limit: '2' })}`));
      assert.deepEqual(before.files.map((f) => f.name), all.slice(0, 2));
      const past = json<ListPage>(await call(`${leader.url}/files?${new URLSearchParams({ prefix: 'list/', after: 'list/\u{10FFFF}' })}`));
      assert.deepEqual(past, { files: [], next: null });
    });

    it('a bad limit is 400 with the JSON error', async () => {
      for (const limit of ['0', '-1', 'abc', '1.5', '100000']) {
        const res = await call(`${followers[1].url}/files?limit=${limit}`);
        assert.equal(res.status, 400, `limit=${limit}`);
        assert.equal(json<ErrorJson>(res).error.code, 'bad_request');
      }
    });
  });

  describe('names', () => {
    // Paths exactly as sent on the wire (node:http does not normalise them).
    const bad: [string, string][] = [
      ['empty name', '/files/'],
      ['empty segment', '/files/a//b'],
      ['trailing slash', '/files/a/'],
      ['leading slash', '/files//leading'],
      ['leading slash, encoded', '/files/%2Fleading'],
      ["'..' segment", '/files/a/../b'],
      ["'..' segment, percent-encoded", '/files/a/%2E%2E/b'],
      ["'..' alone", '/files/..'],
      ["'.' segment", '/files/a/./b'],
      ['NUL', '/files/a%00b'],
      ['control character U+0001', '/files/a%01b'],
      ['newline', '/files/a%0Ab'],
      ['DEL', '/files/a%7Fb'],
      ['C1 control U+0085', '/files/a%C2%85b'],
      ['bad percent-encoding', '/files/a%ZZb'],
      ['invalid UTF-8', '/files/a%FFb'],
      ['1025 bytes', `/files/${'a'.repeat(1025)}`],
      ['1026 bytes of two-byte characters', `/files/${encodeURIComponent('é'.repeat(513))}`],
    ];
    for (const [label, path] of bad) {
      it(`${label} → 400 bad_name, on every node, and no file`, async () => {
        for (const node of nodes) {
          const res = await rawRequest(node.url, 'PUT', path, 'x', { 'content-length': '1' });
          assert.equal(res.status, 400, `${node.id} PUT ${path.slice(0, 60)}: ${res.status} ${res.body.toString().slice(0, 200)}`);
          assert.match(String(res.headers['content-type']), /application\/json/);
          const body = json<ErrorJson>(res);
          assert.equal(body.error.code, 'bad_name');
          assert.ok(body.error.message.length > 0);
        }
      });
    }

    it('no bad name above created a file', async () => {
      const page = json<ListPage>(await call(`${leader.url}/files?limit=10000`));
      const names = page.files.map((f) => f.name).filter((n) => !n.startsWith('list/') && !n.startsWith('roundtrip/') && !n.startsWith('range/') && !n.startsWith('big/'));
      assert.deepEqual(names, []);
    });

    it('exactly 1024 bytes (also in multi-byte characters) is a good name', async () => {
      for (const name of ['x'.repeat(1024), `${'é'.repeat(511)}ab`, `${'\u{1F600}'.repeat(255)}abcd`]) {
        assert.equal(Buffer.byteLength(name), 1024);
        const put = await putSafely(`${followers[0].url}/files/${encodeName(name)}`, 'ok');
        assert.equal(put.status, 201, put.body.toString());
        assert.equal(json<FileJson>(put).name, name);
        const get = await call(`${followers[1].url}/files/${encodeName(name)}`);
        assert.equal(get.body.toString(), 'ok');
        assert.equal((await call(`${leader.url}/files/${encodeName(name)}`, { method: 'DELETE', headers: { 'idempotency-key': randomBytes(12).toString('hex') } })).status, 204);
      }
    });
  });

  describe('conditional writes from 10 clients at once', () => {
    it('If-Match with the same etag: exactly one 201, nine 412', async () => {
      const first = await putSafely(`${leader.url}/files/cond/if-match.txt`, 'v1');
      assert.equal(first.status, 201);
      const { etag } = json<FileJson>(first);
      const bodies = Array.from({ length: 10 }, (_, i) => `client ${i}`);
      const answers = await Promise.all(
        // Each client retries its own request (same Idempotency-Key) if an election gets in the way.
        bodies.map((body, i) => putSafely(`${nodes[i % 3].url}/files/cond/if-match.txt`, body, { 'if-match': `"${etag}"` })),
      );
      const statuses = answers.map((a) => a.status);
      assert.equal(statuses.filter((s) => s === 201).length, 1, `statuses ${statuses}`);
      assert.equal(statuses.filter((s) => s === 412).length, 9, `statuses ${statuses}`);
      for (const a of answers.filter((x) => x.status === 412)) assert.equal(json<ErrorJson>(a).error.code, 'precondition_failed');
      const winner = answers.findIndex((a) => a.status === 201);
      assert.equal(json<FileJson>(answers[winner]).version, 2);
      for (const node of nodes) assert.equal((await call(`${node.url}/files/cond/if-match.txt`)).body.toString(), bodies[winner]);
      const versions = json<{ versions: { version: number }[] }>(await call(`${leader.url}/files/cond/if-match.txt?versions`));
      assert.deepEqual(versions.versions.map((v) => v.version), [2, 1]);
    });

    it('If-None-Match: * on a new name: exactly one wins', async () => {
      const bodies = Array.from({ length: 10 }, (_, i) => `creator ${i}`);
      const answers = await Promise.all(
        bodies.map((body, i) => putSafely(`${nodes[i % 3].url}/files/cond/create-once.txt`, body, { 'if-none-match': '*' })),
      );
      const statuses = answers.map((a) => a.status);
      assert.equal(statuses.filter((s) => s === 201).length, 1, `statuses ${statuses}`);
      assert.equal(statuses.filter((s) => s === 412).length, 9, `statuses ${statuses}`);
      const winner = answers.findIndex((a) => a.status === 201);
      for (const node of nodes) assert.equal((await call(`${node.url}/files/cond/create-once.txt`)).body.toString(), bodies[winner]);
      const versions = json<{ versions: { version: number }[] }>(await call(`${followers[0].url}/files/cond/create-once.txt?versions`));
      assert.deepEqual(versions.versions.map((v) => v.version), [1]);
    });
  });

  describe('cluster port', () => {
    const clusterUrl = (node: StorageNodeHandle) => `http://127.0.0.1:${node.clusterPort}`;
    const chunk = randomBytes(1000);
    const hash = sha256(chunk);

    it('without the secret (or with a wrong one) every route is 401, and nothing is stored', async () => {
      for (const node of nodes) {
        for (const secret of [undefined, 'wrong', '']) {
          const headers: Record<string, string> = secret === undefined ? {} : { 'x-dfs-cluster-secret': secret };
          const attempts = [
            await call(`${clusterUrl(node)}/blobs/${hash}`, { method: 'PUT', body: chunk, headers }),
            await call(`${clusterUrl(node)}/blobs/${hash}`, { headers }),
            await call(`${clusterUrl(node)}/blobs/${hash}`, { method: 'HEAD', headers }),
            await call(`${clusterUrl(node)}/raft/messages`, { method: 'POST', body: JSON.stringify({ messages: [] }), headers: { ...headers, 'content-type': 'application/json' } }),
            await call(`${clusterUrl(node)}/raft/snapshot`, { method: 'POST', body: 'x', headers }),
          ];
          for (const res of attempts) {
            assert.equal(res.status, 401, `${node.id} secret=${secret}: ${res.status}`);
            if (res.body.length > 0) assert.equal(json<ErrorJson>(res).error.code, 'unauthorized');
          }
        }
        const check = await call(`${clusterUrl(node)}/blobs/${hash}`, { method: 'HEAD', headers: { 'x-dfs-cluster-secret': cluster.secret } });
        assert.equal(check.status, 404, `${node.id} stored a chunk pushed without the secret`);
      }
    });

    it('forged Raft messages without the secret change nothing', async () => {
      const before = json<{ term: number }>(await call(`${leader.url}/status`));
      for (const node of followers) {
        const messages = [
          { type: 'TimeoutNow', from: leader.id, to: node.id, term: before.term },
          { type: 'RequestVote', from: followers.find((f) => f !== node)!.id, to: node.id, term: before.term + 1000, lastLogIndex: 1e9, lastLogTerm: before.term + 1000, transfer: true },
        ];
        const res = await call(`${clusterUrl(node)}/raft/messages`, { method: 'POST', body: JSON.stringify({ messages }), headers: { 'content-type': 'application/json' } });
        assert.equal(res.status, 401);
      }
      await new Promise((r) => setTimeout(r, 500));
      for (const node of nodes) {
        // (A spontaneous election under load may add a term or two; the forged vote would add 1000.)
        const status = json<{ term: number }>(await call(`${node.url}/status`));
        assert.ok(status.term < before.term + 1000, `${node.id} adopted the forged term ${status.term}`);
      }
    });

    it('with the secret the same chunk push is accepted (the 401 was about the secret)', async () => {
      const res = await call(`${clusterUrl(followers[0])}/blobs/${hash}`, { method: 'PUT', body: chunk, headers: { 'x-dfs-cluster-secret': cluster.secret } });
      assert.ok(res.status === 201 || res.status === 200, `${res.status}`);
    });
  });

  describe('Idempotency-Key', () => {
    it('a retry after success returns the first result and makes no second version', async () => {
      const name = 'idem/retried.txt';
      const key = `key-${randomBytes(8).toString('hex')}`;
      const first = await call(`${leader.url}/files/${name}`, { method: 'PUT', body: 'first', headers: { 'idempotency-key': key } });
      assert.equal(first.status, 201);
      const firstJson = json<FileJson>(first);
      assert.equal(firstJson.version, 1);
      // The same request again, to the leader and through each follower.
      for (const node of [leader, ...followers]) {
        const retry = await call(`${node.url}/files/${name}`, { method: 'PUT', body: 'first', headers: { 'idempotency-key': key } });
        assert.equal(retry.status, 201, `${node.id}: ${retry.body.toString()}`);
        assert.deepEqual(json<FileJson>(retry), firstJson);
      }
      let versions = json<{ versions: FileJson[] }>(await call(`${followers[0].url}/files/${name}?versions`));
      assert.deepEqual(versions.versions.map((v) => v.version), [1]);

      // Someone else writes; a late retry still gets the first answer and rolls nothing back.
      assert.equal((await putSafely(`${leader.url}/files/${name}`, 'second')).status, 201);
      const late = await call(`${followers[1].url}/files/${name}`, { method: 'PUT', body: 'first', headers: { 'idempotency-key': key } });
      assert.equal(late.status, 201);
      assert.deepEqual(json<FileJson>(late), firstJson);
      versions = json<{ versions: FileJson[] }>(await call(`${leader.url}/files/${name}?versions`));
      assert.deepEqual(versions.versions.map((v) => v.version), [2, 1]);
      for (const node of nodes) assert.equal((await call(`${node.url}/files/${name}`)).body.toString(), 'second');
    });

    it('five copies of one request at once make one version', async () => {
      const name = 'idem/at-once.txt';
      const key = `key-${randomBytes(8).toString('hex')}`;
      const answers = await Promise.all(
        Array.from({ length: 5 }, (_, i) => call(`${nodes[i % 3].url}/files/${name}`, { method: 'PUT', body: 'same', headers: { 'idempotency-key': key } })),
      );
      assert.deepEqual(answers.map((a) => a.status), [201, 201, 201, 201, 201]);
      const jsons = answers.map((a) => json<FileJson>(a));
      for (const j of jsons) assert.deepEqual(j, jsons[0]);
      const versions = json<{ versions: FileJson[] }>(await call(`${leader.url}/files/${name}?versions`));
      assert.deepEqual(versions.versions.map((v) => v.version), [1]);
    });

    it('a retried delete answers like the first (204), not 404', async () => {
      const name = 'idem/deleted.txt';
      assert.equal((await putSafely(`${leader.url}/files/${name}`, 'doomed')).status, 201);
      const key = `key-${randomBytes(8).toString('hex')}`;
      const first = await call(`${followers[0].url}/files/${name}`, { method: 'DELETE', headers: { 'idempotency-key': key } });
      assert.equal(first.status, 204);
      const retry = await call(`${leader.url}/files/${name}`, { method: 'DELETE', headers: { 'idempotency-key': key } });
      assert.equal(retry.status, 204);
      const plain = await call(`${leader.url}/files/${name}`, { method: 'DELETE', retry: true });
      assert.equal(plain.status, 404);
    });
  });
});
