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

  it('is applied, survives a restart and travels in a snapshot', () => {
    const dir = mkdtempSync(join(tmpdir(), 'settings-'));
    try {
      const database = openDatabase(join(dir, 'a.db'));
      const sm = new MetadataStateMachine(database);
      assert.equal(sm.settings().replication, replicationDefault);
      const [result] = sm.apply([{ index: 1, term: 1, type: 'normal', data: encodeCommand({ op: 'setReplication', replication: 2, hlc }) }]);
      assert.deepEqual(result, { ok: true, settings: { replication: 2, down: [] } });
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
