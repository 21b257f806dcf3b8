// The leader's write path: stream the body into chunks replicated through a window of pushes in
// flight, then propose one put entry and answer once it is committed and applied here.
import type { Context } from 'hono';
import { encodeHlc } from '../../../shared/hlc.ts';
import { chunkStream } from '../blobs/chunker.ts';
import { encodeCommand } from '../metadata/commands.ts';
import type { MetadataCommand, MetadataResult } from '../metadata/commands.ts';
import type { NodeContext } from '../node/node-context.ts';
import { NotLeaderError, ProposalLostError, RaftTimeoutError } from '../raft-node/errors.ts';
import { HttpError } from './errors.ts';
import { contentLength, contentType, fileName, requestId, writePrecondition } from './request-parts.ts';
import { replicateChunk } from './replicate-chunk.ts';
import { ReplicationWindow } from './replication-window.ts';

const noBytes: AsyncIterable<Uint8Array> = { async *[Symbol.asyncIterator]() {} };

/** A new HLC stamp, after every stamp already applied (a new leader may have a slower clock). */
export function stampHlc(ctx: NodeContext): string {
  const last = ctx.metadata.lastHlc();
  return encodeHlc(last === null ? ctx.hlc.now() : ctx.hlc.update(last));
}

function failureReason(err: unknown): string {
  if (err instanceof NotLeaderError) return 'not_leader';
  if (err instanceof ProposalLostError) return 'lost';
  if (err instanceof RaftTimeoutError) return 'timeout';
  return 'other';
}

/** Proposes a command; a result that is not ok becomes 404 or 412. */
export async function proposeCommand(ctx: NodeContext, command: MetadataCommand): Promise<MetadataResult & { ok: true }> {
  const op = command.op;
  ctx.metrics.proposals.inc({ op });
  const endTimer = ctx.metrics.proposalSeconds.startTimer({ op });
  let result: MetadataResult | undefined;
  try {
    result = (await ctx.raft.propose(encodeCommand(command))) as MetadataResult | undefined;
  } catch (err) {
    ctx.metrics.proposalsFailed.inc({ op, reason: failureReason(err) });
    throw err;
  }
  endTimer();
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
  const startedMs = Date.now();
  // The collector leaves this upload's chunks alone until its entry is applied (or it fails).
  const holds = ctx.chunkGuard.upload();
  const window = new ReplicationWindow((hash, data, stragglers) => replicateChunk(ctx, hash, data, stragglers), ctx.config.uploadWindowChunks);
  let releaseLater = false;
  try {
    const body = await chunkStream(
      source,
      ctx.config.chunkSize,
      (chunk) => {
        holds.hold(chunk.hash);
        return window.add(chunk.hash, chunk.data);
      },
      { expectedLength, sizeMax: ctx.config.maxFileSize },
    );
    await window.finish();
    // Replicas protect pushed chunks for the grace period only (they cannot see this upload).
    if (Date.now() - startedMs >= ctx.config.gcGraceMs) {
      throw new HttpError(503, 'upload_too_slow', `the upload took longer than the chunk grace period (${ctx.config.gcGraceMs} ms); retry it`);
    }
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
  } catch (err) {
    window.abort();
    // Outcome unknown: the entry may still commit, so keep its chunks safe a while longer.
    releaseLater = err instanceof RaftTimeoutError;
    throw err;
  } finally {
    if (releaseLater) setTimeout(() => holds.release(), ctx.config.gcGraceMs).unref();
    else holds.release();
  }
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
