// `cluster …`: changes to the cluster itself, through the admin routes (they need the admin token
// or the cluster secret: --admin-token, env DFS_ADMIN_TOKEN). Membership changes go one at a
// time through Raft; each answers once its change is committed.
import type { Command } from 'commander';
import { adminHeaders, adminTokenFlag, adminTokenHelp } from '../admin.ts';
import { readJson } from '../client.ts';
import type { CommandContext } from '../context.ts';
import { CliFailure } from '../errors.ts';
import { memberList, newMemberUrls, startCommand } from '../members.ts';
import type { MemberJson } from '../members.ts';
import { printJson, printLine } from '../output.ts';
import type { Action } from './action.ts';
import { registerSetCommand } from './placement.ts';

export function registerClusterCommands(program: Command, action: Action): void {
  const cluster = program.command('cluster')
    .description('change the cluster (admin routes: --admin-token or env DFS_ADMIN_TOKEN)')
    .option(adminTokenFlag, adminTokenHelp);
  cluster.command('add')
    .description('add a member as a learner; prints the command that starts it (it promotes itself to voter once caught up, unless --learner)')
    .argument('<id>', 'the new member\'s id, like n4')
    .argument('<client-url>', 'where clients will reach it, like http://10.0.0.4:8084')
    .argument('<cluster-url>', 'where peers will reach it (same host, its cluster port), like http://10.0.0.4:3033')
    .option('--learner', 'start it with --learner: it stays a learner until `cluster promote`')
    .action(action(add));
  cluster.command('promote')
    .description('make a learner a voter (refused while its log is far behind the leader\'s)')
    .argument('<id>', 'the learner')
    .action(action(promote));
  cluster.command('remove')
    .description('remove a member, voter or learner (the leader too: it hands leadership over first); the removed node stops and exits')
    .argument('<id>', 'the member')
    .action(action(remove));
  registerSetCommand(cluster, action);
  cluster.command('drain')
    .description('empty a member: it holds no chunk any more, so its chunks are copied to the others and then deleted from it (`dfs members` shows the chunks left); `cluster remove` it afterwards')
    .argument('<id>', 'the member')
    .action(action((ctx: CommandContext, id: string, _options: unknown, command: Command) => drain(ctx, id, true, command)));
  cluster.command('undrain')
    .description('end a drain: the member holds its share of the chunks again')
    .argument('<id>', 'the member')
    .action(action((ctx: CommandContext, id: string, _options: unknown, command: Command) => drain(ctx, id, false, command)));
  cluster.command('transfer-leader')
    .description('hand the leadership to another voter; returns once it leads')
    .argument('<id>', 'the member that should lead')
    .action(action(transferLeader));
}

async function add(ctx: CommandContext, id: string, clientUrl: string, clusterUrl: string, options: { learner?: boolean }, command: Command): Promise<void> {
  const urls = newMemberUrls(clientUrl, clusterUrl);
  const headers = { ...adminHeaders(command), 'content-type': 'application/json' };
  const body = JSON.stringify({ id, client_url: urls.clientUrl, cluster_url: urls.clusterUrl });
  const context = `cluster add ${id}`;
  const response = await ctx.client.expect('POST', '/admin/members', [201], context, { headers, body });
  const answer = (await readJson(response, context)) as { id: string; voter: boolean; joined_at: number };
  const members = memberList(answer, context);
  // The new node asks to join through a voter's client URL (any member would do; a voter is there to stay).
  const via = members.find((m) => m.voter && m.id !== id);
  if (via === undefined) throw new CliFailure(`${context}: the answer lists no voter to join through`);
  const start = startCommand(id, urls, via.client_url, options.learner === true);
  if (ctx.json) return printJson({ ...answer, start_command: start });
  printLine(`${id} added as a learner at ${urls.clientUrl} (cluster ${urls.clusterUrl}), committed at index ${answer.joined_at}.`);
  printLine(`Start it with the cluster's secret in DFS_CLUSTER_SECRET, on its host, from the repository root:`);
  printLine(`  ${start}`);
  printLine(options.learner === true
    ? `It stays a learner: \`dfs cluster promote ${id}\` makes it a voter once it caught up.`
    : `It promotes itself to voter once it caught up; \`dfs members\` shows when.`);
}

async function promote(ctx: CommandContext, id: string, _options: unknown, command: Command): Promise<void> {
  const members = await change(ctx, 'POST', id, 'promote', command);
  if (ctx.json) return printJson({ id, voter: true, members });
  printLine(`${id} is a voter now (voters: ${voters(members)})`);
}

async function remove(ctx: CommandContext, id: string, _options: unknown, command: Command): Promise<void> {
  const members = await change(ctx, 'DELETE', id, 'remove', command);
  if (ctx.json) return printJson({ id, removed: true, members });
  printLine(`${id} removed; it stops and exits (members left: ${members.map((m) => m.id).join(', ')})`);
}

async function change(ctx: CommandContext, method: 'POST' | 'DELETE', id: string, verb: 'promote' | 'remove', command: Command): Promise<MemberJson[]> {
  const path = `/admin/members/${encodeURIComponent(id)}${verb === 'promote' ? '/promote' : ''}`;
  const context = `cluster ${verb} ${id}`;
  const response = await ctx.client.expect(method, path, [200], context, { headers: adminHeaders(command) });
  return memberList(await readJson(response, context), context);
}

async function drain(ctx: CommandContext, id: string, draining: boolean, command: Command): Promise<void> {
  const verb = draining ? 'drain' : 'undrain';
  const context = `cluster ${verb} ${id}`;
  const response = await ctx.client.expect('POST', `/admin/members/${encodeURIComponent(id)}/${verb}`, [200], context, { headers: adminHeaders(command) });
  const answer = (await readJson(response, context)) as { id: string; draining: boolean; draining_members: string[] };
  if (ctx.json) return printJson(answer);
  printLine(draining
    ? `${id} is draining: its chunks are copied to the other members, then deleted from it; \`dfs members\` shows how many it still stores (remove it with \`dfs cluster remove ${id}\` once 0)`
    : `${id} is no longer draining: it takes its share of the chunks back`);
}

const voters = (members: readonly MemberJson[]) => members.filter((m) => m.voter).map((m) => m.id).join(', ');

async function transferLeader(ctx: CommandContext, id: string, _options: unknown, command: Command): Promise<void> {
  const response = await ctx.client.expect('POST', `/admin/transfer-leader?to=${encodeURIComponent(id)}`, [200], `transfer-leader ${id}`, { headers: adminHeaders(command) });
  const answer = (await readJson(response, 'transfer-leader')) as { leader: string; changed: boolean; took_ms: number };
  if (ctx.json) return printJson(answer);
  printLine(answer.changed ? `${answer.leader} leads now (took ${answer.took_ms} ms)` : `${answer.leader} leads already`);
}
