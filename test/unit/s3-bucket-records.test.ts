// Buckets as replicated records in the metadata state machine: create, refuse a second create,
// refuse deleting a bucket that holds files (decided when applied), delete; snapshots carry them
// (format 3) and older snapshot formats still restore; the replica digest covers them.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { encodeHlc } from '../../shared/hlc.ts';
import { openDatabase } from '../../storage-node/src/db/open-database.ts';
import { decodeCommand, encodeCommand } from '../../storage-node/src/metadata/commands.ts';
import type { AppliedResult, BucketCommand, MetadataCommand, ReplicatedCommand } from '../../storage-node/src/metadata/commands.ts';
import { MetadataStateMachine } from '../../storage-node/src/metadata/metadata-state-machine.ts';
import type { Entry } from '../../storage-node/src/raft/types.ts';

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

function machine(): MetadataStateMachine {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 's3-buckets-'));
  dirs.push(dir);
  return new MetadataStateMachine(openDatabase(path.join(dir, 'meta.db')));
}

const baseMs = Date.UTC(2026, 0, 1);

class Log {
  next = 1;
  entry(command: Omit<MetadataCommand | BucketCommand, 'hlc'>): Entry {
    const index = this.next++;
    return { index, term: 1, type: 'normal', data: encodeCommand({ ...command, hlc: encodeHlc({ wallMs: baseMs + index * 1000, logical: 0 }) } as ReplicatedCommand) };
  }
  create(name: string, requestId?: string): Entry {
    return this.entry({ op: 'createBucket', name, ...(requestId !== undefined ? { requestId } : {}) });
  }
  remove(name: string): Entry {
    return this.entry({ op: 'deleteBucket', name });
  }
  put(name: string, content = name, bucket?: string): Entry {
    return this.entry({
      op: 'put', name, size: content.length, contentType: 'text/plain', etag: sha256(content), chunks: [], inline: Buffer.from(content).toString('base64'),
      ...(bucket !== undefined ? { bucket } : {}),
    } as Omit<MetadataCommand | BucketCommand, 'hlc'>);
  }
  deleteFile(name: string): Entry {
    return this.entry({ op: 'delete', name });
  }
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function applyOne(sm: MetadataStateMachine, entry: Entry): AppliedResult {
  const [result] = sm.apply([entry]);
  assert.ok(result !== undefined);
  return result;
}

function codeOf(result: AppliedResult): string {
  return result.ok ? 'ok' : result.code;
}

describe('bucket records', () => {
  test('create, a second create refused, list and find', () => {
    const sm = machine();
    const log = new Log();
    const created = applyOne(sm, log.create('photos'));
    assert.deepEqual(created, { ok: true, bucket: { name: 'photos', created: new Date(baseMs + 1000).toISOString(), versioning: 'Enabled' } });
    assert.equal(codeOf(applyOne(sm, log.create('photos'))), 'bucket_exists');
    applyOne(sm, log.create('logs'));
    assert.deepEqual(sm.listBuckets().map((b) => b.name), ['logs', 'photos']);
    assert.equal(sm.getBucket('photos')?.name, 'photos');
    assert.equal(sm.getBucket('nothing'), null);
  });

  test('a bucket that holds files is not deleted; once they are gone it is', () => {
    const sm = machine();
    const log = new Log();
    applyOne(sm, log.create('photos'));
    applyOne(sm, log.create('photos2'));
    applyOne(sm, log.put('photos/a/b.jpg'));
    applyOne(sm, log.put('photos2/x')); // another bucket whose name starts alike
    applyOne(sm, log.put('photosx')); // a name that is no file of the bucket
    assert.equal(codeOf(applyOne(sm, log.remove('photos'))), 'bucket_not_empty');
    assert.notEqual(sm.getBucket('photos'), null);
    applyOne(sm, log.deleteFile('photos/a/b.jpg'));
    assert.equal(codeOf(applyOne(sm, log.remove('photos'))), 'ok');
    assert.equal(sm.getBucket('photos'), null);
    assert.equal(codeOf(applyOne(sm, log.remove('photos'))), 'no_such_bucket');
    assert.notEqual(sm.getBucket('photos2'), null);
  });

  test('a put that needs its bucket is refused, when applied, once the bucket is gone (S3 PutObject against DeleteBucket)', () => {
    const sm = machine();
    const log = new Log();
    assert.equal(codeOf(applyOne(sm, log.put('photos/a', 'a', 'photos'))), 'no_such_bucket');
    assert.equal(sm.getFile('photos/a'), null, 'nothing stored');
    applyOne(sm, log.create('photos'));
    assert.equal(codeOf(applyOne(sm, log.put('photos/a', 'a', 'photos'))), 'ok');
    applyOne(sm, log.deleteFile('photos/a'));
    // The S3 gateway checked the bucket before it wrote; a delete committed in between wins.
    applyOne(sm, log.remove('photos'));
    assert.equal(codeOf(applyOne(sm, log.put('photos/b', 'b', 'photos'))), 'no_such_bucket');
    assert.equal(sm.getFile('photos/b'), null);
    assert.equal(sm.stats().files, 0);
    assert.throws(() => log.put('other/b', 'b', 'photos'), /invalid metadata command/);
  });

  test('a create sent twice under one Idempotency-Key is applied once', () => {
    const sm = machine();
    const log = new Log();
    const first = applyOne(sm, log.create('photos', 'key-1'));
    assert.deepEqual(applyOne(sm, log.create('photos', 'key-1')), first);
    assert.equal(codeOf(applyOne(sm, log.create('other', 'key-1'))), 'idempotency_key_mismatch');
  });

  test('bad bucket commands are refused when encoded and asserted when decoded', () => {
    for (const name of ['ab', 'UPPER', 'a..b', '192.168.1.1', 'a/b', '-ab', 'x'.repeat(64)]) {
      assert.throws(() => new Log().create(name), /invalid metadata command/, name);
    }
    const hlc = encodeHlc({ wallMs: baseMs, logical: 0 });
    assert.throws(() => decodeCommand(JSON.stringify({ op: 'createBucket', name: 'ok-name', hlc, precondition: {} })), /unexpected field/);
  });

  test('snapshots carry buckets; a format-2 snapshot (before buckets) restores with none', () => {
    const source = machine();
    const log = new Log();
    source.apply([log.create('photos'), log.put('photos/k')]);
    const dir = dirs[dirs.length - 1];
    const file = path.join(dir, 'buckets.snap');
    source.writeSnapshot(file);
    const meta = { index: source.appliedIndex(), term: 1, membership: { voters: ['n1'] } };
    const target = machine();
    target.restoreSnapshot(file, meta);
    assert.deepEqual(target.listBuckets(), source.listBuckets());
    assert.equal(target.digest().digest, source.digest().digest);

    const old = path.join(dir, 'format2.snap');
    source.writeSnapshot(old);
    const db = new Database(old);
    db.exec('DROP TABLE buckets');
    db.pragma('user_version = 2');
    db.close();
    const fromOld = machine();
    fromOld.restoreSnapshot(old, meta);
    assert.deepEqual(fromOld.listBuckets(), []);
    assert.equal(fromOld.getFile('photos/k')?.name, 'photos/k');
    assert.notEqual(fromOld.digest().digest, source.digest().digest, 'the digest sees the missing bucket');
  });
});
