// One behavioural suite, run against the SQLite store and its in-memory twin: they must agree.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { openDatabase } from '../../storage-node/src/db/open-database.ts';
import { commitUnsynced } from '../../storage-node/src/db/unsynced-commit.ts';
import type { Entry, EntryType, HardState, SnapshotMeta } from '../../storage-node/src/raft/types.ts';
import {
  MemoryRaftLogStore,
  emptyMemoryRaftLogDisk,
} from '../../storage-node/src/raft-storage/memory-raft-log-store.ts';
import { SqliteRaftLogStore } from '../../storage-node/src/raft-storage/raft-log-store.ts';
import type { RaftLogStore } from '../../storage-node/src/raft-storage/raft-log-store.ts';
import { WalSync } from '../../storage-node/src/raft-storage/wal-sync.ts';

/** Opens stores over one durable state: each open() is a restart of the same node. */
interface Harness {
  open(): RaftLogStore;
  dispose(): void;
}

const tempDirs: string[] = [];
after(() => {
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'raft-log-store-'));
  tempDirs.push(dir);
  return dir;
}

const implementations: Record<string, () => Harness> = {
  sqlite: () => {
    const dir = tempDir();
    const file = path.join(dir, 'node-1', 'meta.db');
    return {
      open: () => SqliteRaftLogStore.open(file),
      dispose: () => fs.rmSync(dir, { recursive: true, force: true }),
    };
  },
  memory: () => {
    const disk = emptyMemoryRaftLogDisk();
    return { open: () => new MemoryRaftLogStore(disk), dispose: () => {} };
  },
};

function entry(index: number, term: number, type: EntryType = 'normal'): Entry {
  return { index, term, type, data: type === 'noop' ? '' : JSON.stringify({ op: 'put', index }) };
}

function entries(from: number, to: number, term: number): Entry[] {
  const list: Entry[] = [];
  for (let i = from; i <= to; i++) list.push(entry(i, term));
  return list;
}

function snapshot(index: number, term: number): SnapshotMeta {
  return { index, term, membership: { voters: ['n1', 'n2', 'n3'] } };
}

const noHardState = null;

for (const [name, makeHarness] of Object.entries(implementations)) {
  describe(`RaftLogStore (${name})`, () => {
    let harness: Harness;
    let store: RaftLogStore;
    /** Closes the store and opens a new one on the same state: what a restart sees. */
    const restart = (): RaftLogStore => {
      store.close();
      store = harness.open();
      return store;
    };

    beforeEach(() => {
      harness = makeHarness();
      store = harness.open();
    });
    afterEach(() => {
      store.close();
      harness.dispose();
    });

    test('a fresh store loads empty', () => {
      assert.deepEqual(store.load(), {
        hardState: { term: 0, vote: null, commit: 0 },
        snapshot: null,
        entries: [],
      });
    });

    test('saved state survives close and reopen', () => {
      const hardState: HardState = { term: 2, vote: 'n1', commit: 3 };
      store.save({ hardState: { term: 1, vote: 'n2', commit: 0 }, entries: [entry(1, 1, 'noop'), ...entries(2, 3, 1)], snapshot: null });
      store.save({ hardState, entries: entries(4, 5, 2), snapshot: null });
      assert.deepEqual(restart().load(), {
        hardState,
        snapshot: null,
        entries: [entry(1, 1, 'noop'), ...entries(2, 3, 1), ...entries(4, 5, 2)],
      });
    });

    test('a conflicting suffix is replaced', () => {
      store.save({ hardState: noHardState, entries: [...entries(1, 3, 1), ...entries(4, 6, 2)], snapshot: null });
      store.save({ hardState: noHardState, entries: [entry(4, 3)], snapshot: null });
      assert.deepEqual(restart().load().entries, [...entries(1, 3, 1), entry(4, 3)]);
      // Re-sending entries already held (same terms) is harmless.
      store.save({ hardState: noHardState, entries: entries(2, 3, 1), snapshot: null });
      assert.deepEqual(store.load().entries, entries(1, 3, 1));
    });

    test('hard state alone leaves the log untouched', () => {
      store.save({ hardState: { term: 1, vote: 'n1', commit: 0 }, entries: entries(1, 2, 1), snapshot: null });
      store.save({ hardState: { term: 5, vote: null, commit: 2 }, entries: [], snapshot: null });
      assert.deepEqual(restart().load(), {
        hardState: { term: 5, vote: null, commit: 2 },
        snapshot: null,
        entries: entries(1, 2, 1),
      });
    });

    test('installing a snapshot replaces the whole log', () => {
      store.save({ hardState: noHardState, entries: entries(1, 6, 1), snapshot: null });
      // The leader's snapshot ends inside our log: even the entries after it are discarded,
      // and the entries that come with it in the same batch follow it.
      store.save({ hardState: { term: 3, vote: null, commit: 4 }, entries: [entry(5, 3)], snapshot: snapshot(4, 2) });
      assert.deepEqual(restart().load(), {
        hardState: { term: 3, vote: null, commit: 4 },
        snapshot: snapshot(4, 2),
        entries: [entry(5, 3)],
      });
      // A snapshot beyond the end of the log leaves it empty; appends resume right after it.
      store.save({ hardState: noHardState, entries: [], snapshot: snapshot(20, 3) });
      assert.deepEqual(store.load().entries, []);
      assert.throws(() => store.save({ hardState: noHardState, entries: [entry(20, 3)], snapshot: null }), /inside the snapshot/);
      assert.throws(() => store.save({ hardState: noHardState, entries: [entry(22, 3)], snapshot: null }), /gap/);
      store.save({ hardState: noHardState, entries: [entry(21, 3)], snapshot: null });
      assert.deepEqual(restart().load(), {
        hardState: { term: 3, vote: null, commit: 4 },
        snapshot: snapshot(20, 3),
        entries: [entry(21, 3)],
      });
      assert.throws(() => store.save({ hardState: noHardState, entries: [], snapshot: snapshot(19, 3) }), /older/);
    });

    test('compaction drops the prefix and keeps the rest', () => {
      store.save({ hardState: { term: 2, vote: 'n1', commit: 5 }, entries: [...entries(1, 3, 1), ...entries(4, 6, 2)], snapshot: null });
      store.compact(snapshot(4, 2));
      assert.deepEqual(restart().load(), {
        hardState: { term: 2, vote: 'n1', commit: 5 },
        snapshot: snapshot(4, 2),
        entries: entries(5, 6, 2),
      });
      assert.throws(() => store.compact(snapshot(3, 1)), /older/);
      assert.throws(() => store.compact(snapshot(7, 2)), /log ends at 6/);
      assert.throws(() => store.compact(snapshot(5, 1)), /differs/);
      store.compact(snapshot(6, 2));
      assert.deepEqual(store.load().entries, []);
      store.save({ hardState: noHardState, entries: [entry(7, 3)], snapshot: null });
      assert.deepEqual(restart().load().entries, [entry(7, 3)]);
    });

    test('a batch that fails midway leaves nothing behind', () => {
      const hardState: HardState = { term: 1, vote: 'n1', commit: 1 };
      store.save({ hardState, entries: entries(1, 3, 1), snapshot: null });
      const before = store.load();
      const badBatches: { label: string; batch: Parameters<RaftLogStore['save']>[0]; error: RegExp }[] = [
        { label: 'non-contiguous', batch: { hardState: { term: 9, vote: null, commit: 3 }, entries: [entry(2, 2), entry(4, 2)], snapshot: null }, error: /not contiguous/ },
        { label: 'decreasing terms', batch: { hardState: null, entries: [entry(3, 2), entry(4, 1)], snapshot: null }, error: /terms decrease/ },
        { label: 'gap', batch: { hardState: { term: 9, vote: null, commit: 3 }, entries: [entry(5, 1)], snapshot: null }, error: /gap/ },
        // The snapshot is written and the log deleted before the bad entries are seen.
        { label: 'snapshot then bad entries', batch: { hardState: { term: 9, vote: null, commit: 3 }, entries: [entry(6, 2), entry(8, 2)], snapshot: snapshot(5, 2) }, error: /not contiguous/ },
        { label: 'snapshot then a gap', batch: { hardState: null, entries: [entry(7, 2)], snapshot: snapshot(5, 2) }, error: /gap/ },
      ];
      for (const { label, batch, error } of badBatches) {
        assert.throws(() => store.save(batch), error, label);
        assert.deepEqual(store.load(), before, label);
      }
      assert.deepEqual(restart().load(), before);
    });

    test('stored state does not alias the caller’s objects', () => {
      const batch = [{ ...entry(1, 1) }];
      const hardState = { term: 1, vote: 'n1', commit: 0 };
      store.save({ hardState, entries: batch, snapshot: null });
      (batch[0] as { data: string }).data = 'mutated';
      hardState.term = 99;
      const loaded = store.load();
      assert.deepEqual(loaded, { hardState: { term: 1, vote: 'n1', commit: 0 }, snapshot: null, entries: [entry(1, 1)] });
      loaded.entries.pop();
      assert.deepEqual(store.load().entries, [entry(1, 1)]);
    });

    test('a closed store refuses to work', () => {
      store.close();
      assert.throws(() => store.load(), /closed/);
      assert.throws(() => store.save({ hardState: { term: 1, vote: null, commit: 0 }, entries: [], snapshot: null }), /closed/);
    });
  });
}

describe('openDatabase', () => {
  test('a file database is in WAL mode with every commit fsynced, and reopens', () => {
    const file = path.join(tempDir(), 'deep', 'er', 'meta.db');
    for (let i = 0; i < 2; i++) {
      const { sqlite } = openDatabase(file);
      assert.equal(sqlite.pragma('journal_mode', { simple: true }), 'wal');
      assert.equal(sqlite.pragma('synchronous', { simple: true }), 2); // FULL
      assert.equal(sqlite.pragma('foreign_keys', { simple: true }), 1);
      const tables = sqlite.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'raft_%' ORDER BY name").pluck().all();
      assert.deepEqual(tables, ['raft_hard_state', 'raft_log', 'raft_snapshot']);
      sqlite.close();
    }
  });

  test('an unsynced commit runs with synchronous = NORMAL and leaves the connection at FULL, also when it throws', () => {
    const { sqlite } = openDatabase(path.join(tempDir(), 'meta.db'));
    const level = () => sqlite.pragma('synchronous', { simple: true });
    assert.equal(commitUnsynced(sqlite, level), 1); // NORMAL
    assert.equal(level(), 2); // FULL
    assert.throws(() => commitUnsynced(sqlite, () => { throw new Error('refused batch'); }), /refused batch/);
    assert.equal(level(), 2);
    sqlite.close();
  });

  test("':memory:' works, and a store on a shared connection leaves it open", () => {
    const database = openDatabase(':memory:');
    const store = new SqliteRaftLogStore(database);
    store.save({ hardState: { term: 1, vote: null, commit: 0 }, entries: [entry(1, 1)], snapshot: null });
    assert.deepEqual(store.load().entries, [entry(1, 1)]);
    store.close();
    assert.equal(database.sqlite.open, true);
    database.sqlite.close();
  });
});

describe('SqliteRaftLogStore: the WAL synced off the event loop', () => {
  test('syncs asked for while one runs share the next fdatasync', async () => {
    const { sqlite } = openDatabase(path.join(tempDir(), 'meta.db'));
    const wal = WalSync.open(sqlite);
    assert.ok(wal !== null, 'a file database in WAL mode has a WAL to sync');
    const order: number[] = [];
    await Promise.all([1, 2, 3, 4].map((i) => wal.sync().then(() => order.push(i))));
    assert.deepEqual(order, [1, 2, 3, 4]);
    assert.equal(wal.syncsStarted, 2, 'the first call starts one; the three behind it share one more');
    await wal.sync();
    assert.equal(wal.syncsStarted, 3);
    wal.close();
    sqlite.close();
    assert.equal(WalSync.open(openDatabase(':memory:').sqlite), null, 'an in-memory database has no WAL');
  });

  test('saves resolve in order, are written before their sync ends, survive a reopen, and close waits for them', async () => {
    const file = path.join(tempDir(), 'meta.db');
    const store = SqliteRaftLogStore.open(file);
    const resolved: number[] = [];
    const saves = [1, 2, 3].map((i) =>
      store.save({ hardState: { term: 1, vote: 'n1', commit: 0 }, entries: [entry(i, 1)], snapshot: null }).then(() => resolved.push(i)),
    );
    // Written already: a reader sees the rows before the sync ends.
    assert.deepEqual(store.load().entries.map((e) => e.index), [1, 2, 3]);
    store.close(); // the descriptor stays open for the syncs under way
    await Promise.all(saves);
    assert.deepEqual(resolved, [1, 2, 3]);
    const reopened = SqliteRaftLogStore.open(file);
    assert.deepEqual(reopened.load().entries.map((e) => e.index), [1, 2, 3]);
    reopened.close();
  });

  test('a refused batch throws at once and leaves nothing behind', () => {
    const store = SqliteRaftLogStore.open(path.join(tempDir(), 'meta.db'));
    assert.throws(() => store.save({ hardState: null, entries: [entry(2, 1)], snapshot: null }), /gap/);
    assert.deepEqual(store.load().entries, []);
    store.close();
  });
});
