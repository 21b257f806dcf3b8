// The admin routes (/admin/…) need the nodes' admin token (node flag --admin-token), sent as
// `Authorization: Bearer`: from --admin-token or env DFS_ADMIN_TOKEN. Without one the command is
// not sent at all (a usage error), so a forgotten token never reads as a server failure.
import type { Command } from 'commander';
import { UsageError } from './errors.ts';

export const adminTokenFlag = '--admin-token <token>';
export const adminTokenHelp = "the nodes' admin token (env DFS_ADMIN_TOKEN)";

interface AdminOptions {
  readonly adminToken?: string;
}

export function adminHeaders(command: Command): Record<string, string> {
  const token = command.optsWithGlobals<AdminOptions>().adminToken ?? process.env.DFS_ADMIN_TOKEN;
  if (token === undefined || token === '') throw new UsageError(`${command.name()} needs the admin token: --admin-token <token> or env DFS_ADMIN_TOKEN`);
  return { authorization: `Bearer ${token}` };
}
