// The metadata digest read page by page on its own connection, yielding between pages: the same
// digest as one synchronous read, and exactly the state of one applied index even while entries
// are applied between its pages; it covers the cluster settings placement is computed from.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '../../storage-node/src/db/open-database.ts';
import type { OpenedDatabase } from '../../storage-node/src/db/open-database.ts';
import { ClusterSettingsTable } from '../../storage-node/src/metadata/cluster-settings.ts';
import { metadataDigest, metadataDigestYielding } from '../../storage-node/src/metadata/metadata-digest.ts';

describe('metadata digest, yielding', () => {
  let dir: string;
  let db: OpenedDatabase;
  let file: string;
  let applied = 0;
  let written = 0;

  // What one applied entry does to the tables, in one transaction (shape only: a new file with
  // one version and one chunk).
  function applyOne(): void {
    const n = written++;
    const name = `dir-${n % 7}/file-${String(n).padStart(6, '0')}`;
    const hash = n.toString(16).padStart(64, '0');
    db.sqlite.transaction(() => {
      db.sqlite.prepare('INSERT INTO files (name, current_version, last_version) VALUES (?, 1, 1)').run(name);
      db.sqlite
        .prepare("INSERT INTO file_versions (name, version, size, content_type, etag, chunks, chunk_sizes, hlc, modified_ms) VALUES (?, 1, 3, 'text/plain', ?, ?, '[3]', 'h', 0)")
        .run(name, hash, JSON.stringify([hash]));
      db.sqlite.prepare('INSERT INTO chunk_refs (hash, refcount, size) VALUES (?, 1, 3)').run(hash);
      db.sqlite.prepare('UPDATE applied_state SET applied_index = ? WHERE id = 1').run(++applied);
    })();
  }

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'dfs-digest-'));
    file = join(dir, 'meta.db');
    db = openDatabase(file);
    db.sqlite.prepare('INSERT INTO applied_state (id, applied_index, live_files, live_bytes) VALUES (1, 0, 0, 0)').run();
    for (let i = 0; i < 3000; i++) applyOne();
  });
  after(() => {
    db.sqlite.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('gives the digest of one synchronous read, whatever the page size', async () => {
    const whole = metadataDigest(db.sqlite, 1_000_000);
    assert.equal(whole.appliedIndex, 3000);
    assert.equal(whole.files, 3000);
    assert.equal(whole.versions, 3000);
    for (const pageRows of [1, 7, 500, 2999, 3000, 3001]) {
      assert.deepEqual(metadataDigest(db.sqlite, pageRows), whole, `sync, pages of ${pageRows}`);
    }
    for (const pageRows of [7, 500, 3000]) {
      assert.deepEqual(await metadataDigestYielding(file, pageRows, 0), whole, `yielding, pages of ${pageRows}`);
    }
    assert.deepEqual(await metadataDigestYielding(file), whole, 'yielding, default pages and turn budget');
  });

  it('describes exactly one applied index while entries are applied between its pages', async () => {
    const atStart = metadataDigest(db.sqlite);
    let scanning = true;
    let appliedDuring = 0;
    // Runs up to its first yield here: its read transaction starts at atStart's index.
    const scan = metadataDigestYielding(file, 100, 0);
    const writer = (async () => {
      while (scanning) {
        applyOne();
        appliedDuring++;
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    const during = await scan;
    scanning = false;
    await writer;
    // Pages of 100 over 3,000+ rows in each of three tables: dozens of turns in between.
    assert.ok(appliedDuring >= 30, `only ${appliedDuring} entries were applied while the digest ran: it does not yield`);
    assert.deepEqual(during, atStart);
    assert.notDeepEqual(metadataDigest(db.sqlite), atStart);
  });
});

describe('metadata digest, cluster settings', () => {
  // Two replicas that disagree on the replication or on which members are down place chunks
  // differently: the digest must tell them apart (and a store with no setting hash as before).
  let dir: string;
  let db: OpenedDatabase;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'dfs-digest-settings-'));
    db = openDatabase(join(dir, 'meta.db'));
    db.sqlite.prepare('INSERT INTO applied_state (id, applied_index, live_files, live_bytes) VALUES (1, 0, 0, 0)').run();
  });
  after(() => {
    db.sqlite.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('covers the replication and the members marked down, in every page size', async () => {
    const settings = new ClusterSettingsTable(db.sqlite);
    const none = metadataDigest(db.sqlite);
    settings.apply({ op: 'setReplication', replication: 3, hlc: 'h' });
    const three = metadataDigest(db.sqlite);
    assert.notEqual(three.digest, none.digest, 'a replication setting changes the digest');
    settings.apply({ op: 'setReplication', replication: 2, hlc: 'h' });
    const two = metadataDigest(db.sqlite);
    assert.notEqual(two.digest, three.digest, 'replication 2 and 3 differ');
    settings.apply({ op: 'setMemberDown', id: 'n4', down: true, hlc: 'h' });
    const n4Down = metadataDigest(db.sqlite);
    assert.notEqual(n4Down.digest, two.digest, 'a member marked down changes the digest');
    settings.apply({ op: 'setMemberDown', id: 'n5', down: true, hlc: 'h' });
    const bothDown = metadataDigest(db.sqlite);
    assert.notEqual(bothDown.digest, n4Down.digest);
    for (const pageRows of [1, 2, 3]) {
      assert.deepEqual(metadataDigest(db.sqlite, pageRows), bothDown, `sync, pages of ${pageRows}`);
      assert.deepEqual(await metadataDigestYielding(join(dir, 'meta.db'), pageRows, 0), bothDown, `yielding, pages of ${pageRows}`);
    }
    // Without rows, the digest is the one from before settings were hashed.
    db.sqlite.prepare('DELETE FROM cluster_settings').run();
    assert.deepEqual(metadataDigest(db.sqlite), none);
  });
});
