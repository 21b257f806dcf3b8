// `members`: the member list as the leader's log has it (GET /admin/members), voters and learners.
import type { Command } from 'commander';
import { adminHeaders, adminTokenFlag, adminTokenHelp } from '../admin.ts';
import { readJson } from '../client.ts';
import type { CommandContext } from '../context.ts';
import { membersDocument, placementState } from '../members.ts';
import { formatTable, printJson, printLine } from '../output.ts';
import type { Action } from './action.ts';

export function registerMembersCommands(program: Command, action: Action): void {
  program.command('members')
    .description('the members: id, voter or learner, which one leads, client and cluster URL, zone, placement (draining with the chunks left, full, down) (admin route: --admin-token or env DFS_ADMIN_TOKEN)')
    .option(adminTokenFlag, adminTokenHelp)
    .action(action(members));
}

async function members(ctx: CommandContext, _options: unknown, command: Command): Promise<void> {
  // Through a gateway, from the leader (a follower's list may trail a change just made); a node
  // answers from its own log.
  const headers = { ...adminHeaders(command), 'x-consistency': 'leader' };
  const response = await ctx.client.expect('GET', '/admin/members', [200], 'members', { headers });
  const document = membersDocument(await readJson(response, 'members'), 'members');
  if (ctx.json) return printJson(document);
  const voters = document.members.filter((m) => m.voter).length;
  const count = (n: number, noun: string) => `${n} ${noun}${n === 1 ? '' : 's'}`;
  printLine(`${count(document.members.length, 'member')} (${count(voters, 'voter')}, ${count(document.members.length - voters, 'learner')}), leader ${document.leader_id ?? 'unknown'}, membership index ${document.membership_index}${document.change_pending ? '; a change is pending' : ''}`);
  printLine(formatTable(
    ['id', 'role', 'leader', 'client URL', 'cluster URL', 'zone', 'placement'],
    document.members.map((m) => [m.id, m.voter ? 'voter' : 'learner', m.id === document.leader_id ? 'yes' : '', m.client_url, m.cluster_url, m.zone ?? '-', placementState(m)]),
  ));
}
