// The one drizzle schema of a node's meta.db. drizzle-kit generates the migrations in
// storage-node/drizzle/ from this file; add the state machine's tables here, grouped by owner.
import { sql } from 'drizzle-orm';
import { check, integer, sqliteTable, text } from 'drizzle-orm/sqlite-core';
import type { EntryType, Membership } from '../raft/types.ts';

// ---- Raft durable state (storage-node/src/raft-storage) ----

const entryTypes = ['normal', 'noop', 'config'] as const satisfies readonly EntryType[];

/** Term, vote and commit (paper figure 2). One row, id 1; no row means a fresh node. */
export const raftHardState = sqliteTable(
  'raft_hard_state',
  {
    id: integer('id').primaryKey(),
    term: integer('term').notNull(),
    vote: text('vote'),
    commit: integer('commit').notNull(),
  },
  (t) => [check('raft_hard_state_single_row', sql`${t.id} = 1`)],
);

/** The log after the latest snapshot. `index` is the rowid, so range deletes are cheap. */
export const raftLog = sqliteTable(
  'raft_log',
  {
    index: integer('index').primaryKey(),
    term: integer('term').notNull(),
    type: text('type', { enum: entryTypes }).notNull(),
    data: text('data').notNull(),
  },
  (t) => [check('raft_log_type', sql`${t.type} IN ('normal', 'noop', 'config')`)],
);

/** Which log prefix the latest snapshot replaces. One row, id 1; no row means no snapshot. */
export const raftSnapshot = sqliteTable(
  'raft_snapshot',
  {
    id: integer('id').primaryKey(),
    index: integer('index').notNull(),
    term: integer('term').notNull(),
    membership: text('membership', { mode: 'json' }).$type<Membership>().notNull(),
  },
  (t) => [check('raft_snapshot_single_row', sql`${t.id} = 1`)],
);
