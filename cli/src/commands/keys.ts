// `keys create|list|revoke <id>`: access keys made and revoked at runtime, through the nodes'
// admin routes (/admin/keys; the admin token: --admin-token or env DFS_ADMIN_TOKEN). A key signs
// S3 requests, and native ones on a cluster with --auth required. The secret is shown once.
import type { Command } from 'commander';
import { readJson } from '../client.ts';
import type { CommandContext } from '../context.ts';
import { UsageError } from '../errors.ts';
import { formatTime, printJson, printLine } from '../output.ts';
import type { Action } from './action.ts';
import { adminHeaders } from '../admin.ts';

interface KeyJson {
  readonly accessKeyId: string;
  readonly created: string;
}

export function registerKeyCommands(program: Command, action: Action): void {
  const keys = program.command('keys')
    .description('access keys for S3 and signed native requests (admin routes: --admin-token or env DFS_ADMIN_TOKEN)')
    .option('--admin-token <token>', 'the nodes\' admin token (env DFS_ADMIN_TOKEN)');
  keys.command('create')
    .description('make a key; its secret is shown this once')
    .action(action(createKey));
  keys.command('list')
    .description('the live keys: ids and creation times, never secrets')
    .action(action(listKeys));
  keys.command('revoke')
    .description('revoke a key: requests signed with it are refused from then on')
    .argument('<id>', 'the access key id')
    .action(action(revokeKey));
}

async function createKey(ctx: CommandContext, _options: unknown, command: Command): Promise<void> {
  const response = await ctx.client.expect('POST', '/admin/keys', [201], 'keys create', { headers: adminHeaders(command) });
  const key = (await readJson(response, 'keys create')) as KeyJson & { secretAccessKey: string };
  if (ctx.json) return printJson(key);
  printLine(`access key id:     ${key.accessKeyId}`);
  printLine(`secret access key: ${key.secretAccessKey}`);
  process.stderr.write('(the secret is not shown again: keep it now)\n');
}

async function listKeys(ctx: CommandContext, _options: unknown, command: Command): Promise<void> {
  const response = await ctx.client.expect('GET', '/admin/keys', [200], 'keys list', { headers: adminHeaders(command) });
  const answer = (await readJson(response, 'keys list')) as { keys: KeyJson[] };
  if (ctx.json) return printJson(answer);
  if (answer.keys.length === 0) return printLine('no access keys (the root key is not listed)');
  for (const key of answer.keys) printLine(`${key.accessKeyId}  ${formatTime(key.created)}`);
}

async function revokeKey(ctx: CommandContext, id: string, _options: unknown, command: Command): Promise<void> {
  if (!/^[A-Za-z0-9._-]{3,128}$/.test(id)) throw new UsageError(`bad access key id ${JSON.stringify(id)}: 3 to 128 of A-Z a-z 0-9 . _ -`);
  await ctx.client.expect('DELETE', `/admin/keys/${encodeURIComponent(id)}`, [204], `keys revoke ${id}`, { headers: adminHeaders(command) });
  if (ctx.json) return printJson({ accessKeyId: id, revoked: true });
  printLine(`revoked ${id}`);
}
