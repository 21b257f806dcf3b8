// `put`, `get`, `cat`: file content, streamed both ways (never read whole into memory).
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream, rmSync } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import { getMimeType } from 'hono/utils/mime';
import { contentLengthOf, etagOf, readJson, reasonOf } from '../client.ts';
import type { Response } from '../client.ts';
import type { CommandContext } from '../context.ts';
import { CliFailure } from '../errors.ts';
import { onInterrupt } from '../interrupt.ts';
import { filePath } from '../names.ts';
import { formatBytes, printJson, printLine } from '../output.ts';
import { meter } from '../progress.ts';
import type { Action } from './action.ts';

interface TransferOptions {
  readonly progress: boolean;
  readonly contentType?: string;
}

export function registerTransferCommands(program: Command, action: Action): void {
  program.command('put')
    .description('store a local file under <name> (streamed from disk)')
    .argument('<local>', 'the local file')
    .argument('<name>', 'the name in the DFS, like photos/cat.jpg')
    .option('--content-type <type>', 'Content-Type to store (default: guessed from the extension)')
    .option('--no-progress', 'no progress bar even on a terminal')
    .action(action(put));
  program.command('get')
    .description('write <name> to a local file (default: its last segment in the current directory; - for stdout)')
    .argument('<name>', 'the name in the DFS')
    .argument('[local]', 'the local path, a directory, or - for stdout')
    .option('--no-progress', 'no progress bar even on a terminal')
    .action(action(get));
  program.command('cat')
    .description('write the content of <name> to stdout (as is, also with --json)')
    .argument('<name>', 'the name in the DFS')
    .action(action(cat));
}

async function put(ctx: CommandContext, local: string, name: string, options: TransferOptions): Promise<void> {
  const path = filePath(name);
  const info = await stat(local).catch((err: unknown) => {
    throw new CliFailure(`cannot read ${local}: ${reasonOf(err)}`);
  });
  if (!info.isFile()) throw new CliFailure(`cannot read ${local}: not a regular file`);
  const contentType = options.contentType ?? getMimeType(local) ?? 'application/octet-stream';
  const source = createReadStream(local);
  const counter = await meter('put', info.size, options.progress);
  source.on('error', (err) => counter.stream.destroy(err));
  try {
    const response = await ctx.client.expect('PUT', path, [200, 201], `put "${name}"`, {
      headers: {
        'content-type': contentType,
        'content-length': String(info.size),
        // The gateway replays a write whose node failed before answering; with this key it is applied once.
        'idempotency-key': randomUUID(),
      },
      body: source.pipe(counter.stream),
    });
    const file = (await readJson(response, `put "${name}"`)) as { name: string; size: number; etag: string; version: number };
    counter.stop();
    if (ctx.json) printJson(file);
    else printLine(`stored ${file.name} (${formatBytes(file.size)}, version ${file.version}, sha256 ${file.etag})`);
  } finally {
    counter.stop();
    source.destroy();
  }
}

async function get(ctx: CommandContext, name: string, local: string | undefined, options: TransferOptions): Promise<void> {
  const path = filePath(name);
  const response = await ctx.client.expect('GET', path, [200], `get "${name}"`);
  const size = contentLengthOf(response);
  if (local === '-') {
    await copyTo(ctx, `get "${name}"`, response, stdoutStream(), size, options.progress);
    return;
  }
  const target = await localTarget(local, name);
  // Written beside the target and renamed at the end: an interrupted get leaves no partial file under its name.
  const temp = join(dirname(target), `.${basename(target)}.dfs-${randomUUID().slice(0, 8)}.partial`);
  const forget = onInterrupt(() => rmSync(temp, { force: true }));
  try {
    const result = await copyTo(ctx, `get "${name}"`, response, createWriteStream(temp, { flags: 'wx' }), size, options.progress);
    await rename(temp, target);
    if (ctx.json) printJson({ name, path: target, size: result.bytes, etag: result.etag });
    else printLine(`wrote ${target} (${formatBytes(result.bytes)}, sha256 ${result.etag})`);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  } finally {
    forget();
  }
}

async function cat(ctx: CommandContext, name: string): Promise<void> {
  const path = filePath(name);
  const response = await ctx.client.expect('GET', path, [200], `cat "${name}"`);
  await copyTo(ctx, `cat "${name}"`, response, stdoutStream(), contentLengthOf(response), false);
}

/**
 * Streams the answer's body into `sink`, counting and hashing it on the way; fails unless the
 * bytes are as many as Content-Length said and hash to the ETag (what the server stores them under).
 */
async function copyTo(ctx: CommandContext, context: string, response: Response, sink: Writable, size: number | null, progress: boolean): Promise<{ bytes: number; etag: string }> {
  const hash = createHash('sha256');
  const counter = await meter('get', size, progress);
  const hasher = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      callback(null, chunk);
    },
  });
  try {
    await pipeline(response.body, counter.stream, hasher, sink);
  } catch (err) {
    throw new CliFailure(`${context} from ${ctx.client.endpoint} failed midway: ${reasonOf(err)}`);
  } finally {
    counter.stop();
  }
  const bytes = counter.bytes();
  if (size !== null && bytes !== size) throw new CliFailure(`${context}: received ${bytes} of ${size} bytes`);
  const etag = hash.digest('hex');
  const expected = etagOf(response);
  if (expected !== null && expected !== etag) throw new CliFailure(`${context}: the content's SHA-256 ${etag} is not its ETag ${expected}`);
  return { bytes, etag };
}

/** Where `get` writes: `local`, or inside it when it is a directory, or the name's last segment here. */
async function localTarget(local: string | undefined, name: string): Promise<string> {
  const lastSegment = name.split('/').pop()!;
  if (local === undefined) return lastSegment;
  const info = await stat(local).catch(() => null);
  return info?.isDirectory() === true ? join(local, lastSegment) : local;
}

/** stdout as a pipeline sink that is not closed at the end (the process still writes to it). */
function stdoutStream(): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      if (process.stdout.write(chunk)) callback();
      else process.stdout.once('drain', () => callback());
    },
  });
}
