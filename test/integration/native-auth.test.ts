// `--auth required`: a cluster (three nodes and a gateway, as processes) whose native API answers
// only SigV4-signed requests, by the root key or a live access key. Requests are signed here by
// @smithy/signature-v4 (AWS's signer, not ours), by curl's --aws-sigv4, and by the dfs CLI.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import type { Hash, Hmac } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { SignatureV4 } from '@smithy/signature-v4';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { freePorts } from '../support/cluster.ts';
import { GatewayCluster } from '../support/gateway-cluster.ts';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const rootKey = { accessKeyId: 'AUTHROOTKEY', secretAccessKey: randomBytes(24).toString('base64url') };
const adminToken = randomBytes(16).toString('hex');
const region = 'us-east-1';
const runTimeoutMs = 60_000;

function bytes(data: string | ArrayBuffer | ArrayBufferView): string | Uint8Array {
  if (typeof data === 'string') return data;
  return ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : new Uint8Array(data);
}

/** node:crypto as the signer's hash (what @smithy/hash-node does). */
class NodeSha256 {
  #hash: Hash | Hmac;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.#hash = secret === undefined ? createHash('sha256') : createHmac('sha256', bytes(secret));
  }
  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.#hash.update(bytes(data));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.#hash.digest());
  }
  reset(): void {}
}

type Key = { accessKeyId: string; secretAccessKey: string };

interface SignOptions {
  readonly key?: Key;
  readonly body?: string;
  /** The x-amz-content-sha256 to sign: the body's hash by default. */
  readonly payloadHash?: string;
  readonly presign?: boolean;
}

function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Sends a request signed by AWS's own signer (header form, or a presigned URL). */
async function signedFetch(cluster: GatewayCluster, method: string, url: string, options: SignOptions = {}): Promise<Response> {
  const target = new URL(url);
  const signer = new SignatureV4({ credentials: options.key ?? rootKey, region, service: 's3', sha256: NodeSha256, uriEscapePath: false });
  const query: Record<string, string> = {};
  target.searchParams.forEach((value, name) => (query[name] = value));
  const request = { method, protocol: target.protocol, hostname: target.hostname, port: Number(target.port), path: target.pathname, query, headers: { host: target.host } as Record<string, string>, body: options.body };
  if (options.presign === true) {
    // As the S3 presigner does: the payload is not signed, and the URL says so in no header.
    request.headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
    const presigned = await signer.presign(request as never, { expiresIn: 300, unsignableHeaders: new Set(['x-amz-content-sha256']) });
    const search = new URLSearchParams(presigned.query as Record<string, string>).toString();
    return await cluster.storage.fetch(`${target.origin}${target.pathname}?${search}`, { method, body: options.body });
  }
  request.headers['x-amz-content-sha256'] = options.payloadHash ?? sha256Hex(options.body ?? '');
  const signed = await signer.sign(request as never);
  const headers = { ...(signed as unknown as { headers: Record<string, string> }).headers };
  delete headers.host;
  return await cluster.storage.fetch(url, { method, headers, body: options.body });
}

async function errorOf(response: Response): Promise<{ status: number; code: string; message: string }> {
  const body = (await response.json()) as { error?: { code?: string; message?: string } };
  assert.equal(typeof body.error?.code, 'string', `a JSON error, got ${JSON.stringify(body)}`);
  return { status: response.status, code: body.error!.code!, message: body.error!.message ?? '' };
}

function run(command: string, args: readonly string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: repoRoot, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
      reject(new Error(`${command} ${args.join(' ')} did not finish in ${runTimeoutMs} ms; stderr: ${stderr}`));
    }, runTimeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

function curlVersion(): Promise<[number, number] | null> {
  return new Promise((resolve) => {
    execFile('curl', ['--version'], (err, stdout) => {
      const match = err === null ? /^curl (\d+)\.(\d+)/.exec(stdout) : null;
      resolve(match === null ? null : [Number(match[1]), Number(match[2])]);
    });
  });
}

describe('--auth required on the native API', () => {
  let cluster: GatewayCluster;
  let dir: string;
  let s3Endpoint: string;
  const nodeUrl = () => cluster.storage.nodes[1].url;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'dfs-auth-'));
    const rootEnv = { DFS_S3_ACCESS_KEY_ID: rootKey.accessKeyId, DFS_S3_SECRET_ACCESS_KEY: rootKey.secretAccessKey };
    const [s3Port] = await freePorts(1);
    s3Endpoint = `http://127.0.0.1:${s3Port}`;
    cluster = await GatewayCluster.start({
      storage: { flags: ['--admin-token', adminToken, '--auth', 'required'], env: rootEnv },
      gatewayFlags: ['--auth', 'required', '--s3-port', String(s3Port)],
      gatewayEnv: { ...rootEnv, DFS_ADMIN_TOKEN: adminToken },
    });
  });

  after(async () => {
    await cluster?.stopAll();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('refuses unsigned native reads and writes with a JSON error, at a node and at the gateway; /status stays open', async () => {
    for (const base of [nodeUrl(), cluster.url]) {
      for (const [method, path, body] of [['GET', '/files', undefined], ['GET', '/files/a.txt', undefined], ['PUT', '/files/unsigned.txt', 'nope'], ['POST', '/upload/unsigned.txt', 'nope'], ['DELETE', '/files/a.txt', undefined]] as const) {
        const refused = await errorOf(await cluster.storage.fetch(`${base}${path}`, { method, body }));
        assert.deepEqual([refused.status, refused.code], [401, 'unauthorized'], `${method} ${base}${path}: ${refused.message}`);
      }
      assert.equal((await cluster.storage.fetch(`${base}/status`)).status, 200);
      assert.equal((await cluster.storage.fetch(`${base}/health`)).status, 200);
    }
    // Nothing was stored by the refused writes.
    const listing = await signedFetch(cluster, 'GET', `${cluster.url}/files`);
    assert.equal(listing.status, 200);
    assert.deepEqual(((await listing.json()) as { files: unknown[] }).files, []);
  });

  it('accepts requests signed with the root key, directly at a follower or the leader and through the gateway', async () => {
    for (const [i, base] of [cluster.storage.nodes[0].url, nodeUrl(), cluster.url].entries()) {
      const name = `signed/${i}.txt`;
      const put = await signedFetch(cluster, 'PUT', `${base}/files/${name}`, { body: `content ${i}` });
      assert.equal(put.status, 201, await put.text());
      const got = await signedFetch(cluster, 'GET', `${base}/files/${name}`);
      assert.equal(await got.text(), `content ${i}`, `GET ${base}/files/${name}: ${got.status}`);
      // UNSIGNED-PAYLOAD and presigned URLs too.
      const unsigned = await signedFetch(cluster, 'PUT', `${base}/files/${name}`, { body: 'unsigned payload', payloadHash: 'UNSIGNED-PAYLOAD' });
      assert.equal(unsigned.status, 201, await unsigned.text());
      const presigned = await signedFetch(cluster, 'GET', `${base}/files/${name}`, { presign: true });
      assert.equal(await presigned.text(), 'unsigned payload', `presigned GET ${base}/files/${name}: ${presigned.status}`);
    }
  });

  it('refuses a wrong secret, an unknown key and a body that is not the one signed (storing nothing)', async () => {
    for (const base of [nodeUrl(), cluster.url]) {
      const wrong = await errorOf(await signedFetch(cluster, 'GET', `${base}/files`, { key: { ...rootKey, secretAccessKey: 'not-the-secret' } }));
      assert.deepEqual([wrong.status, wrong.code], [403, 'signature_does_not_match']);
      const unknown = await errorOf(await signedFetch(cluster, 'GET', `${base}/files`, { key: { accessKeyId: 'NOSUCHKEY', secretAccessKey: 'whatever-secret' } }));
      assert.deepEqual([unknown.status, unknown.code], [403, 'invalid_access_key_id']);
      const tampered = await errorOf(await signedFetch(cluster, 'PUT', `${base}/files/tampered.txt`, { body: 'what was sent', payloadHash: sha256Hex('what was signed') }));
      assert.deepEqual([tampered.status, tampered.code], [400, 'x_amz_content_sha256_mismatch'], tampered.message);
      const missing = await signedFetch(cluster, 'GET', `${base}/files/tampered.txt`);
      assert.equal(missing.status, 404);
    }
  });

  it('accepts a key made at runtime, and refuses it once revoked', async () => {
    const made = await cluster.storage.fetch(`${cluster.url}/admin/keys`, { method: 'POST', headers: { authorization: `Bearer ${adminToken}` } });
    assert.equal(made.status, 201);
    const key = (await made.json()) as Key;
    for (const base of [nodeUrl(), cluster.url]) assert.equal((await signedFetch(cluster, 'GET', `${base}/files`, { key })).status, 200, base);
    const revoked = await cluster.storage.fetch(`${cluster.url}/admin/keys/${key.accessKeyId}`, { method: 'DELETE', headers: { authorization: `Bearer ${adminToken}` } });
    assert.equal(revoked.status, 204);
    // At a node: at once (it reads its own replicated table). At the gateway: within its refresh.
    const atNode = await signedFetch(cluster, 'GET', `${cluster.storage.nodes[0].url}/files`, { key });
    assert.ok([200, 403].includes(atNode.status));
    const deadline = Date.now() + 30_000;
    for (const base of [nodeUrl(), cluster.url]) {
      for (;;) {
        const response = await signedFetch(cluster, 'GET', `${base}/files`, { key });
        if (response.status === 403) {
          assert.equal((await errorOf(response)).code, 'invalid_access_key_id');
          break;
        }
        assert.ok(Date.now() < deadline, `${base}: the revoked key still works`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  });

  it('the S3 API keeps working in front of it (its native requests inside the gateway are vouched for)', async () => {
    const s3 = new S3Client({ endpoint: s3Endpoint, region, forcePathStyle: true, credentials: rootKey, maxAttempts: 1 });
    await s3.send(new CreateBucketCommand({ Bucket: 'guarded' }));
    await s3.send(new PutObjectCommand({ Bucket: 'guarded', Key: 'k.txt', Body: 'through S3' }));
    const got = await s3.send(new GetObjectCommand({ Bucket: 'guarded', Key: 'k.txt' }));
    assert.equal(await got.Body!.transformToString(), 'through S3');
    const native = await signedFetch(cluster, 'GET', `${cluster.url}/files/guarded/k.txt`);
    assert.equal(await native.text(), 'through S3');
  });

  it('curl --aws-sigv4 reads and writes through the gateway', async (t) => {
    const version = await curlVersion();
    if (version === null || version[0] < 7 || (version[0] === 7 && version[1] < 75)) return t.skip('curl >= 7.75 is not installed');
    const file = join(dir, 'curl.txt');
    writeFileSync(file, 'sent by curl');
    const auth = ['--aws-sigv4', `aws:amz:${region}:s3`, '--user', `${rootKey.accessKeyId}:${rootKey.secretAccessKey}`];
    // curl before 8 signs the body's hash without sending it: a body needs the header.
    const put = await run('curl', ['-s', '-f', '-S', ...auth, '-H', 'x-amz-content-sha256: UNSIGNED-PAYLOAD', '-X', 'PUT', '--data-binary', `@${file}`, `${cluster.url}/files/curl/one.txt`]);
    assert.equal(put.code, 0, put.stderr);
    const get = await run('curl', ['-s', '-f', '-S', ...auth, `${cluster.url}/files/curl/one.txt`]);
    assert.equal(get.code, 0, get.stderr);
    assert.equal(get.stdout, 'sent by curl');
    const unsigned = await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', `${cluster.url}/files/curl/one.txt`]);
    assert.equal(unsigned.stdout, '401');
  });

  it('the dfs CLI signs its requests with a key from its environment, and manages keys with the admin token', async () => {
    const dfs = (args: readonly string[], env: Record<string, string>) => run(process.execPath, ['--import', 'tsx', 'cli/src/main.ts', ...args], { DFS_ENDPOINT: cluster.url, ...env });
    const created = await dfs(['--json', 'keys', 'create'], { DFS_ADMIN_TOKEN: adminToken });
    assert.equal(created.code, 0, created.stderr);
    const key = JSON.parse(created.stdout) as Key & { created: string };
    const listed = await dfs(['--json', 'keys', 'list'], { DFS_ADMIN_TOKEN: adminToken });
    assert.equal(listed.code, 0, listed.stderr);
    assert.ok(!listed.stdout.includes(key.secretAccessKey), 'keys list shows a secret');
    assert.ok((JSON.parse(listed.stdout) as { keys: { accessKeyId: string }[] }).keys.some((k) => k.accessKeyId === key.accessKeyId));

    const local = join(dir, 'cli.txt');
    writeFileSync(local, 'stored by the CLI');
    const withKey = { DFS_ACCESS_KEY_ID: key.accessKeyId, DFS_SECRET_ACCESS_KEY: key.secretAccessKey };
    // The key may reach the gateway's cache a moment after it is made: the gateway reads again for an unknown id.
    const put = await dfs(['put', local, 'cli/signed file.txt'], withKey);
    assert.equal(put.code, 0, put.stderr);
    const cat = await dfs(['cat', 'cli/signed file.txt'], withKey);
    assert.equal(cat.code, 0, cat.stderr);
    assert.equal(cat.stdout, 'stored by the CLI');
    const ls = await dfs(['--json', 'ls', 'cli/'], withKey);
    assert.equal(ls.code, 0, ls.stderr);
    const atNode = await dfs(['--endpoint', nodeUrl(), '--access-key', rootKey.accessKeyId, '--secret-key', rootKey.secretAccessKey, 'cat', 'cli/signed file.txt'], {});
    assert.equal(atNode.code, 0, atNode.stderr);
    assert.equal(atNode.stdout, 'stored by the CLI');

    const unsigned = await dfs(['cat', 'cli/signed file.txt'], {});
    assert.equal(unsigned.code, 1);
    assert.match(unsigned.stderr, /401 unauthorized/);

    const revoked = await dfs(['keys', 'revoke', key.accessKeyId], { DFS_ADMIN_TOKEN: adminToken });
    assert.equal(revoked.code, 0, revoked.stderr);
    const noToken = await dfs(['keys', 'list'], { DFS_ADMIN_TOKEN: '' });
    assert.equal(noToken.code, 2, 'no admin token is a usage error');
  });
});
