// `cluster …`: changes to the cluster itself, through the admin routes (they need the admin token
// or the cluster secret: --admin-token, env DFS_ADMIN_TOKEN).
import type { Command } from 'commander';
import { readJson } from '../client.ts';
import type { CommandContext } from '../context.ts';
import { UsageError } from '../errors.ts';
import { printJson, printLine } from '../output.ts';
import type { Action } from './action.ts';

interface AdminOptions {
  readonly adminToken?: string;
}

export function registerClusterCommands(program: Command, action: Action): void {
  const cluster = program.command('cluster')
    .description('change the cluster (admin routes: --admin-token or env DFS_ADMIN_TOKEN)')
    .option('--admin-token <token>', 'the nodes\' admin token (env DFS_ADMIN_TOKEN)');
  cluster.command('transfer-leader')
    .description('hand the leadership to another voter; returns once it leads')
    .argument('<id>', 'the member that should lead')
    .action(action(transferLeader));
}

/** `Authorization: Bearer <admin token>` from --admin-token or DFS_ADMIN_TOKEN; `what` names the commands in the usage error. */
export function adminHeaders(command: Command, what = 'cluster commands'): Record<string, string> {
  const token = command.optsWithGlobals<AdminOptions>().adminToken ?? process.env.DFS_ADMIN_TOKEN;
  if (token === undefined || token === '') throw new UsageError(`${what} need the admin token: --admin-token <token> or env DFS_ADMIN_TOKEN`);
  return { authorization: `Bearer ${token}` };
}

async function transferLeader(ctx: CommandContext, id: string, _options: unknown, command: Command): Promise<void> {
  const response = await ctx.client.expect('POST', `/admin/transfer-leader?to=${encodeURIComponent(id)}`, [200], `transfer-leader ${id}`, { headers: adminHeaders(command) });
  const answer = (await readJson(response, 'transfer-leader')) as { leader: string; changed: boolean; took_ms: number };
  if (ctx.json) return printJson(answer);
  printLine(answer.changed ? `${answer.leader} leads now (took ${answer.took_ms} ms)` : `${answer.leader} leads already`);
}
