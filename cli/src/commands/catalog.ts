// `ls`, `stat`, `versions`, `rm`: what files there are, their metadata, and removing them.
import { InvalidArgumentError } from 'commander';
import type { Command } from 'commander';
import { etagOf } from '../client.ts';
import type { CommandContext } from '../context.ts';
import { CliFailure } from '../errors.ts';
import { filePath } from '../names.ts';
import { formatBytes, formatFields, formatTable, formatTime, printJson, printLine } from '../output.ts';
import type { Action } from './action.ts';
import type { FileListItem, FileListPage } from '../../../storage-node/src/metadata/file-record.ts';

/** Names asked for per listing request by default (the server's default; it allows up to 10,000). */
export const listPageNamesDefault = 1000;

function positiveInteger(text: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < 1) throw new InvalidArgumentError('must be a positive integer');
  return value;
}

export function registerCatalogCommands(program: Command, action: Action): void {
  program.command('ls')
    .description('list file names in order, all of them or those starting with [prefix] (paged through the listing)')
    .argument('[prefix]', 'only names starting with this', '')
    .option('--limit <n>', 'stop after this many names', positiveInteger)
    .option('--page-size <n>', `names per request to the server (1 to 10000)`, positiveInteger, listPageNamesDefault)
    .action(action(ls));
  program.command('stat')
    .description("a file's size, SHA-256, version, content type and time")
    .argument('<name>', 'the name in the DFS')
    .action(action(statFile));
  program.command('versions')
    .description('the versions kept of a file, newest first')
    .argument('<name>', 'the name in the DFS')
    .action(action(versions));
  program.command('rm')
    .description('delete a file')
    .argument('<name>', 'the name in the DFS')
    .action(action(remove));
}

async function ls(ctx: CommandContext, prefix: string, options: { limit?: number; pageSize: number }): Promise<void> {
  const limit = options.limit ?? Infinity;
  let after: string | null = null;
  let listed = 0;
  let more = false;
  // Pages are written as they arrive (also in --json, as one document), so memory stays flat however many names there are.
  if (ctx.json) process.stdout.write('{"files":[');
  for (;;) {
    const pageLimit = Math.min(options.pageSize, limit - listed);
    const query = new URLSearchParams({ prefix, limit: String(pageLimit) });
    if (after !== null) query.set('after', after);
    const page = (await ctx.client.getJson(`/files?${query}`, `ls "${prefix}"`)) as FileListPage;
    if (!Array.isArray(page.files)) throw new CliFailure(`ls: the answer has no "files" list`);
    for (const file of page.files) {
      if (ctx.json) process.stdout.write((listed === 0 ? '\n  ' : ',\n  ') + JSON.stringify(file));
      else printLine(`${formatBytes(file.size).padStart(10)}  v${String(file.version).padEnd(4)} ${formatTime(file.modified)}  ${file.name}`);
      listed++;
    }
    after = page.next;
    if (after === null) break;
    if (listed >= limit) {
      more = true;
      break;
    }
  }
  if (ctx.json) process.stdout.write(`${listed === 0 ? '' : '\n'}],"next":${JSON.stringify(more ? after : null)}}\n`);
  else if (more) process.stderr.write(`(stopped after ${listed} names: there are more; raise --limit)\n`);
}

async function statFile(ctx: CommandContext, name: string): Promise<void> {
  const response = await ctx.client.expect('HEAD', filePath(name), [200], `stat "${name}"`);
  await response.body.dump();
  const header = (key: string) => {
    const value = response.headers[key];
    return typeof value === 'string' ? value : null;
  };
  const modified = header('last-modified');
  const info = {
    name,
    size: Number(header('content-length') ?? 0),
    etag: etagOf(response),
    version: header('x-dfs-version') === null ? null : Number(header('x-dfs-version')),
    contentType: header('content-type'),
    modified: modified === null ? null : new Date(modified).toISOString(),
    node: header('x-dfs-node'),
  };
  if (ctx.json) return printJson(info);
  printLine(formatFields([
    ['name', info.name],
    ['size', `${info.size} (${formatBytes(info.size)})`],
    ['sha256', info.etag ?? '-'],
    ['version', String(info.version ?? '-')],
    ['content type', info.contentType ?? '-'],
    ['modified', info.modified === null ? '-' : formatTime(info.modified)],
    ['served by', info.node ?? '-'],
  ]));
}

async function versions(ctx: CommandContext, name: string): Promise<void> {
  const document = (await ctx.client.getJson(`${filePath(name)}?versions`, `versions "${name}"`)) as { versions?: FileListItem[] };
  const list = document.versions;
  if (!Array.isArray(list)) throw new CliFailure(`versions "${name}": the answer has no "versions" list`);
  if (list.length === 0) throw new CliFailure(`versions "${name}": no version of "${name}" is kept (no such file)`);
  if (ctx.json) return printJson(document);
  printLine(formatTable(['version', 'size', 'modified', 'content type', 'sha256'],
    // A delete marker (an S3 delete, or DELETE ?keep-versions) has no content: a row that says so.
    list.map((v) => ((v as { deleteMarker?: boolean }).deleteMarker === true
      ? [String(v.version), '-', formatTime(v.modified), '(delete marker)', '-']
      : [String(v.version), formatBytes(v.size), formatTime(v.modified), v.contentType, v.etag]))));
}

async function remove(ctx: CommandContext, name: string): Promise<void> {
  const response = await ctx.client.expect('DELETE', filePath(name), [200, 204], `rm "${name}"`);
  await response.body.dump();
  if (ctx.json) printJson({ name, removed: true });
  else printLine(`removed ${name}`);
}
