// The leader's write path: stream the body into replicated chunks, then propose one put entry
// and answer once it is committed and applied here.
import type { Context } from 'hono';
import { encodeHlc } from '../../../shared/hlc.ts';
import { chunkStream } from '../blobs/chunker.ts';
import { encodeCommand } from '../metadata/commands.ts';
import type { MetadataCommand, MetadataResult } from '../metadata/commands.ts';
import type { NodeContext } from '../node/node-context.ts';
import { HttpError } from './errors.ts';
import { contentLength, contentType, fileName, requestId, writePrecondition } from './request-parts.ts';
import { replicateChunk } from './replicate-chunk.ts';

const noBytes: AsyncIterable<Uint8Array> = { async *[Symbol.asyncIterator]() {} };

/** A new HLC stamp, after every stamp already applied (a new leader may have a slower clock). */
export function stampHlc(ctx: NodeContext): string {
  const last = ctx.metadata.lastHlc();
  return encodeHlc(last === null ? ctx.hlc.now() : ctx.hlc.update(last));
}

/** Proposes a command; a result that is not ok becomes 404 or 412. */
export async function proposeCommand(ctx: NodeContext, command: MetadataCommand): Promise<MetadataResult & { ok: true }> {
  const result = (await ctx.raft.propose(encodeCommand(command))) as MetadataResult | undefined;
  if (result === undefined) throw new HttpError(500, 'internal', 'the state machine gave no result');
  if (!result.ok) throw new HttpError(result.code === 'not_found' ? 404 : 412, result.code, result.message);
  return result;
}

export async function handleUpload(ctx: NodeContext, c: Context): Promise<Response> {
  const name = fileName(c);
  const precondition = writePrecondition(c);
  const id = requestId(c);
  const type = contentType(c);
  const expectedLength = contentLength(c);
  const source = (c.req.raw.body as AsyncIterable<Uint8Array> | null) ?? noBytes;
  const body = await chunkStream(source, ctx.config.chunkSize, (chunk) => replicateChunk(ctx, chunk.hash, chunk.data), {
    expectedLength,
    sizeMax: ctx.config.maxFileSize,
  });
  const result = await proposeCommand(ctx, {
    op: 'put',
    name,
    size: body.size,
    contentType: type,
    etag: body.etag,
    chunks: body.chunks,
    chunkSizes: body.chunkSizes,
    hlc: stampHlc(ctx),
    ...(precondition !== undefined ? { precondition } : {}),
    ...(id !== undefined ? { requestId: id } : {}),
  });
  c.header('ETag', `"${result.file.etag}"`);
  c.header('Location', `/files/${name.split('/').map(encodeURIComponent).join('/')}`);
  return c.json(result.file, 201);
}

export async function handleDelete(ctx: NodeContext, c: Context): Promise<Response> {
  const name = fileName(c);
  const precondition = writePrecondition(c);
  const id = requestId(c);
  await proposeCommand(ctx, {
    op: 'delete',
    name,
    hlc: stampHlc(ctx),
    ...(precondition !== undefined ? { precondition } : {}),
    ...(id !== undefined ? { requestId: id } : {}),
  });
  return c.body(null, 204);
}
