// Delete markers in the metadata state machine (S3's deletes on a versioned bucket): a delete that
// keeps the history, a put after it, the undelete by deleting the marker, S3's rule for which
// entry is current, pruning with markers counted, chunk references kept behind a marker, bucket
// versioning records and the bucket delete that drops the history, snapshots (format 9 and 8).
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { encodeHlc } from '../../shared/hlc.ts';
import { openDatabase } from '../../storage-node/src/db/open-database.ts';
import { commandProblem, encodeCommand } from '../../storage-node/src/metadata/commands.ts';
import type { AppliedResult, BucketResult, MetadataResult, ReplicatedCommand } from '../../storage-node/src/metadata/commands.ts';
import { MetadataStateMachine } from '../../storage-node/src/metadata/metadata-state-machine.ts';
import type { MetadataStateMachineOptions } from '../../storage-node/src/metadata/metadata-state-machine.ts';
import { metadataSnapshotFormat } from '../../storage-node/src/metadata/metadata-snapshot.ts';

const tempDirs: string[] = [];
after(() => {
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'delete-markers-'));
  tempDirs.push(dir);
  return dir;
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

const baseMs = Date.UTC(2026, 0, 1);

/** A state machine on a temp meta.db and the entries applied to it, stamped from their index. */
class Machine {
  readonly sm: MetadataStateMachine;
  readonly sqlite: Database.Database;
  next = 1;

  constructor(options: MetadataStateMachineOptions = {}) {
    const database = openDatabase(path.join(tempDir(), 'meta.db'));
    this.sqlite = database.sqlite;
    this.sm = new MetadataStateMachine(database, options);
  }

  apply(command: Record<string, unknown>): AppliedResult {
    const index = this.next++;
    const data = encodeCommand({ hlc: encodeHlc({ wallMs: baseMs + index * 1000, logical: 0 }), ...command } as unknown as ReplicatedCommand);
    const [result] = this.sm.apply([{ index, term: 1, type: 'normal', data }]);
    assert.ok(result !== undefined);
    return result;
  }

  /** A put of `content` as one chunk named by its text. */
  put(name: string, content: string, extra: Record<string, unknown> = {}): MetadataResult {
    return this.apply({ op: 'put', name, size: content.length, contentType: 'text/plain', etag: sha256(content), chunks: [sha256(content)], chunkSizes: [content.length], ...extra }) as MetadataResult;
  }

  delete(name: string, extra: Record<string, unknown> = {}): MetadataResult {
    return this.apply({ op: 'delete', name, ...extra }) as MetadataResult;
  }

  bucket(op: string, name: string, extra: Record<string, unknown> = {}): BucketResult {
    return this.apply({ op, name, ...extra }) as BucketResult;
  }

  /** Versions newest first as `<number>` or `<number>m` for a marker. */
  versions(name: string): string[] {
    return this.sm.listVersions(name).map((entry) => `${entry.version}${'deleteMarker' in entry && entry.deleteMarker === true ? 'm' : ''}`);
  }

  refcount(content: string): number {
    return this.sm.chunkRefState(sha256(content))?.refcount ?? 0;
  }
}

function ok<T extends { ok: boolean }>(result: T): T & { ok: true } {
  assert.ok(result.ok, `refused: ${JSON.stringify(result)}`);
  return result as T & { ok: true };
}

function refusal(result: MetadataResult | BucketResult): string {
  return result.ok ? 'ok' : result.code;
}

describe('delete markers: a delete that keeps the history', () => {
  test('the current version becomes a marker: the name is gone from reads and listings, its versions stay', () => {
    const m = new Machine();
    ok(m.put('bkt/k', 'one'));
    ok(m.put('bkt/k', 'two'));
    ok(m.put('bkt/other', 'x'));
    const deleted = ok(m.delete('bkt/k', { keepHistory: true }));
    assert.equal(deleted.file.version, 3);
    assert.equal(deleted.file.deleteMarker, true);
    assert.equal(deleted.file.size, 0);
    assert.deepEqual(deleted.file.chunks, []);
    assert.equal(deleted.file.modified, new Date(baseMs + 4000).toISOString());

    assert.equal(m.sm.getFile('bkt/k'), null);
    assert.equal(m.sm.getFile('bkt/k', 3), null, 'a marker is no file to read');
    assert.deepEqual(m.sm.deleteMarker('bkt/k'), { version: 3, modifiedMs: baseMs + 4000 });
    assert.deepEqual(m.sm.deleteMarker('bkt/k', 3), { version: 3, modifiedMs: baseMs + 4000 });
    assert.equal(m.sm.deleteMarker('bkt/k', 2), null);
    assert.equal(m.sm.getFile('bkt/k', 2)?.etag, sha256('two'), 'an older version is still read by its number');
    assert.deepEqual(m.sm.listFiles({ prefix: 'bkt/' }).files.map((file) => file.name), ['bkt/other']);
    assert.deepEqual(m.versions('bkt/k'), ['3m', '2', '1']);
    assert.deepEqual(m.sm.listVersions('bkt/k')[0], { name: 'bkt/k', version: 3, deleteMarker: true, modified: new Date(baseMs + 4000).toISOString() });
    assert.deepEqual(m.sm.stats(), { files: 1, bytes: 1 });
    // The kept versions keep their chunks from the collector.
    assert.equal(m.refcount('one'), 1);
    assert.equal(m.refcount('two'), 1);
    assert.deepEqual(m.sm.listNamesWithVersions({ prefix: 'bkt/' }), { names: ['bkt/k', 'bkt/other'], next: null });
    assert.deepEqual(m.sm.listNamesWithVersions({ prefix: 'bkt/', after: 'bkt/k', limit: 1 }), { names: ['bkt/other'], next: null });
    assert.deepEqual(m.sm.listNamesWithVersions({ prefix: 'bkt/', limit: 1 }), { names: ['bkt/k'], next: 'bkt/k' });
  });

  test('a put after a marker continues the version numbers and is current', () => {
    const m = new Machine();
    ok(m.put('k', 'one'));
    ok(m.delete('k', { keepHistory: true }));
    const put = ok(m.put('k', 'three'));
    assert.equal(put.file.version, 3);
    assert.equal(m.sm.getFile('k')?.version, 3);
    assert.equal(m.sm.deleteMarker('k'), null, 'the newest entry is a version again');
    assert.deepEqual(m.versions('k'), ['3', '2m', '1']);
    assert.deepEqual(m.sm.stats(), { files: 1, bytes: 5 });
  });

  test('deleting the marker undeletes: the newest version behind it is current again', () => {
    const m = new Machine();
    ok(m.put('k', 'one'));
    ok(m.put('k', 'two'));
    ok(m.delete('k', { keepHistory: true }));
    const removed = ok(m.delete('k', { version: 3 }));
    assert.equal(removed.file.deleteMarker, true);
    assert.equal(removed.file.version, 3);
    assert.equal(m.sm.getFile('k')?.version, 2);
    assert.deepEqual(m.versions('k'), ['2', '1']);
    assert.deepEqual(m.sm.stats(), { files: 1, bytes: 3 });
    // An older marker goes without changing what is current.
    ok(m.delete('k', { keepHistory: true }));
    ok(m.put('k', 'five'));
    ok(m.delete('k', { version: 4 }));
    assert.equal(m.sm.getFile('k')?.version, 5);
    assert.deepEqual(m.versions('k'), ['5', '2', '1']);
  });

  test('S3\'s rule: the newest entry left is current, and when it is a marker the name is deleted', () => {
    const m = new Machine();
    ok(m.put('k', 'one'));
    ok(m.delete('k', { keepHistory: true }));
    ok(m.put('k', 'three'));
    ok(m.delete('k', { version: 3 }));
    assert.equal(m.sm.getFile('k'), null, 'the marker in front of version 1 is the newest entry');
    assert.deepEqual(m.sm.deleteMarker('k'), { version: 2, modifiedMs: baseMs + 2000 });
    assert.deepEqual(m.sm.stats(), { files: 0, bytes: 0 });
    assert.equal(m.refcount('three'), 0);
    assert.equal(m.refcount('one'), 1);
    // Deleting the last version behind the marker leaves the marker alone.
    ok(m.delete('k', { version: 1 }));
    assert.deepEqual(m.versions('k'), ['2m']);
    ok(m.delete('k', { version: 2 }));
    assert.deepEqual(m.versions('k'), []);
    assert.equal(m.sm.getFile('k'), null);
    assert.deepEqual(m.sm.listNamesWithVersions(), { names: [], next: null });
    assert.equal(refusal(m.delete('k', { version: 2 })), 'no_such_version');
  });

  test('no marker on a marker, nor for a name that is not there', () => {
    const m = new Machine();
    assert.equal(refusal(m.delete('never', { keepHistory: true })), 'not_found');
    ok(m.put('k', 'one'));
    ok(m.delete('k', { keepHistory: true }));
    assert.equal(refusal(m.delete('k', { keepHistory: true })), 'not_found');
    assert.deepEqual(m.versions('k'), ['2m', '1']);
  });

  test('a plain delete after a marker ends the history: every version and marker goes', () => {
    const m = new Machine();
    ok(m.put('k', 'one'));
    ok(m.put('k', 'two'));
    ok(m.delete('k', { keepHistory: true }));
    const removed = ok(m.delete('k'));
    assert.equal(removed.file.deleteMarker, true, 'it names the newest entry it removed');
    assert.deepEqual(m.versions('k'), []);
    assert.equal(m.refcount('one'), 0);
    assert.equal(m.refcount('two'), 0);
    assert.equal(refusal(m.delete('k')), 'not_found');
    assert.equal(ok(m.put('k', 'again')).file.version, 4);
  });

  test('pruning by --keep-versions counts markers as versions', () => {
    const m = new Machine({ keepVersions: 3 });
    ok(m.put('k', 'one'));
    ok(m.put('k', 'two'));
    ok(m.delete('k', { keepHistory: true }));
    assert.deepEqual(m.versions('k'), ['3m', '2', '1']);
    ok(m.put('k', 'four'));
    assert.deepEqual(m.versions('k'), ['4', '3m', '2']);
    assert.equal(m.refcount('one'), 0);
    ok(m.delete('k', { keepHistory: true }));
    assert.deepEqual(m.versions('k'), ['5m', '4', '3m']);
    assert.equal(m.refcount('two'), 0);
    // A machine keeping one version: the marker is all that is left.
    const one = new Machine({ keepVersions: 1 });
    ok(one.put('k', 'one'));
    ok(one.delete('k', { keepHistory: true }));
    assert.deepEqual(one.versions('k'), ['2m']);
    assert.equal(one.refcount('one'), 0);
  });

  test('If-Match decides a delete that keeps the history; an Idempotency-Key replays it once', () => {
    const m = new Machine();
    ok(m.put('k', 'one'));
    assert.equal(refusal(m.delete('k', { keepHistory: true, precondition: { ifMatch: `"${sha256('other')}"` } })), 'precondition_failed');
    assert.deepEqual(m.versions('k'), ['1']);
    const first = ok(m.delete('k', { keepHistory: true, precondition: { ifMatch: `"${sha256('one')}"` }, requestId: 'del-1' }));
    const again = ok(m.delete('k', { keepHistory: true, precondition: { ifMatch: `"${sha256('one')}"` }, requestId: 'del-1' }));
    assert.deepEqual(again, first);
    assert.deepEqual(m.versions('k'), ['2m', '1'], 'the retry made no second marker');
    assert.equal(refusal(m.delete('k', { requestId: 'del-1' })), 'idempotency_key_mismatch', 'a plain delete is another request');
    assert.equal(refusal(m.delete('k', { version: 2, precondition: { ifMatch: '*' } })), 'precondition_failed', 'If-Match: * needs a current version');
  });

  test('a delete keeping the history names no version: the command check refuses both', () => {
    assert.equal(commandProblem({ op: 'delete', name: 'k', version: 1, keepHistory: true, hlc: encodeHlc({ wallMs: baseMs, logical: 0 }) }), 'a delete of one version cannot keep the history');
    assert.equal(commandProblem({ op: 'delete', name: 'k', keepHistory: false, hlc: encodeHlc({ wallMs: baseMs, logical: 0 }) }), 'keepHistory must be true when present');
  });

  test('a copy from a marker is refused: no source', () => {
    const m = new Machine();
    ok(m.put('k', 'one'));
    ok(m.delete('k', { keepHistory: true }));
    assert.equal(refusal(m.apply({ op: 'copy', name: 'c', source: 'k', sourceVersion: 2 }) as MetadataResult), 'no_such_source');
    assert.equal(ok(m.apply({ op: 'copy', name: 'c', source: 'k', sourceVersion: 1 }) as MetadataResult).file.etag, sha256('one'));
  });
});

describe('delete markers: buckets', () => {
  test('a bucket\'s versioning is Enabled until set; it is kept in the bucket record', () => {
    const m = new Machine();
    assert.equal(ok(m.bucket('createBucket', 'photos')).bucket.versioning, 'Enabled');
    assert.equal(ok(m.bucket('setBucketVersioning', 'photos', { status: 'Suspended' })).bucket.versioning, 'Suspended');
    assert.equal(m.sm.getBucket('photos')?.versioning, 'Suspended');
    assert.equal(ok(m.bucket('setBucketVersioning', 'photos', { status: 'Enabled' })).bucket.versioning, 'Enabled');
    assert.equal(refusal(m.bucket('setBucketVersioning', 'none', { status: 'Enabled' })), 'no_such_bucket');
    assert.match(String(commandProblem({ op: 'setBucketVersioning', name: 'photos', status: 'Off', hlc: encodeHlc({ wallMs: baseMs, logical: 0 }) })), /status must be one of Enabled, Suspended/);
  });

  test('a bucket with a live object is not empty; with only history it is deleted, the history with it', () => {
    const m = new Machine();
    ok(m.bucket('createBucket', 'bkt'));
    ok(m.put('bkt/k', 'one'));
    ok(m.put('bkt/k', 'two'));
    ok(m.put('bkt/gone', 'three'));
    ok(m.put('bkkt/outside', 'four'));
    ok(m.delete('bkt/gone', { keepHistory: true }));
    assert.equal(refusal(m.bucket('deleteBucket', 'bkt')), 'bucket_not_empty');
    ok(m.delete('bkt/k', { keepHistory: true }));
    ok(m.bucket('deleteBucket', 'bkt'));
    assert.equal(m.sm.getBucket('bkt'), null);
    assert.deepEqual(m.versions('bkt/k'), []);
    assert.deepEqual(m.versions('bkt/gone'), []);
    assert.equal(m.refcount('one') + m.refcount('two') + m.refcount('three'), 0);
    assert.equal(m.sm.getFile('bkkt/outside')?.etag, sha256('four'), 'a name outside the bucket stays');
    assert.deepEqual(m.sm.listNamesWithVersions(), { names: ['bkkt/outside'], next: null });
    // The names go on counting where they were.
    ok(m.bucket('createBucket', 'bkt'));
    assert.equal(ok(m.put('bkt/k', 'again')).file.version, 4);
  });
});

describe('delete markers: a bucket with more history than one page', () => {
  test('every version and marker goes, page after page, and every chunk reference with them', () => {
    const m = new Machine();
    ok(m.bucket('createBucket', 'many'));
    for (let i = 0; i < 200; i++) {
      ok(m.put(`many/${i}`, `content ${i}`));
      ok(m.delete(`many/${i}`, { keepHistory: true }));
    }
    ok(m.put('many/last', 'last'));
    ok(m.put('many/last', 'last again'));
    ok(m.delete('many/last', { keepHistory: true }));
    assert.equal((m.sqlite.prepare("SELECT count(*) AS n FROM file_versions WHERE name LIKE 'many/%'").get() as { n: number }).n, 403);
    ok(m.bucket('deleteBucket', 'many'));
    assert.equal((m.sqlite.prepare('SELECT count(*) AS n FROM file_versions').get() as { n: number }).n, 0);
    assert.equal((m.sqlite.prepare('SELECT count(*) AS n FROM chunk_refs WHERE refcount > 0').get() as { n: number }).n, 0);
  });
});

describe('delete markers: snapshots and digest', () => {
  function populated(): Machine {
    const m = new Machine();
    ok(m.bucket('createBucket', 'bkt'));
    ok(m.bucket('setBucketVersioning', 'bkt', { status: 'Suspended' }));
    ok(m.put('bkt/k', 'one'));
    ok(m.put('bkt/k', 'two'));
    ok(m.delete('bkt/k', { keepHistory: true }));
    ok(m.put('bkt/live', 'live'));
    return m;
  }

  test('markers and the versioning state go through a snapshot (format 9) and count in the digest', () => {
    const source = populated();
    const file = path.join(tempDir(), 'markers.snap');
    source.sm.writeSnapshot(file);
    const format = new Database(file, { readonly: true });
    assert.equal(format.pragma('user_version', { simple: true }), metadataSnapshotFormat);
    assert.equal(metadataSnapshotFormat, 9);
    format.close();
    const target = new Machine();
    target.sm.restoreSnapshot(file, { index: source.sm.appliedIndex(), term: 1, membership: { voters: ['a'] } });
    assert.deepEqual(target.versions('bkt/k'), ['3m', '2', '1']);
    assert.equal(target.sm.getFile('bkt/k'), null);
    assert.deepEqual(target.sm.deleteMarker('bkt/k'), source.sm.deleteMarker('bkt/k'));
    assert.equal(target.sm.getBucket('bkt')?.versioning, 'Suspended');
    assert.deepEqual(target.sm.stats(), source.sm.stats());
    assert.equal(target.sm.digest().digest, source.sm.digest().digest);
    // The undelete works on the restored replica.
    target.next = source.next;
    ok(target.delete('bkt/k', { version: 3 }));
    assert.equal(target.sm.getFile('bkt/k')?.version, 2);

    // A replica whose marker lost its flag, or whose bucket lost its state, differs.
    const drifted = populated();
    drifted.sqlite.prepare('UPDATE file_versions SET delete_marker = 0 WHERE delete_marker = 1').run();
    assert.notEqual(drifted.sm.digest().digest, source.sm.digest().digest);
    const driftedBucket = populated();
    driftedBucket.sqlite.prepare("UPDATE buckets SET versioning = 'Enabled'").run();
    assert.notEqual(driftedBucket.sm.digest().digest, source.sm.digest().digest);
  });

  test('a format 8 snapshot (before markers) restores: every row a version, buckets Enabled', () => {
    const source = new Machine();
    ok(source.bucket('createBucket', 'bkt'));
    ok(source.put('bkt/k', 'one'));
    ok(source.put('bkt/k', 'two'));
    ok(source.delete('bkt/k', { version: 2 }));
    const file = path.join(tempDir(), 'format8.snap');
    source.sm.writeSnapshot(file);
    const old = new Database(file);
    old.exec('ALTER TABLE file_versions DROP COLUMN delete_marker; ALTER TABLE buckets DROP COLUMN versioning');
    old.pragma('user_version = 8');
    old.close();
    const target = new Machine();
    target.sm.restoreSnapshot(file, { index: source.sm.appliedIndex(), term: 1, membership: { voters: ['a'] } });
    assert.deepEqual(target.versions('bkt/k'), ['1']);
    assert.equal(target.sm.getFile('bkt/k')?.etag, sha256('one'));
    assert.equal(target.sm.getBucket('bkt')?.versioning, 'Enabled');
    assert.equal(target.sm.digest().digest, source.sm.digest().digest);
    // And markers work from there.
    target.next = source.next;
    ok(target.delete('bkt/k', { keepHistory: true }));
    assert.deepEqual(target.versions('bkt/k'), ['3m', '1']);
  });
});
