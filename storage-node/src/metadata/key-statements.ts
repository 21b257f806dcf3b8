// The access_keys table's queries (schema.ts), prepared once on the node's connection.
import type Database from 'better-sqlite3';

export interface KeyRecord {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly createdMs: number;
}

const keyColumns = 'access_key_id AS accessKeyId, secret_access_key AS secretAccessKey, created_ms AS createdMs';

export function prepareKeyStatements(sqlite: Database.Database) {
  const key = sqlite.prepare<[string], KeyRecord>(`SELECT ${keyColumns} FROM access_keys WHERE access_key_id = ?`);
  const insertKey = sqlite.prepare<[KeyRecord]>('INSERT INTO access_keys (access_key_id, secret_access_key, created_ms) VALUES (@accessKeyId, @secretAccessKey, @createdMs)');
  const deleteKey = sqlite.prepare<[string]>('DELETE FROM access_keys WHERE access_key_id = ?');
  const allKeys = sqlite.prepare<[], KeyRecord>(`SELECT ${keyColumns} FROM access_keys ORDER BY access_key_id`);
  return {
    key: (accessKeyId: string): KeyRecord | null => key.get(accessKeyId) ?? null,
    insertKey: (record: KeyRecord): void => void insertKey.run(record),
    deleteKey: (accessKeyId: string): void => void deleteKey.run(accessKeyId),
    allKeys: (): KeyRecord[] => allKeys.all(),
  };
}

export type KeyStatements = ReturnType<typeof prepareKeyStatements>;
