// Access keys made and revoked at runtime, end to end: three storage nodes and a gateway as
// processes. A key made through the admin route works with the AWS SDK against the gateway's S3
// API, is listed without its secret, stops working once revoked, and survives a restart of every
// node and a wiped node catching up from a snapshot.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { CreateBucketCommand, GetObjectCommand, ListBucketsCommand, PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { freePorts, sleep } from '../support/cluster.ts';
import { GatewayCluster } from '../support/gateway-cluster.ts';

const rootKeyId = 'TESTROOTKEY';
const rootSecret = randomBytes(24).toString('base64url');
const adminToken = randomBytes(16).toString('hex');
const region = 'us-east-1';
/** Generous: the gateway reads the key list every 2 s; a loaded machine may take longer. */
const revokeDeadlineMs = 30_000;

interface CreatedKey {
  accessKeyId: string;
  secretAccessKey: string;
  created: string;
}

describe('access keys at runtime', () => {
  let cluster: GatewayCluster;
  let s3Endpoint: string;

  function s3For(key: { accessKeyId: string; secretAccessKey: string }): S3Client {
    return new S3Client({ endpoint: s3Endpoint, region, forcePathStyle: true, credentials: key, maxAttempts: 1 });
  }

  async function admin(method: string, path: string, url = cluster.url, token = adminToken): Promise<Response> {
    return await cluster.storage.fetch(`${url}${path}`, { method, headers: { authorization: `Bearer ${token}` } });
  }

  async function createKey(url = cluster.url): Promise<CreatedKey> {
    const response = await admin('POST', '/admin/keys', url);
    assert.equal(response.status, 201, await response.clone().text());
    return (await response.json()) as CreatedKey;
  }

  async function s3ErrorName(promise: Promise<unknown>): Promise<string | null> {
    try {
      await promise;
      return null;
    } catch (err) {
      assert.ok(err instanceof S3ServiceException, `an S3 error, got ${String(err)}`);
      return err.name;
    }
  }

  before(async () => {
    const [s3Port] = await freePorts(1);
    s3Endpoint = `http://127.0.0.1:${s3Port}`;
    cluster = await GatewayCluster.start({
      // Frequent snapshots: the restart below restores the keys from one.
      storage: { flags: ['--admin-token', adminToken, '--snapshot-entries', '5'] },
      gatewayFlags: ['--s3-port', String(s3Port)],
      gatewayEnv: { DFS_S3_ACCESS_KEY_ID: rootKeyId, DFS_S3_SECRET_ACCESS_KEY: rootSecret, DFS_ADMIN_TOKEN: adminToken },
    });
  });

  after(async () => {
    await cluster?.stopAll();
  });

  it('refuses the admin routes without the admin token', async () => {
    for (const [method, path] of [['POST', '/admin/keys'], ['GET', '/admin/keys'], ['GET', '/admin/keys?secrets=1'], ['DELETE', '/admin/keys/DFSWHATEVER']] as const) {
      const response = await admin(method, path, cluster.url, 'not-the-token');
      assert.equal(response.status, 401, `${method} ${path}`);
      assert.equal(((await response.json()) as { error: { code: string } }).error.code, 'unauthorized');
    }
  });

  it('makes a key that works with the AWS SDK, lists it without its secret, and refuses it once revoked', async () => {
    const key = await createKey();
    assert.match(key.accessKeyId, /^DFS[A-Z2-7]{17}$/);
    assert.ok(key.secretAccessKey.length >= 40, 'a 40-character secret');
    const s3 = s3For(key);
    // Used at once: the gateway reads the list again for a key id it does not know.
    await s3.send(new CreateBucketCommand({ Bucket: 'keyed' }));
    await s3.send(new PutObjectCommand({ Bucket: 'keyed', Key: 'a.txt', Body: 'made with a runtime key' }));
    const got = await s3.send(new GetObjectCommand({ Bucket: 'keyed', Key: 'a.txt' }));
    assert.equal(await got.Body!.transformToString(), 'made with a runtime key');

    // Listed by every node and the gateway, never with the secret; /status never shows it either.
    for (const url of [cluster.url, ...cluster.storage.nodes.map((n) => n.url)]) {
      const listing = await admin('GET', '/admin/keys', url);
      assert.equal(listing.status, 200);
      const text = await listing.text();
      assert.ok(!text.includes(key.secretAccessKey), `${url}: the listing shows a secret`);
      const listed = (JSON.parse(text) as { keys: Record<string, unknown>[] }).keys.find((k) => k.accessKeyId === key.accessKeyId);
      assert.deepEqual(listed, { accessKeyId: key.accessKeyId, created: key.created });
      const status = await (await cluster.storage.fetch(`${url}/status`)).text();
      assert.ok(!status.includes(key.secretAccessKey), `${url}: /status shows a secret`);
    }

    const revoked = await admin('DELETE', `/admin/keys/${key.accessKeyId}`);
    assert.equal(revoked.status, 204);
    const listing = (await (await admin('GET', '/admin/keys')).json()) as { keys: { accessKeyId: string }[] };
    assert.ok(!listing.keys.some((k) => k.accessKeyId === key.accessKeyId), 'a revoked key is not listed');
    const again = await admin('DELETE', `/admin/keys/${key.accessKeyId}`);
    assert.equal(again.status, 404);
    assert.equal(((await again.json()) as { error: { code: string } }).error.code, 'no_such_key');

    // The same client is refused within the gateway's refresh.
    const deadline = Date.now() + revokeDeadlineMs;
    let last: string | null = null;
    for (;;) {
      last = await s3ErrorName(s3.send(new ListBucketsCommand({})));
      if (last === 'InvalidAccessKeyId') break;
      assert.ok(Date.now() < deadline, `the revoked key still works after ${revokeDeadlineMs} ms (last answer: ${last ?? 'success'})`);
      await sleep(200);
    }
    // The root key still works.
    await s3For({ accessKeyId: rootKeyId, secretAccessKey: rootSecret }).send(new ListBucketsCommand({}));
  });

  it('keeps the keys across a restart of every node, and a wiped node gets them from a snapshot', async () => {
    const kept = await createKey(cluster.storage.nodes[1].url);
    const gone = await createKey();
    assert.equal((await admin('DELETE', `/admin/keys/${gone.accessKeyId}`)).status, 204);
    // More entries than --snapshot-entries, so every node snapshots state that holds the keys.
    const s3 = s3For(kept);
    for (let i = 0; i < 12; i++) await s3.send(new PutObjectCommand({ Bucket: 'keyed', Key: `fill/${i}`, Body: `entry ${i}` }));

    for (const node of cluster.storage.nodes) await cluster.storage.stopNode(node.id);
    for (const node of cluster.storage.nodes) cluster.storage.startNode(node.id);
    await cluster.storage.waitReady();
    await cluster.waitForLeader(30_000);

    // A node whose disk was wiped catches up from the leader's snapshot (its log is compacted).
    const wiped = cluster.storage.nodes[2];
    await cluster.storage.stopNode(wiped.id);
    rmSync(wiped.dataDir, { recursive: true, force: true });
    for (let i = 12; i < 24; i++) await s3.send(new PutObjectCommand({ Bucket: 'keyed', Key: `fill/${i}`, Body: `entry ${i}` }));
    cluster.storage.startNode(wiped.id);
    await cluster.storage.waitReady();

    // A local read answers from what the node has applied: the wiped one may still be installing
    // the snapshot when it starts to listen, so each node is given time to show the kept key.
    for (const node of cluster.storage.nodes) {
      const caughtUpBy = Date.now() + 30_000;
      let ids: string[] = [];
      for (;;) {
        const listing = (await (await admin('GET', '/admin/keys?consistency=local', node.url)).json()) as { keys: { accessKeyId: string }[] };
        ids = listing.keys.map((k) => k.accessKeyId);
        if (ids.includes(kept.accessKeyId) || Date.now() > caughtUpBy) break;
        await sleep(200);
      }
      assert.ok(ids.includes(kept.accessKeyId), `${node.id} lost the key ${kept.accessKeyId} (30 s after it was ready it lists: ${ids.join(', ') || 'none'})`);
      assert.ok(!ids.includes(gone.accessKeyId), `${node.id} brought back the revoked key`);
    }
    const deadline = Date.now() + revokeDeadlineMs;
    for (;;) {
      const failure = await s3ErrorName(s3.send(new GetObjectCommand({ Bucket: 'keyed', Key: 'fill/3' })));
      if (failure === null) break;
      assert.ok(Date.now() < deadline, `the kept key does not work after the restart: ${failure}`);
      await sleep(200);
    }
  });
});
