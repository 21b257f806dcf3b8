// The SigV4 verifier against requests signed by the AWS SDK's own signer (@smithy/signature-v4),
// the AWS documentation's aws-chunked example, and the body checks (hash, checksums, trailers).
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import type { Hash, Hmac } from 'node:crypto';
import { describe, it } from 'node:test';
import { S3RequestPresigner } from '@aws-sdk/s3-request-presigner';
import { SignatureV4 } from '@smithy/signature-v4';
import { planBody, VerifiedBody } from '../../gateway/src/s3/request-body.ts';
import { S3Error } from '../../gateway/src/s3/s3-errors.ts';
import { SigV4Error } from '../../shared/sigv4/sigv4-error.ts';
import { decodeAwsChunked } from '../../gateway/src/s3/sigv4/aws-chunked.ts';
import type { IncomingSigned } from '../../shared/sigv4/canonical-request.ts';
import { verifyRequest } from '../../shared/sigv4/verify-request.ts';
import type { ChunkSigning } from '../../shared/sigv4/verify-request.ts';

const accessKeyId = 'AKIDEXAMPLE';
const secretAccessKey = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';
const region = 'us-east-1';
const keys = { secretFor: (id: string) => (id === accessKeyId ? secretAccessKey : null) };

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

function signer(secret = secretAccessKey, signingRegion = region): SignatureV4 {
  return new SignatureV4({ credentials: { accessKeyId, secretAccessKey: secret }, region: signingRegion, service: 's3', sha256: NodeSha256, uriEscapePath: false });
}

interface PlainRequest {
  method: string;
  path: string;
  query?: Record<string, string>;
  headers: Record<string, string>;
  body?: string;
}

function smithyRequest(request: PlainRequest) {
  return { method: request.method, protocol: 'http:', hostname: '127.0.0.1', port: 9000, path: request.path, query: request.query ?? {}, headers: { host: '127.0.0.1:9000', ...request.headers }, body: request.body };
}

/** What the gateway sees of a request the SDK signed (query encoded as the SDK's HTTP client does). */
function incoming(signed: { method: string; path: string; query?: Record<string, string | string[] | null>; headers: Record<string, string> }): IncomingSigned {
  const query = Object.entries(signed.query ?? {})
    .map(([name, value]) => (value === null ? encodeURIComponent(name) : `${encodeURIComponent(name)}=${encodeURIComponent(String(value))}`))
    .join('&');
  return { method: signed.method, rawPath: signed.path, rawQuery: query, headers: new Headers(signed.headers) };
}

async function signedRequest(request: PlainRequest, options: { secret?: string; region?: string; date?: Date } = {}): Promise<IncomingSigned> {
  const signed = await signer(options.secret, options.region).sign(smithyRequest(request) as never, { signingDate: options.date ?? new Date() });
  return incoming(signed as never);
}

function refusedWith(code: string): (err: unknown) => boolean {
  return (err) => {
    // The verifier's refusals are SigV4Errors; aws-chunked's are the S3 layer's own.
    assert.ok(err instanceof S3Error || err instanceof SigV4Error, `an S3Error or SigV4Error, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return true;
  };
}

const emptyHash = createHash('sha256').update('').digest('hex');

describe('SigV4 in the Authorization header', () => {
  it('accepts what the SDK signs: odd keys, a query, a hex payload hash', async () => {
    const request = await signedRequest({
      method: 'GET',
      path: '/photos/' + ['a b', 'ü+(x)!*', "it's~"].map((s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)).join('/'),
      query: { 'list-type': '2', prefix: 'a b/ü', 'max-keys': '5' },
      headers: { 'x-amz-content-sha256': emptyHash, range: 'bytes=0-9' },
    });
    const verified = verifyRequest(request, { region, keys, nowMs: Date.now() });
    assert.equal(verified.accessKeyId, accessKeyId);
    assert.deepEqual(verified.payload, { kind: 'sha256', hex: emptyHash });
  });

  it('refuses a wrong secret, an unknown key, a tampered header, query or path', async () => {
    const plain: PlainRequest = { method: 'PUT', path: '/b/k', query: { tagging: '' }, headers: { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', 'x-amz-meta-a': '1' } };
    assert.throws(() => verifyRequest(signedRequestSync(plain, 'wrong-secret'), { region, keys, nowMs: Date.now() }), refusedWith('SignatureDoesNotMatch'));
    const good = await signedRequest(plain);
    assert.equal(verifyRequest(good, { region, keys, nowMs: Date.now() }).payload.kind, 'unsigned');
    assert.throws(() => verifyRequest(good, { region, keys: { secretFor: () => null }, nowMs: Date.now() }), refusedWith('InvalidAccessKeyId'));
    const headers = new Headers(good.headers);
    headers.set('x-amz-meta-a', '2');
    assert.throws(() => verifyRequest({ ...good, headers }, { region, keys, nowMs: Date.now() }), refusedWith('SignatureDoesNotMatch'));
    assert.throws(() => verifyRequest({ ...good, rawQuery: 'acl' }, { region, keys, nowMs: Date.now() }), refusedWith('SignatureDoesNotMatch'));
    assert.throws(() => verifyRequest({ ...good, rawPath: '/b/k2' }, { region, keys, nowMs: Date.now() }), refusedWith('SignatureDoesNotMatch'));
    assert.throws(() => verifyRequest({ ...good, method: 'DELETE' }, { region, keys, nowMs: Date.now() }), refusedWith('SignatureDoesNotMatch'));
    // A signed header's value changed by the payload hash itself (it is signed too).
    const hashed = new Headers(good.headers);
    hashed.set('x-amz-content-sha256', emptyHash);
    assert.throws(() => verifyRequest({ ...good, headers: hashed }, { region, keys, nowMs: Date.now() }), refusedWith('SignatureDoesNotMatch'));
  });

  it('refuses another region, a skewed clock, no signature at all, SigV2', async () => {
    const plain: PlainRequest = { method: 'GET', path: '/', headers: { 'x-amz-content-sha256': emptyHash } };
    assert.throws(() => verifyRequest(signedRequestSync(plain, secretAccessKey, 'eu-west-1'), { region, keys, nowMs: Date.now() }), refusedWith('AuthorizationHeaderMalformed'));
    const old = await signedRequest(plain, { date: new Date(Date.now() - 16 * 60_000) });
    assert.throws(() => verifyRequest(old, { region, keys, nowMs: Date.now() }), refusedWith('RequestTimeTooSkewed'));
    const recent = await signedRequest(plain, { date: new Date(Date.now() - 14 * 60_000) });
    assert.doesNotThrow(() => verifyRequest(recent, { region, keys, nowMs: Date.now() }));
    assert.throws(() => verifyRequest({ method: 'GET', rawPath: '/', rawQuery: '', headers: new Headers() }, { region, keys, nowMs: Date.now() }), refusedWith('AccessDenied'));
    assert.throws(() => verifyRequest({ method: 'GET', rawPath: '/', rawQuery: '', headers: new Headers({ authorization: 'AWS AKID:abc' }) }, { region, keys, nowMs: Date.now() }), refusedWith('InvalidRequest'));
    const noHash = await signedRequest({ method: 'GET', path: '/', headers: {} });
    noHash.headers.delete('x-amz-content-sha256');
    assert.throws(() => verifyRequest(noHash, { region, keys, nowMs: Date.now() }), refusedWith('InvalidRequest'));
  });
});

/** Signs synchronously enough for assert.throws: the signer is async, so sign first. */
const presignedCache = new Map<string, IncomingSigned>();
function signedRequestSync(request: PlainRequest, secret: string, signingRegion = region): IncomingSigned {
  const key = JSON.stringify([request, secret, signingRegion]);
  const hit = presignedCache.get(key);
  assert.ok(hit !== undefined, 'call prepare() first');
  return hit;
}
async function prepare(request: PlainRequest, secret: string, signingRegion = region): Promise<void> {
  presignedCache.set(JSON.stringify([request, secret, signingRegion]), await signedRequest(request, { secret, region: signingRegion }));
}
await prepare({ method: 'PUT', path: '/b/k', query: { tagging: '' }, headers: { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', 'x-amz-meta-a': '1' } }, 'wrong-secret');
await prepare({ method: 'GET', path: '/', headers: { 'x-amz-content-sha256': emptyHash } }, secretAccessKey, 'eu-west-1');

describe('SigV4 presigned URLs', () => {
  async function presigned(expiresIn: number, date = new Date()): Promise<IncomingSigned> {
    const request = smithyRequest({ method: 'GET', path: '/photos/a%20b.txt', query: { 'response-content-type': 'text/plain' }, headers: {} });
    const presigner = new S3RequestPresigner({ credentials: { accessKeyId, secretAccessKey }, region, sha256: NodeSha256 });
    const signed = await presigner.presign(request as never, { expiresIn, signingDate: date });
    return incoming(signed as never);
  }

  it('accepts a URL within its validity and refuses an expired or tampered one', async () => {
    const url = await presigned(60);
    assert.deepEqual(verifyRequest(url, { region, keys, nowMs: Date.now() }).payload, { kind: 'unsigned' });
    assert.throws(() => verifyRequest(url, { region, keys, nowMs: Date.now() + 61_000 }), refusedWith('AccessDenied'));
    const expiredAlready = await presigned(1, new Date(Date.now() - 5000));
    assert.throws(() => verifyRequest(expiredAlready, { region, keys, nowMs: Date.now() }), refusedWith('AccessDenied'));
    assert.throws(() => verifyRequest({ ...url, rawQuery: url.rawQuery.replace('text%2Fplain', 'text%2Fhtml') }, { region, keys, nowMs: Date.now() }), refusedWith('SignatureDoesNotMatch'));
    assert.throws(() => verifyRequest({ ...url, rawQuery: url.rawQuery.replace(/X-Amz-Expires=\d+/, 'X-Amz-Expires=9999') }, { region, keys, nowMs: Date.now() }), refusedWith('SignatureDoesNotMatch'));
    assert.throws(() => verifyRequest({ ...url, rawQuery: url.rawQuery.replace(/X-Amz-Expires=\d+/, 'X-Amz-Expires=700000') }, { region, keys, nowMs: Date.now() }), refusedWith('AuthorizationQueryParametersError'));
  });
});

async function collect(source: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const pieces: Buffer[] = [];
  for await (const piece of source) pieces.push(Buffer.from(piece));
  return Buffer.concat(pieces);
}

async function* piecesOf(bytes: Buffer, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

describe('aws-chunked with a signature per chunk', () => {
  // The example of the AWS documentation ("Signature calculation: transfer payload in multiple
  // chunks"): 65536 + 1024 bytes of 'a', signed on 2013-05-24 with the documentation's key.
  const docSecret = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
  const docSigning = async (): Promise<ChunkSigning> => {
    const request = {
      method: 'PUT', rawPath: '/examplebucket/chunkObject.txt', rawQuery: '',
      headers: new Headers({
        host: 's3.amazonaws.com', 'x-amz-date': '20130524T000000Z', 'x-amz-storage-class': 'REDUCED_REDUNDANCY',
        'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD', 'content-encoding': 'aws-chunked',
        'x-amz-decoded-content-length': '66560', 'content-length': '66824',
        authorization: 'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9',
      }),
    };
    const verified = verifyRequest(request, { region, keys: { secretFor: (id) => (id === 'AKIAIOSFODNN7EXAMPLE' ? docSecret : null) }, nowMs: Date.UTC(2013, 4, 24) });
    assert.equal(verified.payload.kind, 'streaming-signed');
    return (verified.payload as { chunks: ChunkSigning }).chunks;
  };
  const docBody = (tamper = false) => {
    const first = Buffer.alloc(65536, 'a');
    if (tamper) first[100] = 'b'.charCodeAt(0);
    return Buffer.concat([
      Buffer.from('10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\n'), first, Buffer.from('\r\n'),
      Buffer.from('400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497\r\n'), Buffer.alloc(1024, 'a'), Buffer.from('\r\n'),
      Buffer.from('0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n\r\n'),
    ]);
  };

  it('verifies the documentation example (seed and every chunk signature)', async () => {
    const signing = await docSigning();
    const body = docBody();
    assert.equal(body.length, 66824);
    const decoded = await collect(decodeAwsChunked(piecesOf(body, 1000), { signing, onTrailer: () => assert.fail('no trailer') }));
    assert.deepEqual(decoded, Buffer.alloc(66560, 'a'));
  });

  it('refuses a changed byte before passing on the chunk', async () => {
    const signing = await docSigning();
    const passed: Buffer[] = [];
    await assert.rejects(async () => {
      for await (const piece of decodeAwsChunked(piecesOf(docBody(true), 4096), { signing, onTrailer: () => {} })) passed.push(Buffer.from(piece));
    }, refusedWith('SignatureDoesNotMatch'));
    assert.equal(passed.length, 0, 'no byte of the bad chunk went on');
  });

  it('refuses chunks swapped or dropped (each signature chains to the one before)', async () => {
    const signing = await docSigning();
    const body = docBody();
    const withoutFirst = body.subarray(body.indexOf('400;chunk'));
    await assert.rejects(collect(decodeAwsChunked(piecesOf(withoutFirst, 4096), { signing, onTrailer: () => {} })), refusedWith('SignatureDoesNotMatch'));
    const cut = body.subarray(0, body.length - 10);
    await assert.rejects(collect(decodeAwsChunked(piecesOf(cut, 4096), { signing, onTrailer: () => {} })), refusedWith('IncompleteBody'));
  });
});

describe('the body checks', () => {
  const content = Buffer.from('hello, checked world! '.repeat(1000));
  const sha256Hex = createHash('sha256').update(content).digest('hex');
  const b64 = (algorithm: string) => createHash(algorithm).update(content).digest('base64');

  async function run(headers: Record<string, string>, signing: Parameters<typeof planBody>[1], body: Buffer): Promise<{ passed: Buffer; error: unknown; verified: VerifiedBody }> {
    const verified = new VerifiedBody(piecesOf(body, 1000), planBody(new Headers(headers), signing));
    const pieces: Buffer[] = [];
    let error: unknown = null;
    try {
      for await (const piece of verified.stream()) pieces.push(Buffer.from(piece));
    } catch (err) {
      error = err;
    }
    return { passed: Buffer.concat(pieces), error, verified };
  }

  it('passes a body whose hex SHA-256 holds; holds back its last piece when it does not', async () => {
    const good = await run({ 'content-length': String(content.length) }, { kind: 'sha256', hex: sha256Hex }, content);
    assert.equal(good.error, null);
    assert.deepEqual(good.passed, content);
    const bad = await run({ 'content-length': String(content.length) }, { kind: 'sha256', hex: sha256Hex.replace(/^./, (c) => (c === '0' ? '1' : '0')) }, content);
    refusedWith('XAmzContentSHA256Mismatch')(bad.error);
    assert.ok(bad.passed.length < content.length, 'the node never gets the whole body');
    assert.equal(bad.verified.failure?.code, 'XAmzContentSHA256Mismatch');
  });

  it('checks x-amz-checksum-* headers (CRC32C, SHA1) and Content-MD5', async () => {
    const crc = Buffer.alloc(4);
    const { crc32c } = await import('../../gateway/src/s3/crc32c.ts');
    crc.writeUInt32BE(crc32c(content));
    const length = { 'content-length': String(content.length) };
    const ok = await run({ ...length, 'x-amz-checksum-crc32c': crc.toString('base64'), 'content-md5': b64('md5') }, { kind: 'unsigned' }, content);
    assert.equal(ok.error, null);
    assert.equal(ok.verified.verifiedChecksums.get('crc32c'), crc.toString('base64'));
    refusedWith('BadDigest')((await run({ ...length, 'x-amz-checksum-sha1': createHash('sha1').update('other').digest('base64') }, { kind: 'unsigned' }, content)).error);
    refusedWith('BadDigest')((await run({ ...length, 'content-md5': createHash('md5').update('x').digest('base64') }, { kind: 'unsigned' }, content)).error);
    assert.throws(() => planBody(new Headers({ ...length, 'content-md5': 'not-md5' }), { kind: 'unsigned' }), refusedWith('InvalidDigest'));
    assert.throws(() => planBody(new Headers({ ...length, 'x-amz-checksum-crc64nvme': 'AAAAAAAAAAA=' }), { kind: 'unsigned' }), refusedWith('NotImplemented'));
    assert.throws(() => planBody(new Headers({}), { kind: 'unsigned' }), refusedWith('MissingContentLength'));
    refusedWith('IncompleteBody')((await run({ 'content-length': String(content.length + 1) }, { kind: 'unsigned' }, content)).error);
  });

  it('decodes STREAMING-UNSIGNED-PAYLOAD-TRAILER and checks its CRC32 trailer', async () => {
    const { crc32 } = await import('node:zlib');
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(content));
    const chunked = (trailerValue: string) => Buffer.concat([
      Buffer.from(`2000\r\n`), content.subarray(0, 0x2000), Buffer.from('\r\n'),
      Buffer.from(`${(content.length - 0x2000).toString(16)}\r\n`), content.subarray(0x2000), Buffer.from('\r\n'),
      Buffer.from(`0\r\nx-amz-checksum-crc32:${trailerValue}\r\n\r\n`),
    ]);
    const headers = { 'x-amz-decoded-content-length': String(content.length), 'x-amz-trailer': 'x-amz-checksum-crc32', 'content-encoding': 'aws-chunked' };
    const good = await run(headers, { kind: 'streaming-unsigned-trailer' }, chunked(crc.toString('base64')));
    assert.equal(good.error, null);
    assert.deepEqual(good.passed, content);
    const bad = await run(headers, { kind: 'streaming-unsigned-trailer' }, chunked('AAAAAA=='));
    refusedWith('BadDigest')(bad.error);
    assert.ok(bad.passed.length < content.length);
  });
});
