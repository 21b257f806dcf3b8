// The Raft commands of access keys (`POST /admin/keys`, `DELETE /admin/keys/<id>`): checked like
// every command, when the leader encodes it and when each node decodes it, and by the cluster
// port's message schema before a peer's entry reaches the log. A key is a replicated record, so
// every gateway and node that asks any node sees the same live keys.

/** Creates a key; its id and secret are drawn by the leader (node:crypto), so a retry reuses them. */
export interface CreateKeyCommand {
  readonly op: 'createKey';
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly hlc: string;
  readonly requestId?: string;
}

/** Revokes a key: its row goes, and requests signed with it are refused from then on. */
export interface RevokeKeyCommand {
  readonly op: 'revokeKey';
  readonly accessKeyId: string;
  readonly hlc: string;
  readonly requestId?: string;
}

export type KeyCommand = CreateKeyCommand | RevokeKeyCommand;

export const keyOps: readonly string[] = ['createKey', 'revokeKey'];

/** A key as listed: never its secret. */
export interface KeyJson {
  readonly accessKeyId: string;
  /** ISO 8601. */
  readonly created: string;
}

export type KeyErrorCode = 'key_exists' | 'no_such_key' | 'idempotency_key_mismatch';

/** What applying a key command gave; a revoke's `key` is the one it removed. Never the secret. */
export type KeyResult =
  | { readonly ok: true; readonly key: KeyJson }
  | { readonly ok: false; readonly code: KeyErrorCode; readonly message: string };

/** Access key ids: as the gateway's root key (3 to 128 of A-Z a-z 0-9 . _ -). */
export const accessKeyIdPattern = /^[A-Za-z0-9._-]{3,128}$/;
/** Secrets: 8 to 128 printable ASCII characters without spaces (SigV4 takes any string). */
export const secretAccessKeyPattern = /^[\x21-\x7e]{8,128}$/;

/** Why `command` (with a key op) is not a valid key command, or null. */
export function keyCommandProblem(command: Record<string, unknown>, commonProblem: (command: Record<string, unknown>) => string | null): string | null {
  const allowed = command.op === 'createKey' ? ['op', 'accessKeyId', 'secretAccessKey', 'hlc', 'requestId'] : ['op', 'accessKeyId', 'hlc', 'requestId'];
  for (const key of Object.keys(command)) if (!allowed.includes(key)) return `unexpected field "${key}"`;
  if (typeof command.accessKeyId !== 'string' || !accessKeyIdPattern.test(command.accessKeyId)) return 'accessKeyId must be 3 to 128 of A-Z a-z 0-9 . _ -';
  // The secret is never named in a message: this text can reach logs.
  if (command.op === 'createKey' && (typeof command.secretAccessKey !== 'string' || !secretAccessKeyPattern.test(command.secretAccessKey))) {
    return 'secretAccessKey must be 8 to 128 printable ASCII characters without spaces';
  }
  return commonProblem(command);
}
