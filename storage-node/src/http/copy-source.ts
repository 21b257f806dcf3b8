// The source of a copy (`PUT /files/<name>` with `X-DFS-Copy-Source: <name>`, each segment
// percent-encoded as in a path, and optionally `X-DFS-Copy-Source-Version: N`). A copy has no body.
import type { Context } from 'hono';
import { validateName } from '../../../shared/names.ts';
import { contentLength } from './request-parts.ts';
import { HttpError } from './errors.ts';

export function copySource(c: Context): { name: string; version?: number } {
  const header = c.req.header('x-dfs-copy-source')!.trim();
  let name: string;
  try {
    name = header.split('/').map(decodeURIComponent).join('/');
  } catch {
    throw new HttpError(400, 'bad_name', 'X-DFS-Copy-Source is not valid percent-encoded UTF-8');
  }
  const check = validateName(name);
  if (!check.ok) throw new HttpError(400, 'bad_name', `X-DFS-Copy-Source: ${check.reason}`);
  const length = contentLength(c);
  if ((length ?? 0) > 0 || c.req.header('transfer-encoding') !== undefined) throw new HttpError(400, 'bad_request', 'a copy (X-DFS-Copy-Source) has no body');
  const versionText = c.req.header('x-dfs-copy-source-version');
  if (versionText === undefined) return { name };
  const version = Number(versionText);
  if (!/^\d+$/.test(versionText) || !Number.isSafeInteger(version) || version < 1) throw new HttpError(400, 'bad_request', 'X-DFS-Copy-Source-Version must be a positive integer');
  return { name, version };
}
