// `status`: the cluster in one table, from the endpoint's /status and each member's own.
import type { Command } from 'commander';
import { DfsClient, readJson, reasonOf } from '../client.ts';
import type { CommandContext } from '../context.ts';
import { CliFailure } from '../errors.ts';
import { formatBytes, formatDuration, formatTable, printJson, printLine } from '../output.ts';
import { listedMembers, statusRows } from '../status-table.ts';
import type { MemberStatus, StatusRow } from '../status-table.ts';
import type { Action } from './action.ts';

/** How long a member's own /status may take before it counts as unreachable, ms. */
export const memberStatusTimeoutMs = 2000;

export function registerStatusCommands(program: Command, action: Action): void {
  program.command('status')
    .description("the cluster in one table: each member's role, term, applied index, lag, last contact, files, bytes, zone, placement (draining with the chunks left, full, down), repair queue (lost copies/moves), health (--json: the endpoint's /status as is)")
    .action(action(status));
}

async function status(ctx: CommandContext): Promise<void> {
  const document = (await ctx.client.getJson('/status', 'status')) as Record<string, unknown>;
  if (typeof document !== 'object' || document === null) throw new CliFailure('status: the answer is not a JSON object');
  if (ctx.json) return printJson(document);
  const members = listedMembers(document);
  const statuses = new Map(await Promise.all(members.map(async (m) => [m.url, await memberStatus(m.url)] as const)));
  const rows = statusRows(members, statuses);
  const leader = rows.find((r) => r.leader);
  const via = document.state === 'gateway' ? `gateway ${String(document.id)} at ${ctx.client.endpoint}` : `node ${String(document.id)} at ${ctx.client.endpoint}`;
  printLine(leader === undefined
    ? `no leader known (asked ${via})`
    : `leader ${leader.member} (${leader.url}), term ${leader.term ?? '?'}; asked ${via}`);
  printLine(formatTable(
    ['member', 'role', 'voter', 'leader', 'term', 'applied', 'lag', 'last contact', 'files', 'bytes', 'zone', 'placement', 'repair (lost/move)', 'health'],
    rows.map(cells),
  ));
}

function cells(row: StatusRow): string[] {
  const count = (n: number | null) => (n === null ? '-' : String(n));
  return [
    row.member,
    row.role,
    row.voter === null ? '-' : row.voter ? 'voter' : 'learner',
    row.leader ? 'yes' : '',
    count(row.term),
    count(row.applied_index),
    count(row.lag),
    row.leader ? '(leader)' : row.last_contact_ms === null ? '-' : `${formatDuration(row.last_contact_ms)} ago`,
    count(row.files),
    row.bytes === null ? '-' : formatBytes(row.bytes),
    row.zone ?? '-',
    row.placement,
    row.repair_lost_copy === null || row.repair_rebalance === null ? '-' : `${row.repair_lost_copy}/${row.repair_rebalance}`,
    row.health,
  ];
}

/** A member's own /status, or why it did not give one. */
async function memberStatus(url: string): Promise<MemberStatus | string> {
  let client: DfsClient;
  try {
    client = new DfsClient(url);
  } catch {
    return 'bad URL';
  }
  try {
    const response = await client.send('GET', '/status', { signal: AbortSignal.timeout(memberStatusTimeoutMs) });
    if (response.statusCode !== 200) {
      await response.body.dump();
      return `status ${response.statusCode}`;
    }
    return (await readJson(response, url)) as MemberStatus;
  } catch (err) {
    return err instanceof CliFailure ? err.message.replace(/^cannot reach [^:]*: /, '') : reasonOf(err);
  } finally {
    await client.destroy();
  }
}
