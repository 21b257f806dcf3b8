// The replicated `replication` setting: checked like every command, applied alike on every node,
// carried by snapshots, and at its default where no one set it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeHlc } from '../../shared/hlc.ts';
import { openDatabase } from '../../storage-node/src/db/open-database.ts';
import { commandProblem, encodeCommand } from '../../storage-node/src/metadata/commands.ts';
import { replicationDefault } from '../../storage-node/src/metadata/cluster-settings.ts';
import { MetadataStateMachine } from '../../storage-node/src/metadata/metadata-state-machine.ts';

const hlc = encodeHlc({ wallMs: Date.now(), logical: 0 });

describe('cluster settings', () => {
  it('refuses a malformed setReplication', () => {
    assert.equal(commandProblem({ op: 'setReplication', replication: 3, hlc }), null);
    assert.match(commandProblem({ op: 'setReplication', replication: 0, hlc }) ?? '', /replication must be an integer from 1/);
    assert.match(commandProblem({ op: 'setReplication', replication: 2.5, hlc }) ?? '', /replication must be an integer/);
    assert.match(commandProblem({ op: 'setReplication', replication: 3, hlc, extra: 1 }) ?? '', /unexpected field "extra"/);
    assert.match(commandProblem({ op: 'setReplication', replication: 3, hlc: 'x' }) ?? '', /hlc/);
    assert.equal(commandProblem({ op: 'setMemberDown', id: 'n4', down: true, hlc }), null);
    assert.match(commandProblem({ op: 'setMemberDown', id: '../x', down: true, hlc }) ?? '', /id must be a member id/);
    assert.match(commandProblem({ op: 'setMemberDown', id: 'n4', down: 'yes', hlc }) ?? '', /down must be true or false/);
    assert.match(commandProblem({ op: 'setMemberDown', id: 'n4', down: true, replication: 3, hlc }) ?? '', /unexpected field "replication"/);
  });

  it('refuses a malformed member setting (draining, full, zone)', () => {
    assert.equal(commandProblem({ op: 'setMemberDraining', id: 'n4', draining: true, hlc }), null);
    assert.match(commandProblem({ op: 'setMemberDraining', id: 'n4', draining: 1, hlc }) ?? '', /draining must be true or false/);
    assert.match(commandProblem({ op: 'setMemberDraining', id: 'n4', down: true, hlc }) ?? '', /unexpected field "down"/);
    assert.equal(commandProblem({ op: 'setMemberFull', id: 'n4', full: false, hlc }), null);
    assert.match(commandProblem({ op: 'setMemberFull', id: '', full: false, hlc }) ?? '', /id must be a member id/);
    assert.equal(commandProblem({ op: 'setMemberZone', id: 'n4', zone: 'rack-1', hlc }), null);
    assert.equal(commandProblem({ op: 'setMemberZone', id: 'n4', zone: null, hlc }), null);
    assert.match(commandProblem({ op: 'setMemberZone', id: 'n4', zone: 'a/b', hlc }) ?? '', /zone must be null or a zone name/);
    assert.match(commandProblem({ op: 'setMemberZone', id: 'n4', hlc }) ?? '', /zone must be null or a zone name/);
    assert.match(commandProblem({ op: 'setMemberZone', id: 'n4', zone: 'a', full: true, hlc }) ?? '', /unexpected field "full"/);
  });

  it('applies zones, draining and full flags alike on every node, and carries them in a snapshot', () => {
    const dir = mkdtempSync(join(tmpdir(), 'settings-'));
    try {
      const database = openDatabase(join(dir, 'a.db'));
      const sm = new MetadataStateMachine(database);
      const commands = [
        { op: 'setMemberZone', id: 'n1', zone: 'a' },
        { op: 'setMemberZone', id: 'n2', zone: 'b' },
        { op: 'setMemberZone', id: 'n3', zone: 'b' },
        { op: 'setMemberZone', id: 'n3', zone: null },
        { op: 'setMemberDraining', id: 'n2', draining: true },
        { op: 'setMemberFull', id: 'n4', full: true },
        { op: 'setMemberFull', id: 'n5', full: true },
        { op: 'setMemberFull', id: 'n5', full: false },
      ];
      sm.apply(commands.map((command, i) => ({ index: i + 1, term: 1, type: 'normal' as const, data: encodeCommand({ ...command, hlc } as Parameters<typeof encodeCommand>[0]) })));
      const expected = { replication: replicationDefault, down: [], draining: ['n2'], full: ['n4'], zones: { n1: 'a', n2: 'b' } };
      assert.deepEqual(sm.settings(), expected);
      const file = join(dir, 'snap.db');
      sm.writeSnapshot(file);
      database.sqlite.close();
      const other = openDatabase(join(dir, 'b.db'));
      const target = new MetadataStateMachine(other);
      target.restoreSnapshot(file, { index: commands.length, term: 1, membership: { voters: ['n1'] } });
      assert.deepEqual(target.settings(), expected, 'restored from the snapshot');
      other.sqlite.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('is applied, survives a restart and travels in a snapshot', () => {
    const dir = mkdtempSync(join(tmpdir(), 'settings-'));
    try {
      const database = openDatabase(join(dir, 'a.db'));
      const sm = new MetadataStateMachine(database);
      assert.equal(sm.settings().replication, replicationDefault);
      const [result] = sm.apply([{ index: 1, term: 1, type: 'normal', data: encodeCommand({ op: 'setReplication', replication: 2, hlc }) }]);
      assert.deepEqual(result, { ok: true, settings: { replication: 2, down: [], draining: [], full: [], zones: {} } });
      assert.equal(sm.settings().replication, 2);
      sm.apply([{ index: 2, term: 1, type: 'normal', data: encodeCommand({ op: 'setMemberDown', id: 'n4', down: true, hlc }) }]);
      assert.deepEqual(sm.settings().down, ['n4']);
      sm.apply([{ index: 3, term: 1, type: 'normal', data: encodeCommand({ op: 'setMemberDown', id: 'n4', down: false, hlc }) }]);
      assert.deepEqual(sm.settings().down, []);
      const file = join(dir, 'snap.db');
      sm.writeSnapshot(file);
      database.sqlite.close();

      const reopened = openDatabase(join(dir, 'a.db'));
      assert.equal(new MetadataStateMachine(reopened).settings().replication, 2, 'kept across a restart');
      reopened.sqlite.close();

      const other = openDatabase(join(dir, 'b.db'));
      const target = new MetadataStateMachine(other);
      target.restoreSnapshot(file, { index: 3, term: 1, membership: { voters: ['n1'] } });
      assert.equal(target.settings().replication, 2, 'restored from the snapshot');
      other.sqlite.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
