// Idle timeouts instead of a limit on the whole transfer (issue 10, item 4), on real nodes and a
// gateway with a 6 s idle timeout: an upload or download whose bytes keep moving succeeds however
// long it takes (here several idle timeouts; before, Node's 300 s requestTimeout cut uploads),
// while one that stalls is cut once no byte moved for the idle timeout, directly and through the
// gateway. A client that trickles its headers is still cut by the headers timeout.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { sleep } from '../support/cluster.ts';
import { GatewayCluster } from '../support/gateway-cluster.ts';
import { openRaw } from '../support/raw-http.ts';
import type { RawAnswer } from '../support/raw-http.ts';

const idleTimeoutMs = 6000;
/** Below the idle timeout (a request waiting this long moves no bytes), generous for a busy machine. */
const waitTimeoutMs = 5000;
const headersTimeoutMs = 3000;
/** Far below the 300 s that used to apply, far above the idle timeout: how long a cut may take. */
const cutDeadlineMs = 30_000;
const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

/** Uploads `data` in pieces with a pause after each: the bytes keep moving, slowly. */
async function trickleUpload(origin: string, name: string, data: Buffer, pieces: number, pauseMs: number): Promise<RawAnswer> {
  const exchange = openRaw(origin, 'PUT', `/files/${name}`, data.length, {}, 120_000);
  const size = Math.ceil(data.length / pieces);
  for (let at = 0; at < data.length; at += size) {
    exchange.write(data.subarray(at, at + size));
    await sleep(pauseMs);
  }
  return exchange.answer;
}

/** Sends part of a body and then nothing: resolves with how long until the server closed the connection. */
async function stalledUpload(origin: string, name: string): Promise<{ answer: RawAnswer; closedAfterMs: number }> {
  const exchange = openRaw(origin, 'PUT', `/files/${name}`, 1_000_000, {}, cutDeadlineMs);
  exchange.write(randomBytes(1000));
  const started = performance.now();
  const answer = await exchange.answer;
  return { answer, closedAfterMs: performance.now() - started };
}

/**
 * GETs `/files/name`, reading at most `bytesPerTick` per `tickMs` after an initial pause of
 * `stallMs`; resolves with the body bytes and their hash once the server closes.
 */
function pacedDownload(origin: string, name: string, options: { stallMs: number; bytesPerTick: number; tickMs: number }): Promise<{ headerAndBody: Buffer; closedAfterMs: number }> {
  const { hostname, port } = new URL(origin);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    const started = performance.now();
    let budget = options.bytesPerTick;
    socket.setTimeout(120_000, () => socket.destroy(new Error('download not finished within 120 s')));
    socket.write(`GET /files/${name} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nConnection: close\r\n\r\n`);
    socket.pause();
    setTimeout(() => socket.resume(), options.stallMs);
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      budget -= d.length;
      if (budget > 0) return;
      socket.pause();
      setTimeout(() => {
        budget = options.bytesPerTick;
        socket.resume();
      }, options.tickMs);
    });
    socket.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' ? undefined : reject(err)));
    socket.on('close', () => resolve({ headerAndBody: Buffer.concat(chunks), closedAfterMs: performance.now() - started }));
  });
}

function body(headerAndBody: Buffer): Buffer {
  const headEnd = headerAndBody.indexOf('\r\n\r\n');
  assert.ok(headEnd > 0, `an HTTP answer: ${headerAndBody.subarray(0, 200).toString('latin1')}`);
  assert.match(headerAndBody.subarray(0, headEnd).toString('latin1'), /^HTTP\/1\.1 200 /);
  return headerAndBody.subarray(headEnd + 4);
}

describe('idle timeouts, not whole-transfer limits', () => {
  let cluster: GatewayCluster;
  let node: string;
  const big = randomBytes(32 * 1024 * 1024);

  before(async () => {
    const env = { DFS_IDLE_TIMEOUT_MS: String(idleTimeoutMs), DFS_HEADERS_TIMEOUT_MS: String(headersTimeoutMs), DFS_REQUEST_TIMEOUT_MS: String(waitTimeoutMs) };
    cluster = await GatewayCluster.start({
      storage: { env },
      gatewayEnv: {
        DFS_GATEWAY_IDLE_TIMEOUT_MS: String(idleTimeoutMs),
        DFS_GATEWAY_HEADERS_TIMEOUT_MS: String(headersTimeoutMs),
        DFS_GATEWAY_FAILOVER_TIMEOUT_MS: String(waitTimeoutMs),
        DFS_GATEWAY_WRITE_TIMEOUT_MS: String(waitTimeoutMs),
        DFS_GATEWAY_READ_TIMEOUT_MS: String(waitTimeoutMs),
      },
    });
    node = cluster.storage.nodes[0].url;
    const res = await fetch(`${cluster.url}/files/big`, { method: 'PUT', body: big });
    assert.equal(res.status, 201, await res.text());
  });
  after(async () => {
    await cluster?.stopAll();
  });

  it('an upload whose bytes keep moving succeeds however long it takes, on a node and through the gateway', async () => {
    // 24 pieces, 900 ms apart: about 21 s, three and a half idle timeouts.
    const small = randomBytes(40 * 1024);
    const large = randomBytes(600 * 1024); // beyond the gateway's eager read: streamed through
    const answers = await Promise.all([
      trickleUpload(node, 'slow/node', small, 24, 900),
      trickleUpload(cluster.url, 'slow/gateway-small', small, 24, 900),
      trickleUpload(cluster.url, 'slow/gateway-large', large, 24, 900),
    ]);
    for (const answer of answers) assert.equal(answer.status, 201, answer.body);
    for (const [name, data] of [['slow/node', small], ['slow/gateway-small', small], ['slow/gateway-large', large]] as const) {
      const stored = Buffer.from(await (await fetch(`${cluster.url}/files/${name}`)).arrayBuffer());
      assert.equal(sha256(stored), sha256(data), `${name} stored whole`);
    }
  });

  it('an upload that stalls is cut once no byte moved for the idle timeout, and stores nothing', async (t) => {
    const [direct, viaGateway] = await Promise.all([stalledUpload(node, 'stalled/node'), stalledUpload(cluster.url, 'stalled/gateway')]);
    for (const { answer, closedAfterMs } of [direct, viaGateway]) {
      t.diagnostic(`stalled upload closed after ${Math.round(closedAfterMs)} ms (status ${answer.status})`);
      // Closed without an answer, or an error from whichever hop noticed first (a follower whose
      // forward the leader cut answers 503): never a success.
      assert.ok(answer.status === 0 || answer.status >= 400, `cut: status ${answer.status} ${answer.body}`);
      assert.ok(closedAfterMs < cutDeadlineMs, `cut after ${closedAfterMs} ms`);
    }
    for (const name of ['stalled/node', 'stalled/gateway']) assert.equal((await fetch(`${cluster.url}/files/${name}`)).status, 404);
  });

  it('a download read slowly succeeds however long it takes; one whose reader stalls is cut', async (t) => {
    const [slowDirect, slowViaGateway, stalledDirect, stalledViaGateway] = await Promise.all([
      pacedDownload(node, 'big', { stallMs: 0, bytesPerTick: 512 * 1024, tickMs: 100 }),
      pacedDownload(cluster.url, 'big', { stallMs: 0, bytesPerTick: 512 * 1024, tickMs: 100 }),
      pacedDownload(node, 'big', { stallMs: 4 * idleTimeoutMs, bytesPerTick: 64 * 1024 ** 2, tickMs: 1 }),
      pacedDownload(cluster.url, 'big', { stallMs: 4 * idleTimeoutMs, bytesPerTick: 64 * 1024 ** 2, tickMs: 1 }),
    ]);
    for (const slow of [slowDirect, slowViaGateway]) {
      t.diagnostic(`slow download took ${Math.round(slow.closedAfterMs)} ms`);
      assert.ok(slow.closedAfterMs > idleTimeoutMs, `the slow download took ${slow.closedAfterMs} ms: longer than the idle timeout`);
      assert.equal(sha256(body(slow.headerAndBody)), sha256(big), 'the slow download is whole');
    }
    for (const stalled of [stalledDirect, stalledViaGateway]) {
      const headEnd = stalled.headerAndBody.indexOf('\r\n\r\n');
      const received = headEnd < 0 ? 0 : stalled.headerAndBody.length - headEnd - 4;
      assert.ok(received < big.length, `a stalled download is cut: ${received} of ${big.length} bytes arrived`);
    }
  });

  it('headers that trickle in are cut by the headers timeout', async (t) => {
    const trickle = async (origin: string) => {
      const { hostname, port } = new URL(origin);
      const socket = connect(Number(port), hostname);
      const started = performance.now();
      let answer = '';
      socket.on('data', (d: Buffer) => (answer += d.toString('latin1')));
      socket.on('error', () => undefined);
      const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
      const head = `GET /files/big HTTP/1.1\r\nHost: ${hostname}\r\n${'X-Slow: a\r\n'.repeat(100)}\r\n`;
      for (const character of head) {
        if (socket.destroyed || performance.now() - started > cutDeadlineMs) break;
        socket.write(character);
        await sleep(200);
      }
      await closed;
      return { answer, closedAfterMs: performance.now() - started };
    };
    for (const { answer, closedAfterMs } of await Promise.all([trickle(node), trickle(cluster.url)])) {
      t.diagnostic(`trickled headers cut after ${Math.round(closedAfterMs)} ms: ${answer.slice(0, 30) || 'closed'}`);
      assert.ok(closedAfterMs < cutDeadlineMs, `closed after ${closedAfterMs} ms`);
      assert.ok(answer === '' || answer.startsWith('HTTP/1.1 408'), answer.slice(0, 100));
    }
  });
});
