// S3 multipart uploads end to end: three storage nodes and a gateway as processes, driven by the
// AWS SDK (@aws-sdk/client-s3 and @aws-sdk/lib-storage's Upload, path-style). Parts of 5 MiB and
// a short last part, read back byte for byte; the `-N` ETag; ListParts, ListMultipartUploads,
// Abort; the refusals of CompleteMultipartUpload; parts that outlive their leader; UploadPartCopy;
// single puts answering their MD5; and (on a one-node cluster of its own) the expiry.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import {
  AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CreateBucketCommand, CreateMultipartUploadCommand, GetObjectCommand, HeadObjectCommand,
  ListMultipartUploadsCommand, ListObjectsV2Command, ListPartsCommand, PutObjectCommand, S3Client, UploadPartCommand, UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { freePorts, sleep } from '../support/cluster.ts';
import { GatewayCluster } from '../support/gateway-cluster.ts';
import { s3Failure } from '../support/s3-failure.ts';

const accessKeyId = 'TESTROOTKEY';
const secretAccessKey = randomBytes(24).toString('base64url');
const region = 'us-east-1';
const MiB = 1024 * 1024;
const partSize = 5 * MiB;

const md5 = (content: Uint8Array | string): string => createHash('md5').update(content).digest('hex');
const sha256 = (content: Uint8Array | string): string => createHash('sha256').update(content).digest('hex');

/** S3's ETag of a multipart object made of `parts`. */
function multipartEtag(parts: readonly Uint8Array[]): string {
  const hash = createHash('md5');
  for (const part of parts) hash.update(createHash('md5').update(part).digest());
  return `"${hash.digest('hex')}-${parts.length}"`;
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

/** A cluster with the S3 port open, and a client for it. */
async function startCluster(storageFlags: readonly string[], size?: number): Promise<{ cluster: GatewayCluster; s3: S3Client }> {
  const [s3Port] = await freePorts(1);
  const cluster = await GatewayCluster.start({
    storage: { flags: storageFlags, ...(size === undefined ? {} : { size }) },
    gatewayFlags: ['--s3-port', String(s3Port)],
    gatewayEnv: { DFS_S3_ACCESS_KEY_ID: accessKeyId, DFS_S3_SECRET_ACCESS_KEY: secretAccessKey },
  });
  const deadline = Date.now() + 30_000;
  while (!(await portOpen(s3Port))) {
    if (Date.now() > deadline) throw new Error(`the S3 port ${s3Port} never opened`);
    await sleep(50);
  }
  const s3 = new S3Client({ endpoint: `http://127.0.0.1:${s3Port}`, region, forcePathStyle: true, credentials: { accessKeyId, secretAccessKey }, maxAttempts: 5 });
  return { cluster, s3 };
}

async function body(output: { Body?: { transformToByteArray(): Promise<Uint8Array> } }): Promise<Buffer> {
  return Buffer.from(await output.Body!.transformToByteArray());
}

let cluster: GatewayCluster;
let s3: S3Client;

before(async () => {
  // 1 MiB chunks: a 5 MiB part is five of them.
  ({ cluster, s3 } = await startCluster(['--chunk-size', '1MiB']));
  await s3.send(new CreateBucketCommand({ Bucket: 'media' }));
});

after(async () => {
  s3?.destroy();
  await cluster?.stopAll();
});

describe('S3 multipart uploads', () => {
  it('lib-storage Upload: 3 parts of 5 MiB and a short last one, read back byte-identical, ETag "<MD5 of the part MD5s>-4"', async () => {
    const content = randomBytes(3 * partSize + 123_457);
    const upload = new Upload({ client: s3, params: { Bucket: 'media', Key: 'videos/big.bin', Body: content, ContentType: 'video/x-test' }, partSize, queueSize: 2 });
    const done = await upload.done();
    const parts = [0, 1, 2, 3].map((i) => content.subarray(i * partSize, Math.min(content.length, (i + 1) * partSize)));
    assert.equal(done.ETag, multipartEtag(parts));
    assert.match(done.ETag ?? '', /^"[0-9a-f]{32}-4"$/);

    const got = await s3.send(new GetObjectCommand({ Bucket: 'media', Key: 'videos/big.bin' }));
    assert.equal(got.ETag, done.ETag);
    assert.equal(got.ContentType, 'video/x-test');
    assert.equal(got.ContentLength, content.length);
    assert.ok((await body(got)).equals(content), 'the object is the parts, in order');
    // A range across the boundary of parts 1 and 2.
    const range = await s3.send(new GetObjectCommand({ Bucket: 'media', Key: 'videos/big.bin', Range: `bytes=${partSize - 10}-${partSize + 9}` }));
    assert.ok((await body(range)).equals(content.subarray(partSize - 10, partSize + 10)));
    assert.equal((await s3.send(new HeadObjectCommand({ Bucket: 'media', Key: 'videos/big.bin' }))).ETag, done.ETag);
    assert.equal((await s3.send(new ListObjectsV2Command({ Bucket: 'media', Prefix: 'videos/' }))).Contents?.[0]?.ETag, done.ETag);
    // The native API: the SHA-256 of the whole content, as for any file; the S3 ETag beside it.
    const native = await fetch(`${cluster.url}/files/media/videos/big.bin`);
    assert.equal(native.headers.get('etag'), `"${sha256(content)}"`);
    assert.equal(native.headers.get('x-dfs-s3-etag'), done.ETag);
    assert.ok(Buffer.from(await native.arrayBuffer()).equals(content));
    // Nothing left in progress.
    assert.deepEqual((await s3.send(new ListMultipartUploadsCommand({ Bucket: 'media' }))).Uploads ?? [], []);
  });

  it('single puts (what `aws s3 cp` sends below its multipart threshold) answer the MD5 of the content', async () => {
    const content = randomBytes(3 * MiB);
    const put = await s3.send(new PutObjectCommand({ Bucket: 'media', Key: 'single.bin', Body: content }));
    assert.equal(put.ETag, `"${md5(content)}"`);
    // lib-storage sends a body under its part size as one PutObject.
    const small = randomBytes(200_000);
    const done = await new Upload({ client: s3, params: { Bucket: 'media', Key: 'small.bin', Body: small }, partSize }).done();
    assert.equal(done.ETag, `"${md5(small)}"`);
    assert.equal((await s3.send(new HeadObjectCommand({ Bucket: 'media', Key: 'single.bin' }))).ETag, `"${md5(content)}"`);
  });

  it('ListParts, ListMultipartUploads and AbortMultipartUpload; a part number sent again replaces the part', async () => {
    const first = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'media', Key: 'drafts/a.bin' }));
    const second = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'media', Key: 'drafts/b.bin' }));
    const other = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'media', Key: 'elsewhere.bin' }));
    assert.match(first.UploadId ?? '', /^[0-9a-f]{32}$/);
    const uploadId = first.UploadId!;
    const bodies = [randomBytes(1000), randomBytes(2000), randomBytes(3000)];
    for (const [i, part] of bodies.entries()) {
      const sent = await s3.send(new UploadPartCommand({ Bucket: 'media', Key: 'drafts/a.bin', UploadId: uploadId, PartNumber: i + 1, Body: part }));
      assert.equal(sent.ETag, `"${md5(part)}"`);
    }
    const replacement = randomBytes(1500);
    await s3.send(new UploadPartCommand({ Bucket: 'media', Key: 'drafts/a.bin', UploadId: uploadId, PartNumber: 2, Body: replacement }));
    const listed = await s3.send(new ListPartsCommand({ Bucket: 'media', Key: 'drafts/a.bin', UploadId: uploadId }));
    assert.deepEqual(listed.Parts?.map((p) => [p.PartNumber, p.ETag, p.Size]), [[1, `"${md5(bodies[0])}"`, 1000], [2, `"${md5(replacement)}"`, 1500], [3, `"${md5(bodies[2])}"`, 3000]]);
    const page = await s3.send(new ListPartsCommand({ Bucket: 'media', Key: 'drafts/a.bin', UploadId: uploadId, MaxParts: 2 }));
    assert.deepEqual([page.Parts?.map((p) => p.PartNumber), page.IsTruncated, page.NextPartNumberMarker], [[1, 2], true, '2']);
    const rest = await s3.send(new ListPartsCommand({ Bucket: 'media', Key: 'drafts/a.bin', UploadId: uploadId, PartNumberMarker: '2' }));
    assert.deepEqual([rest.Parts?.map((p) => p.PartNumber), rest.IsTruncated], [[3], false]);

    const uploads = await s3.send(new ListMultipartUploadsCommand({ Bucket: 'media', Prefix: 'drafts/' }));
    assert.deepEqual(uploads.Uploads?.map((u) => [u.Key, u.UploadId]), [['drafts/a.bin', uploadId], ['drafts/b.bin', second.UploadId]]);
    const all = await s3.send(new ListMultipartUploadsCommand({ Bucket: 'media', Delimiter: '/' }));
    assert.deepEqual([all.Uploads?.map((u) => u.Key), all.CommonPrefixes?.map((p) => p.Prefix)], [['elsewhere.bin'], ['drafts/']]);
    const prefixPage = await s3.send(new ListMultipartUploadsCommand({ Bucket: 'media', Delimiter: '/', MaxUploads: 1 }));
    assert.deepEqual([prefixPage.CommonPrefixes?.map((p) => p.Prefix), prefixPage.IsTruncated, prefixPage.NextKeyMarker], [['drafts/'], true, 'drafts/']);
    const afterPrefix = await s3.send(new ListMultipartUploadsCommand({ Bucket: 'media', Delimiter: '/', KeyMarker: prefixPage.NextKeyMarker }));
    assert.deepEqual([afterPrefix.Uploads?.map((u) => u.Key), afterPrefix.CommonPrefixes ?? [], afterPrefix.IsTruncated], [['elsewhere.bin'], [], false]);
    const firstPage = await s3.send(new ListMultipartUploadsCommand({ Bucket: 'media', MaxUploads: 1 }));
    assert.deepEqual([firstPage.Uploads?.map((u) => u.Key), firstPage.IsTruncated, firstPage.NextKeyMarker], [['drafts/a.bin'], true, 'drafts/a.bin']);
    const nextPage = await s3.send(new ListMultipartUploadsCommand({ Bucket: 'media', KeyMarker: firstPage.NextKeyMarker, UploadIdMarker: firstPage.NextUploadIdMarker }));
    assert.deepEqual(nextPage.Uploads?.map((u) => u.Key), ['drafts/b.bin', 'elsewhere.bin']);

    // An upload id belongs to its key; unknown ids are NoSuchUpload.
    assert.deepEqual(await s3Failure(s3.send(new ListPartsCommand({ Bucket: 'media', Key: 'drafts/b.bin', UploadId: uploadId }))), { name: 'NoSuchUpload', status: 404 });
    assert.deepEqual(await s3Failure(s3.send(new UploadPartCommand({ Bucket: 'media', Key: 'drafts/a.bin', UploadId: 'f'.repeat(32), PartNumber: 1, Body: 'x' }))), { name: 'NoSuchUpload', status: 404 });
    assert.deepEqual(await s3Failure(s3.send(new ListPartsCommand({ Bucket: 'media', Key: 'drafts/a.bin', UploadId: 'not-an-id' }))), { name: 'NoSuchUpload', status: 404 });

    await s3.send(new AbortMultipartUploadCommand({ Bucket: 'media', Key: 'drafts/a.bin', UploadId: uploadId }));
    assert.deepEqual(await s3Failure(s3.send(new ListPartsCommand({ Bucket: 'media', Key: 'drafts/a.bin', UploadId: uploadId }))), { name: 'NoSuchUpload', status: 404 });
    assert.deepEqual(await s3Failure(s3.send(new UploadPartCommand({ Bucket: 'media', Key: 'drafts/a.bin', UploadId: uploadId, PartNumber: 4, Body: 'late' }))), { name: 'NoSuchUpload', status: 404 });
    assert.deepEqual(await s3Failure(s3.send(new AbortMultipartUploadCommand({ Bucket: 'media', Key: 'drafts/a.bin', UploadId: uploadId }))), { name: 'NoSuchUpload', status: 404 });
    assert.equal((await s3Failure(s3.send(new HeadObjectCommand({ Bucket: 'media', Key: 'drafts/a.bin' })))).status, 404);
    for (const [key, id] of [['drafts/b.bin', second.UploadId], ['elsewhere.bin', other.UploadId]] as const) {
      await s3.send(new AbortMultipartUploadCommand({ Bucket: 'media', Key: key, UploadId: id }));
    }
    assert.deepEqual((await s3.send(new ListMultipartUploadsCommand({ Bucket: 'media' }))).Uploads ?? [], []);
    assert.deepEqual(await s3Failure(s3.send(new CreateMultipartUploadCommand({ Bucket: 'no-such-bucket', Key: 'k' }))), { name: 'NoSuchBucket', status: 404 });
  });

  it('CompleteMultipartUpload refuses parts out of order, a missing part, a wrong ETag and a small middle part, storing nothing', async () => {
    const key = 'checked.bin';
    const { UploadId: uploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'media', Key: key }));
    const big = randomBytes(partSize);
    const small = randomBytes(1000);
    const last = randomBytes(10);
    const etags: string[] = [];
    for (const [i, part] of [big, small, last].entries()) {
      etags.push((await s3.send(new UploadPartCommand({ Bucket: 'media', Key: key, UploadId: uploadId, PartNumber: i + 1, Body: part }))).ETag!);
    }
    const complete = (parts: { PartNumber: number; ETag: string }[]) => s3.send(new CompleteMultipartUploadCommand({ Bucket: 'media', Key: key, UploadId: uploadId, MultipartUpload: { Parts: parts } }));
    assert.deepEqual(await s3Failure(complete([{ PartNumber: 3, ETag: etags[2] }, { PartNumber: 1, ETag: etags[0] }])), { name: 'InvalidPartOrder', status: 400 });
    assert.deepEqual(await s3Failure(complete([{ PartNumber: 1, ETag: etags[0] }, { PartNumber: 4, ETag: etags[2] }])), { name: 'InvalidPart', status: 400 });
    assert.deepEqual(await s3Failure(complete([{ PartNumber: 1, ETag: `"${md5('something else')}"` }, { PartNumber: 3, ETag: etags[2] }])), { name: 'InvalidPart', status: 400 });
    assert.deepEqual(await s3Failure(complete([{ PartNumber: 1, ETag: etags[0] }, { PartNumber: 2, ETag: etags[1] }, { PartNumber: 3, ETag: etags[2] }])), { name: 'EntityTooSmall', status: 400 });
    assert.equal((await s3Failure(s3.send(new HeadObjectCommand({ Bucket: 'media', Key: key })))).status, 404);
    assert.equal((await s3.send(new ListPartsCommand({ Bucket: 'media', Key: key, UploadId: uploadId }))).Parts?.length, 3);
    // Leaving the small part out makes a valid list.
    const done = await complete([{ PartNumber: 1, ETag: etags[0] }, { PartNumber: 3, ETag: etags[2] }]);
    assert.equal(done.ETag, multipartEtag([big, last]));
    assert.ok((await body(await s3.send(new GetObjectCommand({ Bucket: 'media', Key: key })))).equals(Buffer.concat([big, last])));
    // The native ETag is the SHA-256 of the parts listed, not of every part uploaded.
    assert.equal((await fetch(`${cluster.url}/files/media/${key}`, { method: 'HEAD' })).headers.get('etag'), `"${sha256(Buffer.concat([big, last]))}"`);
    assert.deepEqual(await s3Failure(complete([{ PartNumber: 1, ETag: etags[0] }])), { name: 'NoSuchUpload', status: 404 });
  });

  it('UploadPartCopy: parts made of ranges of a stored object', async () => {
    const source = randomBytes(6 * MiB + 5);
    await s3.send(new PutObjectCommand({ Bucket: 'media', Key: 'source.bin', Body: source }));
    const key = 'copied.bin';
    const { UploadId: uploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'media', Key: key }));
    const first = await s3.send(new UploadPartCopyCommand({ Bucket: 'media', Key: key, UploadId: uploadId, PartNumber: 1, CopySource: 'media/source.bin', CopySourceRange: `bytes=1-${partSize}` }));
    assert.equal(first.CopyPartResult?.ETag, `"${md5(source.subarray(1, partSize + 1))}"`);
    const second = await s3.send(new UploadPartCopyCommand({ Bucket: 'media', Key: key, UploadId: uploadId, PartNumber: 2, CopySource: 'media/source.bin' }));
    assert.equal(second.CopyPartResult?.ETag, `"${md5(source)}"`);
    assert.deepEqual(await s3Failure(s3.send(new UploadPartCopyCommand({ Bucket: 'media', Key: key, UploadId: uploadId, PartNumber: 3, CopySource: 'media/source.bin', CopySourceRange: `bytes=0-${source.length}` }))), { name: 'InvalidRange', status: 416 });
    const done = await s3.send(new CompleteMultipartUploadCommand({
      Bucket: 'media', Key: key, UploadId: uploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: first.CopyPartResult!.ETag! }, { PartNumber: 2, ETag: second.CopyPartResult!.ETag! }] },
    }));
    const expected = Buffer.concat([source.subarray(1, partSize + 1), source]);
    assert.equal(done.ETag, multipartEtag([source.subarray(1, partSize + 1), source]));
    assert.ok((await body(await s3.send(new GetObjectCommand({ Bucket: 'media', Key: key })))).equals(expected));
  });

  it('parts outlive their leader: it is killed (SIGKILL) and restarted before the upload is completed', async () => {
    const key = 'survivor.bin';
    const { UploadId: uploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'media', Key: key }));
    const parts = [randomBytes(partSize), randomBytes(777_777)];
    const etags: string[] = [];
    for (const [i, part] of parts.entries()) {
      etags.push((await s3.send(new UploadPartCommand({ Bucket: 'media', Key: key, UploadId: uploadId, PartNumber: i + 1, Body: part }))).ETag!);
    }
    const leader = await cluster.waitForLeader();
    await cluster.killNode(leader, 'SIGKILL');
    const newLeader = await cluster.waitForLeader(30_000);
    assert.notEqual(newLeader, leader);
    await cluster.restartNode(leader);
    await cluster.waitForLeader(30_000);
    const listed = await s3.send(new ListPartsCommand({ Bucket: 'media', Key: key, UploadId: uploadId }));
    assert.deepEqual(listed.Parts?.map((p) => p.ETag), etags);
    const done = await s3.send(new CompleteMultipartUploadCommand({
      Bucket: 'media', Key: key, UploadId: uploadId, MultipartUpload: { Parts: etags.map((ETag, i) => ({ PartNumber: i + 1, ETag })) },
    }));
    assert.equal(done.ETag, multipartEtag(parts));
    assert.ok((await body(await s3.send(new GetObjectCommand({ Bucket: 'media', Key: key })))).equals(Buffer.concat(parts)));
  });

  it('replicas agree: the same applied index gives the same metadata digest, uploads in progress and S3 ETags included', async () => {
    const { UploadId: uploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'media', Key: 'pending.bin' }));
    await s3.send(new UploadPartCommand({ Bucket: 'media', Key: 'pending.bin', UploadId: uploadId, PartNumber: 1, Body: randomBytes(2 * MiB) }));
    const urls = cluster.storage.nodes.map((node) => node.url);
    type Digest = { applied_index: number; digest: string };
    let digests: Digest[] = [];
    for (let attempt = 0; attempt < 200; attempt++) {
      // A linearizable read first, so every node has applied everything written above.
      await Promise.all(urls.map((url) => fetch(`${url}/uploads?limit=1`).then((r) => r.arrayBuffer())));
      digests = await Promise.all(urls.map((url) => fetch(`${url}/admin/metadata-digest`, { headers: { 'x-dfs-cluster-secret': cluster.storage.secret } }).then((r) => r.json() as Promise<Digest>)));
      if (new Set(digests.map((d) => d.applied_index)).size === 1) break;
      await sleep(50);
    }
    assert.equal(new Set(digests.map((d) => d.applied_index)).size, 1, JSON.stringify(digests));
    assert.equal(new Set(digests.map((d) => d.digest)).size, 1, JSON.stringify(digests));
  });
});

describe('S3 multipart upload expiry', () => {
  it('an upload left in progress longer than --multipart-expiry-ms is aborted by the leader', async () => {
    const small = await startCluster(['--multipart-expiry-ms', '1000'], 1);
    try {
      await small.s3.send(new CreateBucketCommand({ Bucket: 'tmp' }));
      const { UploadId: uploadId } = await small.s3.send(new CreateMultipartUploadCommand({ Bucket: 'tmp', Key: 'forgotten.bin' }));
      await small.s3.send(new UploadPartCommand({ Bucket: 'tmp', Key: 'forgotten.bin', UploadId: uploadId, PartNumber: 1, Body: randomBytes(100_000) }));
      const deadline = Date.now() + 30_000;
      let seen = '';
      for (;;) {
        const listed = await small.s3.send(new ListMultipartUploadsCommand({ Bucket: 'tmp' }));
        seen = JSON.stringify(listed.Uploads?.map((u) => u.UploadId) ?? []);
        if ((listed.Uploads ?? []).length === 0) break;
        if (Date.now() > deadline) assert.fail(`the upload was not expired within 30 s; still listed: ${seen}`);
        await sleep(200);
      }
      assert.deepEqual(await s3Failure(small.s3.send(new ListPartsCommand({ Bucket: 'tmp', Key: 'forgotten.bin', UploadId: uploadId }))), { name: 'NoSuchUpload', status: 404 });
    } finally {
      small.s3.destroy();
      await small.cluster.stopAll();
    }
  });
});
