// S3 ETags in the version records: a put that computed its content's MD5 keeps it beside the
// SHA-256 (s3_etag), a copy keeps its source's, If-Match accepts either etag, and snapshots carry
// the column; rows and snapshots from before it exist read as having none.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { encodeHlc } from '../../shared/hlc.ts';
import { openDatabase } from '../../storage-node/src/db/open-database.ts';
import { commandProblem, encodeCommand } from '../../storage-node/src/metadata/commands.ts';
import type { AppliedResult, MetadataResult, ReplicatedCommand } from '../../storage-node/src/metadata/commands.ts';
import { MetadataStateMachine } from '../../storage-node/src/metadata/metadata-state-machine.ts';
import type { Entry } from '../../storage-node/src/raft/types.ts';

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 's3-etag-'));
  dirs.push(dir);
  return dir;
}

function machine(): MetadataStateMachine {
  return new MetadataStateMachine(openDatabase(path.join(tempDir(), 'meta.db')));
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');
const md5 = (text: string): string => createHash('md5').update(text).digest('hex');

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
  put(name: string, content: string, options: { md5?: boolean; ifMatch?: string } = {}): MetadataResult {
    return this.apply({
      op: 'put', name, size: content.length, contentType: 'text/plain', etag: sha256(content), chunks: [sha256(`chunk of ${content}`)], chunkSizes: [content.length],
      ...(options.md5 === true ? { md5: md5(content) } : {}),
      ...(options.ifMatch === undefined ? {} : { precondition: { ifMatch: options.ifMatch } }),
    });
  }
}

function ok(result: MetadataResult) {
  assert.ok(result.ok, `refused: ${result.ok ? '' : `${result.code} ${result.message}`}`);
  return result.file;
}

describe('S3 ETags in version records', () => {
  test('a put with its MD5 keeps it as the S3 ETag; one without has none; a copy keeps its source\'s', () => {
    const sm = machine();
    const log = new Log(sm);
    assert.equal(ok(log.put('b/with', 'hello', { md5: true })).s3Etag, md5('hello'));
    assert.equal(sm.getFile('b/with')?.s3Etag, md5('hello'));
    assert.equal(sm.getFile('b/with')?.etag, sha256('hello'));
    assert.equal(ok(log.put('b/without', 'plain')).s3Etag, undefined);
    assert.equal(sm.getFile('b/without')?.s3Etag, null);
    assert.equal(ok(log.apply({ op: 'copy', name: 'b/copy', source: 'b/with', sourceVersion: 1 })).s3Etag, md5('hello'));
    assert.deepEqual(sm.listFiles({ prefix: 'b/' }).files.map((file) => file.s3Etag), [md5('hello'), md5('hello'), undefined]);
    assert.equal((sm.listVersions('b/with')[0] as { s3Etag?: string } | undefined)?.s3Etag, md5('hello'));
  });

  test('If-Match holds for the SHA-256 or the S3 ETag, and for nothing else', () => {
    const sm = machine();
    const log = new Log(sm);
    ok(log.put('b/k', 'one', { md5: true }));
    const refused = log.put('b/k', 'two', { md5: true, ifMatch: `"${md5('other')}"` });
    assert.equal(refused.ok ? 'ok' : refused.code, 'precondition_failed');
    ok(log.put('b/k', 'two', { md5: true, ifMatch: `"${md5('one')}"` }));
    ok(log.put('b/k', 'three', { md5: true, ifMatch: `"${sha256('two')}"` }));
    assert.equal(sm.getFile('b/k')?.version, 3);
  });

  test('a malformed MD5, or inline content that does not hash to it, is refused', () => {
    const base = { op: 'put', name: 'b/x', size: 5, contentType: 'text/plain', etag: sha256('hello'), chunks: [], inline: Buffer.from('hello').toString('base64'), hlc: encodeHlc({ wallMs: 1, logical: 0 }) };
    assert.equal(commandProblem({ ...base, md5: md5('hello') }), null);
    assert.match(commandProblem({ ...base, md5: md5('other') }) ?? '', /does not hash to the md5/);
    assert.match(commandProblem({ ...base, md5: 'ABC' }) ?? '', /md5 must be/);
  });

  test('snapshots carry the S3 ETag; a snapshot of the format before it restores with none', () => {
    const source = machine();
    const log = new Log(source);
    ok(log.put('b/a', 'alpha', { md5: true }));
    ok(log.put('b/b', 'beta'));
    const file = path.join(tempDir(), 'snap.db');
    source.writeSnapshot(file);
    const meta = { index: source.appliedIndex(), term: 1, membership: { voters: ['n1'] } };
    const target = machine();
    target.restoreSnapshot(file, meta);
    assert.equal(target.getFile('b/a')?.s3Etag, md5('alpha'));
    assert.equal(target.getFile('b/b')?.s3Etag, null);

    // The same file as a format-3 node wrote it: no s3_etag column.
    const old = path.join(tempDir(), 'format3.db');
    fs.copyFileSync(file, old);
    const edit = new Database(old);
    edit.exec('ALTER TABLE file_versions DROP COLUMN s3_etag');
    edit.pragma('user_version = 3');
    edit.close();
    const fromOld = machine();
    fromOld.restoreSnapshot(old, meta);
    assert.equal(fromOld.getFile('b/a')?.s3Etag, null);
    assert.equal(fromOld.getFile('b/a')?.etag, sha256('alpha'));
  });
});
