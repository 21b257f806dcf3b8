// Placement from the command line: `fsck` (every chunk against where the members store it) and
// `cluster set replication N` (copies per chunk, a replicated setting changed live).
import type { Command } from 'commander';
import { adminHeaders, adminTokenFlag, adminTokenHelp } from '../admin.ts';
import { readJson } from '../client.ts';
import type { CommandContext } from '../context.ts';
import { CliFailure, UsageError } from '../errors.ts';
import { placementState } from '../members.ts';
import { printJson, printLine } from '../output.ts';
import type { Action } from './action.ts';

interface FsckReport {
  readonly replication: number;
  readonly replication_setting: number;
  readonly chunks: number;
  readonly clean: boolean;
  readonly under_replicated: number;
  readonly over_replicated: number;
  readonly misplaced: number;
  readonly missing: number;
  readonly examples: Record<string, readonly string[]>;
  readonly members: readonly { id: string; reachable: boolean; error?: string; chunks?: number; bytes?: number; free_bytes?: number; zone?: string | null; draining?: boolean; full?: boolean; down?: boolean }[];
}

export function registerFsckCommand(program: Command, action: Action): void {
  program.command('fsck')
    .description('check every chunk against its holders: under-replicated, over-replicated, misplaced, missing; bytes per member (exit 1 when not clean)')
    .option(adminTokenFlag, adminTokenHelp)
    .action(action(fsck));
}

/** `cluster set replication <n>`, under the `cluster` command. */
export function registerSetCommand(cluster: Command, action: Action): void {
  cluster.command('set')
    .description('change a cluster-wide setting live: replication <n> (copies of each chunk)')
    .argument('<setting>', 'replication')
    .argument('<value>', 'the new value')
    .action(action(setSetting));
}

const gib = (bytes: number | undefined) => (bytes === undefined ? '-' : `${(bytes / 1024 ** 3).toFixed(2)} GiB`);

async function fsck(ctx: CommandContext, _options: unknown, command: Command): Promise<void> {
  const response = await ctx.client.expect('GET', '/admin/fsck', [200], 'fsck', { headers: adminHeaders(command) });
  const report = (await readJson(response, 'fsck')) as FsckReport;
  if (ctx.json) printJson(report);
  else {
    printLine(`${report.clean ? 'clean' : 'NOT CLEAN'}: ${report.chunks} chunks at replication ${report.replication} (setting ${report.replication_setting})`);
    for (const kind of ['under_replicated', 'over_replicated', 'misplaced', 'missing'] as const) {
      const examples = report.examples[kind] ?? [];
      printLine(`  ${kind.replace('_', '-').padEnd(17)} ${String(report[kind]).padStart(8)}${examples.length > 0 ? `  e.g. ${examples.slice(0, 3).join(' ')}` : ''}`);
    }
    printLine('  member   chunks        stored          free  zone      placement');
    for (const m of report.members) {
      const where = `${(m.zone ?? '-').padEnd(9)} ${placementState(m)}`.trimEnd();
      printLine(m.reachable
        ? `  ${m.id.padEnd(8)} ${String(m.chunks ?? '-').padStart(6)} ${gib(m.bytes).padStart(13)} ${gib(m.free_bytes).padStart(13)}  ${where}`
        : `  ${m.id.padEnd(8)} unreachable: ${m.error ?? ''}  ${where}`);
    }
  }
  // Not clean is a finding a script must see: exit 1, as fsck(8) does.
  if (!report.clean) {
    const unreachable = report.members.filter((m) => !m.reachable).map((m) => m.id);
    throw new CliFailure(`fsck: not clean (${report.under_replicated} under-replicated, ${report.missing} missing, ${report.misplaced} misplaced, ${report.over_replicated} over-replicated${unreachable.length > 0 ? `; unreachable: ${unreachable.join(', ')}` : ''})`);
  }
}

async function setSetting(ctx: CommandContext, setting: string, value: string, _options: unknown, command: Command): Promise<void> {
  if (setting !== 'replication') throw new UsageError(`unknown setting ${JSON.stringify(setting)} (settings: replication)`);
  const replication = Number(value);
  if (!Number.isSafeInteger(replication) || replication < 1) throw new UsageError(`replication must be a positive integer, got ${JSON.stringify(value)}`);
  const headers = { ...adminHeaders(command), 'content-type': 'application/json' };
  const response = await ctx.client.expect('PUT', '/admin/settings/replication', [200], 'cluster set replication', { headers, body: JSON.stringify({ replication }) });
  const answer = (await readJson(response, 'cluster set replication')) as { replication: number; effective_replication: number; members: number };
  if (ctx.json) return printJson(answer);
  printLine(`replication ${answer.replication}${answer.effective_replication < answer.replication ? ` (${answer.effective_replication} in effect: the cluster has ${answer.members} members)` : ''}; chunks move in the background (dfs fsck shows when done)`);
}
