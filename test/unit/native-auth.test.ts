// --auth settings and the native API's signature check (shared/sigv4): the refusals and their
// JSON codes, the payloads it takes, and the CLI's signer checked against AWS's own.
import { createHash, createHmac } from 'node:crypto';
import type { Hash, Hmac } from 'node:crypto';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SignatureV4 } from '@smithy/signature-v4';
import { ConfigError } from '../../shared/flags.ts';
import { parseGatewayConfig } from '../../gateway/src/config.ts';
import { parseNodeConfig } from '../../storage-node/src/node/config.ts';
import { isOpenPath, nativeAuthRefusal } from '../../shared/sigv4/native-auth-check.ts';
import { signRequest } from '../../shared/sigv4/sign-request.ts';

const nodeArgs = ['--id', 'n1', '--peers', 'n1=http://127.0.0.1:8081=http://127.0.0.1:3030', '--cluster-secret', 's'];
const key = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };
const keys = { secretFor: (id: string) => (id === key.accessKeyId ? key.secretAccessKey : null) };
const region = 'us-east-1';
const host = '127.0.0.1:8080';

function bytes(data: string | ArrayBuffer | ArrayBufferView): string | Uint8Array {
  if (typeof data === 'string') return data;
  return ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : new Uint8Array(data);
}

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

function signed(method: string, rawPath: string, rawQuery = '', extra: Record<string, string> = {}, signingKey = key) {
  const headers = new Headers({ ...signRequest({ method, host, rawPath, rawQuery }, signingKey, region), ...extra });
  return { method, rawPath, rawQuery, headers };
}

describe('--auth settings', () => {
  it('nodes: open by default, required on request, anything else refused; the root key from the environment only', () => {
    assert.equal(parseNodeConfig(nodeArgs, {}).auth, 'open');
    const config = parseNodeConfig([...nodeArgs, '--auth', 'required'], { DFS_S3_ACCESS_KEY_ID: 'ROOTKEY', DFS_S3_SECRET_ACCESS_KEY: 'root-secret-123' });
    assert.equal(config.auth, 'required');
    assert.deepEqual(config.rootKey, { accessKeyId: 'ROOTKEY', secretAccessKey: 'root-secret-123' });
    assert.equal(parseNodeConfig(nodeArgs, { DFS_AUTH: 'required' }).auth, 'required');
    assert.throws(() => parseNodeConfig([...nodeArgs, '--auth', 'closed'], {}), (err: unknown) => err instanceof ConfigError && /open or required/.test(err.message));
    assert.throws(() => parseNodeConfig(nodeArgs, { DFS_S3_ACCESS_KEY_ID: 'ROOTKEY' }), (err: unknown) => err instanceof ConfigError && /go together/.test(err.message));
    assert.throws(() => parseNodeConfig(nodeArgs, { DFS_S3_ACCESS_KEY_ID: 'ROOTKEY', DFS_S3_SECRET_ACCESS_KEY: 'short' }), (err: unknown) => err instanceof ConfigError && !err.message.includes('short'));
  });

  it('the gateway: --auth required needs the admin token it vouches with', () => {
    assert.throws(() => parseGatewayConfig(['--auth', 'required'], {}), (err: unknown) => err instanceof ConfigError && /--admin-token/.test(err.message));
    const config = parseGatewayConfig(['--auth', 'required'], { DFS_ADMIN_TOKEN: 'token' });
    assert.equal(config.auth, 'required');
    assert.equal(config.adminToken, 'token');
  });
});

describe('the native signature check', () => {
  const now = Date.now();

  it('keeps health and monitoring open, and leaves /admin/* to the admin token', () => {
    for (const path of ['/status', '/health', '/ready', '/metrics', '/admin/keys']) assert.ok(isOpenPath(path), path);
    for (const path of ['/files', '/files/status', '/upload/a', '/buckets', '/uploads', '/statusx']) assert.ok(!isOpenPath(path), path);
  });

  it('accepts what the CLI signs: reads, and bodies sent unsigned', () => {
    assert.equal(nativeAuthRefusal(signed('GET', '/files/a%20b.txt'), region, keys, now), null);
    assert.equal(nativeAuthRefusal(signed('GET', '/files', 'prefix=a%2Fb&limit=10'), region, keys, now), null);
    assert.equal(nativeAuthRefusal(signed('PUT', '/files/a.txt', '', { 'content-length': '5' }), region, keys, now), null);
  });

  it('refuses with JSON codes: unsigned 401, a wrong key or signature 403, a body without its hash header 400', () => {
    const unsigned = nativeAuthRefusal({ method: 'GET', rawPath: '/files', rawQuery: '', headers: new Headers() }, region, keys, now);
    assert.deepEqual([unsigned?.status, unsigned?.code], [401, 'unauthorized']);
    const unknown = nativeAuthRefusal(signed('GET', '/files', '', {}, { accessKeyId: 'NOSUCH', secretAccessKey: 'whatever-secret' }), region, keys, now);
    assert.deepEqual([unknown?.status, unknown?.code], [403, 'invalid_access_key_id']);
    const wrong = nativeAuthRefusal(signed('GET', '/files', '', {}, { ...key, secretAccessKey: 'not-the-secret' }), region, keys, now);
    assert.deepEqual([wrong?.status, wrong?.code], [403, 'signature_does_not_match']);
    const otherPath = signed('GET', '/files/a.txt');
    const moved = nativeAuthRefusal({ ...otherPath, rawPath: '/files/b.txt' }, region, keys, now);
    assert.deepEqual([moved?.status, moved?.code], [403, 'signature_does_not_match']);
    const stale = nativeAuthRefusal(signed('GET', '/files'), region, keys, now + 20 * 60 * 1000);
    assert.deepEqual([stale?.status, stale?.code], [403, 'request_time_too_skewed']);
    const request = signed('PUT', '/files/a.txt', '', { 'content-length': '5' });
    request.headers.delete('x-amz-content-sha256');
    const noHash = nativeAuthRefusal(request, region, keys, now);
    assert.deepEqual([noHash?.status, noHash?.code], [400, 'missing_content_sha256']);
    const chunked = signed('PUT', '/files/a.txt');
    chunked.headers.set('x-amz-content-sha256', 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD');
    assert.equal(nativeAuthRefusal(chunked, region, keys, now)?.status, 403, 'a changed payload claim breaks the signature');
  });

  it('the CLI signer signs as AWS\'s own signer does', async () => {
    const date = new Date('2026-11-29T12:00:00Z');
    const ours = signRequest({ method: 'GET', host, rawPath: '/files/a%20b.txt', rawQuery: 'limit=10&prefix=x' }, key, region, date.getTime());
    const smithy = new SignatureV4({ credentials: key, region, service: 's3', sha256: NodeSha256, uriEscapePath: false });
    const theirs = await smithy.sign({ method: 'GET', protocol: 'http:', hostname: '127.0.0.1', port: 8080, path: '/files/a%20b.txt', query: { limit: '10', prefix: 'x' }, headers: { host, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } } as never, { signingDate: date });
    assert.equal(ours.authorization, (theirs as unknown as { headers: Record<string, string> }).headers.authorization);
  });
});
