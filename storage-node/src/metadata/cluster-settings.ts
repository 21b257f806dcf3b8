// Cluster-wide settings that change at runtime through Raft (`dfs cluster set replication N`,
// `dfs cluster drain <id>`, a node's --zone, the leader's verdicts on liveness and full disks):
// the commands, their checks, and their rows in cluster_settings (name → JSON value). A setting
// without a row has its default, so a cluster from before settings existed behaves as it always
// did; a member's settings are rows named `<kind>:<member id>`, so no schema change is needed.
import type Database from 'better-sqlite3';
import { isMemberId, memberIdPattern } from '../../../shared/member-id.ts';

/** Copies of each chunk when nothing was set: every member of a 3-node cluster, as before. */
export const replicationDefault = 3;
/** A sanity bound: more copies than this is a mistake, not a setting. */
export const replicationMax = 64;

/** Zone names (--zone) follow the member id rule: they travel in settings rows, logs and URLs. */
export const zoneNamePattern = memberIdPattern;

export function isZoneName(value: unknown): value is string {
  return typeof value === 'string' && zoneNamePattern.test(value);
}

export interface ClusterSettings {
  /** Copies of each chunk wanted (capped at the number of members when placing). */
  readonly replication: number;
  /**
   * Members the leader found unreachable for longer than --dead-after: placement skips them, so
   * their chunks are copied to the next members, until the leader hears from them again.
   */
  readonly down: readonly string[];
  /** Members an operator is emptying (`dfs cluster drain`): placement skips them as holders. */
  readonly draining: readonly string[];
  /** Members whose disk the leader found above their --disk-high-water: skipped as holders too. */
  readonly full: readonly string[];
  /** Each member's zone as it announced it (--zone); a member without one is absent. */
  readonly zones: Readonly<Record<string, string>>;
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

/** An operator starts or stops emptying a member (see ClusterSettings.draining). */
export interface SetMemberDrainingCommand {
  readonly op: 'setMemberDraining';
  readonly id: string;
  readonly draining: boolean;
  readonly hlc: string;
  readonly requestId?: string;
}

/** The leader's verdict on a member's disk (see ClusterSettings.full). */
export interface SetMemberFullCommand {
  readonly op: 'setMemberFull';
  readonly id: string;
  readonly full: boolean;
  readonly hlc: string;
  readonly requestId?: string;
}

/** A member announces its --zone (null: none). */
export interface SetMemberZoneCommand {
  readonly op: 'setMemberZone';
  readonly id: string;
  readonly zone: string | null;
  readonly hlc: string;
  readonly requestId?: string;
}

export type SettingsCommand = SetReplicationCommand | SetMemberDownCommand | SetMemberDrainingCommand | SetMemberFullCommand | SetMemberZoneCommand;

export type SettingsResult = { readonly ok: true; readonly settings: ClusterSettings };

export const settingsOps: readonly string[] = ['setReplication', 'setMemberDown', 'setMemberDraining', 'setMemberFull', 'setMemberZone'];

/** The per-member flags: op → the command's boolean field, which is also the row name's prefix. */
const memberFlagOf: Readonly<Record<string, 'down' | 'draining' | 'full'>> = { setMemberDown: 'down', setMemberDraining: 'draining', setMemberFull: 'full' };

/** Why `command` (op in settingsOps) is not a valid settings command, or null; `commonProblem` checks the HLC and request id as for every op. */
export function settingsCommandProblem(command: Record<string, unknown>, commonProblem: (command: Record<string, unknown>) => string | null): string | null {
  const op = command.op as string;
  const flag = memberFlagOf[op];
  const field = op === 'setReplication' ? 'replication' : op === 'setMemberZone' ? 'zone' : flag;
  const fields = op === 'setReplication' ? ['op', 'replication', 'hlc', 'requestId'] : ['op', 'id', field, 'hlc', 'requestId'];
  for (const key of Object.keys(command)) if (!fields.includes(key)) return `unexpected field "${key}"`;
  if (op === 'setReplication') {
    const { replication } = command;
    if (!Number.isSafeInteger(replication) || (replication as number) < 1 || (replication as number) > replicationMax) {
      return `replication must be an integer from 1 to ${replicationMax}`;
    }
    return commonProblem(command);
  }
  if (!isMemberId(command.id)) return 'id must be a member id';
  if (op === 'setMemberZone') {
    if (command.zone !== null && !isZoneName(command.zone)) return 'zone must be null or a zone name (1 to 64 letters, digits, ".", "_", "-")';
  } else if (typeof command[field] !== 'boolean') {
    return `${field} must be true or false`;
  }
  return commonProblem(command);
}

/** What an Idempotency-Key stands for in a member setting: the op, the member and the value. */
export function memberSettingFingerprint(command: SetMemberDrainingCommand | SetMemberFullCommand | SetMemberZoneCommand): unknown[] {
  const value = command.op === 'setMemberDraining' ? command.draining : command.op === 'setMemberFull' ? command.full : command.zone;
  return [command.op, command.id, value];
}

/** Reads and writes cluster_settings on the state machine's connection. */
export class ClusterSettingsTable {
  readonly #get: Database.Statement<[], { name: string; value: string }>;
  readonly #set: Database.Statement<{ name: string; value: string }>;
  readonly #delete: Database.Statement<{ name: string }>;
  #cached: ClusterSettings | null = null;

  constructor(sqlite: Database.Database) {
    this.#get = sqlite.prepare('SELECT name, value FROM cluster_settings');
    this.#set = sqlite.prepare('INSERT INTO cluster_settings (name, value) VALUES (@name, @value) ON CONFLICT (name) DO UPDATE SET value = excluded.value');
    this.#delete = sqlite.prepare('DELETE FROM cluster_settings WHERE name = @name');
  }

  current(): ClusterSettings {
    if (this.#cached !== null) return this.#cached;
    const rows = new Map(this.#get.all().map((row) => [row.name, JSON.parse(row.value) as unknown]));
    const replication = rows.get('replication');
    const flagged = (kind: string) => [...rows].filter(([name, value]) => name.startsWith(`${kind}:`) && value === true).map(([name]) => name.slice(kind.length + 1)).sort();
    const zones: Record<string, string> = {};
    for (const [name, value] of rows) if (name.startsWith('zone:') && typeof value === 'string') zones[name.slice('zone:'.length)] = value;
    this.#cached = {
      replication: typeof replication === 'number' ? replication : replicationDefault,
      down: flagged('down'),
      draining: flagged('draining'),
      full: flagged('full'),
      zones,
    };
    return this.#cached;
  }

  /** Inside the apply transaction. */
  apply(command: SettingsCommand): SettingsResult {
    switch (command.op) {
      case 'setReplication':
        this.#set.run({ name: 'replication', value: JSON.stringify(command.replication) });
        break;
      case 'setMemberDown':
        this.#set.run({ name: `down:${command.id}`, value: JSON.stringify(command.down) });
        break;
      case 'setMemberDraining':
        this.#set.run({ name: `draining:${command.id}`, value: JSON.stringify(command.draining) });
        break;
      case 'setMemberFull':
        this.#set.run({ name: `full:${command.id}`, value: JSON.stringify(command.full) });
        break;
      case 'setMemberZone':
        if (command.zone === null) this.#delete.run({ name: `zone:${command.id}` });
        else this.#set.run({ name: `zone:${command.id}`, value: JSON.stringify(command.zone) });
        break;
    }
    this.#cached = null;
    return { ok: true, settings: this.current() };
  }

  /** The rows were replaced (a snapshot restore, a rolled back transaction). */
  forget(): void {
    this.#cached = null;
  }
}
