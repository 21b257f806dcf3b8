// Stored object headers (Cache-Control, Content-Disposition, Content-Encoding, Content-Language,
// Expires, user metadata) and multipart part sizes in the version records: a put keeps its
// headers, a copy keeps its source's or replaces them, a multipart upload keeps its create's until
// it is completed, with its parts' sizes; malformed records are refused in commands; snapshots
// carry both, and a snapshot of the format before them (5) restores with none.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { encodeHlc } from '../../shared/hlc.ts';
import { userMetadataBytesMax } from '../../shared/object-headers.ts';
import { openDatabase } from '../../storage-node/src/db/open-database.ts';
import { commandProblem, encodeCommand, requestFingerprint } from '../../storage-node/src/metadata/commands.ts';
import type { AppliedResult, ReplicatedCommand } from '../../storage-node/src/metadata/commands.ts';
import { MetadataStateMachine } from '../../storage-node/src/metadata/metadata-state-machine.ts';
import { partBytesMin } from '../../storage-node/src/metadata/multipart-rules.ts';
import type { Entry } from '../../storage-node/src/raft/types.ts';

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 's3-headers-'));
  dirs.push(dir);
  return dir;
}

function machine(): MetadataStateMachine {
  return new MetadataStateMachine(openDatabase(path.join(tempDir(), 'meta.db')));
}

const hex = (algorithm: string, text: string): string => createHash(algorithm).update(text).digest('hex');
const hlc = encodeHlc({ wallMs: Date.UTC(2026, 0, 1), logical: 0 });
const uploadId = 'c'.repeat(32);

class Log {
  next = 1;
  constructor(readonly sm: MetadataStateMachine) {}
  apply(command: Record<string, unknown>): AppliedResult {
    const index = this.next++;
    const entry: Entry = { index, term: 1, type: 'normal', data: encodeCommand({ ...command, hlc: encodeHlc({ wallMs: Date.UTC(2026, 0, 1) + index * 1000, logical: 0 }) } as ReplicatedCommand) };
    const [result] = this.sm.apply([entry]);
    assert.ok(result !== undefined);
    assert.ok(result.ok, `refused: ${result.ok ? '' : `${result.code} ${result.message}`}`);
    return result;
  }
  put(name: string, content: string, headers?: Record<string, string>): void {
    this.apply({
      op: 'put', name, size: content.length, contentType: 'text/plain', etag: hex('sha256', content), chunks: [hex('sha256', `chunk of ${content}`)], chunkSizes: [content.length],
      ...(headers === undefined ? {} : { headers }),
    });
  }
  part(partNumber: number, label: string, size: number): void {
    this.apply({ op: 'putPart', uploadId, partNumber, size, md5: hex('md5', label), sha256: hex('sha256', label), chunks: [hex('sha256', `${label} chunk`)], chunkSizes: [size] });
  }
}

const kept = { 'cache-control': 'max-age=60', 'content-language': 'fr', 'x-dfs-meta-colour': 'blue', 'x-dfs-meta-owner': 'ana' };

/** A put command with `headers`, for the checks of commandProblem. */
function putWith(headers: unknown): Record<string, unknown> {
  return { op: 'put', name: 'b/x', size: 1, contentType: 'text/plain', etag: hex('sha256', 'x'), chunks: [hex('sha256', 'c')], chunkSizes: [1], headers, hlc };
}

describe('stored object headers', () => {
  test('a put keeps its headers; COPY keeps the source\'s, REPLACE takes the copy\'s own (or none)', () => {
    const sm = machine();
    const log = new Log(sm);
    log.put('b/with', 'hello', kept);
    log.put('b/without', 'plain');
    assert.deepEqual(sm.getFile('b/with')?.headers, kept);
    assert.equal(sm.getFile('b/without')?.headers, null);
    log.apply({ op: 'copy', name: 'b/copy', source: 'b/with', sourceVersion: 1 });
    assert.deepEqual(sm.getFile('b/copy')?.headers, kept);
    log.apply({ op: 'copy', name: 'b/replaced', source: 'b/with', sourceVersion: 1, headers: { 'x-dfs-meta-colour': 'red' } });
    assert.deepEqual(sm.getFile('b/replaced')?.headers, { 'x-dfs-meta-colour': 'red' });
    log.apply({ op: 'copy', name: 'b/cleared', source: 'b/with', sourceVersion: 1, headers: {} });
    assert.equal(sm.getFile('b/cleared')?.headers, null);
    // Each version keeps its own.
    log.put('b/with', 'second', { 'x-dfs-meta-colour': 'green' });
    assert.deepEqual(sm.getFile('b/with', 1)?.headers, kept);
    assert.deepEqual(sm.getFile('b/with', 2)?.headers, { 'x-dfs-meta-colour': 'green' });
  });

  test('a multipart upload keeps its headers until it is completed, and the version its part sizes', () => {
    const sm = machine();
    const log = new Log(sm);
    log.apply({ op: 'createBucket', name: 'bkt' });
    log.apply({ op: 'createUpload', uploadId, name: 'bkt/big', bucket: 'bkt', contentType: 'application/x-big', headers: kept });
    assert.deepEqual(sm.getUpload(uploadId)?.headers, kept);
    log.part(1, 'one', partBytesMin);
    log.part(2, 'two', partBytesMin + 7);
    log.part(3, 'three', 11);
    log.apply({
      op: 'completeUpload', uploadId, etag: hex('sha256', 'whole'),
      parts: ['one', 'two', 'three'].map((label, i) => ({ partNumber: i + 1, md5: hex('md5', label), sha256: hex('sha256', label) })),
    });
    const file = sm.getFile('bkt/big');
    assert.deepEqual(file?.headers, kept);
    assert.deepEqual(file?.partSizes, [partBytesMin, partBytesMin + 7, 11]);
    // A copy is the same parts: it keeps them (and the multipart ETag that counts them).
    log.apply({ op: 'copy', name: 'bkt/copy', source: 'bkt/big', sourceVersion: 1 });
    assert.deepEqual(sm.getFile('bkt/copy')?.partSizes, [partBytesMin, partBytesMin + 7, 11]);
    log.put('bkt/single', 'x');
    assert.equal(sm.getFile('bkt/single')?.partSizes, null);
  });

  test('malformed header records are refused in every command that carries one', () => {
    assert.equal(commandProblem(putWith(kept)), null);
    assert.match(commandProblem(putWith(['x'])) ?? '', /headers must be an object/);
    assert.match(commandProblem(putWith({ 'x-other': 'v' })) ?? '', /neither a stored standard header/);
    assert.match(commandProblem(putWith({ 'x-dfs-meta-Upper': 'v' })) ?? '', /neither a stored standard header/);
    assert.match(commandProblem(putWith({ 'x-dfs-meta-': 'v' })) ?? '', /neither a stored standard header/);
    assert.match(commandProblem(putWith({ 'x-dfs-meta-a': 'line\nbreak' })) ?? '', /not a header value/);
    assert.match(commandProblem(putWith({ 'x-dfs-meta-a': 5 })) ?? '', /not a header value/);
    assert.match(commandProblem(putWith({ 'content-type': 'text/html' })) ?? '', /neither a stored standard header/);
    // S3's 2 KB of user metadata: names (without the prefix) and values.
    const atLimit = { 'x-dfs-meta-k': 'v'.repeat(userMetadataBytesMax - 1) };
    assert.equal(commandProblem(putWith(atLimit)), null);
    assert.match(commandProblem(putWith({ 'x-dfs-meta-k': 'v'.repeat(userMetadataBytesMax) })) ?? '', /over the limit of 2048/);
    const copy = { op: 'copy', name: 'b/y', source: 'b/x', sourceVersion: 1, hlc };
    assert.equal(commandProblem({ ...copy, headers: {} }), null);
    assert.match(commandProblem({ ...copy, headers: { 'x-dfs-meta-a': '\u0000' } }) ?? '', /not a header value/);
    const create = { op: 'createUpload', uploadId, name: 'bkt/k', bucket: 'bkt', contentType: 'a/b', hlc };
    assert.equal(commandProblem({ ...create, headers: kept }), null);
    assert.match(commandProblem({ ...create, headers: { expires: 'x'.repeat(5000) } }) ?? '', /more than 2048 bytes/);
  });

  test('the same Idempotency-Key with other headers is another request', () => {
    const a = putWith({ 'x-dfs-meta-a': '1' }) as unknown as ReplicatedCommand;
    const b = putWith({ 'x-dfs-meta-a': '2' }) as unknown as ReplicatedCommand;
    const reordered = putWith({ 'content-language': 'fr', 'x-dfs-meta-a': '1' }) as unknown as ReplicatedCommand;
    const same = putWith({ 'x-dfs-meta-a': '1', 'content-language': 'fr' }) as unknown as ReplicatedCommand;
    assert.notEqual(requestFingerprint(a), requestFingerprint(b));
    assert.equal(requestFingerprint(reordered), requestFingerprint(same));
  });

  test('snapshots carry headers and part sizes; a format-5 snapshot (before them) restores with none', () => {
    const source = machine();
    const log = new Log(source);
    log.put('b/a', 'alpha', kept);
    log.apply({ op: 'createBucket', name: 'bkt' });
    log.apply({ op: 'createUpload', uploadId, name: 'bkt/big', bucket: 'bkt', contentType: 'a/b', headers: { 'x-dfs-meta-x': 'y' } });
    log.part(1, 'one', 3);
    log.apply({ op: 'completeUpload', uploadId, etag: hex('sha256', 'whole'), parts: [{ partNumber: 1, md5: hex('md5', 'one'), sha256: hex('sha256', 'one') }] });
    log.apply({ op: 'createUpload', uploadId: 'd'.repeat(32), name: 'bkt/open', bucket: 'bkt', contentType: 'a/b', headers: { 'x-dfs-meta-p': 'q' } });
    const file = path.join(tempDir(), 'snap.db');
    source.writeSnapshot(file);
    const meta = { index: source.appliedIndex(), term: 1, membership: { voters: ['n1'] } };
    const target = machine();
    target.restoreSnapshot(file, meta);
    assert.deepEqual(target.getFile('b/a')?.headers, kept);
    assert.deepEqual(target.getFile('bkt/big')?.partSizes, [3]);
    assert.deepEqual(target.getUpload('d'.repeat(32))?.headers, { 'x-dfs-meta-p': 'q' });
    assert.equal(target.digest().digest, source.digest().digest);

    // The same file as a format-5 node wrote it: none of the new columns.
    const old = path.join(tempDir(), 'format5.db');
    fs.copyFileSync(file, old);
    const edit = new Database(old);
    edit.exec('ALTER TABLE file_versions DROP COLUMN headers; ALTER TABLE file_versions DROP COLUMN part_sizes; ALTER TABLE multipart_uploads DROP COLUMN headers');
    edit.pragma('user_version = 5');
    edit.close();
    const fromOld = machine();
    fromOld.restoreSnapshot(old, meta);
    assert.equal(fromOld.getFile('b/a')?.headers, null);
    assert.equal(fromOld.getFile('b/a')?.etag, hex('sha256', 'alpha'));
    assert.equal(fromOld.getFile('bkt/big')?.partSizes, null);
    assert.equal(fromOld.getUpload('d'.repeat(32))?.headers, null);
  });

  test('the replica digest covers the stored headers', () => {
    const one = machine();
    const two = machine();
    new Log(one).put('b/a', 'alpha', { 'x-dfs-meta-a': '1' });
    new Log(two).put('b/a', 'alpha', { 'x-dfs-meta-a': '2' });
    assert.notEqual(one.digest().digest, two.digest().digest);
  });
});
