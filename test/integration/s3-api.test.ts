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
  CreateBucketCommand, DeleteBucketCommand, DeleteObjectCommand, GetBucketLocationCommand, GetObjectCommand, HeadBucketCommand,
  HeadObjectCommand, ListBucketsCommand, ListObjectsCommand, ListObjectsV2Command, PutObjectCommand, S3Client, S3ServiceException,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { SignatureV4 } from '@smithy/signature-v4';
import { freePorts, sleep } from '../support/cluster.ts';
import { GatewayCluster } from '../support/gateway-cluster.ts';

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
async function s3Failure(promise: Promise<unknown>): Promise<{ name: string; status: number | undefined }> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof S3ServiceException, `an S3 error, got ${String(err)}`);
    return { name: err.name, status: err.$metadata.httpStatusCode };
  }
  assert.fail('the request succeeded');
}

async function body(output: { Body?: { transformToByteArray(): Promise<Uint8Array> } }): Promise<Buffer> {
  return Buffer.from(await output.Body!.transformToByteArray());
}

/** The native API's view of a file, through the same gateway. */
function native(path: string, init?: RequestInit): Promise<Response> {
  return fetch(`${cluster.url}${path}`, init);
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
    assert.ok(location.LocationConstraint === undefined || location.LocationConstraint === '' || location.LocationConstraint === null);
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
  });

  it('objects: put (string, multi-chunk buffer, stream with the CRC32 trailer), get, range, head, delete', async () => {
    const small = 'hello, s3';
    sent.length = 0;
    const put = await s3.send(new PutObjectCommand({ Bucket: 'photos', Key: 'notes/hello.txt', Body: small, ContentType: 'text/plain' }));
    assert.equal(put.ETag, `"${createHash('sha256').update(small).digest('hex')}"`);
    const got = await s3.send(new GetObjectCommand({ Bucket: 'photos', Key: 'notes/hello.txt' }));
    assert.equal(got.ContentType, 'text/plain');
    assert.equal((await body(got)).toString(), small);
    // The SDK's defaults: a CRC32 of the body in a header, and the body's SHA-256 signed.
    assert.ok(sent[0]['x-amz-checksum-crc32'] !== undefined, JSON.stringify(sent[0]));
    assert.match(sent[0]['x-amz-content-sha256'], /^[0-9a-f]{64}$/);

    // 300 KiB: several 64 KiB chunks, streamed through the gateway (past its 256 KiB read-first size).
    const large = randomBytes(300 * 1024);
    await s3.send(new PutObjectCommand({ Bucket: 'photos', Key: 'big/one.bin', Body: large }));
    assert.deepEqual(await body(await s3.send(new GetObjectCommand({ Bucket: 'photos', Key: 'big/one.bin' }))), large);
    const range = await s3.send(new GetObjectCommand({ Bucket: 'photos', Key: 'big/one.bin', Range: 'bytes=70000-70099' }));
    assert.equal(range.ContentRange, `bytes 70000-70099/${large.length}`);
    assert.deepEqual(await body(range), large.subarray(70000, 70100));
    assert.deepEqual(await s3Failure(s3.send(new GetObjectCommand({ Bucket: 'photos', Key: 'big/one.bin', Range: `bytes=${large.length + 5}-` }))), { name: 'InvalidRange', status: 416 });

    // A stream of known length: the SDK sends it aws-chunked with an x-amz-checksum-crc32 trailer.
    const streamed = randomBytes(100 * 1024);
    sent.length = 0;
    const fromStream = await s3.send(new PutObjectCommand({ Bucket: 'photos', Key: 'big/streamed.bin', Body: Readable.from([streamed.subarray(0, 50_000), streamed.subarray(50_000)]), ContentLength: streamed.length }));
    assert.equal(fromStream.ETag, `"${createHash('sha256').update(streamed).digest('hex')}"`);
    assert.equal(sent[0]['x-amz-content-sha256'], 'STREAMING-UNSIGNED-PAYLOAD-TRAILER', JSON.stringify(sent[0]));
    assert.equal(sent[0]['x-amz-trailer'], 'x-amz-checksum-crc32');
    assert.deepEqual(await body(await s3.send(new GetObjectCommand({ Bucket: 'photos', Key: 'big/streamed.bin' }))), streamed);

    const head = await s3.send(new HeadObjectCommand({ Bucket: 'photos', Key: 'big/one.bin' }));
    assert.equal(head.ContentLength, large.length);
    assert.equal(head.ETag, `"${createHash('sha256').update(large).digest('hex')}"`);
    assert.ok(head.LastModified instanceof Date);

    const empty = await s3.send(new PutObjectCommand({ Bucket: 'photos', Key: 'empty', Body: '' }));
    assert.equal(empty.ETag, `"${createHash('sha256').update('').digest('hex')}"`);
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
});
