// The S3 API end to end: three storage nodes and a gateway as processes, driven by the AWS SDK
// (@aws-sdk/client-s3 with its default checksum settings, path-style) and by raw signed requests
// for what the SDK would never send (tampered signatures and bodies). One cluster for the file.
import assert from 'node:assert/strict';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import type { Hash, Hmac } from 'node:crypto';
import { connect } from 'node:net';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import {
  CopyObjectCommand, CreateBucketCommand, DeleteBucketCommand, DeleteObjectCommand, DeleteObjectsCommand, GetBucketVersioningCommand, ListObjectVersionsCommand, GetBucketLocationCommand, GetObjectCommand, HeadBucketCommand,
  HeadObjectCommand, ListBucketsCommand, ListObjectsCommand, ListObjectsV2Command, PutObjectCommand, S3Client,
  AbortMultipartUploadCommand, CreateMultipartUploadCommand, ListPartsCommand,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { SignatureV4 } from '@smithy/signature-v4';
import { freePorts, sleep } from '../support/cluster.ts';
import { GatewayCluster } from '../support/gateway-cluster.ts';
import { s3Failure } from '../support/s3-failure.ts';

const accessKeyId = 'TESTROOTKEY';
const secretAccessKey = randomBytes(24).toString('base64url');
const region = 'us-east-1';

let cluster: GatewayCluster;
let endpoint: string;
let s3: S3Client;

/** The headers of every request the SDK clients sent, as they went on the wire (after signing). */
const sent: Record<string, string>[] = [];

function client(secret = secretAccessKey): S3Client {
  const made = new S3Client({ endpoint, region, forcePathStyle: true, credentials: { accessKeyId, secretAccessKey: secret }, maxAttempts: 3 });
  made.middlewareStack.add((next) => async (args) => {
    sent.push({ ...(args.request as { headers: Record<string, string> }).headers });
    return next(args);
  }, { step: 'deserialize', name: 'recordSentHeaders' });
  return made;
}

/** The S3 error the SDK threw: its code (name) and HTTP status. */
function md5(content: string | Uint8Array): string {
  return createHash('md5').update(content).digest('hex');
}

async function body(output: { Body?: { transformToByteArray(): Promise<Uint8Array> } }): Promise<Buffer> {
  return Buffer.from(await output.Body!.transformToByteArray());
}

/** The native API's view of a file, through the same gateway. */
function native(path: string, init?: RequestInit): Promise<Response> {
  return fetch(`${cluster.url}${path}`, init);
}

function bytesOf(data: string | ArrayBuffer | ArrayBufferView): string | Uint8Array {
  if (typeof data === 'string') return data;
  return ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : new Uint8Array(data);
}

/** node:crypto as the signer's hash (what @smithy/hash-node does). */
class NodeSha256 {
  #hash: Hash | Hmac;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.#hash = secret === undefined ? createHash('sha256') : createHmac('sha256', bytesOf(secret));
  }
  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.#hash.update(bytesOf(data));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.#hash.digest());
  }
  reset(): void {}
}


/** A request signed by the SDK's signer with the root key, sent as given (so the test can tamper with it). */
async function signed(method: string, path: string, headers: Record<string, string>, payloadHash: string): Promise<{ url: string; headers: Record<string, string> }> {
  const url = new URL(`${endpoint}${path}`);
  const real = new SignatureV4({ credentials: { accessKeyId, secretAccessKey }, region, service: 's3', sha256: NodeSha256, uriEscapePath: false });
  const request = await real.sign({
    method, protocol: 'http:', hostname: url.hostname, port: Number(url.port), path: url.pathname, query: Object.fromEntries(url.searchParams),
    headers: { host: url.host, 'x-amz-content-sha256': payloadHash, ...headers },
  } as never);
  const out = { ...(request as unknown as { headers: Record<string, string> }).headers };
  delete out.host;
  return { url: url.toString(), headers: out };
}

async function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

before(async () => {
  const [s3Port] = await freePorts(1);
  cluster = await GatewayCluster.start({
    // Small chunks so that a few hundred KiB make a multi-chunk file; small inline limit too.
    storage: { flags: ['--chunk-size', '64KiB', '--inline-max', '4KiB'] },
    gatewayFlags: ['--s3-port', String(s3Port)],
    gatewayEnv: { DFS_S3_ACCESS_KEY_ID: accessKeyId, DFS_S3_SECRET_ACCESS_KEY: secretAccessKey },
  });
  endpoint = `http://127.0.0.1:${s3Port}`;
  const deadline = Date.now() + 30_000;
  while (!(await portOpen(s3Port))) {
    if (Date.now() > deadline) throw new Error(`the S3 port ${s3Port} never opened`);
    await sleep(50);
  }
  s3 = client();
});

after(async () => {
  s3?.destroy();
  await cluster?.stopAll();
});

describe('S3 API', () => {
  it('buckets: create, head, location, list, refuse a second create, delete only when empty', async () => {
    assert.deepEqual((await s3.send(new ListBucketsCommand({}))).Buckets ?? [], []);
    await s3.send(new CreateBucketCommand({ Bucket: 'photos' }));
    await s3.send(new HeadBucketCommand({ Bucket: 'photos' }));
    const location = await s3.send(new GetBucketLocationCommand({ Bucket: 'photos' }));
    assert.ok([undefined, null, ''].includes(location.LocationConstraint as string | undefined), String(location.LocationConstraint));
    assert.deepEqual((await s3.send(new ListBucketsCommand({}))).Buckets?.map((b) => b.Name), ['photos']);
    assert.deepEqual(await s3Failure(s3.send(new CreateBucketCommand({ Bucket: 'photos' }))), { name: 'BucketAlreadyOwnedByYou', status: 409 });
    assert.equal((await s3Failure(s3.send(new HeadBucketCommand({ Bucket: 'nothing-here' })))).status, 404);
    assert.deepEqual(await s3Failure(s3.send(new GetBucketLocationCommand({ Bucket: 'nothing-here' }))), { name: 'NoSuchBucket', status: 404 });

    await s3.send(new CreateBucketCommand({ Bucket: 'scratch' }));
    await s3.send(new PutObjectCommand({ Bucket: 'scratch', Key: 'a/b.txt', Body: 'x' }));
    assert.deepEqual(await s3Failure(s3.send(new DeleteBucketCommand({ Bucket: 'scratch' }))), { name: 'BucketNotEmpty', status: 409 });
    await s3.send(new DeleteObjectCommand({ Bucket: 'scratch', Key: 'a/b.txt' }));
    await s3.send(new DeleteBucketCommand({ Bucket: 'scratch' }));
    assert.deepEqual(await s3Failure(s3.send(new DeleteBucketCommand({ Bucket: 'scratch' }))), { name: 'NoSuchBucket', status: 404 });
    assert.deepEqual((await s3.send(new ListBucketsCommand({}))).Buckets?.map((b) => b.Name), ['photos']);
    // Operations of later steps are refused as such, never taken for another operation.
    assert.equal((await s3Failure(s3.send(new HeadObjectCommand({ Bucket: 'photos', Key: 'big', PartNumber: 1 })))).status, 404);
    assert.equal((await native('/files/photos/copy')).status, 404);
  });

  it('objects: put (string, multi-chunk buffer, stream with the CRC32 trailer), get, range, head, delete', async () => {
    const small = 'hello, s3';
    sent.length = 0;
    const put = await s3.send(new PutObjectCommand({ Bucket: 'photos', Key: 'notes/hello.txt', Body: small, ContentType: 'text/plain' }));
    // A single put's ETag is the MD5 of its content, as S3's (`aws s3 cp` and sync compare it).
    assert.equal(put.ETag, `"${md5(small)}"`);
    const got = await s3.send(new GetObjectCommand({ Bucket: 'photos', Key: 'notes/hello.txt' }));
    assert.equal(got.ContentType, 'text/plain');
    assert.equal((await body(got)).toString(), small);
    // The SDK's defaults: a CRC32 of the body in a header, and the body's SHA-256 signed.
    assert.ok(sent[0]['x-amz-checksum-crc32'] !== undefined, JSON.stringify(sent[0]));
    assert.match(sent[0]['x-amz-content-sha256'], /^[0-9a-f]{64}$/);

    // 300 KiB: several 64 KiB chunks, streamed through the gateway (past its 256 KiB read-first size).
    const large = randomBytes(300 * 1024);
    const largePut = await s3.send(new PutObjectCommand({ Bucket: 'photos', Key: 'big/one.bin', Body: large }));
    assert.equal(largePut.ETag, `"${md5(large)}"`);
    assert.deepEqual(await body(await s3.send(new GetObjectCommand({ Bucket: 'photos', Key: 'big/one.bin' }))), large);
    const range = await s3.send(new GetObjectCommand({ Bucket: 'photos', Key: 'big/one.bin', Range: 'bytes=70000-70099' }));
    assert.equal(range.ContentRange, `bytes 70000-70099/${large.length}`);
    assert.deepEqual(await body(range), large.subarray(70000, 70100));
    assert.deepEqual(await s3Failure(s3.send(new GetObjectCommand({ Bucket: 'photos', Key: 'big/one.bin', Range: `bytes=${large.length + 5}-` }))), { name: 'InvalidRange', status: 416 });

    // A stream of known length: the SDK sends it aws-chunked with an x-amz-checksum-crc32 trailer.
    const streamed = randomBytes(100 * 1024);
    sent.length = 0;
    const fromStream = await s3.send(new PutObjectCommand({ Bucket: 'photos', Key: 'big/streamed.bin', Body: Readable.from([streamed.subarray(0, 50_000), streamed.subarray(50_000)]), ContentLength: streamed.length }));
    assert.equal(fromStream.ETag, `"${md5(streamed)}"`);
    assert.equal(sent[0]['x-amz-content-sha256'], 'STREAMING-UNSIGNED-PAYLOAD-TRAILER', JSON.stringify(sent[0]));
    assert.equal(sent[0]['x-amz-trailer'], 'x-amz-checksum-crc32');
    assert.deepEqual(await body(await s3.send(new GetObjectCommand({ Bucket: 'photos', Key: 'big/streamed.bin' }))), streamed);

    const head = await s3.send(new HeadObjectCommand({ Bucket: 'photos', Key: 'big/one.bin' }));
    assert.equal(head.ContentLength, large.length);
    assert.equal(head.ETag, `"${md5(large)}"`);
    assert.ok(head.LastModified instanceof Date);

    const empty = await s3.send(new PutObjectCommand({ Bucket: 'photos', Key: 'empty', Body: '' }));
    assert.equal(empty.ETag, `"${md5('')}"`);
    assert.equal((await body(await s3.send(new GetObjectCommand({ Bucket: 'photos', Key: 'empty' })))).length, 0);

    await s3.send(new DeleteObjectCommand({ Bucket: 'photos', Key: 'empty' }));
    assert.deepEqual(await s3Failure(s3.send(new GetObjectCommand({ Bucket: 'photos', Key: 'empty' }))), { name: 'NoSuchKey', status: 404 });
    assert.equal((await s3Failure(s3.send(new HeadObjectCommand({ Bucket: 'photos', Key: 'empty' })))).status, 404);
    await s3.send(new DeleteObjectCommand({ Bucket: 'photos', Key: 'empty' })); // gone already: still 204
  });

  it('objects in a bucket that does not exist: NoSuchBucket, and nothing stored', async () => {
    for (const send of [
      () => s3.send(new PutObjectCommand({ Bucket: 'no-bucket', Key: 'k', Body: 'x' })),
      () => s3.send(new GetObjectCommand({ Bucket: 'no-bucket', Key: 'k' })),
      () => s3.send(new DeleteObjectCommand({ Bucket: 'no-bucket', Key: 'k' })),
      () => s3.send(new ListObjectsV2Command({ Bucket: 'no-bucket' })),
    ]) assert.deepEqual(await s3Failure(send()), { name: 'NoSuchBucket', status: 404 });
    assert.equal((await native('/files/no-bucket/k')).status, 404);
    // What the gateway's PutObject relies on: the node refuses, when the put is applied, a write
    // whose bucket is gone (so a DeleteBucket between its check and its write cannot be lost).
    const refused = await native('/files/no-bucket/k', { method: 'PUT', body: 'x', headers: { 'x-dfs-require-bucket': 'no-bucket' } });
    assert.equal(refused.status, 404);
    assert.equal(((await refused.json()) as { error: { code: string } }).error.code, 'no_such_bucket');
    assert.equal((await native('/files/photos/needs-bucket', { method: 'PUT', body: 'x', headers: { 'x-dfs-require-bucket': 'photos' } })).status, 201);
  });

  it('conditional reads: If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since', async () => {
    const { ETag: etag } = await s3.send(new PutObjectCommand({ Bucket: 'photos', Key: 'cond.txt', Body: 'conditional' }));
    const past = new Date(Date.now() - 3600_000);
    const future = new Date(Date.now() + 3600_000);
    const get = (extra: Record<string, unknown>) => s3.send(new GetObjectCommand({ Bucket: 'photos', Key: 'cond.txt', ...extra }));
    assert.equal((await body(await get({ IfMatch: etag }))).toString(), 'conditional');
    assert.deepEqual(await s3Failure(get({ IfMatch: '"0000"' })), { name: 'PreconditionFailed', status: 412 });
    assert.equal((await s3Failure(get({ IfNoneMatch: etag }))).status, 304);
    assert.equal((await body(await get({ IfNoneMatch: '"0000"' }))).toString(), 'conditional');
    assert.equal((await s3Failure(get({ IfModifiedSince: future }))).status, 304);
    assert.equal((await body(await get({ IfModifiedSince: past }))).toString(), 'conditional');
    assert.deepEqual(await s3Failure(get({ IfUnmodifiedSince: past })), { name: 'PreconditionFailed', status: 412 });
    assert.equal((await body(await get({ IfUnmodifiedSince: future }))).toString(), 'conditional');
    // If-Match that holds wins over If-Unmodified-Since that does not (RFC 9110, as S3 does).
    assert.equal((await body(await get({ IfMatch: etag, IfUnmodifiedSince: past }))).toString(), 'conditional');
    assert.equal((await s3Failure(s3.send(new HeadObjectCommand({ Bucket: 'photos', Key: 'cond.txt', IfMatch: '"0000"' })))).status, 412);
  });

  it('listing: V2 with prefix, delimiter, max-keys, continuation, start-after, encoding-type=url; V1 with marker', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'listing' }));
    const keys = ['a.txt', 'dir/1', 'dir/2', 'dir/sub/3', 'e f+g.txt', 'other/x', 'other/y', 'z'];
    for (const key of keys) await s3.send(new PutObjectCommand({ Bucket: 'listing', Key: key, Body: key }));
    await native('/files/listing-not-a-bucket-file', { method: 'PUT', body: 'outside' }); // shares the prefix "listing"

    const all = await s3.send(new ListObjectsV2Command({ Bucket: 'listing' }));
    assert.deepEqual(all.Contents?.map((o) => o.Key), keys);
    assert.equal(all.KeyCount, keys.length);
    assert.equal(all.IsTruncated, false);
    assert.equal(all.Contents?.[0].Size, 'a.txt'.length);
    assert.equal(all.Contents?.[0].ETag, `"${md5('a.txt')}"`);

    const top = await s3.send(new ListObjectsV2Command({ Bucket: 'listing', Delimiter: '/' }));
    assert.deepEqual(top.Contents?.map((o) => o.Key), ['a.txt', 'e f+g.txt', 'z']);
    assert.deepEqual(top.CommonPrefixes?.map((p) => p.Prefix), ['dir/', 'other/']);
    const inDir = await s3.send(new ListObjectsV2Command({ Bucket: 'listing', Prefix: 'dir/', Delimiter: '/' }));
    assert.deepEqual(inDir.Contents?.map((o) => o.Key), ['dir/1', 'dir/2']);
    assert.deepEqual(inDir.CommonPrefixes?.map((p) => p.Prefix), ['dir/sub/']);

    // Pages of 2 (keys and common prefixes count alike), followed by their tokens.
    const pages: string[][] = [];
    let token: string | undefined;
    do {
      const page = await s3.send(new ListObjectsV2Command({ Bucket: 'listing', Delimiter: '/', MaxKeys: 2, ContinuationToken: token }));
      pages.push([...(page.Contents ?? []).map((o) => o.Key!), ...(page.CommonPrefixes ?? []).map((p) => p.Prefix!)].sort());
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
      assert.ok(pages.length < 10);
    } while (token !== undefined);
    assert.deepEqual(pages, [['a.txt', 'dir/'], ['e f+g.txt', 'other/'], ['z']]);

    const afterDir = await s3.send(new ListObjectsV2Command({ Bucket: 'listing', StartAfter: 'dir/2' }));
    assert.deepEqual(afterDir.Contents?.map((o) => o.Key), ['dir/sub/3', 'e f+g.txt', 'other/x', 'other/y', 'z']);
    const encoded = await s3.send(new ListObjectsV2Command({ Bucket: 'listing', Prefix: 'e ', EncodingType: 'url' }));
    assert.deepEqual(encoded.Contents?.map((o) => decodeURIComponent(o.Key!)), ['e f+g.txt']);
    assert.notEqual(encoded.Contents?.[0].Key, 'e f+g.txt', 'the key comes URL-encoded');
    assert.deepEqual((await s3.send(new ListObjectsV2Command({ Bucket: 'listing', MaxKeys: 0 }))).KeyCount, 0);
    assert.deepEqual(await s3Failure(s3.send(new ListObjectsV2Command({ Bucket: 'listing', ContinuationToken: '%%%' }))), { name: 'InvalidArgument', status: 400 });

    const v1 = await s3.send(new ListObjectsCommand({ Bucket: 'listing', MaxKeys: 3 }));
    assert.deepEqual(v1.Contents?.map((o) => o.Key), ['a.txt', 'dir/1', 'dir/2']);
    assert.equal(v1.IsTruncated, true);
    // A marker inside a common prefix: the keys after it still roll up into that prefix.
    const v1next = await s3.send(new ListObjectsCommand({ Bucket: 'listing', Marker: 'dir/2', Delimiter: '/' }));
    assert.deepEqual(v1next.Contents?.map((o) => o.Key), ['e f+g.txt', 'z']);
    assert.deepEqual(v1next.CommonPrefixes?.map((p) => p.Prefix), ['dir/', 'other/']);
    const v1cut = await s3.send(new ListObjectsCommand({ Bucket: 'listing', Delimiter: '/', MaxKeys: 2 }));
    assert.equal(v1cut.NextMarker, 'dir/');
    const v1rest = await s3.send(new ListObjectsCommand({ Bucket: 'listing', Delimiter: '/', Marker: v1cut.NextMarker }));
    assert.deepEqual(v1rest.Contents?.map((o) => o.Key), ['e f+g.txt', 'z']);
    assert.deepEqual(v1rest.CommonPrefixes?.map((p) => p.Prefix), ['other/']);
  });

  it('presigned GET and PUT work; an expired one is refused', async () => {
    const put = await getSignedUrl(s3, new PutObjectCommand({ Bucket: 'photos', Key: 'presigned/up.txt' }), { expiresIn: 60 });
    const uploaded = await fetch(put, { method: 'PUT', body: 'sent with a presigned URL' });
    assert.equal(uploaded.status, 200, await uploaded.text());
    const get = await getSignedUrl(s3, new GetObjectCommand({ Bucket: 'photos', Key: 'presigned/up.txt' }), { expiresIn: 60 });
    const fetched = await fetch(get);
    assert.equal(fetched.status, 200);
    assert.equal(await fetched.text(), 'sent with a presigned URL');
    const expired = await getSignedUrl(s3, new GetObjectCommand({ Bucket: 'photos', Key: 'presigned/up.txt' }), { expiresIn: 1, signingDate: new Date(Date.now() - 10_000) });
    const refused = await fetch(expired);
    assert.equal(refused.status, 403);
    assert.match(await refused.text(), /<Code>AccessDenied<\/Code>[\s\S]*Request has expired/);
    const expiredPut = await getSignedUrl(s3, new PutObjectCommand({ Bucket: 'photos', Key: 'presigned/late.txt' }), { expiresIn: 1, signingDate: new Date(Date.now() - 10_000) });
    assert.equal((await fetch(expiredPut, { method: 'PUT', body: 'late' })).status, 403);
    assert.equal((await native('/files/photos/presigned/late.txt')).status, 404);
  });

  it('the native API and S3 see the same files', async () => {
    const written = await native('/files/photos/from-native.txt', { method: 'PUT', body: 'native bytes', headers: { 'content-type': 'text/x-native' } });
    assert.equal(written.status, 201);
    const got = await s3.send(new GetObjectCommand({ Bucket: 'photos', Key: 'from-native.txt' }));
    assert.equal((await body(got)).toString(), 'native bytes');
    assert.equal(got.ContentType, 'text/x-native');
    await s3.send(new PutObjectCommand({ Bucket: 'photos', Key: 'from-s3/file.bin', Body: 'S3 bytes' }));
    const read = await native('/files/photos/from-s3/file.bin');
    assert.equal(read.status, 200);
    assert.equal(await read.text(), 'S3 bytes');
    const listed = await (await native('/files?prefix=photos/from-')).json() as { files: { name: string }[] };
    assert.deepEqual(listed.files.map((f) => f.name), ['photos/from-native.txt', 'photos/from-s3/file.bin']);
    const metrics = await (await native('/metrics')).text();
    assert.match(metrics, /dfs_gateway_s3_requests_total\{operation="PutObject",status="200"\} [1-9]/);
  });

  it('ETags: MD5 for S3 puts (also in listings, versions, If-Match), SHA-256 for what a native client wrote; native answers keep the SHA-256', async () => {
    const content = randomBytes(150_000); // chunked, not inline
    const put = await s3.send(new PutObjectCommand({ Bucket: 'photos', Key: 'etags/s3.bin', Body: content }));
    assert.equal(put.ETag, `"${md5(content)}"`);
    const sha256 = createHash('sha256').update(content).digest('hex');
    // The native API: SHA-256 ETag and JSON as before; the S3 ETag only as an extra header.
    const nativeRead = await native('/files/photos/etags/s3.bin', { method: 'HEAD' });
    assert.equal(nativeRead.headers.get('etag'), `"${sha256}"`);
    assert.equal(nativeRead.headers.get('x-dfs-s3-etag'), put.ETag);
    const nativeList = (await (await native('/files?prefix=photos/etags/')).json()) as { files: Record<string, unknown>[] };
    assert.deepEqual(Object.keys(nativeList.files[0]!).sort(), ['contentType', 'etag', 'modified', 'name', 'size', 'version']);
    assert.equal(nativeList.files[0]!.etag, sha256);
    // S3 reads, listings and version listings give the MD5.
    assert.equal((await s3.send(new HeadObjectCommand({ Bucket: 'photos', Key: 'etags/s3.bin' }))).ETag, put.ETag);
    assert.equal((await s3.send(new ListObjectsV2Command({ Bucket: 'photos', Prefix: 'etags/' }))).Contents?.[0]?.ETag, put.ETag);
    assert.equal((await s3.send(new ListObjectVersionsCommand({ Bucket: 'photos', Prefix: 'etags/' }))).Versions?.[0]?.ETag, put.ETag);
    // Conditional writes and reads compare with the MD5 ETag.
    assert.deepEqual(await s3Failure(s3.send(new PutObjectCommand({ Bucket: 'photos', Key: 'etags/s3.bin', Body: 'next', IfMatch: '"0123456789abcdef0123456789abcdef"' }))), { name: 'PreconditionFailed', status: 412 });
    const next = await s3.send(new PutObjectCommand({ Bucket: 'photos', Key: 'etags/s3.bin', Body: 'next', IfMatch: put.ETag }));
    assert.equal(next.ETag, `"${md5('next')}"`);
    assert.equal((await s3Failure(s3.send(new GetObjectCommand({ Bucket: 'photos', Key: 'etags/s3.bin', IfNoneMatch: next.ETag })))).status, 304);
    // A file a native client wrote has no MD5: S3 shows its SHA-256, as before.
    assert.equal((await native('/files/photos/etags/native.txt', { method: 'PUT', body: 'native' })).status, 201);
    const head = await s3.send(new HeadObjectCommand({ Bucket: 'photos', Key: 'etags/native.txt' }));
    assert.equal(head.ETag, `"${createHash('sha256').update('native').digest('hex')}"`);
  });

  it('refuses a wrong secret, a tampered signature, a tampered body, a bad checksum: nothing is stored', async () => {
    const wrong = client('not-the-secret');
    assert.deepEqual(await s3Failure(wrong.send(new PutObjectCommand({ Bucket: 'photos', Key: 'refused/wrong-secret', Body: 'x' }))), { name: 'SignatureDoesNotMatch', status: 403 });
    wrong.destroy();
    const stranger = new S3Client({ endpoint, region, forcePathStyle: true, credentials: { accessKeyId: 'SOMEONEELSE', secretAccessKey }, maxAttempts: 1 });
    assert.deepEqual(await s3Failure(stranger.send(new ListBucketsCommand({}))), { name: 'InvalidAccessKeyId', status: 403 });
    stranger.destroy();

    const content = randomBytes(300 * 1024); // past the gateway's read-first size: streamed to the leader
    const hash = createHash('sha256').update(content).digest('hex');
    const good = await signed('PUT', '/photos/refused/tampered', {}, hash);
    const tamperedSignature = { ...good.headers, authorization: good.headers.authorization.replace(/Signature=(.)/, (_, c: string) => `Signature=${c === '0' ? '1' : '0'}`) };
    const bySignature = await fetch(good.url, { method: 'PUT', headers: tamperedSignature, body: content });
    assert.equal(bySignature.status, 403);
    assert.match(await bySignature.text(), /<Code>SignatureDoesNotMatch<\/Code>/);
    const changed = Buffer.from(content);
    changed[changed.length - 1] ^= 1;
    const byBody = await fetch(good.url, { method: 'PUT', headers: good.headers, body: changed });
    assert.equal(byBody.status, 400);
    assert.match(await byBody.text(), /<Code>XAmzContentSHA256Mismatch<\/Code>/);
    assert.match(await (await fetch(good.url, { method: 'PUT', headers: good.headers, body: changed })).text(), new RegExp(`<S3ComputedContentSHA256>${createHash('sha256').update(changed).digest('hex')}</S3ComputedContentSHA256>`));
    // A small body (inline in the Raft entry) and a multipart part: the node finds the mismatch too.
    const small = Buffer.from('a small signed body');
    const smallSigned = await signed('PUT', '/photos/refused/small', {}, createHash('sha256').update(small).digest('hex'));
    const bySmallBody = await fetch(smallSigned.url, { method: 'PUT', headers: smallSigned.headers, body: Buffer.from('a small signed bodY') });
    assert.equal(bySmallBody.status, 400);
    assert.match(await bySmallBody.text(), /<Code>XAmzContentSHA256Mismatch<\/Code>/);
    const upload = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'photos', Key: 'refused/parts' }));
    const partSigned = await signed('PUT', `/photos/refused/parts?partNumber=1&uploadId=${upload.UploadId}`, {}, hash);
    const byPart = await fetch(partSigned.url, { method: 'PUT', headers: partSigned.headers, body: changed });
    assert.equal(byPart.status, 400);
    assert.match(await byPart.text(), /<Code>XAmzContentSHA256Mismatch<\/Code>/);
    assert.deepEqual((await s3.send(new ListPartsCommand({ Bucket: 'photos', Key: 'refused/parts', UploadId: upload.UploadId }))).Parts ?? [], [], 'the refused part was not stored');
    assert.equal((await fetch(partSigned.url, { method: 'PUT', headers: partSigned.headers, body: content })).status, 200);
    await s3.send(new AbortMultipartUploadCommand({ Bucket: 'photos', Key: 'refused/parts', UploadId: upload.UploadId }));
    const badCrc = await signed('PUT', '/photos/refused/bad-crc', { 'x-amz-checksum-crc32': 'AAAAAA==' }, 'UNSIGNED-PAYLOAD');
    const byChecksum = await fetch(badCrc.url, { method: 'PUT', headers: badCrc.headers, body: content });
    assert.equal(byChecksum.status, 400);
    assert.match(await byChecksum.text(), /<Code>BadDigest<\/Code>/);
    // The same request, untouched, is accepted: the refusals above came from the tampering.
    assert.equal((await fetch(good.url, { method: 'PUT', headers: good.headers, body: content })).status, 200);
    assert.equal((await native('/files/photos/refused/tampered')).status, 200);
    await native('/files/photos/refused/tampered', { method: 'DELETE' });
    const stored = await (await native('/files?prefix=photos/refused/')).json() as { files: unknown[] };
    assert.deepEqual(stored.files, [], 'no refused write left a file');
  });

  it('a streaming-signed upload (STREAMING-AWS4-HMAC-SHA256-PAYLOAD): stored when every chunk signature holds, refused when one does not', async () => {
    const content = randomBytes(150 * 1024);
    const chunkBytes = 64 * 1024;
    async function upload(key: string, tamperChunk: number | null): Promise<Response> {
      const chunks: Buffer[] = [];
      for (let i = 0; i < content.length; i += chunkBytes) chunks.push(content.subarray(i, i + chunkBytes));
      chunks.push(Buffer.alloc(0));
      const encodedLength = chunks.reduce((sum, c) => sum + c.length.toString(16).length + ';chunk-signature='.length + 64 + 4 + c.length, 0) + 0;
      const date = new Date();
      const request = await signed('PUT', `/photos/${key}`, {
        'content-encoding': 'aws-chunked', 'x-amz-decoded-content-length': String(content.length), 'content-length': String(encodedLength),
        'x-amz-date': date.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, ''),
      }, 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD');
      const amzDate = request.headers['x-amz-date'];
      const scope = `${amzDate.slice(0, 8)}/${region}/s3/aws4_request`;
      let previous = /Signature=([0-9a-f]{64})/.exec(request.headers.authorization)![1];
      const parts: Buffer[] = [];
      for (const [i, chunk] of chunks.entries()) {
        const stringToSign = ['AWS4-HMAC-SHA256-PAYLOAD', amzDate, scope, previous, createHash('sha256').update('').digest('hex'), createHash('sha256').update(chunk).digest('hex')].join('\n');
        const signature = await new SignatureV4({ credentials: { accessKeyId, secretAccessKey }, region, service: 's3', sha256: NodeSha256 }).sign(stringToSign, { signingDate: date });
        const data = i === tamperChunk ? Buffer.from(chunk).fill(7, 0, 1) : chunk;
        parts.push(Buffer.from(`${chunk.length.toString(16)};chunk-signature=${signature}\r\n`), data, Buffer.from('\r\n'));
        previous = signature;
      }
      const wire = Buffer.concat(parts);
      assert.equal(wire.length, encodedLength);
      // fetch sets Content-Length itself (the same value, which the signature covers).
      const { 'content-length': _length, ...headers } = request.headers;
      return fetch(request.url, { method: 'PUT', headers, body: wire });
    }
    const stored = await upload('streaming/signed.bin', null);
    assert.equal(stored.status, 200, await stored.text());
    assert.deepEqual(await body(await s3.send(new GetObjectCommand({ Bucket: 'photos', Key: 'streaming/signed.bin' }))), content);
    const refused = await upload('streaming/tampered.bin', 1);
    assert.equal(refused.status, 403);
    assert.match(await refused.text(), /<Code>SignatureDoesNotMatch<\/Code>/);
    assert.equal((await native('/files/photos/streaming/tampered.bin')).status, 404);
  });

  it('DeleteObjects: many keys at once (the SDK sends its checksum), per-key results, Quiet, a document without a digest refused', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'bulk' }));
    const keys = ['a.txt', 'dir/b.txt', 'dir/c d.txt', 'e&f<g>.txt'];
    for (const key of keys) await s3.send(new PutObjectCommand({ Bucket: 'bulk', Key: key, Body: key }));
    const result = await s3.send(new DeleteObjectsCommand({
      Bucket: 'bulk',
      Delete: { Objects: [...keys.slice(0, 3), 'missing.txt', 'bad/../key', keys[3]!].map((Key) => ({ Key })) },
    }));
    assert.deepEqual(result.Deleted?.map((d) => d.Key), [...keys.slice(0, 3), 'missing.txt', keys[3]]);
    assert.deepEqual(result.Errors?.map((e) => [e.Key, e.Code]), [['bad/../key', 'InvalidArgument']]);
    assert.deepEqual((await s3.send(new ListObjectsV2Command({ Bucket: 'bulk' }))).Contents ?? [], []);
    for (const key of keys) assert.equal((await native(`/files/bulk/${encodeURIComponent(key).replace(/%2F/g, '/')}`)).status, 404, key);
    // The SDK's default: a CRC32 of the document (S3 requires Content-MD5 or an x-amz-checksum-*).
    const deleteSent = [...sent].reverse().find((headers) => 'x-amz-checksum-crc32' in headers || 'content-md5' in headers);
    assert.ok(deleteSent !== undefined, 'the SDK sent a digest of the document');

    await s3.send(new PutObjectCommand({ Bucket: 'bulk', Key: 'quiet.txt', Body: 'q' }));
    const quiet = await s3.send(new DeleteObjectsCommand({ Bucket: 'bulk', Delete: { Quiet: true, Objects: [{ Key: 'quiet.txt' }, { Key: 'x/./y' }] } }));
    assert.equal(quiet.Deleted, undefined);
    assert.deepEqual(quiet.Errors?.map((e) => e.Key), ['x/./y']);
    assert.equal((await native('/files/bulk/quiet.txt')).status, 404);

    assert.deepEqual(await s3Failure(s3.send(new DeleteObjectsCommand({ Bucket: 'no-bucket', Delete: { Objects: [{ Key: 'k' }] } }))), { name: 'NoSuchBucket', status: 404 });

    // Without Content-MD5 or a checksum S3 refuses the document; with a wrong Content-MD5 too.
    await s3.send(new PutObjectCommand({ Bucket: 'bulk', Key: 'kept.txt', Body: 'k' }));
    const document = '<Delete><Object><Key>kept.txt</Key></Object></Delete>';
    const hash = createHash('sha256').update(document).digest('hex');
    const post = async (headers: Record<string, string>): Promise<Response> => {
      const request = await signed('POST', '/bulk?delete', { 'content-length': String(document.length), ...headers }, hash);
      // fetch sets Content-Length itself (the same value, which the signature covers).
      const { 'content-length': _length, ...rest } = request.headers;
      return fetch(request.url, { method: 'POST', headers: rest, body: document });
    };
    const refused = await post({});
    assert.equal(refused.status, 400);
    assert.match(await refused.text(), /<Code>InvalidRequest<\/Code>/);
    const bad = await post({ 'content-md5': createHash('md5').update('other').digest('base64') });
    assert.equal(bad.status, 400);
    assert.match(await bad.text(), /<Code>BadDigest<\/Code>/);
    assert.equal((await native('/files/bulk/kept.txt')).status, 200);
    const ok = await post({ 'content-md5': createHash('md5').update(document).digest('base64') });
    assert.equal(ok.status, 200);
    // A versioned bucket's delete leaves a delete marker, version 2 of kept.txt.
    assert.match(await ok.text(), /<Deleted><Key>kept.txt<\/Key><DeleteMarker>true<\/DeleteMarker><DeleteMarkerVersionId>2<\/DeleteMarkerVersionId><\/Deleted>/);
    assert.equal((await native('/files/bulk/kept.txt')).status, 404);
  });

  it('versions: GetBucketVersioning, version ids on put/get/head, ListObjectVersions with markers and a delimiter', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'history' }));
    assert.equal((await s3.send(new GetBucketVersioningCommand({ Bucket: 'history' }))).Status, 'Enabled');
    assert.deepEqual(await s3Failure(s3.send(new GetBucketVersioningCommand({ Bucket: 'no-bucket' }))), { name: 'NoSuchBucket', status: 404 });
    const ids: string[] = [];
    for (const text of ['one', 'two!', 'three']) {
      const put = await s3.send(new PutObjectCommand({ Bucket: 'history', Key: 'doc.txt', Body: text }));
      ids.push(put.VersionId!);
    }
    assert.deepEqual(ids, ['1', '2', '3']);
    await s3.send(new PutObjectCommand({ Bucket: 'history', Key: 'dir/a', Body: 'a' }));
    await s3.send(new PutObjectCommand({ Bucket: 'history', Key: 'z', Body: 'z' }));

    const old = await s3.send(new GetObjectCommand({ Bucket: 'history', Key: 'doc.txt', VersionId: '2' }));
    assert.equal((await body(old)).toString(), 'two!');
    assert.equal(old.VersionId, '2');
    const latest = await s3.send(new GetObjectCommand({ Bucket: 'history', Key: 'doc.txt' }));
    assert.equal((await body(latest)).toString(), 'three');
    assert.equal(latest.VersionId, '3');
    const head = await s3.send(new HeadObjectCommand({ Bucket: 'history', Key: 'doc.txt', VersionId: '1' }));
    assert.equal(head.ContentLength, 3);
    assert.equal(head.VersionId, '1');
    assert.deepEqual(await s3Failure(s3.send(new GetObjectCommand({ Bucket: 'history', Key: 'doc.txt', VersionId: '9' }))), { name: 'NoSuchVersion', status: 404 });
    assert.deepEqual(await s3Failure(s3.send(new GetObjectCommand({ Bucket: 'history', Key: 'doc.txt', VersionId: 'abc' }))), { name: 'InvalidArgument', status: 400 });

    const all = await s3.send(new ListObjectVersionsCommand({ Bucket: 'history' }));
    assert.deepEqual(all.Versions?.map((v) => [v.Key, v.VersionId, v.IsLatest, v.Size]), [
      ['dir/a', '1', true, 1], ['doc.txt', '3', true, 5], ['doc.txt', '2', false, 4], ['doc.txt', '1', false, 3], ['z', '1', true, 1],
    ]);
    assert.equal(all.IsTruncated, false);
    assert.equal(all.DeleteMarkers, undefined);
    const top = await s3.send(new ListObjectVersionsCommand({ Bucket: 'history', Delimiter: '/' }));
    assert.deepEqual(top.CommonPrefixes?.map((p) => p.Prefix), ['dir/']);
    assert.deepEqual(top.Versions?.map((v) => `${v.Key}@${v.VersionId}`), ['doc.txt@3', 'doc.txt@2', 'doc.txt@1', 'z@1']);
    // Pages of two, followed by their markers, as clients page.
    const paged: string[] = [];
    let keyMarker: string | undefined;
    let versionIdMarker: string | undefined;
    for (let page = 0; page < 10; page++) {
      const out = await s3.send(new ListObjectVersionsCommand({ Bucket: 'history', MaxKeys: 2, KeyMarker: keyMarker, VersionIdMarker: versionIdMarker }));
      paged.push(...(out.Versions ?? []).map((v) => `${v.Key}@${v.VersionId}`));
      if (out.IsTruncated !== true) break;
      keyMarker = out.NextKeyMarker;
      versionIdMarker = out.NextVersionIdMarker;
    }
    assert.deepEqual(paged, ['dir/a@1', 'doc.txt@3', 'doc.txt@2', 'doc.txt@1', 'z@1']);

    // A delete leaves a delete marker in front of the key's versions (s3-delete-markers.test.ts has the rest).
    const deleted = await s3.send(new DeleteObjectCommand({ Bucket: 'history', Key: 'doc.txt' }));
    assert.equal(deleted.DeleteMarker, true);
    assert.equal(deleted.VersionId, '4');
    const afterDelete = await s3.send(new ListObjectVersionsCommand({ Bucket: 'history', Prefix: 'doc' }));
    assert.deepEqual(afterDelete.Versions?.map((v) => `${v.VersionId}${v.IsLatest ? '*' : ''}`), ['3', '2', '1']);
    assert.deepEqual(afterDelete.DeleteMarkers?.map((m) => `${m.VersionId}${m.IsLatest ? '*' : ''}`), ['4*']);
    assert.equal((await body(await s3.send(new GetObjectCommand({ Bucket: 'history', Key: 'doc.txt', VersionId: '2' })))).toString(), 'two!');
  });

  it('deleting one version (DeleteObject and DeleteObjects with a VersionId): the newest left becomes current; the last one ends the key', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'pruned' }));
    for (const text of ['v1', 'v2 text', 'v3 longer text']) await s3.send(new PutObjectCommand({ Bucket: 'pruned', Key: 'k', Body: text }));
    const versionsOf = async () => (await s3.send(new ListObjectVersionsCommand({ Bucket: 'pruned' }))).Versions?.map((v) => `${v.VersionId}${v.IsLatest ? '*' : ''}`) ?? [];

    const middle = await s3.send(new DeleteObjectCommand({ Bucket: 'pruned', Key: 'k', VersionId: '2' }));
    assert.equal(middle.VersionId, '2');
    assert.deepEqual(await versionsOf(), ['3*', '1']);
    assert.equal((await body(await s3.send(new GetObjectCommand({ Bucket: 'pruned', Key: 'k' })))).toString(), 'v3 longer text');

    await s3.send(new DeleteObjectCommand({ Bucket: 'pruned', Key: 'k', VersionId: '3' }));
    assert.deepEqual(await versionsOf(), ['1*']);
    const now = await s3.send(new GetObjectCommand({ Bucket: 'pruned', Key: 'k' }));
    assert.equal((await body(now)).toString(), 'v1');
    assert.equal(now.VersionId, '1');
    // A version that is not there counts as deleted, as a key that is not there does.
    await s3.send(new DeleteObjectCommand({ Bucket: 'pruned', Key: 'k', VersionId: '3' }));
    assert.deepEqual(await s3Failure(s3.send(new DeleteObjectCommand({ Bucket: 'pruned', Key: 'k', VersionId: 'x1' }))), { name: 'InvalidArgument', status: 400 });

    const batch = await s3.send(new DeleteObjectsCommand({ Bucket: 'pruned', Delete: { Objects: [{ Key: 'k', VersionId: '1' }] } }));
    assert.deepEqual(batch.Deleted?.map((d) => [d.Key, d.VersionId]), [['k', '1']]);
    assert.equal(batch.Errors, undefined);
    assert.deepEqual(await versionsOf(), []);
    assert.deepEqual(await s3Failure(s3.send(new GetObjectCommand({ Bucket: 'pruned', Key: 'k' }))), { name: 'NoSuchKey', status: 404 });
    // The version numbers go on after the key was deleted.
    assert.equal((await s3.send(new PutObjectCommand({ Bucket: 'pruned', Key: 'k', Body: 'again' }))).VersionId, '4');

    // The native API: DELETE ?version=N, 404 no_such_version for one that is not kept.
    assert.equal((await native('/files/pruned/k?version=4', { method: 'DELETE' })).status, 204);
    const missing = await native('/files/pruned/k?version=4', { method: 'DELETE' });
    assert.equal(missing.status, 404);
    assert.equal(((await missing.json()) as { error: { code: string } }).error.code, 'no_such_version');
  });

  it('CopyObject: same chunks, no data copied; COPY/REPLACE Content-Type, a source version, x-amz-copy-source-if-*; the native copy route', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'originals' }));
    await s3.send(new CreateBucketCommand({ Bucket: 'copies' }));
    const first = randomBytes(200_000); // several 64 KiB chunks
    const put = await s3.send(new PutObjectCommand({ Bucket: 'originals', Key: 'src/a b.bin', Body: first, ContentType: 'application/x-first' }));
    const copied = await s3.send(new CopyObjectCommand({ Bucket: 'copies', Key: 'dst.bin', CopySource: `originals/${encodeURIComponent('src/a b.bin')}` }));
    assert.equal(copied.CopyObjectResult?.ETag, put.ETag);
    assert.equal(copied.CopySourceVersionId, '1');
    assert.equal(copied.VersionId, '1');
    const got = await s3.send(new GetObjectCommand({ Bucket: 'copies', Key: 'dst.bin' }));
    assert.equal(got.ContentType, 'application/x-first');
    assert.deepEqual(await body(got), first);
    // The same chunks, in the same order: the copy is metadata only.
    const chunksOf = async (path: string) => ((await (await native(`${path}?versions`)).json()) as { versions: { chunks: string[] }[] }).versions[0]!.chunks;
    const sourceChunks = await chunksOf('/files/originals/src/a%20b.bin');
    assert.ok(sourceChunks.length >= 3, `chunks: ${sourceChunks.length}`);
    assert.deepEqual(await chunksOf('/files/copies/dst.bin'), sourceChunks);

    // REPLACE takes the request's Content-Type; an older source version by versionId.
    await s3.send(new PutObjectCommand({ Bucket: 'originals', Key: 'src/a b.bin', Body: 'second version' }));
    const replaced = await s3.send(new CopyObjectCommand({
      Bucket: 'copies', Key: 'old.bin', CopySource: `originals/${encodeURIComponent('src/a b.bin')}?versionId=1`, MetadataDirective: 'REPLACE', ContentType: 'text/x-replaced',
    }));
    assert.equal(replaced.CopySourceVersionId, '1');
    const old = await s3.send(new GetObjectCommand({ Bucket: 'copies', Key: 'old.bin' }));
    assert.equal(old.ContentType, 'text/x-replaced');
    assert.deepEqual(await body(old), first);

    // Conditions on the source: 412 when they fail, and nothing written.
    const source = `originals/${encodeURIComponent('src/a b.bin')}`;
    const current = await s3.send(new HeadObjectCommand({ Bucket: 'originals', Key: 'src/a b.bin' }));
    for (const condition of [{ CopySourceIfMatch: '"0000"' }, { CopySourceIfNoneMatch: current.ETag }, { CopySourceIfUnmodifiedSince: new Date(Date.now() - 3_600_000) }, { CopySourceIfModifiedSince: new Date(Date.now() + 3_600_000) }]) {
      assert.deepEqual(await s3Failure(s3.send(new CopyObjectCommand({ Bucket: 'copies', Key: 'cond.bin', CopySource: source, ...condition }))), { name: 'PreconditionFailed', status: 412 }, JSON.stringify(condition));
    }
    assert.equal((await native('/files/copies/cond.bin')).status, 404);
    await s3.send(new CopyObjectCommand({ Bucket: 'copies', Key: 'cond.bin', CopySource: source, CopySourceIfMatch: current.ETag }));
    assert.equal((await body(await s3.send(new GetObjectCommand({ Bucket: 'copies', Key: 'cond.bin' })))).toString(), 'second version');

    // Refusals: onto itself unchanged, a missing source, version, bucket.
    assert.deepEqual(await s3Failure(s3.send(new CopyObjectCommand({ Bucket: 'originals', Key: 'src/a b.bin', CopySource: source }))), { name: 'InvalidRequest', status: 400 });
    assert.deepEqual(await s3Failure(s3.send(new CopyObjectCommand({ Bucket: 'copies', Key: 'x', CopySource: 'originals/nothing' }))), { name: 'NoSuchKey', status: 404 });
    assert.deepEqual(await s3Failure(s3.send(new CopyObjectCommand({ Bucket: 'copies', Key: 'x', CopySource: `${source}?versionId=9` }))), { name: 'NoSuchVersion', status: 404 });
    assert.deepEqual(await s3Failure(s3.send(new CopyObjectCommand({ Bucket: 'copies', Key: 'x', CopySource: 'no-bucket/k' }))), { name: 'NoSuchBucket', status: 404 });
    assert.deepEqual(await s3Failure(s3.send(new CopyObjectCommand({ Bucket: 'no-bucket', Key: 'x', CopySource: source }))), { name: 'NoSuchBucket', status: 404 });
    // Onto itself from an older version: a restore, allowed.
    const restored = await s3.send(new CopyObjectCommand({ Bucket: 'originals', Key: 'src/a b.bin', CopySource: `${source}?versionId=1` }));
    assert.equal(restored.VersionId, '3');

    // The copy keeps its bytes when the source goes.
    await s3.send(new DeleteObjectCommand({ Bucket: 'originals', Key: 'src/a b.bin' }));
    assert.deepEqual(await body(await s3.send(new GetObjectCommand({ Bucket: 'copies', Key: 'dst.bin' }))), first);

    // The native route the S3 copy uses.
    const nativeCopy = await native('/files/copies/native-copy.bin', { method: 'PUT', headers: { 'X-DFS-Copy-Source': 'copies/dst.bin' } });
    assert.equal(nativeCopy.status, 201, await nativeCopy.clone().text());
    assert.equal(nativeCopy.headers.get('x-dfs-copy-source-version'), '1');
    assert.equal(((await nativeCopy.json()) as { etag: string }).etag, createHash('sha256').update(first).digest('hex'));
    assert.equal(nativeCopy.headers.get('x-dfs-s3-etag'), put.ETag);
    const missing = await native('/files/copies/n2', { method: 'PUT', headers: { 'X-DFS-Copy-Source': 'copies/none' } });
    assert.equal(missing.status, 404);
    assert.equal(((await missing.json()) as { error: { code: string } }).error.code, 'no_such_source');
    const withBody = await native('/files/copies/n3', { method: 'PUT', headers: { 'X-DFS-Copy-Source': 'copies/dst.bin' }, body: 'x' });
    assert.equal(withBody.status, 400);
    assert.equal((await native('/files/copies/n3')).status, 404);
  });
});
