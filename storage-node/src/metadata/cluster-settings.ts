// Cluster-wide settings that change at runtime through Raft (`dfs cluster set replication N`):
// the command, its checks, and its rows in cluster_settings. A setting without a row has its
// default, so a cluster from before settings existed behaves as it always did.
import type Database from 'better-sqlite3';
import { isMemberId } from '../../../shared/member-id.ts';

/** Copies of each chunk when nothing was set: every member of a 3-node cluster, as before. */
export const replicationDefault = 3;
/** A sanity bound: more copies than this is a mistake, not a setting. */
export const replicationMax = 64;

export interface ClusterSettings {
  /** Copies of each chunk wanted (capped at the number of members when placing). */
  readonly replication: number;
  /**
   * Members the leader found unreachable for longer than --dead-after: placement skips them, so
   * their chunks are copied to the next members, until the leader hears from them again.
   */
  readonly down: readonly string[];
}

export interface SetReplicationCommand {
  readonly op: 'setReplication';
  readonly replication: number;
  readonly hlc: string;
  readonly requestId?: string;
}

/** The leader's verdict on a member's liveness (see ClusterSettings.down). */
export interface SetMemberDownCommand {
  readonly op: 'setMemberDown';
  readonly id: string;
  readonly down: boolean;
  readonly hlc: string;
  readonly requestId?: string;
}

export type SettingsCommand = SetReplicationCommand | SetMemberDownCommand;

export type SettingsResult = { readonly ok: true; readonly settings: ClusterSettings };

export const settingsOps: readonly string[] = ['setReplication', 'setMemberDown'];

/** Why `command` (op in settingsOps) is not a valid settings command, or null; `commonProblem` checks the HLC and request id as for every op. */
export function settingsCommandProblem(command: Record<string, unknown>, commonProblem: (command: Record<string, unknown>) => string | null): string | null {
  const fields = command.op === 'setMemberDown' ? ['op', 'id', 'down', 'hlc', 'requestId'] : ['op', 'replication', 'hlc', 'requestId'];
  for (const key of Object.keys(command)) if (!fields.includes(key)) return `unexpected field "${key}"`;
  if (command.op === 'setMemberDown') {
    if (!isMemberId(command.id)) return 'id must be a member id';
    if (typeof command.down !== 'boolean') return 'down must be true or false';
  } else {
    const { replication } = command;
    if (!Number.isSafeInteger(replication) || (replication as number) < 1 || (replication as number) > replicationMax) {
      return `replication must be an integer from 1 to ${replicationMax}`;
    }
  }
  return commonProblem(command);
}

/** Reads and writes cluster_settings on the state machine's connection. */
export class ClusterSettingsTable {
  readonly #get: Database.Statement<[], { name: string; value: string }>;
  readonly #set: Database.Statement<{ name: string; value: string }>;
  #cached: ClusterSettings | null = null;

  constructor(sqlite: Database.Database) {
    this.#get = sqlite.prepare('SELECT name, value FROM cluster_settings');
    this.#set = sqlite.prepare('INSERT INTO cluster_settings (name, value) VALUES (@name, @value) ON CONFLICT (name) DO UPDATE SET value = excluded.value');
  }

  current(): ClusterSettings {
    if (this.#cached !== null) return this.#cached;
    const rows = new Map(this.#get.all().map((row) => [row.name, JSON.parse(row.value) as unknown]));
    const replication = rows.get('replication');
    const down = [...rows].filter(([name, value]) => name.startsWith('down:') && value === true).map(([name]) => name.slice('down:'.length)).sort();
    this.#cached = { replication: typeof replication === 'number' ? replication : replicationDefault, down };
    return this.#cached;
  }

  /** Inside the apply transaction. */
  apply(command: SettingsCommand): SettingsResult {
    if (command.op === 'setMemberDown') this.#set.run({ name: `down:${command.id}`, value: JSON.stringify(command.down) });
    else this.#set.run({ name: 'replication', value: JSON.stringify(command.replication) });
    this.#cached = null;
    return { ok: true, settings: this.current() };
  }

  /** The rows were replaced (a snapshot restore, a rolled back transaction). */
  forget(): void {
    this.#cached = null;
  }
}
