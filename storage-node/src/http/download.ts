// Serving a file's content: headers from the manifest, bytes streamed chunk by chunk in order.
import { Readable } from 'node:stream';
import type { Context } from 'hono';
import type { FileRecord } from '../metadata/file-record.ts';
import { parseEtagList } from '../metadata/preconditions.ts';
import type { NodeContext } from '../node/node-context.ts';
import { chunkSizes, loadChunk } from './chunk-source.ts';
import { parseRange } from './range.ts';
import { toWebStream } from '../../../shared/web-stream.ts';

async function* byteRange(ctx: NodeContext, record: FileRecord, sizes: number[], start: number, end: number, first: Buffer | null) {
  let offset = 0;
  let pending = first;
  for (let i = 0; i < record.chunks.length; i++) {
    const chunkStart = offset;
    const chunkEnd = offset + sizes[i] - 1;
    offset += sizes[i];
    if (chunkEnd < start || sizes[i] === 0) continue;
    if (chunkStart > end) break;
    const data = pending ?? (await loadChunk(ctx, record.chunks[i]));
    pending = null;
    yield data.subarray(Math.max(0, start - chunkStart), Math.min(sizes[i], end - chunkStart + 1));
  }
}

function firstChunkIndex(sizes: number[], start: number): number {
  let offset = 0;
  for (let i = 0; i < sizes.length; i++) {
    if (offset + sizes[i] > start) return i;
    offset += sizes[i];
  }
  return -1;
}

export async function serveContent(ctx: NodeContext, c: Context, record: FileRecord): Promise<Response> {
  const etag = `"${record.etag}"`;
  const headers = new Headers({
    ETag: etag,
    'Content-Type': record.contentType,
    'Last-Modified': new Date(record.modifiedMs).toUTCString(),
    'Accept-Ranges': 'bytes',
    'X-DFS-Version': String(record.version),
    'X-Applied-Index': String(ctx.metadata.appliedIndex()),
  });
  const ifNoneMatch = c.req.header('if-none-match');
  if (ifNoneMatch !== undefined) {
    const tags = parseEtagList(ifNoneMatch);
    if (tags === '*' || tags.includes(record.etag)) return new Response(null, { status: 304, headers });
  }
  const range = parseRange(c.req.header('range'), record.size);
  if (range.kind === 'unsatisfiable') {
    headers.set('Content-Range', `bytes */${record.size}`);
    headers.set('Content-Type', 'application/json');
    const body = JSON.stringify({ error: { code: 'range_not_satisfiable', message: `the file has ${record.size} bytes` } });
    return new Response(body, { status: 416, headers });
  }
  const start = range.kind === 'range' ? range.start : 0;
  const end = range.kind === 'range' ? range.end : record.size - 1;
  const status = range.kind === 'range' ? 206 : 200;
  if (range.kind === 'range') headers.set('Content-Range', `bytes ${start}-${end}/${record.size}`);
  headers.set('Content-Length', String(Math.max(0, end - start + 1)));
  if (c.req.method === 'HEAD') return new Response(null, { status, headers });
  if (record.size === 0) return new Response(null, { status, headers });
  const sizes = await chunkSizes(ctx, record.chunks, record.chunkSizes);
  // Load the first chunk before answering, so a chunk no node can give is a 503, not a cut body.
  const firstIndex = firstChunkIndex(sizes, start);
  const first = firstIndex < 0 ? null : await loadChunk(ctx, record.chunks[firstIndex]);
  const stream = Readable.from(byteRange(ctx, record, sizes, start, end, first));
  return new Response(toWebStream(stream), { status, headers });
}
