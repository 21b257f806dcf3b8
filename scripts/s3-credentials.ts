// The S3 root key of a local cluster: DFS_S3_ACCESS_KEY_ID and DFS_S3_SECRET_ACCESS_KEY when set,
// else the pair kept in `<data dir>/s3-credentials.json` (mode 0600), made on the first start, so
// that clients configured once keep working across restarts.
import { randomBytes, randomInt } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface S3Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** Where they came from, for the banner: the environment, or the file (made now or before). */
  readonly source: string;
}

export const credentialsFileName = 's3-credentials.json';
const accessKeyAlphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
/** AWS-shaped: a 20-character key id, a 40-character secret. */
const accessKeyIdLength = 20;
const secretBytes = 30;
const ownerOnly = 0o600;

function newAccessKeyId(): string {
  let id = 'DFS';
  while (id.length < accessKeyIdLength) id += accessKeyAlphabet[randomInt(accessKeyAlphabet.length)];
  return id;
}

/** The root key, or an Error whose message says what is wrong (never showing a secret). */
export function s3Credentials(env: NodeJS.ProcessEnv, dataDir: string): S3Credentials {
  const id = env.DFS_S3_ACCESS_KEY_ID;
  const secret = env.DFS_S3_SECRET_ACCESS_KEY;
  if (id !== undefined || secret !== undefined) {
    if (id === undefined || secret === undefined) throw new Error('DFS_S3_ACCESS_KEY_ID and DFS_S3_SECRET_ACCESS_KEY go together');
    return { accessKeyId: id, secretAccessKey: secret, source: 'DFS_S3_ACCESS_KEY_ID / DFS_S3_SECRET_ACCESS_KEY' };
  }
  const file = join(dataDir, credentialsFileName);
  if (existsSync(file)) {
    // Someone loosened the file's mode: a secret stays readable by its owner only.
    if ((statSync(file).mode & 0o777) !== ownerOnly) chmodSync(file, ownerOnly);
    const stored = JSON.parse(readFileSync(file, 'utf8')) as { accessKeyId?: unknown; secretAccessKey?: unknown };
    if (typeof stored.accessKeyId !== 'string' || typeof stored.secretAccessKey !== 'string') throw new Error(`${file} does not hold accessKeyId and secretAccessKey`);
    return { accessKeyId: stored.accessKeyId, secretAccessKey: stored.secretAccessKey, source: file };
  }
  mkdirSync(dataDir, { recursive: true });
  const made = { accessKeyId: newAccessKeyId(), secretAccessKey: randomBytes(secretBytes).toString('base64url') };
  // 'wx': never overwrite a pair another launcher just made.
  writeFileSync(file, `${JSON.stringify(made, null, 2)}\n`, { mode: ownerOnly, flag: 'wx' });
  return { ...made, source: `${file} (made now)` };
}
