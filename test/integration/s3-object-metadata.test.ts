// What an S3 object keeps beside its bytes, end to end through the AWS SDK (@aws-sdk/client-s3,
// default settings) against three nodes and a gateway: `x-amz-meta-*` user metadata and the
// standard headers (Cache-Control, Content-Disposition, Content-Encoding, Content-Language,
// Expires) through PutObject, HeadObject, GetObject (per version too), CopyObject COPY and
// REPLACE and multipart uploads; S3's 2 KB limit (MetadataTooLarge); the native API's view.
// GetObject and HeadObject by partNumber (the bytes of one part of a multipart object).
// Virtual-host style addressing (--s3-domain): the SDK without forcePathStyle, its requests sent
// to 127.0.0.1 with the Host it signed (`<bucket>.s3.test:<port>`).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import {
  CompleteMultipartUploadCommand, DeleteObjectCommand, ListObjectsV2Command, CopyObjectCommand, CreateBucketCommand, CreateMultipartUploadCommand, GetObjectCommand, HeadObjectCommand,
  PutObjectCommand, S3Client, UploadPartCommand,
} from '@aws-sdk/client-s3';
import { freePorts, sleep } from '../support/cluster.ts';
import { GatewayCluster } from '../support/gateway-cluster.ts';
import { s3Failure } from '../support/s3-failure.ts';

const accessKeyId = 'TESTROOTKEY';
const secretAccessKey = randomBytes(24).toString('base64url');
const region = 'us-east-1';
const MiB = 1024 * 1024;
/** The --s3-domain; nothing resolves it: the requests go to 127.0.0.1 with it as their Host. */
const domain = 's3.test';

let cluster: GatewayCluster;
let s3Port: number;
let s3: S3Client;

async function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

async function body(output: { Body?: { transformToByteArray(): Promise<Uint8Array> } }): Promise<Buffer> {
  return Buffer.from(await output.Body!.transformToByteArray());
}

/** What an object's HeadObject or GetObject says of its stored headers. */
function storedOf(output: { Metadata?: Record<string, string>; CacheControl?: string; ContentDisposition?: string; ContentEncoding?: string; ContentLanguage?: string; ExpiresString?: string }) {
  return {
    metadata: output.Metadata ?? {},
    cacheControl: output.CacheControl,
    contentDisposition: output.ContentDisposition,
    contentEncoding: output.ContentEncoding,
    contentLanguage: output.ContentLanguage,
    expires: output.ExpiresString,
  };
}

const expires = new Date(Date.UTC(2030, 0, 2, 3, 4, 5));
const full = {
  Metadata: { colour: 'blue', 'Mixed-Case': 'Value With  Spaces' },
  CacheControl: 'max-age=60, public',
  ContentDisposition: 'attachment; filename="report.txt"',
  ContentEncoding: 'identity',
  ContentLanguage: 'fr-CA',
  Expires: expires,
};
const fullStored = {
  // S3 (and the SDK) give metadata names in lowercase.
  metadata: { colour: 'blue', 'mixed-case': 'Value With  Spaces' },
  cacheControl: 'max-age=60, public',
  contentDisposition: 'attachment; filename="report.txt"',
  contentEncoding: 'identity',
  contentLanguage: 'fr-CA',
  expires: expires.toUTCString(),
};
const nothingStored = { metadata: {}, cacheControl: undefined, contentDisposition: undefined, contentEncoding: undefined, contentLanguage: undefined, expires: undefined };

before(async () => {
  [s3Port] = await freePorts(1);
  cluster = await GatewayCluster.start({
    storage: { flags: ['--chunk-size', '1MiB', '--inline-max', '4KiB'] },
    gatewayFlags: ['--s3-port', String(s3Port), '--s3-domain', domain],
    gatewayEnv: { DFS_S3_ACCESS_KEY_ID: accessKeyId, DFS_S3_SECRET_ACCESS_KEY: secretAccessKey },
  });
  const deadline = Date.now() + 30_000;
  while (!(await portOpen(s3Port))) {
    if (Date.now() > deadline) throw new Error(`the S3 port ${s3Port} never opened`);
    await sleep(50);
  }
  s3 = new S3Client({ endpoint: `http://127.0.0.1:${s3Port}`, region, forcePathStyle: true, credentials: { accessKeyId, secretAccessKey }, maxAttempts: 3 });
  await s3.send(new CreateBucketCommand({ Bucket: 'meta' }));
});

after(async () => {
  s3?.destroy();
  await cluster?.stopAll();
});

describe('S3 object metadata', () => {
  it('PutObject keeps x-amz-meta-* and the standard headers; HeadObject and GetObject (per version) give them back', async () => {
    await s3.send(new PutObjectCommand({ Bucket: 'meta', Key: 'doc.txt', Body: 'first', ContentType: 'text/plain', ...full }));
    const head = await s3.send(new HeadObjectCommand({ Bucket: 'meta', Key: 'doc.txt' }));
    assert.deepEqual(storedOf(head), fullStored);
    assert.equal(head.ContentType, 'text/plain');
    const got = await s3.send(new GetObjectCommand({ Bucket: 'meta', Key: 'doc.txt' }));
    assert.deepEqual(storedOf(got), fullStored);
    assert.equal((await body(got)).toString(), 'first');

    // A second version with other metadata; the first keeps its own.
    const second = await s3.send(new PutObjectCommand({ Bucket: 'meta', Key: 'doc.txt', Body: 'second', Metadata: { colour: 'red' } }));
    assert.deepEqual(storedOf(await s3.send(new HeadObjectCommand({ Bucket: 'meta', Key: 'doc.txt' }))), { ...nothingStored, metadata: { colour: 'red' } });
    assert.deepEqual(storedOf(await s3.send(new HeadObjectCommand({ Bucket: 'meta', Key: 'doc.txt', VersionId: '1' }))), fullStored);
    const old = await s3.send(new GetObjectCommand({ Bucket: 'meta', Key: 'doc.txt', VersionId: '1' }));
    assert.deepEqual(storedOf(old), fullStored);
    assert.equal((await body(old)).toString(), 'first');
    assert.equal(second.VersionId, '2');

    // response-* overrides still win over what is stored.
    const overridden = await s3.send(new GetObjectCommand({ Bucket: 'meta', Key: 'doc.txt', VersionId: '1', ResponseCacheControl: 'no-store' }));
    assert.equal(overridden.CacheControl, 'no-store');
    await body(overridden);

    // The native API: the same headers, user metadata as X-DFS-Meta-*.
    const native = await fetch(`${cluster.url}/files/meta/doc.txt?version=1`, { method: 'HEAD' });
    assert.equal(native.headers.get('x-dfs-meta-colour'), 'blue');
    assert.equal(native.headers.get('x-dfs-meta-mixed-case'), 'Value With  Spaces');
    assert.equal(native.headers.get('cache-control'), 'max-age=60, public');
    assert.equal(native.headers.get('content-language'), 'fr-CA');
  });

  it('a streamed (aws-chunked) upload keeps its own Content-Encoding, not the upload\'s framing', async () => {
    const content = randomBytes(50_000);
    const send = (key: string, extra: { ContentEncoding?: string }) =>
      s3.send(new PutObjectCommand({ Bucket: 'meta', Key: key, Body: Readable.from([content.subarray(0, 20_000), content.subarray(20_000)]), ContentLength: content.length, ...extra }));
    await send('streamed-plain.bin', {});
    await send('streamed-gzip.bin', { ContentEncoding: 'gzip' });
    assert.equal((await s3.send(new HeadObjectCommand({ Bucket: 'meta', Key: 'streamed-plain.bin' }))).ContentEncoding, undefined);
    const gz = await s3.send(new GetObjectCommand({ Bucket: 'meta', Key: 'streamed-gzip.bin' }));
    assert.equal(gz.ContentEncoding, 'gzip');
    assert.ok((await body(gz)).equals(content), 'the bytes as stored, not decoded');
  });

  it('CopyObject: COPY keeps the source\'s metadata and headers, REPLACE takes the request\'s (or none)', async () => {
    await s3.send(new PutObjectCommand({ Bucket: 'meta', Key: 'src.txt', Body: 'source', ContentType: 'text/x-src', ...full }));
    await s3.send(new CopyObjectCommand({ Bucket: 'meta', Key: 'copied.txt', CopySource: 'meta/src.txt' }));
    const copied = await s3.send(new HeadObjectCommand({ Bucket: 'meta', Key: 'copied.txt' }));
    assert.deepEqual(storedOf(copied), fullStored);
    assert.equal(copied.ContentType, 'text/x-src');

    await s3.send(new CopyObjectCommand({
      Bucket: 'meta', Key: 'replaced.txt', CopySource: 'meta/src.txt', MetadataDirective: 'REPLACE',
      ContentType: 'text/x-new', Metadata: { flavour: 'mint' }, ContentLanguage: 'de',
    }));
    const replaced = await s3.send(new HeadObjectCommand({ Bucket: 'meta', Key: 'replaced.txt' }));
    assert.deepEqual(storedOf(replaced), { ...nothingStored, metadata: { flavour: 'mint' }, contentLanguage: 'de' });
    assert.equal(replaced.ContentType, 'text/x-new');

    await s3.send(new CopyObjectCommand({ Bucket: 'meta', Key: 'cleared.txt', CopySource: 'meta/src.txt', MetadataDirective: 'REPLACE' }));
    assert.deepEqual(storedOf(await s3.send(new HeadObjectCommand({ Bucket: 'meta', Key: 'cleared.txt' }))), nothingStored);
    // A copy onto itself with REPLACE changes the metadata (the usual way to edit it).
    await s3.send(new CopyObjectCommand({ Bucket: 'meta', Key: 'src.txt', CopySource: 'meta/src.txt', MetadataDirective: 'REPLACE', Metadata: { colour: 'green' } }));
    assert.deepEqual((await s3.send(new HeadObjectCommand({ Bucket: 'meta', Key: 'src.txt' }))).Metadata, { colour: 'green' });
    assert.deepEqual(storedOf(await s3.send(new HeadObjectCommand({ Bucket: 'meta', Key: 'src.txt', VersionId: '1' }))), fullStored);
  });

  it('a multipart upload keeps the headers of its CreateMultipartUpload until it is completed', async () => {
    const created = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'meta', Key: 'multi.bin', ContentType: 'application/x-multi', ...full }));
    const parts = [randomBytes(5 * MiB), randomBytes(1000)];
    const etags: string[] = [];
    for (const [i, part] of parts.entries()) {
      etags.push((await s3.send(new UploadPartCommand({ Bucket: 'meta', Key: 'multi.bin', UploadId: created.UploadId, PartNumber: i + 1, Body: part }))).ETag!);
    }
    await s3.send(new CompleteMultipartUploadCommand({
      Bucket: 'meta', Key: 'multi.bin', UploadId: created.UploadId,
      MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
    }));
    const head = await s3.send(new HeadObjectCommand({ Bucket: 'meta', Key: 'multi.bin' }));
    assert.deepEqual(storedOf(head), fullStored);
    assert.equal(head.ContentType, 'application/x-multi');
    // And a copy of it keeps them.
    await s3.send(new CopyObjectCommand({ Bucket: 'meta', Key: 'multi-copy.bin', CopySource: 'meta/multi.bin' }));
    assert.deepEqual(storedOf(await s3.send(new HeadObjectCommand({ Bucket: 'meta', Key: 'multi-copy.bin' }))), fullStored);
  });

  it('more than 2 KB of user metadata is MetadataTooLarge, and nothing is stored', async () => {
    const tooMuch = { big: 'x'.repeat(2046) }; // 3 + 2046 bytes: one over
    assert.deepEqual(await s3Failure(s3.send(new PutObjectCommand({ Bucket: 'meta', Key: 'heavy.txt', Body: 'x', Metadata: tooMuch }))), { name: 'MetadataTooLarge', status: 400 });
    assert.equal((await s3Failure(s3.send(new HeadObjectCommand({ Bucket: 'meta', Key: 'heavy.txt' })))).status, 404);
    // Exactly at the limit is fine.
    await s3.send(new PutObjectCommand({ Bucket: 'meta', Key: 'heavy.txt', Body: 'x', Metadata: { big: 'x'.repeat(2045) } }));
    assert.deepEqual(await s3Failure(s3.send(new CreateMultipartUploadCommand({ Bucket: 'meta', Key: 'heavy.bin', Metadata: tooMuch }))), { name: 'MetadataTooLarge', status: 400 });
    assert.deepEqual(
      await s3Failure(s3.send(new CopyObjectCommand({ Bucket: 'meta', Key: 'heavy-copy.txt', CopySource: 'meta/heavy.txt', MetadataDirective: 'REPLACE', Metadata: tooMuch }))),
      { name: 'MetadataTooLarge', status: 400 },
    );
    assert.equal((await s3Failure(s3.send(new HeadObjectCommand({ Bucket: 'meta', Key: 'heavy-copy.txt' })))).status, 404);
  });

  it('the native API: X-DFS-Meta-* and the standard headers on PUT, copy with X-DFS-Metadata-Directive, clear refusals', async () => {
    const put = await fetch(`${cluster.url}/files/native/a.txt`, { method: 'PUT', body: 'native', headers: { 'x-dfs-meta-team': 'ops', 'content-disposition': 'inline' } });
    assert.equal(put.status, 201);
    const read = await fetch(`${cluster.url}/files/native/a.txt`);
    assert.equal(read.headers.get('x-dfs-meta-team'), 'ops');
    assert.equal(read.headers.get('content-disposition'), 'inline');
    assert.equal(await read.text(), 'native');

    const tooLarge = await fetch(`${cluster.url}/files/native/b.txt`, { method: 'PUT', body: 'x', headers: { 'x-dfs-meta-k': 'v'.repeat(2048) } });
    assert.equal(tooLarge.status, 400);
    assert.equal(((await tooLarge.json()) as { error: { code: string } }).error.code, 'metadata_too_large');

    const kept = await fetch(`${cluster.url}/files/native/c.txt`, { method: 'PUT', headers: { 'x-dfs-copy-source': 'native/a.txt' } });
    assert.equal(kept.status, 201);
    assert.equal((await fetch(`${cluster.url}/files/native/c.txt`, { method: 'HEAD' })).headers.get('x-dfs-meta-team'), 'ops');
    const ambiguous = await fetch(`${cluster.url}/files/native/d.txt`, { method: 'PUT', headers: { 'x-dfs-copy-source': 'native/a.txt', 'x-dfs-meta-team': 'dev' } });
    assert.equal(ambiguous.status, 400);
    const replaced = await fetch(`${cluster.url}/files/native/d.txt`, { method: 'PUT', headers: { 'x-dfs-copy-source': 'native/a.txt', 'x-dfs-meta-team': 'dev', 'x-dfs-metadata-directive': 'replace' } });
    assert.equal(replaced.status, 201);
    const head = await fetch(`${cluster.url}/files/native/d.txt`, { method: 'HEAD' });
    assert.equal(head.headers.get('x-dfs-meta-team'), 'dev');
    assert.equal(head.headers.get('content-disposition'), null);
  });
});

describe('S3 GetObject and HeadObject by partNumber', () => {
  const parts = [randomBytes(5 * MiB), randomBytes(5 * MiB + 3), randomBytes(1234)];

  before(async () => {
    const created = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'meta', Key: 'three.bin' }));
    const etags: string[] = [];
    for (const [i, part] of parts.entries()) {
      etags.push((await s3.send(new UploadPartCommand({ Bucket: 'meta', Key: 'three.bin', UploadId: created.UploadId, PartNumber: i + 1, Body: part }))).ETag!);
    }
    await s3.send(new CompleteMultipartUploadCommand({
      Bucket: 'meta', Key: 'three.bin', UploadId: created.UploadId,
      MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
    }));
  });

  it('each part of a 3-part object is the part uploaded, 206 with its Content-Range and x-amz-mp-parts-count', async () => {
    const total = parts.reduce((sum, part) => sum + part.length, 0);
    let offset = 0;
    for (const [i, part] of parts.entries()) {
      const got = await s3.send(new GetObjectCommand({ Bucket: 'meta', Key: 'three.bin', PartNumber: i + 1 }));
      assert.equal(got.$metadata.httpStatusCode, 206);
      assert.equal(got.PartsCount, 3);
      assert.equal(got.ContentLength, part.length);
      assert.equal(got.ContentRange, `bytes ${offset}-${offset + part.length - 1}/${total}`);
      assert.ok((await body(got)).equals(part), `part ${i + 1} is the bytes uploaded as part ${i + 1}`);
      offset += part.length;
    }
    const head = await s3.send(new HeadObjectCommand({ Bucket: 'meta', Key: 'three.bin', PartNumber: 2 }));
    assert.equal(head.PartsCount, 3);
    assert.equal(head.ContentLength, parts[1].length);
    assert.match(head.ETag ?? '', /-3"$/);
    // By version too; and a copy (the same parts) keeps them.
    assert.ok((await body(await s3.send(new GetObjectCommand({ Bucket: 'meta', Key: 'three.bin', VersionId: '1', PartNumber: 3 })))).equals(parts[2]));
    await s3.send(new CopyObjectCommand({ Bucket: 'meta', Key: 'three-copy.bin', CopySource: 'meta/three.bin' }));
    assert.ok((await body(await s3.send(new GetObjectCommand({ Bucket: 'meta', Key: 'three-copy.bin', PartNumber: 2 })))).equals(parts[1]));
  });

  it('a part past the last is InvalidPartNumber; a single-part object is its own part 1; Range with partNumber is refused', async () => {
    assert.deepEqual(await s3Failure(s3.send(new GetObjectCommand({ Bucket: 'meta', Key: 'three.bin', PartNumber: 4 }))), { name: 'InvalidPartNumber', status: 416 });
    assert.equal((await s3Failure(s3.send(new HeadObjectCommand({ Bucket: 'meta', Key: 'three.bin', PartNumber: 4 })))).status, 416);
    const content = randomBytes(300_000);
    await s3.send(new PutObjectCommand({ Bucket: 'meta', Key: 'single.bin', Body: content }));
    const whole = await s3.send(new GetObjectCommand({ Bucket: 'meta', Key: 'single.bin', PartNumber: 1 }));
    assert.equal(whole.PartsCount, undefined);
    assert.equal(whole.ContentRange, `bytes 0-${content.length - 1}/${content.length}`);
    assert.ok((await body(whole)).equals(content));
    assert.deepEqual(await s3Failure(s3.send(new GetObjectCommand({ Bucket: 'meta', Key: 'single.bin', PartNumber: 2 }))), { name: 'InvalidPartNumber', status: 416 });
    assert.deepEqual(await s3Failure(s3.send(new GetObjectCommand({ Bucket: 'meta', Key: 'three.bin', PartNumber: 1, Range: 'bytes=0-9' }))), { name: 'InvalidRequest', status: 400 });
    assert.deepEqual(await s3Failure(s3.send(new GetObjectCommand({ Bucket: 'meta', Key: 'three.bin', PartNumber: 10_001 }))), { name: 'InvalidArgument', status: 400 });
    // The native API: ?part=N.
    const native = await fetch(`${cluster.url}/files/meta/three.bin?part=3`);
    assert.equal(native.status, 206);
    assert.equal(native.headers.get('x-dfs-parts-count'), '3');
    assert.ok(Buffer.from(await native.arrayBuffer()).equals(parts[2]));
  });
});

describe('S3 virtual-host style addressing (--s3-domain)', () => {
  /** Hosts the requests of a client were signed for and sent with. */
  const hosts: string[] = [];

  /**
   * An SDK client with virtual-host addressing (forcePathStyle false) on `http://s3.test:<port>`:
   * each request, once signed, goes to 127.0.0.1 with its Host header as signed; `retarget` may
   * change that Host after signing (a request then fails its signature).
   */
  function virtualHostClient(retarget?: (host: string) => string): S3Client {
    const client = new S3Client({ endpoint: `http://${domain}:${s3Port}`, region, forcePathStyle: false, credentials: { accessKeyId, secretAccessKey }, maxAttempts: 1 });
    client.middlewareStack.add((next) => async (args) => {
      const request = args.request as { hostname: string; headers: Record<string, string> };
      hosts.push(request.headers.host ?? '');
      request.hostname = '127.0.0.1';
      if (retarget !== undefined) request.headers.host = retarget(request.headers.host ?? '');
      return next(args);
    }, { step: 'deserialize', name: 'sendToLoopback' });
    return client;
  }

  it('<bucket>.<domain> addresses the bucket: create, put, get, head, list, delete; path-style sees the same', async () => {
    const vh = virtualHostClient();
    try {
      hosts.length = 0;
      await vh.send(new CreateBucketCommand({ Bucket: 'vhost' }));
      assert.equal(hosts[0], `vhost.${domain}:${s3Port}`, 'the SDK addressed the bucket by its host');
      await vh.send(new PutObjectCommand({ Bucket: 'vhost', Key: 'dir/a b.txt', Body: 'virtual', Metadata: { via: 'host' } }));
      const got = await vh.send(new GetObjectCommand({ Bucket: 'vhost', Key: 'dir/a b.txt' }));
      assert.equal((await body(got)).toString(), 'virtual');
      assert.deepEqual(got.Metadata, { via: 'host' });
      assert.equal((await vh.send(new HeadObjectCommand({ Bucket: 'vhost', Key: 'dir/a b.txt' }))).ContentLength, 7);
      assert.deepEqual((await vh.send(new ListObjectsV2Command({ Bucket: 'vhost', Prefix: 'dir/' }))).Contents?.map((item) => item.Key), ['dir/a b.txt']);
      assert.ok(hosts.every((host) => host === `vhost.${domain}:${s3Port}`), hosts.join(', '));
      // The same object, path-style, through the same listener.
      assert.equal((await body(await s3.send(new GetObjectCommand({ Bucket: 'vhost', Key: 'dir/a b.txt' })))).toString(), 'virtual');
      await vh.send(new DeleteObjectCommand({ Bucket: 'vhost', Key: 'dir/a b.txt' }));
      assert.equal((await s3Failure(s3.send(new HeadObjectCommand({ Bucket: 'vhost', Key: 'dir/a b.txt' })))).status, 404);
      assert.deepEqual(await s3Failure(vh.send(new GetObjectCommand({ Bucket: 'no-such-bucket', Key: 'k' }))), { name: 'NoSuchBucket', status: 404 });
    } finally {
      vh.destroy();
    }
  });

  it('the signature covers the Host as sent: another bucket\'s Host is SignatureDoesNotMatch', async () => {
    const moved = virtualHostClient((host) => host.replace(/^vhost\./, 'meta.'));
    try {
      assert.deepEqual(await s3Failure(moved.send(new GetObjectCommand({ Bucket: 'vhost', Key: 'k' }))), { name: 'SignatureDoesNotMatch', status: 403 });
    } finally {
      moved.destroy();
    }
  });
});
