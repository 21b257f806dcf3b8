// What the machine allows, for the upload and download ratios: a plain Node HTTP server, in its
// own process like a storage node, on the same disk, doing at least what a replicated store must
// do, as well as plain Node does it:
//   PUT /upload/<name>   hashes the stream once (SHA-256) and writes it to three files at once in
//                        large batches (pieces gathered to 4 MiB, one writev per copy, the next
//                        batch filling while the last is written), fsyncs the three files and
//                        their directories, answers 201 {sha256,bytes}
//   GET /files/<name>    streams the first copy back: fs.createReadStream (4 MiB reads) piped
//                        into the response
//   DELETE /files/<name> removes the copies
//   GET /health
// Started by startBaselineServer(); run on its own: npx tsx scripts/bench/baseline-server.ts --port P --dir D
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { freePorts } from '../../test/support/cluster.ts';
import { sleep } from './common.ts';

const copies = 3;
/** Pieces of the body are gathered to this size and written to every copy with one writev. */
export const baselineWriteBatchBytes = 4 * 1024 * 1024;
/** Read size (and high-water mark) of the download stream. */
export const baselineReadBytes = 4 * 1024 * 1024;

/** Writes every byte of `pieces` at the file's position (a regular file rarely writes short). */
async function writevFully(handle: FileHandle, pieces: Buffer[]): Promise<void> {
  const total = pieces.reduce((sum, p) => sum + p.length, 0);
  const { bytesWritten } = await handle.writev(pieces);
  if (bytesWritten === total) return;
  const rest = Buffer.concat(pieces).subarray(bytesWritten);
  let offset = 0;
  while (offset < rest.length) offset += (await handle.write(rest, offset, rest.length - offset)).bytesWritten;
}

async function fsyncDir(dir: string): Promise<void> {
  const handle = await fs.promises.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Hashes the body once and writes it to every handle in batches; one batch is written while the next fills. */
async function storeCopies(req: http.IncomingMessage, handles: FileHandle[]): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  let batch: Buffer[] = [];
  let batchBytes = 0;
  let writing: Promise<unknown> = Promise.resolve();
  const flush = async () => {
    const pieces = batch;
    batch = [];
    batchBytes = 0;
    await writing; // at most one batch being written while the next fills
    writing = Promise.all(handles.map((h) => writevFully(h, pieces)));
  };
  for await (const piece of req) {
    const data = piece as Buffer;
    hash.update(data);
    bytes += data.length;
    batch.push(data);
    batchBytes += data.length;
    if (batchBytes >= baselineWriteBatchBytes) await flush();
  }
  if (batchBytes > 0) await flush();
  await writing;
  return { sha256: hash.digest('hex'), bytes };
}

function serve(port: number, dir: string): http.Server {
  const dirs = Array.from({ length: copies }, (_, i) => path.join(dir, `copy${i + 1}`));
  for (const d of dirs) fs.mkdirSync(d, { recursive: true });
  const fileName = (url: string, prefix: string): string | null => {
    const name = decodeURIComponent(url.slice(prefix.length));
    return /^[A-Za-z0-9._-]{1,200}$/.test(name) ? name : null;
  };
  const server = http.createServer(async (req, res) => {
    const url = req.url ?? '/';
    try {
      if (req.method === 'GET' && url === '/health') {
        res.end('ok');
      } else if (req.method === 'PUT' && url.startsWith('/upload/')) {
        const name = fileName(url, '/upload/');
        if (name === null) throw new Error('bad name');
        const handles = await Promise.all(dirs.map((d) => fs.promises.open(path.join(d, name), 'w')));
        let stored: { sha256: string; bytes: number };
        try {
          stored = await storeCopies(req, handles);
          await Promise.all(handles.map((h) => h.sync()));
        } finally {
          await Promise.all(handles.map((h) => h.close()));
        }
        await Promise.all(dirs.map(fsyncDir));
        res.writeHead(201, { 'content-type': 'application/json' });
        res.end(JSON.stringify(stored));
      } else if (req.method === 'GET' && url.startsWith('/files/')) {
        const name = fileName(url, '/files/');
        if (name === null) throw new Error('bad name');
        const file = path.join(dirs[0], name);
        const { size } = await fs.promises.stat(file);
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': size });
        fs.createReadStream(file, { highWaterMark: baselineReadBytes }).pipe(res);
      } else if (req.method === 'DELETE' && url.startsWith('/files/')) {
        const name = fileName(url, '/files/');
        if (name === null) throw new Error('bad name');
        await Promise.all(dirs.map((d) => fs.promises.rm(path.join(d, name), { force: true })));
        res.writeHead(204).end();
      } else {
        res.writeHead(404).end();
      }
    } catch (err) {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(String(err));
    }
  });
  server.requestTimeout = 0; // a 1 GiB upload on a slow shared machine takes a while
  server.keepAliveTimeout = 30_000;
  server.listen(port, '127.0.0.1');
  return server;
}

export interface BaselineServer {
  readonly url: string;
  readonly pid: number;
  stop(): Promise<void>;
}

const started = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of started) if (child.exitCode === null && child.pid !== undefined) try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ }
});

export async function startBaselineServer(dir: string): Promise<BaselineServer> {
  const [port] = await freePorts(1);
  const script = fileURLToPath(import.meta.url);
  const child = spawn(process.execPath, ['--import', 'tsx', script, '--port', String(port), '--dir', dir], { stdio: ['ignore', 'ignore', 'inherit'] });
  started.add(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error('the baseline server exited');
    if (await fetch(`${url}/health`).then((r) => r.ok, () => false)) break;
    if (Date.now() > deadline) throw new Error('the baseline server did not start in 60 s');
    await sleep(50);
  }
  return {
    url,
    pid: child.pid!,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
      started.delete(child);
    },
  };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(`--${name}`);
    if (i < 0 || process.argv[i + 1] === undefined) throw new Error(`--${name} is required`);
    return process.argv[i + 1];
  };
  const server = serve(Number(arg('port')), arg('dir'));
  process.on('SIGTERM', () => server.close(() => process.exit(0)));
  // Keep-alive connections would hold close() open.
  process.on('SIGTERM', () => server.closeAllConnections());
}
