// `--auth` (env DFS_AUTH) of the nodes and the gateway, and the root access key, which both read
// from their environment: `open` serves the native API to anyone (local use); `required` serves
// it only to requests signed (SigV4) with the root key or a live access key.
import { ConfigError, stringFlag } from './flags.ts';

export type AuthMode = 'open' | 'required';

export const authFlag = stringFlag('auth', 'DFS_AUTH', 'open: the native API answers anyone; required: only SigV4-signed requests (the root key or a live access key)', 'open');

export function parseAuthMode(text: string): AuthMode {
  if (text !== 'open' && text !== 'required') throw new ConfigError(`--auth must be open or required, not "${text}"`);
  return text;
}

export interface AccessKey {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

export const accessKeyIdPattern = /^[A-Za-z0-9._-]{3,128}$/;
export const secretAccessKeyPattern = /^[\x21-\x7e]{8,128}$/;

/** A root key given as id and secret (either both or neither), checked; messages never show the secret. */
export function parseRootKey(accessKeyId: string | null | undefined, secretAccessKey: string | null | undefined, names: readonly [string, string]): AccessKey | null {
  const id = accessKeyId ?? null;
  const secret = secretAccessKey ?? null;
  if ((id === null) !== (secret === null)) throw new ConfigError(`${names[0]} and ${names[1]} go together`);
  if (id === null || secret === null) return null;
  if (!accessKeyIdPattern.test(id)) throw new ConfigError(`${names[0]} must be 3 to 128 of A-Z a-z 0-9 . _ -`);
  if (!secretAccessKeyPattern.test(secret)) throw new ConfigError(`${names[1]} must be 8 to 128 printable ASCII characters without spaces`);
  return { accessKeyId: id, secretAccessKey: secret };
}
