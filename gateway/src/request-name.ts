// The request target as the client sent it, and the file name in it, judged exactly as the nodes
// judge it (shared/names.ts: same rules, same codes, same messages), so a write with a bad name
// is answered here without sending its body to the leader. The Request that @hono/node-server
// builds has dot segments resolved (`/files/a/../b` is `/files/b` there, `%2E%2E` too): neither
// the check nor the path sent to a node may come from it.
import type { Context } from 'hono';
import { isFileRoute, nameInPath, rawRequestTarget, targetPath } from '../../shared/names.ts';
import { GatewayError } from './errors.ts';

/** Path and query exactly as the client sent them: what goes to the node. */
export function rawTarget(c: Context): string {
  return rawRequestTarget(c.env, c.req.url);
}

/** The path as the client sent it, nothing decoded or resolved. */
export function rawPath(c: Context): string {
  return targetPath(rawTarget(c));
}

/** Whether resolving dot segments changed the path: then it is not one of the gateway's own routes. */
export function isResolvedPath(c: Context): boolean {
  return rawPath(c) !== new URL(c.req.url).pathname;
}

/** Throws the node's 400 when the raw path is a file route with a bad name; other paths pass. */
export function checkFileName(c: Context): void {
  checkRawFileName(rawPath(c));
}

/** checkFileName on a raw path (nothing decoded or resolved). */
export function checkRawFileName(path: string): void {
  if (!isFileRoute(path)) return;
  const check = nameInPath(path);
  if (!check.ok) throw new GatewayError(400, 'bad_name', check.reason);
}

/** The route label of a path, for metrics. */
export function routeLabel(pathname: string): string {
  if (pathname.startsWith('/files/')) return 'files';
  if (pathname === '/files') return 'list';
  if (pathname.startsWith('/upload/')) return 'upload';
  if (pathname === '/status' || pathname === '/health' || pathname === '/ready' || pathname === '/metrics') return pathname.slice(1);
  return 'other';
}
