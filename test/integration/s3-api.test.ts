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

function client(secret = secretAccessKey): S3Client {
  return new S3Client({ endpoint, region, forcePathStyle: true, credentials: { accessKeyId, secretAccessKey: secret }, maxAttempts: 3 });
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
});
