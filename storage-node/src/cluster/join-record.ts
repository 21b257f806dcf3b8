// What a node that joined a running cluster keeps in its data directory (join.json): the index
// of the config entry that added it (Raft needs it at every start, see RaftInitialState.joinedAt)
// and the members it was told of, so a restart finds the cluster without --join or --peers.
// Written once, before Raft starts, and made durable (file, then directory) before it is used.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { fsyncPathSync } from '../durability/fsync.ts';
import { memberUrlsSchema, type MemberUrls } from './member-address.ts';

export interface JoinRecord {
  readonly id: string;
  readonly joinedAt: number;
  /** Started with --learner: it never asks to be promoted (also after restarts). */
  readonly learner: boolean;
  readonly members: Readonly<Record<string, MemberUrls>>;
}

const joinRecordSchema = z.object({
  id: z.string().min(1),
  joinedAt: z.int().min(1),
  learner: z.boolean(),
  members: z.record(z.string().min(1), memberUrlsSchema),
});

export function joinRecordPath(dataDir: string): string {
  return join(dataDir, 'join.json');
}

/** The record, or null when this node never joined (a founder, or a new node). */
export function readJoinRecord(dataDir: string): JoinRecord | null {
  const path = joinRecordPath(dataDir);
  if (!existsSync(path)) return null;
  const parsed = joinRecordSchema.safeParse(JSON.parse(readFileSync(path, 'utf8')));
  if (!parsed.success) throw new Error(`${path} is damaged (${parsed.error.issues[0]?.message ?? 'invalid'}): this node cannot tell when it joined`);
  return parsed.data;
}

export function writeJoinRecord(dataDir: string, record: JoinRecord): void {
  const path = joinRecordPath(dataDir);
  mkdirSync(dirname(path), { recursive: true });
  const temporary = `${path}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(record, null, 2)}\n`);
  fsyncPathSync(temporary);
  renameSync(temporary, path);
  fsyncPathSync(dirname(path));
}
