// The file name in a request path, checked as the nodes check it (same codes, same messages), so
// a write with a bad name is answered here without sending its body to the leader.
import { validateName } from '../../shared/names.ts';
import { GatewayError } from './errors.ts';

const fileRoute = /^\/(?:files|upload)\/(.*)$/s;

/** Throws the node's 400 when `pathname` is a file route with a bad name; other paths pass. */
export function checkFileName(pathname: string): void {
  const match = fileRoute.exec(pathname);
  if (match === null) return;
  let name: string;
  try {
    name = decodeURIComponent(match[1]);
  } catch {
    throw new GatewayError(400, 'bad_name', 'the name is not valid percent-encoded UTF-8');
  }
  const check = validateName(name);
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
