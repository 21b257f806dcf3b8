// The file metadata state machine on real SQLite (temp dirs): apply, queries, exactly-once,
// preconditions, de-duplication, version pruning with chunk refcounts, snapshots.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { drizzle } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import { encodeHlc } from '../../shared/hlc.ts';
import { openDatabase } from '../../storage-node/src/db/open-database.ts';
import type { OpenedDatabase } from '../../storage-node/src/db/open-database.ts';
import { decodeCommand, encodeCommand } from '../../storage-node/src/metadata/commands.ts';
import type { MetadataResult, Precondition, PutCommand } from '../../storage-node/src/metadata/commands.ts';
import { MetadataStateMachine, requestsPrunedPerBatch } from '../../storage-node/src/metadata/metadata-state-machine.ts';
import type { MetadataStateMachineOptions } from '../../storage-node/src/metadata/metadata-state-machine.ts';
import { compareNames, prefixUpperBound } from '../../storage-node/src/metadata/name-range.ts';
import type { Entry, SnapshotMeta } from '../../storage-node/src/raft/types.ts';
import { SqliteRaftLogStore } from '../../storage-node/src/raft-storage/raft-log-store.ts';

const tempDirs: string[] = [];
after(() => {
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'metadata-sm-'));
  tempDirs.push(dir);
  return dir;
}

interface Node {
  readonly file: string;
  database: OpenedDatabase;
  sm: MetadataStateMachine;
  reopen(): void;
}

function openNode(options: MetadataStateMachineOptions = {}): Node {
  const file = path.join(tempDir(), 'meta.db');
  const database = openDatabase(file);
  const node: Node = {
    file,
    database,
    sm: new MetadataStateMachine(database, options),
    reopen() {
      node.database.sqlite.close();
      node.database = openDatabase(file);
      node.sm = new MetadataStateMachine(node.database, options);
    },
  };
  return node;
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

const baseMs = Date.UTC(2025, 0, 1);
const hlcAt = (index: number) => encodeHlc({ wallMs: baseMs + index * 1000, logical: 0 });

interface PutOptions {
  readonly content?: string;
  /** Carry the content inline (base64 in the entry) instead of as chunks. */
  readonly inline?: boolean;
  readonly chunks?: readonly string[];
  readonly precondition?: Precondition;
  readonly requestId?: string;
}

/** Entries with consecutive indexes, stamped from their index so the test is deterministic. */
class Log {
  next = 1;

  put(name: string, options: PutOptions = {}): Entry {
    const content = options.content ?? `content of ${name} at ${this.next}`;
    if (options.inline === true) {
      return this.entry(
        encodeCommand({
          op: 'put',
          name,
          size: Buffer.byteLength(content),
          contentType: 'text/plain',
          etag: sha256(content),
          chunks: [],
          inline: Buffer.from(content).toString('base64'),
          hlc: hlcAt(this.next),
          ...(options.precondition ? { precondition: options.precondition } : {}),
          ...(options.requestId ? { requestId: options.requestId } : {}),
        }),
      );
    }
    // Chunk "bytes" are the chunk names; sizes add up to the content length by construction.
    const chunks = options.chunks ?? [content];
    const command: PutCommand = {
      op: 'put',
      name,
      size: chunks.reduce((sum, chunk) => sum + chunk.length, 0),
      contentType: 'text/plain',
      etag: sha256(chunks.join('')),
      chunks: chunks.map(sha256),
      chunkSizes: chunks.map((chunk) => chunk.length),
      hlc: hlcAt(this.next),
      ...(options.precondition ? { precondition: options.precondition } : {}),
      ...(options.requestId ? { requestId: options.requestId } : {}),
    };
    return this.entry(encodeCommand(command));
  }

  delete(name: string, options: { precondition?: Precondition; requestId?: string; version?: number } = {}): Entry {
    return this.entry(encodeCommand({ op: 'delete', name, hlc: hlcAt(this.next), ...options }));
  }

  noop(): Entry {
    return { index: this.next++, term: 1, type: 'noop', data: '' };
  }

  entry(data: string): Entry {
    return { index: this.next++, term: 1, type: 'normal', data };
  }
}

function applyOne(sm: MetadataStateMachine, entry: Entry): MetadataResult {
  const [result] = sm.apply([entry]);
  assert.ok(result !== undefined);
  return result as MetadataResult;
}

/** Everything observable through the queries, for before/after comparisons. */
function observe(sm: MetadataStateMachine) {
  const files: unknown[] = [];
  let page = sm.listFiles({ limit: 1000 });
  for (;;) {
    for (const file of page.files) files.push({ ...file, versions: sm.listVersions(file.name), record: sm.getFile(file.name) });
    if (page.next === null) break;
    page = sm.listFiles({ after: page.next, limit: 1000 });
  }
  return { applied: sm.appliedIndex(), stats: sm.stats(), lastHlc: sm.lastHlc(), files };
}

/** Recomputes what the state machine maintains incrementally and compares. */
function assertConsistent(node: Node): void {
  const { sqlite } = node.database;
  const versions = sqlite.prepare('SELECT name, version, size, chunks FROM file_versions').all() as {
    name: string;
    version: number;
    size: number;
    chunks: string;
  }[];
  const expected = new Map<string, number>();
  for (const row of versions) for (const hash of JSON.parse(row.chunks) as string[]) expected.set(hash, (expected.get(hash) ?? 0) + 1);
  const refs = sqlite.prepare('SELECT hash, refcount, zero_since_ms FROM chunk_refs').all() as {
    hash: string;
    refcount: number;
    zero_since_ms: number | null;
  }[];
  for (const ref of refs) {
    assert.equal(ref.refcount, expected.get(ref.hash) ?? 0, `refcount of ${ref.hash}`);
    assert.equal(ref.zero_since_ms !== null, ref.refcount === 0);
  }
  for (const hash of expected.keys()) assert.ok(refs.some((ref) => ref.hash === hash), `no chunk_refs row for ${hash}`);
  const live = sqlite
    .prepare('SELECT count(*) AS files, coalesce(sum(v.size), 0) AS bytes FROM files f JOIN file_versions v ON v.name = f.name AND v.version = f.current_version')
    .get() as { files: number; bytes: number };
  assert.deepEqual(node.sm.stats(), live);
  const orphans = sqlite
    .prepare('SELECT count(*) AS n FROM files f WHERE current_version IS NOT NULL AND NOT EXISTS (SELECT 1 FROM file_versions v WHERE v.name = f.name AND v.version = f.current_version)')
    .get() as { n: number };
  assert.equal(orphans.n, 0);
}

function listAll(sm: MetadataStateMachine, query: { prefix?: string; after?: string }, limit: number): string[] {
  const names: string[] = [];
  let cursor = query.after ?? null;
  for (let pages = 0; ; pages++) {
    assert.ok(pages < 100_000, 'listing does not terminate');
    const page = sm.listFiles({ prefix: query.prefix, after: cursor, limit });
    assert.ok(page.files.length <= limit);
    names.push(...page.files.map((file) => file.name));
    if (page.next === null) return names;
    assert.equal(page.files.length, limit, 'only a full page has a next cursor');
    assert.equal(page.next, page.files[page.files.length - 1].name);
    cursor = page.next;
  }
}

describe('metadata state machine: put, get, list', () => {
  test('a put is readable by name and version, in FileJson shape', () => {
    const node = openNode();
    const log = new Log();
    const result = applyOne(node.sm, log.put('docs/readme.md', { content: 'hello' }));
    const file = {
      name: 'docs/readme.md',
      size: 5,
      etag: sha256('hello'),
      version: 1,
      contentType: 'text/plain',
      chunks: [sha256('hello')],
      modified: new Date(baseMs + 1000).toISOString(),
    };
    assert.deepEqual(result, { ok: true, file });
    const { modified, ...stored } = file;
    assert.deepEqual(node.sm.getFile('docs/readme.md'), { ...stored, chunkSizes: [5], hlc: hlcAt(1), modifiedMs: Date.parse(modified), s3Etag: null, headers: null, partSizes: null });
    assert.deepEqual(node.sm.getFile('docs/readme.md', 1)?.etag, file.etag);
    assert.equal(node.sm.getFile('docs/readme.md', 2), null);
    assert.equal(node.sm.getFile('missing'), null);
    assert.deepEqual(node.sm.stats(), { files: 1, bytes: 5 });
    assert.equal(node.sm.appliedIndex(), 1);
    assert.equal(node.sm.lastHlc(), hlcAt(1));
  });

  test('lists thousands of names in UTF-8 byte order, by prefix, through cursors', () => {
    const node = openNode();
    const log = new Log();
    const names: string[] = [];
    for (let i = 0; i < 3000; i++) names.push(`dir${i % 7}/sub${i % 3}/file-${String(i).padStart(5, '0')}`);
    // Byte order differs from JavaScript's UTF-16 order above U+FFFF: '😀' (F0…) sorts after
    // '\uFFFD' (EF BF BD) in bytes, before it in UTF-16.
    names.push('dir1/😀', 'dir1/\uFFFD', 'dir1/é', 'dir1', 'dir10/x', 'dir1-x', 'z');
    for (let i = 0; i < names.length; i += 500) node.sm.apply(names.slice(i, i + 500).map((name) => log.put(name)));
    // Deleted files drop out of listings.
    const deleted = names.filter((_, i) => i % 10 === 3);
    node.sm.apply(deleted.map((name) => log.delete(name)));
    const live = names.filter((name) => !deleted.includes(name)).sort(compareNames);
    assert.ok(compareNames('dir1/\uFFFD', 'dir1/😀') < 0 && '\uFFFD' > '😀');

    assert.deepEqual(listAll(node.sm, {}, 1000), live);
    assert.deepEqual(listAll(node.sm, {}, 97), live);
    for (const prefix of ['dir1/', 'dir1', 'dir3/sub2/', 'dir6/sub0/file-0', 'nope', 'z', '']) {
      const expected = live.filter((name) => name.startsWith(prefix));
      assert.deepEqual(listAll(node.sm, { prefix }, 37), expected, `prefix ${prefix}`);
    }
    // A cursor before, inside and past the prefix's range.
    const inDir2 = live.filter((name) => name.startsWith('dir2/'));
    assert.deepEqual(listAll(node.sm, { prefix: 'dir2/', after: 'dir1/zzz' }, 50), inDir2);
    assert.deepEqual(listAll(node.sm, { prefix: 'dir2/', after: inDir2[100] }, 50), inDir2.slice(101));
    assert.deepEqual(listAll(node.sm, { prefix: 'dir2/', after: 'dir3' }, 50), []);
    // A cursor that names no file still works (it is a position, not a file).
    assert.deepEqual(listAll(node.sm, { after: 'dir5/sub1/file-9' }, 200), live.filter((name) => compareNames(name, 'dir5/sub1/file-9') > 0));

    const page = node.sm.listFiles({ prefix: 'dir4/', limit: 2 });
    assert.deepEqual(Object.keys(page.files[0]).sort(), ['contentType', 'etag', 'modified', 'name', 'size', 'version']);
    assert.equal(page.next, page.files[1].name);
    assertConsistent(node);
  });

  test('prefix upper bounds skip surrogates and roll over U+10FFFF', () => {
    assert.equal(prefixUpperBound(''), null);
    assert.equal(prefixUpperBound('ab'), 'ac');
    assert.equal(prefixUpperBound('a\uD7FF'), 'a\uE000');
    assert.equal(prefixUpperBound('a\u{10FFFF}'), 'b');
    assert.equal(prefixUpperBound('\u{10FFFF}'), null);
  });
});

describe('metadata state machine: versions and chunk references', () => {
  test('deleting one version: an older one stays, the current one hands over, the last one ends the name', () => {
    const node = openNode({ keepVersions: 5 });
    const log = new Log();
    applyOne(node.sm, log.put('f', { chunks: ['A1'] }));
    applyOne(node.sm, log.put('f', { chunks: ['B22'] }));
    applyOne(node.sm, log.put('f', { content: 'three', inline: true }));
    const inlineRows = () => (node.database.sqlite.prepare('SELECT count(*) AS n FROM inline_contents').get() as { n: number }).n;
    assert.deepEqual(node.sm.stats(), { files: 1, bytes: 5 });

    // An old version: the current one is untouched, its chunk loses its reference.
    const old = applyOne(node.sm, log.delete('f', { version: 1 }));
    assert.equal(old.ok && old.file.version, 1);
    assert.deepEqual(node.sm.listVersions('f').map((file) => file.version), [3, 2]);
    assert.equal(node.sm.getFile('f')?.version, 3);
    assert.deepEqual(node.sm.stats(), { files: 1, bytes: 5 });
    assert.equal(node.sm.hasChunkRef(sha256('A1')), false);
    assertConsistent(node);

    // A version that is not kept (any more): refused, nothing changes.
    const gone = applyOne(node.sm, log.delete('f', { version: 1 }));
    assert.equal(!gone.ok && gone.code, 'no_such_version');
    const never = applyOne(node.sm, log.delete('nothing', { version: 1 }));
    assert.equal(!never.ok && never.code, 'no_such_version');

    // The current version (inline): the newest one left becomes current; its content is released.
    assert.equal(inlineRows(), 1);
    applyOne(node.sm, log.delete('f', { version: 3 }));
    assert.equal(node.sm.getFile('f')?.version, 2);
    assert.deepEqual(node.sm.stats(), { files: 1, bytes: 3 });
    assert.equal(inlineRows(), 0);
    assertConsistent(node);

    // The last one: the name is deleted; its version numbers go on after it.
    applyOne(node.sm, log.delete('f', { version: 2 }));
    assert.equal(node.sm.getFile('f'), null);
    assert.deepEqual(node.sm.listVersions('f'), []);
    assert.deepEqual(node.sm.stats(), { files: 0, bytes: 0 });
    assertConsistent(node);
    const next = applyOne(node.sm, log.put('f', { chunks: ['C'] }));
    assert.equal(next.ok && next.file.version, 4);
  });

  test('keeps the last K versions and counts chunk references per reference', () => {
    const node = openNode({ keepVersions: 3 });
    const log = new Log();
    // Every version shares chunk S; version v also has its own chunk Uv; version 4 holds S twice.
    for (let v = 1; v <= 7; v++) {
      const chunks = v === 4 ? ['S', 'U4', 'S'] : ['S', `U${v}`];
      const result = applyOne(node.sm, log.put('f', { chunks }));
      assert.equal(result.ok && result.file.version, v);
      assertConsistent(node);
    }
    assert.deepEqual(node.sm.listVersions('f').map((file) => file.version), [7, 6, 5]);
    assert.equal(node.sm.getFile('f', 4), null);
    assert.equal(node.sm.getFile('f', 5)?.etag, sha256('SU5'));
    const refcount = (chunk: string) =>
      (node.database.sqlite.prepare('SELECT refcount FROM chunk_refs WHERE hash = ?').get(sha256(chunk)) as { refcount: number }).refcount;
    assert.equal(refcount('S'), 3);
    for (let v = 1; v <= 4; v++) assert.equal(refcount(`U${v}`), 0);
    for (let v = 5; v <= 7; v++) assert.equal(refcount(`U${v}`), 1);
    assert.equal(node.sm.hasChunkRef(sha256('S')), true);
    assert.equal(node.sm.hasChunkRef(sha256('U1')), false);
    assert.equal(node.sm.hasChunkRef(sha256('never')), false);
    assert.deepEqual(node.sm.stats(), { files: 1, bytes: 3 });

    // U1 was dropped when version 4 (entry 4) was applied, U4 when version 7 was.
    const zeroAt = (index: number) => baseMs + index * 1000;
    assert.deepEqual(node.sm.unreferencedChunks(zeroAt(4)).map((chunk) => chunk.hash), [sha256('U1')]);
    assert.deepEqual(
      node.sm.unreferencedChunks(zeroAt(7)).map((chunk) => chunk.hash),
      ['U1', 'U2', 'U3', 'U4'].map(sha256),
    );
    assert.deepEqual(node.sm.unreferencedChunks(zeroAt(7), 2).length, 2);
    assert.equal(node.sm.unreferencedChunks(zeroAt(7))[0].size, 2);

    // The collector forgets only chunks still unreferenced.
    assert.deepEqual(node.sm.forgetChunks([sha256('U1'), sha256('S'), sha256('never')]), [sha256('U1')]);
    assert.equal(node.sm.forgetChunk(sha256('U1')), false);
    assert.equal(node.sm.forgetChunk(sha256('U2')), true);
    assert.deepEqual(node.sm.unreferencedChunks(zeroAt(7)).map((chunk) => chunk.hash), ['U3', 'U4'].map(sha256));
    // A put referencing a forgotten chunk recreates its row.
    applyOne(node.sm, log.put('g', { chunks: ['U1'] }));
    assert.equal(refcount('U1'), 1);
    assertConsistent(node);

    const referenced: string[] = [];
    for (let after = ''; ; ) {
      const page = node.sm.referencedChunks({ after, limit: 2 });
      if (page.length === 0) break;
      referenced.push(...page.map((chunk) => chunk.hash));
      after = page[page.length - 1].hash;
    }
    assert.deepEqual(referenced, ['S', 'U5', 'U6', 'U7', 'U1'].map(sha256).sort());
  });

  test('a delete removes every version and reference; the next put continues the numbering', () => {
    const node = openNode({ keepVersions: 3 });
    const log = new Log();
    node.sm.apply([log.put('a', { chunks: ['x'] }), log.put('a', { chunks: ['y'] }), log.put('b', { chunks: ['x'] })]);
    const deleted = applyOne(node.sm, log.delete('a'));
    assert.equal(deleted.ok && deleted.file.version, 2);
    assert.equal(node.sm.getFile('a'), null);
    assert.equal(node.sm.getFile('a', 1), null);
    assert.deepEqual(node.sm.listVersions('a'), []);
    assert.equal(node.sm.hasChunkRef(sha256('x')), true); // still b's
    assert.equal(node.sm.hasChunkRef(sha256('y')), false);
    assert.deepEqual(node.sm.stats(), { files: 1, bytes: 1 });
    assertConsistent(node);
    const again = applyOne(node.sm, log.put('a', { chunks: ['z'] }));
    assert.equal(again.ok && again.file.version, 3);
    assert.deepEqual(node.sm.listVersions('a').map((file) => file.version), [3]);
    assert.deepEqual(node.sm.stats(), { files: 2, bytes: 2 });
    assertConsistent(node);
  });

  test('an empty file has no chunks', () => {
    const node = openNode();
    const result = applyOne(node.sm, new Log().put('empty', { chunks: [] }));
    assert.ok(result.ok);
    assert.equal(result.file.size, 0);
    assert.deepEqual(result.file.chunks, []);
    assert.equal(result.file.etag, sha256(''));
  });

  test('tells the blob layer which chunks new versions reference, after commit', () => {
    const batches: string[][] = [];
    const node = openNode({ onChunksReferenced: (hashes) => batches.push([...hashes]) });
    const log = new Log();
    node.sm.apply([log.put('a', { chunks: ['p', 'q', 'p'] }), log.noop(), log.put('b', { chunks: ['q'] })]);
    node.sm.apply([log.delete('a')]);
    assert.deepEqual(batches, [[sha256('p'), sha256('q')]]);
  });
});

describe('metadata state machine: preconditions, decided at apply time', () => {
  test('If-Match, If-None-Match and delete of a missing file', () => {
    const node = openNode();
    const log = new Log();
    const first = applyOne(node.sm, log.put('f', { content: 'one', precondition: { ifNoneMatch: '*' } }));
    assert.ok(first.ok, 'If-None-Match: * on a missing file succeeds');
    const etag = first.file.etag;
    const before = observe(node.sm);

    const failures: [string, Entry][] = [
      ['If-None-Match on an existing file', log.put('f', { precondition: { ifNoneMatch: '*' } })],
      ['If-Match with a wrong etag', log.put('f', { precondition: { ifMatch: `"${sha256('other')}"` } })],
      ['If-Match on a missing file', log.put('g', { precondition: { ifMatch: `"${etag}"` } })],
      ['If-Match * on a missing file', log.put('g', { precondition: { ifMatch: '*' } })],
      ['delete with a wrong If-Match', log.delete('f', { precondition: { ifMatch: '"0000"' } })],
    ];
    for (const [what, entry] of failures) {
      const result = applyOne(node.sm, entry);
      assert.equal(result.ok, false, what);
      assert.equal(!result.ok && result.code, 'precondition_failed', what);
    }
    const missing = applyOne(node.sm, log.delete('nothing-here'));
    assert.deepEqual(missing, { ok: false, code: 'not_found', message: 'nothing-here: no such file' });
    // Nothing changed but the applied index and the latest stamp.
    assert.deepEqual({ ...observe(node.sm), applied: 0, lastHlc: null }, { ...before, applied: 0, lastHlc: null });
    assert.equal(node.sm.appliedIndex(), 7);

    // Quoted, unquoted, weak, listed and * forms all match the current etag.
    for (const ifMatch of [`"${etag}"`, etag, `W/"${etag}"`, `"nope", "${etag}"`, '*']) {
      const result = applyOne(node.sm, log.put('f', { content: 'one', precondition: { ifMatch } }));
      assert.ok(result.ok, ifMatch);
    }
    const current = node.sm.getFile('f')!;
    const removed = applyOne(node.sm, log.delete('f', { precondition: { ifMatch: `"${current.etag}"` } }));
    assert.ok(removed.ok);
    assert.equal(node.sm.getFile('f'), null);
    assertConsistent(node);
  });

  test('two racing create-only puts: the first applied wins, the second fails', () => {
    const node = openNode();
    const log = new Log();
    const results = node.sm.apply([
      log.put('lock', { content: 'A', precondition: { ifNoneMatch: '*' } }),
      log.put('lock', { content: 'B', precondition: { ifNoneMatch: '*' } }),
    ]);
    assert.equal(results[0]?.ok, true);
    assert.equal(results[1]?.ok, false);
    assert.equal(node.sm.getFile('lock')?.etag, sha256('A'));
  });
});

describe('metadata state machine: requestId de-duplication', () => {
  test('a replayed requestId returns the stored result and changes nothing', () => {
    const node = openNode();
    const log = new Log();
    const first = applyOne(node.sm, log.put('f', { content: 'v1', precondition: { ifNoneMatch: '*' }, requestId: 'req-1' }));
    assert.ok(first.ok);
    const before = observe(node.sm);
    // The retry carries the same command under a new index (a client retried after a failover).
    const retry = applyOne(node.sm, log.put('f', { content: 'v1', precondition: { ifNoneMatch: '*' }, requestId: 'req-1' }));
    assert.deepEqual(retry, first, 'the stored success, not a precondition failure');
    assert.deepEqual(observe(node.sm).files, before.files);
    assertConsistent(node);

    const deleted = applyOne(node.sm, log.delete('f', { requestId: 'req-2' }));
    assert.ok(deleted.ok);
    assert.deepEqual(applyOne(node.sm, log.delete('f', { requestId: 'req-2' })), deleted, 'not not_found');
    // Failures are remembered too.
    const failed = applyOne(node.sm, log.delete('f', { requestId: 'req-3' }));
    applyOne(node.sm, log.put('f', { requestId: 'req-4' }));
    assert.deepEqual(applyOne(node.sm, log.delete('f', { requestId: 'req-3' })), failed);
    assert.ok(node.sm.getFile('f') !== null);
  });

  test('requestIds are forgotten after the window of applied indexes, whatever the batching', () => {
    const log = new Log();
    const entries = [
      log.put('f', { content: 'same', requestId: 'old' }), // index 1
      log.noop(),
      log.noop(),
      log.noop(),
      log.noop(),
      log.put('f', { content: 'same', requestId: 'old' }), // index 6: within 1 + 5, de-duplicated
      log.put('f', { content: 'same', requestId: 'old' }), // index 7: out of the window, applied anew
      log.put('f', { content: 'same', requestId: 'old' }), // index 8: de-duplicated against index 7
    ];
    const versions = [1, 1, 2, 2];
    // One batch, one entry at a time, and uneven batches: the same answers.
    for (const batchSize of [entries.length, 1, 3]) {
      const node = openNode({ requestWindowEntries: 5, requestWindowMs: 0 });
      const results: (MetadataResult | undefined)[] = [];
      for (let i = 0; i < entries.length; i += batchSize) results.push(...(node.sm.apply(entries.slice(i, i + batchSize)) as (MetadataResult | undefined)[]));
      const puts = results.filter((result) => result !== undefined);
      assert.deepEqual(puts.map((result) => result.ok && result.file.version), versions, `batches of ${batchSize}`);
      const rows = node.database.sqlite.prepare('SELECT applied_index FROM client_requests').pluck().all();
      assert.ok(rows.length <= 1);
    }
  });
});

describe('metadata state machine: forgetting requests', () => {
  test('forgets the oldest requests first, at most requestsPrunedPerBatch per batch, and keeps the newest window', () => {
    const node = openNode({ requestWindowEntries: 1, requestWindowMs: 0 });
    const log = new Log();
    const total = requestsPrunedPerBatch * 2 + requestsPrunedPerBatch / 2;
    const puts = Array.from({ length: total }, (_, i) => log.put(`p/${i}`, { requestId: `req-${i}` }));
    node.sm.apply(puts);
    const remembered = () => node.database.sqlite.prepare('SELECT applied_index FROM client_requests ORDER BY applied_index').pluck().all() as number[];
    // The batch forgot the oldest requestsPrunedPerBatch of those outside both windows.
    let rows = remembered();
    assert.equal(rows.length, total - requestsPrunedPerBatch);
    assert.equal(rows[0], requestsPrunedPerBatch + 1);
    // Later batches go on, oldest first, until only the window is left (the last put: the
    // newest HLC, and no-ops carry none).
    node.sm.apply([log.noop()]);
    rows = remembered();
    assert.equal(rows.length, total - 2 * requestsPrunedPerBatch);
    assert.equal(rows[0], 2 * requestsPrunedPerBatch + 1);
    node.sm.apply([log.noop()]);
    assert.deepEqual(remembered(), [total]);
    node.sm.apply([log.noop()]);
    assert.deepEqual(remembered(), [total]);
    // A forgotten key is a new request; the remembered one, within the window, is answered again.
    const again = applyOne(node.sm, log.put('p/0', { requestId: 'req-0' }));
    assert.ok(again.ok);
    assert.equal(again.file.version, 2);
  });
});

describe('metadata state machine: inline content', () => {
  const inlineRows = (node: Node) =>
    node.database.sqlite.prepare('SELECT hash, refcount, content FROM inline_contents ORDER BY hash').all() as { hash: string; refcount: number; content: Buffer }[];
  /** References to the inline content `hash` (0 once its row is gone). */
  const inlineRefcount = (node: Node, hash: string) => inlineRows(node).find((row) => row.hash === hash)?.refcount ?? 0;

  test('inline content is stored once by hash, counted per kept version, and deleted with its last version', () => {
    const node = openNode({ keepVersions: 2 });
    const log = new Log();
    const a = applyOne(node.sm, log.put('a', { content: 'shared bytes', inline: true }));
    assert.ok(a.ok);
    assert.deepEqual(a.file.chunks, []);
    assert.equal(a.file.etag, sha256('shared bytes'));
    assert.equal(a.file.size, 12);
    applyOne(node.sm, log.put('b', { content: 'shared bytes', inline: true }));
    assert.deepEqual(inlineRows(node).map((row) => [row.hash, row.refcount, row.content.toString()]), [[sha256('shared bytes'), 2, 'shared bytes']]);
    assert.equal(node.sm.inlineContent(sha256('shared bytes'))?.toString(), 'shared bytes');
    assert.deepEqual(node.sm.getFile('b')?.chunks, []);
    assert.deepEqual(node.sm.stats(), { files: 2, bytes: 24 });
    // No chunk references at all.
    assert.deepEqual(node.sm.referencedChunks(), []);

    // Delete one: still there for the other. Delete both: gone.
    applyOne(node.sm, log.delete('a'));
    assert.equal(inlineRefcount(node, sha256('shared bytes')), 1);
    assert.equal(node.sm.inlineContent(sha256('shared bytes'))?.toString(), 'shared bytes');
    applyOne(node.sm, log.delete('b'));
    assert.equal(inlineRefcount(node, sha256('shared bytes')), 0);
    assert.equal(node.sm.inlineContent(sha256('shared bytes')), null);
    assert.deepEqual(inlineRows(node), []);

    // Versions: pruning the last version that refers to a content deletes it; a chunked version in between is fine.
    applyOne(node.sm, log.put('v', { content: 'one', inline: true }));
    applyOne(node.sm, log.put('v', { chunks: ['big'] }));
    assert.equal(node.sm.getFile('v', 1)?.size, 3);
    assert.equal(inlineRefcount(node, sha256('one')), 1);
    applyOne(node.sm, log.put('v', { content: 'two', inline: true }));
    assert.equal(node.sm.getFile('v', 1), null);
    assert.equal(inlineRefcount(node, sha256('one')), 0);
    applyOne(node.sm, log.put('v', { content: 'two', inline: true })); // same content twice in kept versions
    assert.equal(inlineRefcount(node, sha256('two')), 2);
    assertConsistent(node);

    // A retried inline put (same key) counts once.
    applyOne(node.sm, log.put('r', { content: 'retried', inline: true, requestId: 'R' }));
    applyOne(node.sm, log.put('r', { content: 'retried', inline: true, requestId: 'R' }));
    assert.equal(inlineRefcount(node, sha256('retried')), 1);
  });

  test('snapshots carry inline content and the digest covers it', () => {
    const source = openNode();
    const log = new Log();
    source.sm.apply([log.put('x', { content: 'tiny', inline: true }), log.put('y', { content: 'tiny', inline: true }), log.put('z', { chunks: ['c'] })]);
    const file = path.join(tempDir(), 'inline.snap');
    source.sm.writeSnapshot(file);
    const target = openNode();
    target.sm.restoreSnapshot(file, { index: source.sm.appliedIndex(), term: 1, membership: { voters: ['a'] } });
    assert.equal(target.sm.inlineContent(sha256('tiny'))?.toString(), 'tiny');
    assert.equal(inlineRefcount(target, sha256('tiny')), 2);
    assert.deepEqual(target.sm.digest(), source.sm.digest());
    // Both go on alike: deleting both names deletes the content on each.
    const next = [log.delete('x'), log.delete('y')];
    assert.deepEqual(target.sm.apply(next), source.sm.apply(next));
    assert.equal(target.sm.inlineContent(sha256('tiny')), null);
    assert.deepEqual(target.sm.digest(), source.sm.digest());

    // Replicas alike in files and versions but not in their inline rows differ in the digest.
    const entries = [log.put('p', { content: 'tiny', inline: true }), log.put('q', { content: 'tiny', inline: true })].map((e, i) => ({ ...e, index: i + 1 }));
    const same = openNode();
    same.sm.apply(entries);
    const drifted = openNode();
    drifted.sm.apply(entries);
    assert.deepEqual(drifted.sm.digest(), same.sm.digest());
    drifted.database.sqlite.prepare('UPDATE inline_contents SET refcount = 1 WHERE hash = ?').run(sha256('tiny'));
    assert.notEqual(drifted.sm.digest().digest, same.sm.digest().digest, 'a refcount that drifted shows');
    drifted.database.sqlite.prepare('DELETE FROM inline_contents').run();
    assert.notEqual(drifted.sm.digest().digest, same.sm.digest().digest, 'content that went missing shows');
  });

  test('a snapshot in the previous format (1: no inline table, no fingerprints) still restores', () => {
    const source = openNode();
    const log = new Log();
    source.sm.apply([log.put('a', { chunks: ['x'] }), log.put('b', { requestId: 'old-key', content: 'b' })]);
    const file = path.join(tempDir(), 'format1.snap');
    source.sm.writeSnapshot(file);
    const old = new Database(file);
    old.exec('DROP TABLE inline_contents; ALTER TABLE client_requests DROP COLUMN fingerprint');
    old.pragma('user_version = 1');
    old.close();
    const target = openNode();
    target.sm.restoreSnapshot(file, { index: source.sm.appliedIndex(), term: 1, membership: { voters: ['a'] } });
    assert.deepEqual(observe(target.sm), observe(source.sm));
    // The old key has no fingerprint there: matched by the key alone, as before.
    const retried = applyOne(target.sm, log.put('other', { requestId: 'old-key' }));
    assert.equal(retried.ok && retried.file.name, 'b');
  });

  test('malformed inline content is an assertion failure', () => {
    const content = Buffer.from('hello');
    const good = { op: 'put', name: 'a', size: 5, contentType: 'text/plain', etag: sha256('hello'), chunks: [], inline: content.toString('base64'), hlc: hlcAt(1) };
    const decoded = decodeCommand(encodeCommand(good as PutCommand));
    assert.deepEqual(decoded.command, good);
    assert.deepEqual(decoded.inline, content, 'apply gets the inline bytes decoded with the command');
    assert.equal(decodeCommand(encodeCommand({ ...good, inline: undefined, size: 0, etag: sha256('') } as PutCommand)).inline, null);
    const bad: Record<string, unknown>[] = [
      { ...good, etag: sha256('other') },
      { ...good, size: 4 },
      { ...good, inline: 'aGVsbG8' }, // not canonical (no padding)
      { ...good, inline: '' , size: 0, etag: sha256('') },
      { ...good, chunks: [sha256('hello')] },
      { ...good, chunkSizes: [] },
      { ...good, inline: 5 },
    ];
    for (const value of bad) assert.throws(() => decodeCommand(JSON.stringify(value)), /malformed metadata entry/, JSON.stringify(value));
  });

  test('a meta.db written before inline content (migration 0002) stays readable after the upgrade', () => {
    const dir = tempDir();
    // The migrations folder as it was: journal and SQL up to 0002.
    const real = fileURLToPath(new URL('../../storage-node/drizzle', import.meta.url));
    const old = path.join(dir, 'drizzle');
    fs.mkdirSync(path.join(old, 'meta'), { recursive: true });
    const journal = JSON.parse(fs.readFileSync(path.join(real, 'meta/_journal.json'), 'utf8')) as { entries: { idx: number; tag: string }[] };
    journal.entries = journal.entries.filter((entry) => entry.idx <= 2);
    fs.writeFileSync(path.join(old, 'meta/_journal.json'), JSON.stringify(journal));
    for (const entry of journal.entries) fs.copyFileSync(path.join(real, `${entry.tag}.sql`), path.join(old, `${entry.tag}.sql`));
    const file = path.join(dir, 'meta.db');
    const sqlite = new Database(file);
    migrate(drizzle(sqlite), { migrationsFolder: old });
    // What the previous version wrote: a file, its chunk, a remembered request.
    sqlite.exec(`
      INSERT INTO applied_state (id, applied_index, live_files, live_bytes, last_hlc) VALUES (1, 2, 1, 3, '${hlcAt(2)}');
      INSERT INTO files (name, current_version, last_version) VALUES ('old', 1, 1);
      INSERT INTO file_versions (name, version, size, content_type, etag, chunks, chunk_sizes, hlc, modified_ms)
        VALUES ('old', 1, 3, 'text/plain', '${sha256('abc')}', '["${sha256('abc')}"]', '[3]', '${hlcAt(1)}', ${baseMs + 1000});
      INSERT INTO chunk_refs (hash, refcount, size, zero_since_ms) VALUES ('${sha256('abc')}', 1, 3, NULL);
      INSERT INTO client_requests (request_id, result, applied_index, applied_wall_ms) VALUES ('k', '{"ok":false,"code":"not_found","message":"m"}', 2, ${baseMs + 2000});
    `);
    sqlite.close();

    const database = openDatabase(file); // runs 0003
    const sm = new MetadataStateMachine(database);
    assert.equal(sm.getFile('old')?.etag, sha256('abc'));
    assert.deepEqual(sm.getFile('old')?.chunks, [sha256('abc')]);
    assert.equal(sm.appliedIndex(), 2);
    const log = new Log();
    log.next = 3;
    // The old request is still remembered (by key alone); new content can go inline.
    assert.deepEqual(applyOne(sm, log.delete('anything', { requestId: 'k' })), { ok: false, code: 'not_found', message: 'm' });
    assert.ok(applyOne(sm, log.put('new', { content: 'inline now', inline: true })).ok);
    assert.equal(sm.inlineContent(sha256('inline now'))?.toString(), 'inline now');
    database.sqlite.close();
  });
});

describe('metadata state machine: Idempotency-Key fingerprints', () => {
  test('the same key for a different request is refused and changes nothing; the same request again gets the first answer', () => {
    const node = openNode();
    const log = new Log();
    const first = applyOne(node.sm, log.put('f', { content: 'v1', requestId: 'K' }));
    assert.ok(first.ok);
    const before = observe(node.sm);
    const different = [
      log.put('g', { content: 'v1', requestId: 'K' }), // another name
      log.put('f', { content: 'v2', requestId: 'K' }), // other content
      log.put('f', { content: 'v1', requestId: 'K', precondition: { ifNoneMatch: '*' } }), // other preconditions
      log.delete('f', { requestId: 'K' }), // another op
    ];
    for (const entry of different) {
      const result = applyOne(node.sm, entry);
      assert.equal(result.ok, false, entry.data);
      assert.equal(!result.ok && result.code, 'idempotency_key_mismatch', entry.data);
    }
    assert.deepEqual(observe(node.sm).files, before.files);
    assert.equal(node.sm.getFile('g'), null);
    assert.deepEqual(applyOne(node.sm, log.put('f', { content: 'v1', requestId: 'K' })), first);

    // A delete's key too: the same delete again is its first answer, a put under it is refused.
    const deleted = applyOne(node.sm, log.delete('f', { requestId: 'D', precondition: { ifMatch: `"${sha256('v1')}"` } }));
    assert.ok(deleted.ok);
    const mismatch = applyOne(node.sm, log.delete('f', { requestId: 'D' }));
    assert.equal(!mismatch.ok && mismatch.code, 'idempotency_key_mismatch');
    assert.deepEqual(applyOne(node.sm, log.delete('f', { requestId: 'D', precondition: { ifMatch: `"${sha256('v1')}"` } })), deleted);
    assertConsistent(node);
  });

  test('a request remembered before fingerprints existed is matched by its key alone', () => {
    const node = openNode();
    const log = new Log();
    const first = applyOne(node.sm, log.put('f', { content: 'old', requestId: 'legacy' }));
    node.database.sqlite.prepare('UPDATE client_requests SET fingerprint = NULL').run();
    assert.deepEqual(applyOne(node.sm, log.put('other', { content: 'x', requestId: 'legacy' })), first);
  });
});

describe('metadata state machine: request window by time', () => {
  test('a requestId is remembered while the HLC time window lasts, however many entries pass', () => {
    const log = new Log(); // entry i is stamped at base + i seconds
    const entries: Entry[] = [log.put('f', { content: 'same', requestId: 'slow-retry' })];
    for (let i = 0; i < 5; i++) entries.push(log.put(`g${i}`));
    entries.push(log.put('f', { content: 'same', requestId: 'slow-retry' })); // 6 entries and 6 s later: remembered
    for (let i = 0; i < 5; i++) entries.push(log.put(`h${i}`));
    entries.push(log.put('f', { content: 'same', requestId: 'slow-retry' })); // 12 s later: forgotten, applied anew
    for (const batchSize of [entries.length, 1, 4]) {
      const node = openNode({ requestWindowEntries: 2, requestWindowMs: 10_000 });
      const results: (MetadataResult | undefined)[] = [];
      for (let i = 0; i < entries.length; i += batchSize) results.push(...(node.sm.apply(entries.slice(i, i + batchSize)) as (MetadataResult | undefined)[]));
      const versionsOfF = [0, 6, 12].map((i) => { const r = results[i]; return r !== undefined && r.ok ? r.file.version : null; });
      assert.deepEqual(versionsOfF, [1, 1, 2], `batches of ${batchSize}`);
    }
  });
});

describe('metadata state machine: exactly-once apply', () => {
  test('a batch applied again after close and reopen changes nothing', () => {
    const node = openNode({ keepVersions: 2 });
    const log = new Log();
    const batch = [log.noop(), log.put('a'), log.put('a'), log.put('a'), log.put('b'), log.delete('b'), log.put('c')];
    const results = node.sm.apply(batch);
    assert.equal(results[0], undefined);
    assert.equal(node.sm.appliedIndex(), 7);
    const before = observe(node.sm);
    node.reopen();
    assert.equal(node.sm.appliedIndex(), 7);
    assert.deepEqual(observe(node.sm), before);
    assert.deepEqual(node.sm.apply(batch), batch.map(() => undefined));
    assert.deepEqual(observe(node.sm), before);
    assertConsistent(node);
    // A batch that overlaps the applied index applies only its new tail.
    const tail = [log.put('d'), log.put('a')];
    const overlapping = [...batch.slice(5), ...tail];
    const overlapResults = node.sm.apply(overlapping) as (MetadataResult | undefined)[];
    assert.deepEqual(overlapResults.slice(0, 2), [undefined, undefined]);
    assert.equal(overlapResults[3]?.ok && overlapResults[3].file.version, 4);
    assert.equal(node.sm.appliedIndex(), 9);
    assertConsistent(node);
  });

  test('a batch that fails part way leaves nothing behind', () => {
    const node = openNode();
    const log = new Log();
    node.sm.apply([log.put('a')]);
    const before = observe(node.sm);
    const good = log.put('b');
    const bad = log.entry('{"op":"put","name":"/bad"}');
    assert.throws(() => node.sm.apply([good, bad]), /malformed metadata entry/);
    assert.deepEqual(observe(node.sm), before);
    node.reopen();
    assert.deepEqual(observe(node.sm), before);
    // Out of order and gaps are bugs in the caller.
    const late = log.put('c'); // index 4
    assert.throws(() => node.sm.apply([late]), /gap: applied 1, next entry 4/);
    assert.throws(() => node.sm.apply([good, late]), /out of order: 2 then 4/);
    assert.deepEqual(observe(node.sm), before);
    const fixed: Entry = { ...bad, data: encodeCommand({ op: 'delete', name: 'a', hlc: hlcAt(3) }) };
    assert.deepEqual(node.sm.apply([good, fixed, late]).map((result) => result?.ok), [true, true, true]);
    assertConsistent(node);
  });

  test('config entries only advance the applied index', () => {
    const node = openNode();
    assert.deepEqual(node.sm.apply([{ index: 1, term: 1, type: 'config', data: '{"voters":["a"]}' }]), [undefined]);
    assert.equal(node.sm.appliedIndex(), 1);
  });
});

describe('metadata commands', () => {
  test('encode and decode round-trip', () => {
    const command: PutCommand = {
      op: 'put',
      name: 'a/b',
      size: 3,
      contentType: 'application/octet-stream',
      etag: sha256('abc'),
      chunks: [sha256('ab'), sha256('c')],
      chunkSizes: [2, 1],
      hlc: hlcAt(1),
      precondition: { ifMatch: '"x"' },
      requestId: 'r',
    };
    assert.deepEqual(decodeCommand(encodeCommand(command)).command, command);
  });

  test('a malformed entry is an assertion failure', () => {
    const good = { op: 'put', name: 'a', size: 1, contentType: 'text/plain', etag: sha256('a'), chunks: [sha256('a')], hlc: hlcAt(1) };
    const bad: Record<string, unknown>[] = [
      { ...good, op: 'rename' },
      { ...good, name: 'a//b' },
      { ...good, size: -1 },
      { ...good, size: 1.5 },
      { ...good, etag: 'ABC' },
      { ...good, etag: sha256('a').toUpperCase() },
      { ...good, chunks: ['nope'] },
      { ...good, chunks: [] },
      { ...good, chunkSizes: [2] },
      { ...good, chunkSizes: [1, 0] },
      { ...good, hlc: '2024-01-01' },
      { ...good, contentType: '' },
      { ...good, extra: true },
      { ...good, precondition: { ifNoneMatch: 'etag' } },
      { ...good, precondition: { ifMatch: '' } },
      { ...good, precondition: { ifModifiedSince: 'x' } },
      { ...good, requestId: '' },
      { op: 'delete', name: 'a', hlc: hlcAt(1), size: 1 },
    ];
    for (const value of bad) {
      assert.throws(() => decodeCommand(JSON.stringify(value)), /assertion failed: malformed metadata entry/, JSON.stringify(value));
      assert.throws(() => encodeCommand(value as never), /assertion failed: invalid metadata command/);
    }
    assert.throws(() => decodeCommand('{not json'), /not JSON/);
    assert.throws(() => decodeCommand('[]'), /malformed/);
  });
});

describe('metadata state machine: snapshots', () => {
  function populate(node: Node, log: Log, prefix: string, count: number): void {
    const entries: Entry[] = [];
    for (let i = 0; i < count; i++) entries.push(log.put(`${prefix}/${i}`, { chunks: [`${prefix}-${i}`, 'shared'] }));
    for (let i = 0; i < count; i += 3) entries.push(log.put(`${prefix}/${i}`, { chunks: [`${prefix}-${i}-v2`], requestId: `${prefix}-req-${i}` }));
    for (let i = 1; i < count; i += 5) entries.push(log.delete(`${prefix}/${i}`));
    node.sm.apply(entries);
  }

  function raftState(node: Node) {
    return new SqliteRaftLogStore(node.database).load();
  }

  test('a snapshot restored into another node serves the same files; its raft tables are untouched', () => {
    const source = openNode({ keepVersions: 2 });
    const sourceLog = new Log();
    populate(source, sourceLog, 'src', 300);
    // The source's own raft tables must not travel in the snapshot.
    new SqliteRaftLogStore(source.database).save({
      hardState: { term: 9, vote: 'source', commit: 5 },
      entries: [{ index: 1, term: 9, type: 'noop', data: '' }],
      snapshot: null,
    });

    const target = openNode({ keepVersions: 2 });
    populate(target, new Log(), 'old', 50);
    const targetRaft = new SqliteRaftLogStore(target.database);
    targetRaft.save({
      hardState: { term: 4, vote: 'target', commit: 3 },
      entries: [1, 2, 3].map((index) => ({ index, term: 4, type: 'normal' as const, data: `{"i":${index}}` })),
      snapshot: null,
    });
    const raftBefore = raftState(target);

    const file = path.join(tempDir(), 'snapshot.db');
    source.sm.writeSnapshot(file);
    assert.throws(() => source.sm.writeSnapshot(file), /already exists/);
    const shipped = new Database(file, { readonly: true });
    const tables = shipped.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all();
    assert.deepEqual(tables, ['access_keys', 'applied_state', 'buckets', 'chunk_refs', 'client_requests', 'cluster_settings', 'file_versions', 'files', 'inline_contents', 'multipart_parts', 'multipart_uploads']);
    assert.equal(shipped.pragma('journal_mode', { simple: true }), 'delete');
    shipped.close();

    const meta: SnapshotMeta = { index: source.sm.appliedIndex(), term: 9, membership: { voters: ['a', 'b', 'c'] } };
    assert.throws(() => target.sm.restoreSnapshot(file, { ...meta, index: meta.index + 1 }), /snapshot is as of index/);
    target.sm.restoreSnapshot(file, meta);
    assert.equal(target.sm.appliedIndex(), meta.index);
    assert.deepEqual(observe(target.sm), observe(source.sm));
    assert.deepEqual(target.sm.listFiles({ prefix: 'old/' }).files, []);
    assert.deepEqual(raftState(target), raftBefore);
    assertConsistent(target);

    // Both go on identically: same results, de-duplication included, and across a reopen.
    target.reopen();
    const next = [sourceLog.put('src/0', { requestId: 'src-req-0' }), sourceLog.put('src/new'), sourceLog.delete('src/3')];
    assert.deepEqual(target.sm.apply(next), source.sm.apply(next));
    assert.deepEqual(observe(target.sm), observe(source.sm));
    assert.deepEqual(target.sm.unreferencedChunks(Number.MAX_SAFE_INTEGER), source.sm.unreferencedChunks(Number.MAX_SAFE_INTEGER));
    assertConsistent(target);
  });

  test('a snapshot of an empty state machine restores to empty', () => {
    const source = openNode();
    const target = openNode();
    populate(target, new Log(), 'x', 5);
    const file = path.join(tempDir(), 'empty.snap');
    source.sm.writeSnapshot(file);
    target.sm.restoreSnapshot(file, { index: 0, term: 0, membership: { voters: ['a'] } });
    assert.deepEqual(observe(target.sm), observe(source.sm));
    assert.deepEqual(target.sm.unreferencedChunks(Number.MAX_SAFE_INTEGER), []);
  });

  test('a background snapshot (worker thread) is one consistent state while applies go on', async () => {
    const source = openNode();
    const log = new Log();
    const entries: Entry[] = [];
    const applyMore = (n: number) => {
      const batch = Array.from({ length: n }, (_, i) => log.put(`bg/${entries.length + i}`, { content: `v${entries.length + i}`, inline: i % 2 === 0 }));
      entries.push(...batch);
      source.sm.apply(batch);
    };
    applyMore(500);
    const begunAt = source.sm.appliedIndex();
    const file = path.join(tempDir(), 'background.snap');
    const task = source.sm.startSnapshot(file);
    assert.ok(task !== null, 'a file-backed state machine snapshots in the background');
    let finished = false;
    const done = task.done.finally(() => (finished = true));
    // The event loop stays free: applies go on while the worker copies.
    let appliedMeanwhile = 0;
    for (let round = 0; round < 2000 && !finished; round++) {
      applyMore(5);
      appliedMeanwhile += 5;
      await new Promise((resolve) => setImmediate(resolve));
    }
    const index = await done;
    assert.ok(index >= begunAt, `snapshot as of ${index}, begun at ${begunAt}`);
    assert.ok(appliedMeanwhile > 0, 'nothing was applied while the snapshot was written');
    // The file holds exactly the state at its index: the same as a node that applied only that far.
    const restored = openNode();
    restored.sm.restoreSnapshot(file, { index, term: 1, membership: { voters: ['a'] } });
    const reference = openNode();
    reference.sm.apply(entries.slice(0, index));
    assert.equal(restored.sm.appliedIndex(), index);
    assert.deepEqual(restored.sm.digest(), reference.sm.digest());
    assertConsistent(restored);
  });

  test('a cancelled background snapshot leaves no file behind', async () => {
    const source = openNode();
    populate(source, new Log(), 'c', 200);
    const file = path.join(tempDir(), 'cancelled.snap');
    const task = source.sm.startSnapshot(file)!;
    await task.cancel();
    await assert.rejects(task.done, /cancelled/);
    assert.equal(fs.existsSync(file), false, 'the partial snapshot file is still there');
  });

  test('an in-memory state machine offers no background snapshot (writeSnapshot is used)', () => {
    const sm = new MetadataStateMachine(openDatabase(':memory:'));
    assert.equal(sm.startSnapshot(path.join(tempDir(), 'x.snap')), null);
  });
});

describe('metadata state machine: digest for comparing replicas', () => {
  test('replicas that applied the same entries, in any batching, have the same digest; a different history does not', () => {
    const log = new Log();
    const entries = [log.put('a'), log.put('b'), log.put('a'), log.delete('b'), log.put('c/d')];
    const one = openNode();
    const other = openNode();
    one.sm.apply(entries);
    for (const entry of entries) other.sm.apply([entry]);
    assert.deepEqual(one.sm.digest(), other.sm.digest());
    assert.equal(one.sm.digest().appliedIndex, 5);
    assert.equal(one.sm.digest().files, 3);
    const diverged = openNode();
    diverged.sm.apply([...entries.slice(0, 4), log.put('c/e')].map((e, i) => ({ ...e, index: i + 1 })));
    assert.notEqual(diverged.sm.digest().digest, one.sm.digest().digest);
  });
});
