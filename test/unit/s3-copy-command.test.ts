// The copy command (S3's CopyObject): a new version whose manifest is a source version's, decided
// when applied. Chunks and inline content gain a reference (so deleting the source keeps the
// copy's bytes), Content-Type is kept or replaced, a source deleted or pruned before the entry is
// applied refuses the copy, preconditions and buckets are judged as for a put, and a malformed
// copy command is refused when encoded.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { encodeHlc } from '../../shared/hlc.ts';
import { openDatabase } from '../../storage-node/src/db/open-database.ts';
import { commandProblem, encodeCommand, requestFingerprint } from '../../storage-node/src/metadata/commands.ts';
import type { AppliedResult, MetadataResult, ReplicatedCommand } from '../../storage-node/src/metadata/commands.ts';
import { MetadataStateMachine } from '../../storage-node/src/metadata/metadata-state-machine.ts';
import type { Entry } from '../../storage-node/src/raft/types.ts';

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

function machine(keepVersions = 10): MetadataStateMachine {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 's3-copy-'));
  dirs.push(dir);
  return new MetadataStateMachine(openDatabase(path.join(dir, 'meta.db')), { keepVersions });
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');
const chunkA = sha256('chunk a');
const chunkB = sha256('chunk b');

class Log {
  next = 1;
  constructor(readonly sm: MetadataStateMachine) {}
  apply(command: Record<string, unknown>): MetadataResult {
    const index = this.next++;
    const entry: Entry = { index, term: 1, type: 'normal', data: encodeCommand({ ...command, hlc: encodeHlc({ wallMs: Date.UTC(2026, 0, 1) + index * 1000, logical: 0 }) } as ReplicatedCommand) };
    const [result] = this.sm.apply([entry]) as (AppliedResult | undefined)[];
    assert.ok(result !== undefined);
    return result as MetadataResult;
  }
  putChunked(name: string): MetadataResult {
    return this.apply({ op: 'put', name, size: 10, contentType: 'application/x-big', etag: sha256(`${name} content`), chunks: [chunkA, chunkB], chunkSizes: [6, 4] });
  }
  putInline(name: string, content: string): MetadataResult {
    return this.apply({ op: 'put', name, size: content.length, contentType: 'text/plain', etag: sha256(content), chunks: [], inline: Buffer.from(content).toString('base64') });
  }
}

function ok(result: MetadataResult) {
  assert.ok(result.ok, `refused: ${result.ok ? '' : `${result.code} ${result.message}`}`);
  return result.file;
}

describe('copy command', () => {
  test('copies a chunked version: same etag and chunks, one more reference each, survives the source delete', () => {
    const sm = machine();
    const log = new Log(sm);
    const source = ok(log.putChunked('b/src'));
    const copy = ok(log.apply({ op: 'copy', name: 'b/dst', source: 'b/src', sourceVersion: 1 }));
    assert.deepEqual([copy.name, copy.version, copy.etag, copy.size, copy.contentType, copy.chunks], ['b/dst', 1, source.etag, 10, 'application/x-big', [chunkA, chunkB]]);
    assert.equal(sm.chunkRefState(chunkA)?.refcount, 2);
    ok(log.apply({ op: 'delete', name: 'b/src' }));
    assert.equal(sm.chunkRefState(chunkA)?.refcount, 1);
    assert.deepEqual(sm.getFile('b/dst')?.chunkSizes, [6, 4]);
    assert.deepEqual(sm.stats(), { files: 1, bytes: 10 });
  });

  test('copies inline content (a reference of its own) and replaces the Content-Type when told', () => {
    const sm = machine();
    const log = new Log(sm);
    const source = ok(log.putInline('b/small', 'hello'));
    const copy = ok(log.apply({ op: 'copy', name: 'b/small-copy', source: 'b/small', sourceVersion: 1, contentType: 'text/markdown' }));
    assert.equal(copy.contentType, 'text/markdown');
    assert.equal(copy.etag, source.etag);
    ok(log.apply({ op: 'delete', name: 'b/small' }));
    assert.equal(sm.inlineContent(source.etag)?.toString(), 'hello');
    ok(log.apply({ op: 'delete', name: 'b/small-copy' }));
    assert.equal(sm.inlineContent(source.etag), null);
  });

  test('copies an older version, also onto the source itself (a new version of it)', () => {
    const sm = machine();
    const log = new Log(sm);
    ok(log.putInline('b/doc', 'first'));
    ok(log.putInline('b/doc', 'second'));
    const restored = ok(log.apply({ op: 'copy', name: 'b/doc', source: 'b/doc', sourceVersion: 1 }));
    assert.equal(restored.version, 3);
    assert.equal(restored.etag, sha256('first'));
    assert.equal(sm.getFile('b/doc')?.etag, sha256('first'));
  });

  test('a source version deleted or pruned before the copy is applied refuses it: no_such_source', () => {
    const sm = machine(2);
    const log = new Log(sm);
    ok(log.putChunked('b/gone'));
    ok(log.apply({ op: 'delete', name: 'b/gone' }));
    const refused = log.apply({ op: 'copy', name: 'b/dst', source: 'b/gone', sourceVersion: 1 });
    assert.equal(refused.ok ? 'ok' : refused.code, 'no_such_source');
    assert.equal(sm.getFile('b/dst'), null);
    ok(log.putInline('b/p', 'one'));
    ok(log.putInline('b/p', 'two'));
    ok(log.putInline('b/p', 'three')); // keeps 2 versions: version 1 pruned
    const pruned = log.apply({ op: 'copy', name: 'b/dst', source: 'b/p', sourceVersion: 1 });
    assert.equal(pruned.ok ? 'ok' : pruned.code, 'no_such_source');
    assert.equal(sm.chunkRefState(chunkA)?.refcount ?? 0, 0);
  });

  test('judges the destination precondition and bucket as a put does', () => {
    const sm = machine();
    const log = new Log(sm);
    ok(log.putInline('b/x', 'x'));
    ok(log.putInline('b/y', 'y'));
    const exists = log.apply({ op: 'copy', name: 'b/y', source: 'b/x', sourceVersion: 1, precondition: { ifNoneMatch: '*' } });
    assert.equal(exists.ok ? 'ok' : exists.code, 'precondition_failed');
    const noBucket = log.apply({ op: 'copy', name: 'nob/y', source: 'b/x', sourceVersion: 1, bucket: 'nob' });
    assert.equal(noBucket.ok ? 'ok' : noBucket.code, 'no_such_bucket');
  });

  test('validates copy commands; the idempotency fingerprint covers the source', () => {
    const hlc = encodeHlc({ wallMs: 1, logical: 0 });
    const good = { op: 'copy', name: 'b/a', source: 'b/s', sourceVersion: 2, hlc };
    assert.equal(commandProblem(good), null);
    for (const bad of [
      { ...good, source: '' },
      { ...good, source: 'a/../b' },
      { ...good, sourceVersion: 0 },
      { ...good, sourceVersion: '2' },
      { ...good, contentType: '' },
      { ...good, etag: sha256('x') },
      { ...good, bucket: 'other' },
    ]) {
      assert.notEqual(commandProblem(bad), null, JSON.stringify(bad));
    }
    const fingerprint = (command: object) => requestFingerprint(command as ReplicatedCommand);
    assert.notEqual(fingerprint(good), fingerprint({ ...good, sourceVersion: 3 }));
    assert.notEqual(fingerprint(good), fingerprint({ ...good, source: 'b/t' }));
  });
});
