// Delete markers end to end: three storage nodes and a gateway as processes. Through the native
// API (DELETE ?keep-versions, reads that meet a marker, ?versions, the listing of names with kept
// versions) and through the AWS SDK (@aws-sdk/client-s3, path-style): DeleteObject leaves a
// marker, reads answer as S3 does, ListObjectVersions lists it, deleting it undeletes,
// PutBucketVersioning Suspended drops the history instead, DeleteBucket takes what history is left.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import {
  CopyObjectCommand, CreateBucketCommand, DeleteBucketCommand, DeleteObjectCommand, DeleteObjectsCommand, GetBucketVersioningCommand, GetObjectCommand,
  HeadObjectCommand, ListObjectVersionsCommand, ListObjectsV2Command, PutBucketVersioningCommand, PutObjectCommand, S3Client, S3ServiceException,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { freePorts } from '../support/cluster.ts';
import { GatewayCluster } from '../support/gateway-cluster.ts';
import { waitFor } from '../support/wait-for.ts';
import { s3Failure } from '../support/s3-failure.ts';

const accessKeyId = 'TESTMARKERKEY';
const secretAccessKey = randomBytes(24).toString('base64url');
const region = 'us-east-1';

let cluster: GatewayCluster;
let s3: S3Client;

before(async () => {
  const [s3Port] = await freePorts(1);
  cluster = await GatewayCluster.start({
    storage: { flags: ['--chunk-size', '64KiB', '--inline-max', '4KiB'] },
    gatewayFlags: ['--s3-port', String(s3Port)],
    gatewayEnv: { DFS_S3_ACCESS_KEY_ID: accessKeyId, DFS_S3_SECRET_ACCESS_KEY: secretAccessKey },
  });
  s3 = new S3Client({ endpoint: `http://127.0.0.1:${s3Port}`, region, forcePathStyle: true, credentials: { accessKeyId, secretAccessKey }, maxAttempts: 3 });
  // The S3 listener answers once the gateway knows the cluster.
  await waitFor('the S3 port answers', async (see) => {
    try {
      await s3.send(new ListObjectsV2Command({ Bucket: 'not-there' }));
      return true;
    } catch (err) {
      see(String(err));
      return err instanceof S3ServiceException ? true : undefined;
    }
  }, 30_000);
});

after(async () => {
  s3?.destroy();
  await cluster?.stopAll();
});

/** The native API, through the gateway. */
function native(path: string, init?: RequestInit): Promise<Response> {
  return fetch(`${cluster.url}${path}`, init);
}

async function text(output: { Body?: { transformToString(): Promise<string> } }): Promise<string> {
  return output.Body!.transformToString();
}

/** A presigned request sent with fetch: what S3 answered, headers included, without the SDK's mapping. */
async function presigned(command: GetObjectCommand | HeadObjectCommand, method: 'GET' | 'HEAD'): Promise<Response> {
  return fetch(await getSignedUrl(s3, command, { expiresIn: 60 }), { method });
}

/** `version` or `version*` (latest), markers prefixed with `M`. */
async function versionsOf(bucket: string, prefix?: string): Promise<string[]> {
  const out = await s3.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: prefix }));
  const entries = [
    ...(out.Versions ?? []).map((v) => ({ key: v.Key!, version: Number(v.VersionId), text: `${v.Key}@${v.VersionId}${v.IsLatest ? '*' : ''}` })),
    ...(out.DeleteMarkers ?? []).map((m) => ({ key: m.Key!, version: Number(m.VersionId), text: `M:${m.Key}@${m.VersionId}${m.IsLatest ? '*' : ''}` })),
  ];
  entries.sort((a, b) => (a.key === b.key ? b.version - a.version : a.key < b.key ? -1 : 1));
  return entries.map((entry) => entry.text);
}

describe('delete markers: native API', () => {
  it('DELETE ?keep-versions leaves a marker; reads meet it; ?versions lists it; deleting it undeletes; a plain DELETE ends the history', async () => {
    for (const content of ['first', 'second']) assert.equal((await native('/files/native/a.txt', { method: 'PUT', body: content })).status, 201);
    assert.equal((await native('/files/native/b.txt', { method: 'PUT', body: 'b' })).status, 201);

    const deleted = await native('/files/native/a.txt?keep-versions', { method: 'DELETE' });
    assert.equal(deleted.status, 204);
    assert.equal(deleted.headers.get('x-dfs-version'), '3');
    assert.equal(deleted.headers.get('x-dfs-delete-marker'), 'true');

    const read = await native('/files/native/a.txt');
    assert.equal(read.status, 404);
    assert.equal(read.headers.get('x-dfs-delete-marker'), 'true');
    assert.equal(read.headers.get('x-dfs-version'), '3');
    assert.equal(((await read.json()) as { error: { code: string } }).error.code, 'not_found');
    const head = await native('/files/native/a.txt', { method: 'HEAD' });
    assert.equal(head.status, 404);
    assert.equal(head.headers.get('x-dfs-delete-marker'), 'true');
    const markerRead = await native('/files/native/a.txt?version=3');
    assert.equal(markerRead.status, 404);
    assert.equal(markerRead.headers.get('x-dfs-delete-marker'), 'true');
    assert.equal(await (await native('/files/native/a.txt?version=1')).text(), 'first');

    const versions = (await (await native('/files/native/a.txt?versions')).json()) as { versions: { version: number; deleteMarker?: boolean; size?: number; modified: string }[] };
    assert.deepEqual(versions.versions.map((v) => [v.version, v.deleteMarker ?? false, v.size]), [[3, true, undefined], [2, false, 6], [1, false, 5]]);
    assert.ok(!Number.isNaN(Date.parse(versions.versions[0]!.modified)));

    const live = (await (await native('/files?prefix=native/')).json()) as { files: { name: string }[] };
    assert.deepEqual(live.files.map((f) => f.name), ['native/b.txt']);
    const withHistory = (await (await native('/files?prefix=native/&versions')).json()) as { files: { name: string }[]; next: string | null };
    assert.deepEqual(withHistory, { files: [{ name: 'native/a.txt' }, { name: 'native/b.txt' }], next: null });
    const paged = (await (await native('/files?prefix=native/&versions&limit=1')).json()) as { files: { name: string }[]; next: string | null };
    assert.deepEqual(paged, { files: [{ name: 'native/a.txt' }], next: 'native/a.txt' });

    // No marker on a marker; ?keep-versions names no version.
    assert.equal((await native('/files/native/a.txt?keep-versions', { method: 'DELETE' })).status, 404);
    assert.equal((await native('/files/native/a.txt?keep-versions&version=1', { method: 'DELETE' })).status, 400);

    const undelete = await native('/files/native/a.txt?version=3', { method: 'DELETE' });
    assert.equal(undelete.status, 204);
    assert.equal(undelete.headers.get('x-dfs-delete-marker'), 'true');
    const back = await native('/files/native/a.txt');
    assert.equal(back.status, 200);
    assert.equal(back.headers.get('x-dfs-version'), '2');
    assert.equal(await back.text(), 'second');

    // A put after a marker continues the numbers; If-Match decides a delete that keeps the history.
    assert.equal((await native('/files/native/a.txt?keep-versions', { method: 'DELETE' })).headers.get('x-dfs-version'), '4');
    const put = await native('/files/native/a.txt', { method: 'PUT', body: 'fifth' });
    assert.equal(((await put.json()) as { version: number }).version, 5);
    const etag = put.headers.get('etag')!;
    assert.equal((await native('/files/native/a.txt?keep-versions', { method: 'DELETE', headers: { 'if-match': '"0000"' } })).status, 412);
    assert.equal((await native('/files/native/a.txt?keep-versions', { method: 'DELETE', headers: { 'if-match': etag } })).status, 204);

    // The plain DELETE keeps its contract: the whole history goes.
    assert.equal((await native('/files/native/a.txt', { method: 'DELETE' })).status, 204);
    assert.deepEqual(((await (await native('/files/native/a.txt?versions')).json()) as { versions: unknown[] }).versions, []);
    const gone = await native('/files/native/a.txt');
    assert.equal(gone.status, 404);
    assert.equal(gone.headers.get('x-dfs-delete-marker'), null);
  });

  it('every node holds the marker (read at each node)', async () => {
    assert.equal((await native('/files/replicas/k', { method: 'PUT', body: 'k' })).status, 201);
    assert.equal((await native('/files/replicas/k?keep-versions', { method: 'DELETE' })).status, 204);
    for (const node of cluster.storage.nodes) {
      await waitFor(`${node.id} lists the marker`, async (see) => {
        const seen = await (await fetch(`${node.url}/files/replicas/k?versions`)).text();
        see(seen);
        return seen.includes('"deleteMarker":true') ? true : undefined;
      }, 30_000);
    }
  });
});

describe('delete markers: S3 API (AWS SDK)', () => {
  it('DeleteObject leaves a marker; reads meet it as S3 answers; ListObjectVersions lists it; deleting it undeletes', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'markers' }));
    assert.equal((await s3.send(new PutObjectCommand({ Bucket: 'markers', Key: 'doc.txt', Body: 'one' }))).VersionId, '1');
    assert.equal((await s3.send(new PutObjectCommand({ Bucket: 'markers', Key: 'doc.txt', Body: 'two!' }))).VersionId, '2');
    await s3.send(new PutObjectCommand({ Bucket: 'markers', Key: 'other.txt', Body: 'o' }));

    const deleted = await s3.send(new DeleteObjectCommand({ Bucket: 'markers', Key: 'doc.txt' }));
    assert.equal(deleted.DeleteMarker, true);
    assert.equal(deleted.VersionId, '3');

    assert.deepEqual(await s3Failure(s3.send(new GetObjectCommand({ Bucket: 'markers', Key: 'doc.txt' }))), { name: 'NoSuchKey', status: 404 });
    const get = await presigned(new GetObjectCommand({ Bucket: 'markers', Key: 'doc.txt' }), 'GET');
    assert.equal(get.status, 404);
    assert.equal(get.headers.get('x-amz-delete-marker'), 'true');
    assert.equal(get.headers.get('x-amz-version-id'), '3');
    assert.match(await get.text(), /<Code>NoSuchKey<\/Code>/);
    const head = await presigned(new HeadObjectCommand({ Bucket: 'markers', Key: 'doc.txt' }), 'HEAD');
    assert.equal(head.status, 404);
    assert.equal(head.headers.get('x-amz-delete-marker'), 'true');
    assert.equal(await head.text(), '');
    assert.equal((await s3Failure(s3.send(new HeadObjectCommand({ Bucket: 'markers', Key: 'doc.txt' })))).status, 404);
    // The marker's own version id: 405, as S3 answers.
    assert.deepEqual(await s3Failure(s3.send(new GetObjectCommand({ Bucket: 'markers', Key: 'doc.txt', VersionId: '3' }))), { name: 'MethodNotAllowed', status: 405 });
    const byId = await presigned(new GetObjectCommand({ Bucket: 'markers', Key: 'doc.txt', VersionId: '3' }), 'GET');
    assert.equal(byId.status, 405);
    assert.equal(byId.headers.get('x-amz-delete-marker'), 'true');
    assert.match(await byId.text(), /<Code>MethodNotAllowed<\/Code>/);
    const headById = await presigned(new HeadObjectCommand({ Bucket: 'markers', Key: 'doc.txt', VersionId: '3' }), 'HEAD');
    assert.equal(headById.status, 405);
    assert.equal(headById.headers.get('x-amz-delete-marker'), 'true');

    // The old versions stay readable by id.
    assert.equal(await text(await s3.send(new GetObjectCommand({ Bucket: 'markers', Key: 'doc.txt', VersionId: '1' }))), 'one');
    assert.equal(await text(await s3.send(new GetObjectCommand({ Bucket: 'markers', Key: 'doc.txt', VersionId: '2' }))), 'two!');

    // Listed: the marker as latest before both versions; ListObjectsV2 shows the live key only.
    const listed = await s3.send(new ListObjectVersionsCommand({ Bucket: 'markers' }));
    assert.deepEqual(listed.DeleteMarkers?.map((m) => [m.Key, m.VersionId, m.IsLatest, m.Owner?.ID !== undefined, m.LastModified instanceof Date]), [['doc.txt', '3', true, true, true]]);
    assert.deepEqual(listed.Versions?.map((v) => [v.Key, v.VersionId, v.IsLatest]), [['doc.txt', '2', false], ['doc.txt', '1', false], ['other.txt', '1', true]]);
    assert.deepEqual((await s3.send(new ListObjectsV2Command({ Bucket: 'markers' }))).Contents?.map((c) => c.Key), ['other.txt']);

    // CopyObject from a marker: NoSuchKey; from the marker's version id: InvalidRequest.
    assert.deepEqual(await s3Failure(s3.send(new CopyObjectCommand({ Bucket: 'markers', Key: 'copy.txt', CopySource: 'markers/doc.txt' }))), { name: 'NoSuchKey', status: 404 });
    assert.deepEqual(await s3Failure(s3.send(new CopyObjectCommand({ Bucket: 'markers', Key: 'copy.txt', CopySource: 'markers/doc.txt?versionId=3' }))), { name: 'InvalidRequest', status: 400 });
    assert.equal((await s3.send(new CopyObjectCommand({ Bucket: 'markers', Key: 'copy.txt', CopySource: 'markers/doc.txt?versionId=1' }))).CopySourceVersionId, '1');

    // Deleting the marker undeletes: the newest version is current again.
    const undeleted = await s3.send(new DeleteObjectCommand({ Bucket: 'markers', Key: 'doc.txt', VersionId: '3' }));
    assert.equal(undeleted.DeleteMarker, true);
    assert.equal(undeleted.VersionId, '3');
    const current = await s3.send(new GetObjectCommand({ Bucket: 'markers', Key: 'doc.txt' }));
    assert.equal(current.VersionId, '2');
    assert.equal(await text(current), 'two!');
    assert.deepEqual(await versionsOf('markers', 'doc'), ['doc.txt@2*', 'doc.txt@1']);
    // A put after a marker goes on from its number.
    assert.equal((await s3.send(new PutObjectCommand({ Bucket: 'markers', Key: 'doc.txt', Body: 'four' }))).VersionId, '4');
  });

  it('DeleteObjects reports the markers it makes and removes; ListObjectVersions pages through markers', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'bulk-markers' }));
    for (const key of ['a', 'b', 'c']) await s3.send(new PutObjectCommand({ Bucket: 'bulk-markers', Key: key, Body: key }));
    await s3.send(new PutObjectCommand({ Bucket: 'bulk-markers', Key: 'b', Body: 'b2' }));
    const made = await s3.send(new DeleteObjectsCommand({ Bucket: 'bulk-markers', Delete: { Objects: [{ Key: 'a' }, { Key: 'b' }, { Key: 'missing' }] } }));
    assert.deepEqual(made.Deleted?.map((d) => [d.Key, d.DeleteMarker ?? false, d.DeleteMarkerVersionId]), [['a', true, '2'], ['b', true, '3'], ['missing', false, undefined]]);
    assert.deepEqual(await versionsOf('bulk-markers'), ['M:a@2*', 'a@1', 'M:b@3*', 'b@2', 'b@1', 'c@1*']);

    // Pages of one entry, followed by their markers, give every entry once.
    const paged: string[] = [];
    let keyMarker: string | undefined;
    let versionIdMarker: string | undefined;
    for (let page = 0; page < 20; page++) {
      const out = await s3.send(new ListObjectVersionsCommand({ Bucket: 'bulk-markers', MaxKeys: 1, KeyMarker: keyMarker, VersionIdMarker: versionIdMarker }));
      const entries = [...(out.Versions ?? []).map((v) => `${v.Key}@${v.VersionId}`), ...(out.DeleteMarkers ?? []).map((m) => `M:${m.Key}@${m.VersionId}`)];
      assert.equal(entries.length, 1, JSON.stringify(out));
      paged.push(...entries);
      if (out.IsTruncated !== true) break;
      keyMarker = out.NextKeyMarker;
      versionIdMarker = out.NextVersionIdMarker;
    }
    assert.deepEqual(paged, ['M:a@2', 'a@1', 'M:b@3', 'b@2', 'b@1', 'c@1']);

    const removed = await s3.send(new DeleteObjectsCommand({ Bucket: 'bulk-markers', Delete: { Objects: [{ Key: 'a', VersionId: '2' }, { Key: 'b', VersionId: '2' }] } }));
    assert.deepEqual(removed.Deleted?.map((d) => [d.Key, d.VersionId, d.DeleteMarker ?? false, d.DeleteMarkerVersionId]), [['a', '2', true, '2'], ['b', '2', false, undefined]]);
    assert.equal(await text(await s3.send(new GetObjectCommand({ Bucket: 'bulk-markers', Key: 'a' }))), 'a');
    assert.deepEqual(await versionsOf('bulk-markers', 'b'), ['M:b@3*', 'b@1']);
  });

  it('PutBucketVersioning Suspended: a delete ends the history; Enabled again: markers again', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'suspended' }));
    assert.equal((await s3.send(new GetBucketVersioningCommand({ Bucket: 'suspended' }))).Status, 'Enabled');
    await s3.send(new PutObjectCommand({ Bucket: 'suspended', Key: 'k', Body: 'v1' }));
    await s3.send(new PutObjectCommand({ Bucket: 'suspended', Key: 'k', Body: 'v2' }));
    await s3.send(new PutBucketVersioningCommand({ Bucket: 'suspended', VersioningConfiguration: { Status: 'Suspended' } }));
    assert.equal((await s3.send(new GetBucketVersioningCommand({ Bucket: 'suspended' }))).Status, 'Suspended');
    const deleted = await s3.send(new DeleteObjectCommand({ Bucket: 'suspended', Key: 'k' }));
    assert.equal(deleted.DeleteMarker, undefined);
    assert.deepEqual(await versionsOf('suspended'), []);
    assert.deepEqual(await s3Failure(s3.send(new GetObjectCommand({ Bucket: 'suspended', Key: 'k', VersionId: '1' }))), { name: 'NoSuchVersion', status: 404 });
    assert.deepEqual(await s3Failure(s3.send(new PutBucketVersioningCommand({ Bucket: 'no-such-bucket', VersioningConfiguration: { Status: 'Suspended' } }))), { name: 'NoSuchBucket', status: 404 });

    await s3.send(new PutBucketVersioningCommand({ Bucket: 'suspended', VersioningConfiguration: { Status: 'Enabled' } }));
    assert.equal((await s3.send(new GetBucketVersioningCommand({ Bucket: 'suspended' }))).Status, 'Enabled');
    await s3.send(new PutObjectCommand({ Bucket: 'suspended', Key: 'k', Body: 'v3' }));
    assert.equal((await s3.send(new DeleteObjectCommand({ Bucket: 'suspended', Key: 'k' }))).DeleteMarker, true);
    assert.deepEqual(await versionsOf('suspended'), ['M:k@4*', 'k@3']);
  });

  it('DeleteBucket: refused while a live object is there; once every object is deleted, it goes with the history', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'to-remove' }));
    for (const key of ['x', 'dir/y']) {
      await s3.send(new PutObjectCommand({ Bucket: 'to-remove', Key: key, Body: `${key} 1` }));
      await s3.send(new PutObjectCommand({ Bucket: 'to-remove', Key: key, Body: `${key} 2` }));
    }
    await s3.send(new DeleteObjectCommand({ Bucket: 'to-remove', Key: 'x' }));
    assert.deepEqual(await s3Failure(s3.send(new DeleteBucketCommand({ Bucket: 'to-remove' }))), { name: 'BucketNotEmpty', status: 409 });
    await s3.send(new DeleteObjectCommand({ Bucket: 'to-remove', Key: 'dir/y' }));
    assert.equal((await versionsOf('to-remove')).length, 6, 'markers and versions are kept until the bucket goes');
    await s3.send(new DeleteBucketCommand({ Bucket: 'to-remove' }));
    assert.deepEqual(await s3Failure(s3.send(new ListObjectVersionsCommand({ Bucket: 'to-remove' }))), { name: 'NoSuchBucket', status: 404 });
    // The history went with it: a bucket of the same name starts empty.
    await s3.send(new CreateBucketCommand({ Bucket: 'to-remove' }));
    assert.deepEqual(await versionsOf('to-remove'), []);
    assert.deepEqual(((await (await native('/files?prefix=to-remove/&versions')).json()) as { files: unknown[] }).files, []);
  });
});
