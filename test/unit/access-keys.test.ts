// Access keys in the metadata state machine (real SQLite in temp dirs): the createKey/revokeKey
// commands and their checks, applying them, snapshots (format 7, and older files without the
// table), the digest, and the cluster message schema refusing malformed key entries.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { encodeHlc } from '../../shared/hlc.ts';
import { openDatabase } from '../../storage-node/src/db/open-database.ts';
import { commandProblem, decodeCommand, encodeCommand } from '../../storage-node/src/metadata/commands.ts';
import type { ReplicatedCommand } from '../../storage-node/src/metadata/commands.ts';
import type { KeyResult } from '../../storage-node/src/metadata/key-commands.ts';
import { MetadataStateMachine } from '../../storage-node/src/metadata/metadata-state-machine.ts';
import { metadataSnapshotFormat } from '../../storage-node/src/metadata/metadata-snapshot.ts';
import type { Entry } from '../../storage-node/src/raft/types.ts';
import { messageSchema } from '../../storage-node/src/transport/message-schema.ts';

const tempDirs: string[] = [];
after(() => {
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'access-keys-'));
  tempDirs.push(dir);
  return dir;
}

function openMachine(): MetadataStateMachine {
  return new MetadataStateMachine(openDatabase(path.join(tempDir(), 'meta.db')));
}

const hlc = (ms: number) => encodeHlc({ wallMs: ms, logical: 0 });
const secret = 'Xq2f9-secret-of-forty-characters-abcdefgh';

class Log {
  #index = 0;
  #ms = 1_800_000_000_000;
  entry(command: ReplicatedCommand): Entry {
    return { index: ++this.#index, term: 1, type: 'normal', data: encodeCommand(command) };
  }
  create(accessKeyId: string, extra: { requestId?: string; secretAccessKey?: string } = {}): Entry {
    return this.entry({ op: 'createKey', accessKeyId, secretAccessKey: extra.secretAccessKey ?? secret, hlc: hlc(this.#ms += 1000), ...(extra.requestId === undefined ? {} : { requestId: extra.requestId }) });
  }
  revoke(accessKeyId: string): Entry {
    return this.entry({ op: 'revokeKey', accessKeyId, hlc: hlc(this.#ms += 1000) });
  }
}

function applyOne(sm: MetadataStateMachine, entry: Entry): KeyResult {
  return sm.apply([entry])[0] as KeyResult;
}

describe('access key commands', () => {
  test('valid commands round-trip; malformed ones are refused with a reason that never shows the secret', () => {
    const create = { op: 'createKey', accessKeyId: 'DFSABCDEFGHIJKLMNOPQ', secretAccessKey: secret, hlc: hlc(1) };
    const revoke = { op: 'revokeKey', accessKeyId: 'DFSABCDEFGHIJKLMNOPQ', hlc: hlc(1), requestId: 'r1' };
    for (const command of [create, revoke]) assert.deepEqual(decodeCommand(encodeCommand(command as ReplicatedCommand)).command, command);
    const bad: Record<string, unknown>[] = [
      { ...create, accessKeyId: 'a b' },
      { ...create, accessKeyId: 'ab' },
      { ...create, accessKeyId: 7 },
      { ...create, secretAccessKey: 'short' },
      { ...create, secretAccessKey: `${secret} with spaces` },
      { ...create, secretAccessKey: undefined },
      { ...create, extra: 1 },
      { ...revoke, secretAccessKey: secret },
      { ...create, hlc: 'yesterday' },
    ];
    for (const command of bad) {
      const problem = commandProblem(JSON.parse(JSON.stringify(command)));
      assert.notEqual(problem, null, `accepted: ${JSON.stringify(command)}`);
      assert.ok(!problem!.includes(secret), `the reason shows the secret: ${problem}`);
    }
  });
});

describe('access keys in the state machine', () => {
  test('create, list, refuse a second create of the same id, revoke, refuse a second revoke', () => {
    const sm = openMachine();
    const log = new Log();
    const created = applyOne(sm, log.create('DFSKEYONE'));
    assert.ok(created.ok);
    assert.deepEqual(Object.keys(created.key).sort(), ['accessKeyId', 'created'], 'a result never carries the secret');
    assert.equal(sm.accessKeySecret('DFSKEYONE'), secret);
    assert.deepEqual(applyOne(sm, log.create('DFSKEYONE')), { ok: false, code: 'key_exists', message: 'the access key DFSKEYONE exists' });
    applyOne(sm, log.create('DFSKEYTWO', { secretAccessKey: 'another-secret-1234' }));
    assert.deepEqual(sm.accessKeys().map((k) => k.accessKeyId), ['DFSKEYONE', 'DFSKEYTWO']);
    const revoked = applyOne(sm, log.revoke('DFSKEYONE'));
    assert.ok(revoked.ok && revoked.key.accessKeyId === 'DFSKEYONE');
    assert.equal(sm.accessKeySecret('DFSKEYONE'), null);
    const again = applyOne(sm, log.revoke('DFSKEYONE'));
    assert.equal(!again.ok && again.code, 'no_such_key');
  });

  test('a create retried with its Idempotency-Key answers the first key (the retry drew another id)', () => {
    const sm = openMachine();
    const log = new Log();
    const first = applyOne(sm, log.create('DFSFIRSTDRAW', { requestId: 'req-1' }));
    const retry = applyOne(sm, log.create('DFSSECONDDRAW', { requestId: 'req-1' }));
    assert.deepEqual(retry, first);
    assert.deepEqual(sm.accessKeys().map((k) => k.accessKeyId), ['DFSFIRSTDRAW']);
  });

  test('snapshots carry the keys (format 8) and the digest covers them', () => {
    const source = openMachine();
    const log = new Log();
    source.apply([log.create('DFSKEPT'), log.create('DFSGONE'), log.revoke('DFSGONE')]);
    const file = path.join(tempDir(), 'keys.snap');
    source.writeSnapshot(file);
    const format = new Database(file, { readonly: true });
    assert.equal(format.pragma('user_version', { simple: true }), metadataSnapshotFormat);
    assert.ok(metadataSnapshotFormat >= 8, 'format 8 added the keys');
    format.close();
    const target = openMachine();
    const before = target.digest().digest;
    target.restoreSnapshot(file, { index: source.appliedIndex(), term: 1, membership: { voters: ['n1'] } });
    assert.deepEqual(target.accessKeys(), source.accessKeys());
    assert.equal(target.accessKeySecret('DFSKEPT'), secret);
    assert.equal(target.digest().digest, source.digest().digest);
    assert.notEqual(target.digest().digest, before);
    // A replica with another secret for the same key differs.
    const other = openMachine();
    const otherLog = new Log();
    other.apply([otherLog.create('DFSKEPT', { secretAccessKey: 'a-different-secret' }), otherLog.create('DFSGONE'), otherLog.revoke('DFSGONE')]);
    assert.notEqual(other.digest().digest, source.digest().digest);
  });

  test('a snapshot of format 5 (no access_keys table) restores with no keys', () => {
    const source = openMachine();
    const log = new Log();
    source.apply([log.create('DFSKEPT')]);
    const file = path.join(tempDir(), 'format5.snap');
    source.writeSnapshot(file);
    const old = new Database(file);
    old.exec('DROP TABLE access_keys');
    old.pragma('user_version = 5');
    old.close();
    const target = openMachine();
    target.apply([new Log().create('DFSLOCAL')]);
    target.restoreSnapshot(file, { index: source.appliedIndex(), term: 1, membership: { voters: ['n1'] } });
    assert.deepEqual(target.accessKeys(), []);
  });
});

describe('the cluster message schema and key entries', () => {
  const base = { from: 'n1', to: 'n2', term: 3, type: 'AppendEntries', prevLogIndex: 0, prevLogTerm: 0, commit: 0 } as const;
  const withData = (data: string) => ({ ...base, entries: [{ index: 1, term: 3, type: 'normal', data }] });
  const create = { op: 'createKey', accessKeyId: 'DFSABCDEFGHIJKLMNOPQ', secretAccessKey: secret, hlc: hlc(1) };

  test('well-formed key entries pass unchanged', () => {
    for (const command of [create, { op: 'revokeKey', accessKeyId: 'DFSABCDEFGHIJKLMNOPQ', hlc: hlc(1) }]) {
      const message = withData(JSON.stringify(command));
      const parsed = messageSchema.safeParse(message);
      assert.ok(parsed.success, JSON.stringify(parsed.error?.issues));
      assert.deepEqual(parsed.data, message);
    }
  });

  test('malformed key entries are refused before they reach the log', () => {
    const bad = [
      { ...create, accessKeyId: 'no spaces allowed' },
      { ...create, secretAccessKey: 'short' },
      { ...create, unexpected: true },
      { op: 'revokeKey', hlc: hlc(1) },
      { op: 'revokeKey', accessKeyId: 'DFSABCDEFGHIJKLMNOPQ', hlc: 'not an hlc' },
    ];
    for (const command of bad) {
      const parsed = messageSchema.safeParse(withData(JSON.stringify(command)));
      assert.equal(parsed.success, false, `accepted: ${JSON.stringify(command)}`);
      const text = parsed.error!.issues.map((i) => i.message).join('; ');
      assert.match(text, /key entry/);
      assert.ok(!text.includes(secret), 'the reason shows the secret');
    }
    // Not JSON, but naming a key op.
    assert.equal(messageSchema.safeParse(withData('{"op":"createKey",')).success, false);
    // Other entries are left to the state machine, as before.
    assert.ok(messageSchema.safeParse(withData('{"op":"put"}')).success);
  });
});
