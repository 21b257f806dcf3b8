// The multipart upload commands of the metadata state machine: an upload and its parts are
// replicated records, parts hold references on their chunks, a complete makes one version of the
// parts' chunk lists in one entry (or, refused, changes nothing), abort and expiry drop the parts'
// references, and all of it travels in snapshots.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { encodeHlc } from '../../shared/hlc.ts';
import { openDatabase } from '../../storage-node/src/db/open-database.ts';
import { commandProblem, encodeCommand } from '../../storage-node/src/metadata/commands.ts';
import type { AppliedResult, ReplicatedCommand } from '../../storage-node/src/metadata/commands.ts';
import { MetadataStateMachine } from '../../storage-node/src/metadata/metadata-state-machine.ts';
import { multipartEtag, partBytesMin } from '../../storage-node/src/metadata/multipart-rules.ts';
import type { UploadResult } from '../../storage-node/src/metadata/upload-commands.ts';
import type { Entry } from '../../storage-node/src/raft/types.ts';

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 's3-multipart-'));
  dirs.push(dir);
  return dir;
}

function machine(): MetadataStateMachine {
  return new MetadataStateMachine(openDatabase(path.join(tempDir(), 'meta.db')));
}

const hex = (algorithm: string, text: string): string => createHash(algorithm).update(text).digest('hex');
const baseMs = Date.UTC(2026, 0, 1);
const uploadA = 'a'.repeat(32);
const uploadB = 'b'.repeat(32);

class Log {
  next = 1;
  constructor(readonly sm: MetadataStateMachine) {}
  apply(command: Record<string, unknown>, wallMs = baseMs + this.next * 1000): AppliedResult {
    const index = this.next++;
    const entry: Entry = { index, term: 1, type: 'normal', data: encodeCommand({ ...command, hlc: encodeHlc({ wallMs, logical: 0 }) } as ReplicatedCommand) };
    const [result] = this.sm.apply([entry]);
    assert.ok(result !== undefined);
    return result;
  }
  bucket(name: string): void {
    assert.ok(this.apply({ op: 'createBucket', name }).ok);
  }
  create(uploadId: string, name = 'bkt/big.bin', wallMs?: number): UploadResult {
    return this.apply({ op: 'createUpload', uploadId, name, bucket: name.split('/')[0], contentType: 'application/x-big' }, wallMs) as UploadResult;
  }
  /** A part of `size` bytes in chunks named after `label`. */
  part(uploadId: string, partNumber: number, label: string, size = partBytesMin): UploadResult {
    const half = Math.ceil(size / 2);
    const chunkSizes = size === 0 ? [] : size === 1 ? [1] : [half, size - half];
    return this.apply({
      op: 'putPart', uploadId, partNumber, size, md5: hex('md5', label), sha256: hex('sha256', label),
      chunks: chunkSizes.map((_, i) => hex('sha256', `${label} chunk ${i}`)), chunkSizes,
    }) as UploadResult;
  }
  complete(uploadId: string, parts: readonly [number, string][], extra: Record<string, unknown> = {}): UploadResult {
    return this.apply({
      op: 'completeUpload', uploadId, etag: hex('sha256', 'whole'),
      parts: parts.map(([partNumber, label]) => ({ partNumber, md5: hex('md5', label), sha256: hex('sha256', label) })), ...extra,
    }) as UploadResult;
  }
}

const chunkOf = (label: string, i: number): string => hex('sha256', `${label} chunk ${i}`);

function refused(result: UploadResult): string {
  assert.ok(!result.ok, 'the command was applied');
  return result.code;
}

describe('multipart upload records', () => {
  test('parts hold references on their chunks; a part number written again replaces the part and its references', () => {
    const sm = machine();
    const log = new Log(sm);
    assert.equal(refused(log.create(uploadA)), 'no_such_bucket');
    log.bucket('bkt');
    assert.ok(log.create(uploadA).ok);
    assert.equal(refused(log.part(uploadB, 1, 'nowhere')), 'no_such_upload');
    assert.ok(log.part(uploadA, 1, 'one').ok);
    assert.equal(sm.chunkRefState(chunkOf('one', 0))?.refcount, 1);
    assert.ok(log.part(uploadA, 1, 'one again').ok);
    assert.equal(sm.chunkRefState(chunkOf('one', 0))?.refcount, 0);
    assert.equal(sm.chunkRefState(chunkOf('one again', 0))?.refcount, 1);
    assert.deepEqual(sm.listParts(uploadA).map((part) => [part.partNumber, part.md5]), [[1, hex('md5', 'one again')]]);
  });

  test('a complete with a wrong ETag, a missing part, parts out of order or too small stores nothing', () => {
    const sm = machine();
    const log = new Log(sm);
    log.bucket('bkt');
    log.create(uploadA);
    log.part(uploadA, 1, 'one');
    log.part(uploadA, 2, 'two', 100); // small: only allowed last
    log.part(uploadA, 3, 'three');
    const before = { parts: sm.listParts(uploadA), refs: sm.referencedChunks() };
    assert.equal(refused(log.complete(uploadA, [[1, 'one'], [3, 'not three']])), 'invalid_part');
    // The client names another ETag for the part the leader hashed.
    const wrongEtag = log.apply({ op: 'completeUpload', uploadId: uploadA, etag: hex('sha256', 'whole'), parts: [{ partNumber: 1, md5: hex('md5', 'not one'), sha256: hex('sha256', 'one') }] }) as UploadResult;
    assert.equal(refused(wrongEtag), 'invalid_part');
    assert.equal(refused(log.complete(uploadA, [[1, 'one'], [4, 'four']])), 'invalid_part');
    assert.equal(refused(log.complete(uploadA, [[3, 'three'], [1, 'one']])), 'invalid_part_order');
    assert.equal(refused(log.complete(uploadA, [[1, 'one'], [1, 'one']])), 'invalid_part_order');
    assert.equal(refused(log.complete(uploadA, [[2, 'two'], [3, 'three']])), 'entity_too_small');
    // The part the leader hashed was replaced (same MD5 named by the client, another SHA-256).
    const stale = log.apply({ op: 'completeUpload', uploadId: uploadA, etag: hex('sha256', 'whole'), parts: [{ partNumber: 1, md5: hex('md5', 'one'), sha256: hex('sha256', 'other') }] }) as UploadResult;
    assert.equal(refused(stale), 'invalid_part');
    assert.equal(refused(log.complete(uploadB, [[1, 'one']])), 'no_such_upload');
    assert.equal(sm.getFile('bkt/big.bin'), null);
    assert.deepEqual(sm.listParts(uploadA), before.parts);
    assert.deepEqual(sm.referencedChunks(), before.refs);
    assert.deepEqual(sm.stats(), { files: 0, bytes: 0 });
  });

  test('a complete makes one version of the listed parts\' chunks, with the multipart S3 ETag, and ends the upload', () => {
    const sm = machine();
    const log = new Log(sm);
    log.bucket('bkt');
    log.create(uploadA);
    log.part(uploadA, 1, 'one');
    log.part(uploadA, 2, 'two');
    log.part(uploadA, 5, 'left out');
    log.part(uploadA, 7, 'last', 10);
    const done = log.complete(uploadA, [[1, 'one'], [2, 'two'], [7, 'last']]);
    assert.ok(done.ok && 'file' in done, JSON.stringify(done));
    const file = sm.getFile('bkt/big.bin');
    assert.ok(file !== null);
    assert.equal(file.size, 2 * partBytesMin + 10);
    assert.equal(file.contentType, 'application/x-big');
    assert.equal(file.etag, hex('sha256', 'whole'));
    assert.deepEqual(file.chunks, [chunkOf('one', 0), chunkOf('one', 1), chunkOf('two', 0), chunkOf('two', 1), chunkOf('last', 0), chunkOf('last', 1)]);
    assert.deepEqual(file.chunkSizes, [partBytesMin / 2, partBytesMin / 2, partBytesMin / 2, partBytesMin / 2, 5, 5]);
    assert.equal(file.s3Etag, multipartEtag([hex('md5', 'one'), hex('md5', 'two'), hex('md5', 'last')]));
    assert.match(file.s3Etag ?? '', /^[0-9a-f]{32}-3$/);
    // The version's references stay; the parts' went with the upload (the one left out is unreferenced).
    assert.equal(sm.chunkRefState(chunkOf('one', 0))?.refcount, 1);
    assert.equal(sm.chunkRefState(chunkOf('left out', 0))?.refcount, 0);
    assert.equal(sm.getUpload(uploadA), null);
    assert.deepEqual(sm.listParts(uploadA), []);
    assert.equal(refused(log.part(uploadA, 1, 'late')), 'no_such_upload');
    assert.deepEqual(sm.stats(), { files: 1, bytes: 2 * partBytesMin + 10 });
  });

  test('a complete is a conditional write like a put, and needs the bucket still there', () => {
    const sm = machine();
    const log = new Log(sm);
    log.bucket('bkt');
    log.create(uploadA);
    log.part(uploadA, 1, 'one', 10);
    assert.equal(refused(log.complete(uploadA, [[1, 'one']], { precondition: { ifMatch: '"0123"' } })), 'precondition_failed');
    assert.ok(log.complete(uploadA, [[1, 'one']], { precondition: { ifNoneMatch: '*' } }).ok);
    log.create(uploadB);
    log.part(uploadB, 1, 'one', 10);
    assert.equal(refused(log.complete(uploadB, [[1, 'one']], { precondition: { ifNoneMatch: '*' } })), 'precondition_failed');
    assert.ok(log.apply({ op: 'delete', name: 'bkt/big.bin' }).ok);
    assert.ok(log.apply({ op: 'deleteBucket', name: 'bkt' }).ok);
    assert.equal(refused(log.complete(uploadB, [[1, 'one']])), 'no_such_bucket');
  });

  test('abort and expiry drop the upload and its parts\' references; listing by name', () => {
    const sm = machine();
    const log = new Log(sm);
    log.bucket('bkt');
    log.create(uploadA, 'bkt/old', baseMs);
    log.create(uploadB, 'bkt/new', baseMs + 60_000);
    log.part(uploadA, 1, 'old part');
    log.part(uploadB, 1, 'new part');
    assert.deepEqual(sm.listUploads({ prefix: 'bkt/', afterName: '', afterId: '', limit: 10 }).map((u) => u.name), ['bkt/new', 'bkt/old']);
    assert.deepEqual(sm.listUploads({ prefix: 'bkt/', afterName: 'bkt/new', afterId: uploadB, limit: 10 }).map((u) => u.name), ['bkt/old']);
    assert.deepEqual(sm.listUploads({ prefix: 'bkt/o', afterName: '', afterId: '', limit: 10 }).map((u) => u.uploadId), [uploadA]);
    assert.equal(sm.hasUploadsCreatedBefore(baseMs + 1), true);
    const expired = log.apply({ op: 'expireUploads', createdBeforeMs: baseMs + 1 }) as UploadResult;
    assert.deepEqual(expired, { ok: true, expired: [uploadA] });
    assert.equal(sm.getUpload(uploadA), null);
    assert.equal(sm.chunkRefState(chunkOf('old part', 0))?.refcount, 0);
    assert.equal(sm.hasUploadsCreatedBefore(baseMs + 1), false);
    assert.ok(log.apply({ op: 'abortUpload', uploadId: uploadB }).ok);
    assert.equal(sm.chunkRefState(chunkOf('new part', 0))?.refcount, 0);
    assert.equal(refused(log.apply({ op: 'abortUpload', uploadId: uploadB }) as UploadResult), 'no_such_upload');
  });

  test('uploads and parts travel in snapshots: the restored node completes them alike', () => {
    const source = machine();
    const log = new Log(source);
    log.bucket('bkt');
    log.create(uploadA);
    log.part(uploadA, 1, 'one');
    log.part(uploadA, 2, 'two', 3);
    const file = path.join(tempDir(), 'snap.db');
    source.writeSnapshot(file);
    const target = machine();
    target.restoreSnapshot(file, { index: source.appliedIndex(), term: 1, membership: { voters: ['n1'] } });
    assert.equal(target.digest().digest, source.digest().digest);
    const next = new Log(target);
    next.next = log.next;
    assert.deepEqual(next.complete(uploadA, [[1, 'one'], [2, 'two']]), log.complete(uploadA, [[1, 'one'], [2, 'two']]));
    assert.equal(target.digest().digest, source.digest().digest);
  });

  test('malformed upload commands are refused when encoded', () => {
    const hlc = encodeHlc({ wallMs: baseMs, logical: 0 });
    assert.match(commandProblem({ op: 'createUpload', uploadId: 'short', name: 'bkt/k', bucket: 'bkt', contentType: 't', hlc }) ?? '', /uploadId/);
    assert.match(commandProblem({ op: 'createUpload', uploadId: uploadA, name: 'other/k', bucket: 'bkt', contentType: 't', hlc }) ?? '', /in its bucket/);
    assert.match(commandProblem({ op: 'putPart', uploadId: uploadA, partNumber: 10_001, size: 0, md5: hex('md5', ''), sha256: hex('sha256', ''), chunks: [], chunkSizes: [], hlc }) ?? '', /partNumber/);
    assert.match(commandProblem({ op: 'putPart', uploadId: uploadA, partNumber: 1, size: 5, md5: hex('md5', ''), sha256: hex('sha256', ''), chunks: [], chunkSizes: [], hlc }) ?? '', /add up/);
    assert.match(commandProblem({ op: 'completeUpload', uploadId: uploadA, parts: [], etag: hex('sha256', ''), hlc }) ?? '', /parts must list/);
    assert.equal(commandProblem({ op: 'abortUpload', uploadId: uploadA, hlc }), null);
  });
});
