// Answering a read of a file's content: headers from the version, If-None-Match (304), Range
// (206, 416); the bytes come from the file service.
import type { ServerResponse } from 'node:http';
import type { Context } from 'hono';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import type { LeasedPiece } from '../files/content-reader.ts';
import type { FileService } from '../files/file-service.ts';
import type { FileRecord } from '../metadata/file-record.ts';
import { assert } from '../../../shared/assert.ts';
import { parseEtagList } from '../../../shared/etag-list.ts';
import { nodeResponseOf } from '../../../shared/node-response.ts';
import type { NodeContext } from '../node/node-context.ts';
import { parseRange } from './range.ts';
import type { RangeResult } from './range.ts';

/**
 * The bytes of part `part` (from 1) of a version: a completed multipart upload's parts, in order
 * (they fall on chunk boundaries); a version written whole is one part. Unsatisfiable past the last.
 */
export function partRange(record: FileRecord, part: number): RangeResult {
  const sizes = record.partSizes ?? [record.size];
  if (part > sizes.length) return { kind: 'unsatisfiable' };
  // An empty version has one empty part: no range to name, served whole.
  if (record.size === 0) return { kind: 'none' };
  const start = sizes.slice(0, part - 1).reduce((sum, size) => sum + size, 0);
  // An empty part (S3 allows one, last) has no bytes: start past end, Content-Length 0.
  return { kind: 'range', start, end: start + sizes[part - 1] - 1 };
}

/**
 * Answers a read of `record`: the whole content, the `Range` asked for, or with `part` (the
 * native `?part=N`, S3's partNumber) that part of a multipart version, with `X-DFS-Parts-Count`.
 */
export async function serveContent(ctx: NodeContext, files: FileService, c: Context, record: FileRecord, part?: number): Promise<Response> {
  const etag = `"${record.etag}"`;
  const headers = new Headers({
    ETag: etag,
    'Content-Type': record.contentType,
    'Last-Modified': new Date(record.modifiedMs).toUTCString(),
    'Accept-Ranges': 'bytes',
    'X-DFS-Version': String(record.version),
    'X-Applied-Index': String(ctx.metadata.appliedIndex()),
  });
  if (record.s3Etag !== null) headers.set('X-DFS-S3-ETag', `"${record.s3Etag}"`);
  // The headers kept with the version (Cache-Control, …, X-DFS-Meta-*), as they were sent.
  for (const [name, value] of Object.entries(record.headers ?? {})) headers.set(name, value);
  const ifNoneMatch = c.req.header('if-none-match');
  if (ifNoneMatch !== undefined) {
    const tags = parseEtagList(ifNoneMatch);
    if (tags === '*' || tags.includes(record.etag)) return new Response(null, { status: 304, headers });
  }
  if (part !== undefined && record.partSizes !== null) headers.set('X-DFS-Parts-Count', String(record.partSizes.length));
  const range = part === undefined ? parseRange(c.req.header('range'), record.size) : partRange(record, part);
  if (range.kind === 'unsatisfiable' && part !== undefined) {
    headers.set('Content-Type', 'application/json');
    const body = JSON.stringify({ error: { code: 'invalid_part_number', message: `version ${record.version} has ${record.partSizes?.length ?? 1} part(s), not a part ${part}` } });
    return new Response(body, { status: 416, headers });
  }
  if (range.kind === 'unsatisfiable') {
    headers.set('Content-Range', `bytes */${record.size}`);
    headers.set('Content-Type', 'application/json');
    const body = JSON.stringify({ error: { code: 'range_not_satisfiable', message: `the file has ${record.size} bytes` } });
    return new Response(body, { status: 416, headers });
  }
  const start = range.kind === 'range' ? range.start : 0;
  const end = range.kind === 'range' ? range.end : record.size - 1;
  const status = range.kind === 'range' ? 206 : 200;
  // An empty part has no byte range to name: `bytes */size`.
  if (range.kind === 'range') headers.set('Content-Range', end < start ? `bytes */${record.size}` : `bytes ${start}-${end}/${record.size}`);
  headers.set('Content-Length', String(Math.max(0, end - start + 1)));
  if (c.req.method === 'HEAD') return new Response(null, { status, headers });
  if (record.size === 0) return new Response(null, { status, headers });
  // The client API runs only behind Node's server (shared/http-listener.ts).
  const outgoing = nodeResponseOf(c);
  assert(outgoing !== undefined, 'a file read served without a Node response to write to');
  const content = await files.openLeased(record, start, end);
  // Content already in memory goes out with its headers in one write; the rest is streamed.
  if (Buffer.isBuffer(content)) return new Response(new Uint8Array(content.buffer as ArrayBuffer, content.byteOffset, content.byteLength), { status, headers });
  // Written to the socket here, so each chunk's buffer is reused once its write is over. The
  // answer's headers go out now: X-DFS-Node too, which the app adds to answers it sends itself.
  headers.set('X-DFS-Node', ctx.config.id);
  outgoing.writeHead(status, Object.fromEntries(headers));
  void writePieces(outgoing, content);
  return RESPONSE_ALREADY_SENT;
}

/**
 * Writes the pieces one at a time, each released once its write is over (the socket no longer
 * holds its bytes), and asks for the next only then: what the response holds stays one piece. A
 * piece whose write failed is not released (the socket may not be done with it) and the rest are
 * not read; a failure of the content cuts the response, so the client sees a short body, never a
 * whole-looking one.
 */
async function writePieces(outgoing: ServerResponse, pieces: AsyncIterableIterator<LeasedPiece>): Promise<void> {
  try {
    for (;;) {
      if (outgoing.destroyed) return;
      const step = await pieces.next();
      if (step.done === true) break;
      const piece = step.value;
      const written = await new Promise<boolean>((resolve) => {
        // A response whose socket is gone may never call a write back: its close ends the wait.
        const gone = () => resolve(false);
        outgoing.once('close', gone);
        outgoing.write(piece.bytes, (err) => {
          outgoing.off('close', gone);
          resolve(err === undefined || err === null);
        });
      });
      if (!written) return;
      piece.release();
    }
    outgoing.end();
  } catch (err) {
    outgoing.destroy(err as Error);
  } finally {
    // A client gone mid-body ends the content here: what it still held goes back.
    await pieces.return?.(undefined)?.catch(() => undefined);
  }
}
