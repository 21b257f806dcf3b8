// `/buckets` and `/buckets/<name>`: the S3 gateway's bucket records (list, read, create, delete).
// Writes go to the leader like file writes; reads wait for the requested consistency.
import { Hono } from 'hono';
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { bucketNameProblem } from '../../../shared/bucket-names.ts';
import { BucketError } from '../buckets/bucket-service.ts';
import type { BucketService } from '../buckets/bucket-service.ts';
import type { BucketErrorCode } from '../metadata/commands.ts';
import { isLeader } from '../node/node-context.ts';
import type { NodeContext } from '../node/node-context.ts';
import { HttpError } from './errors.ts';
import { forwardToLeader } from './forward.ts';
import { readConsistency, readConsistently, requestId } from './request-parts.ts';
import { bucketVersioningStates } from '../db/schema.ts';
import type { BucketVersioning } from '../db/schema.ts';

const bucketErrorStatus: Record<BucketErrorCode, ContentfulStatusCode> = {
  bucket_exists: 409,
  no_such_bucket: 404,
  bucket_not_empty: 409,
  idempotency_key_mismatch: 422,
};

function bucketName(c: Context): string {
  const name = c.req.param('name') ?? '';
  const problem = bucketNameProblem(name);
  if (problem !== null) throw new HttpError(400, 'bad_bucket_name', problem);
  return name;
}

/** The longest versioning body read, in bytes: `{"status":"Suspended"}` and some space. */
const versioningBodyBytesMax = 1024;

/** The `status` of a `{"status":"Enabled"|"Suspended"}` body; 400 for anything else. */
async function versioningStatus(c: Context): Promise<BucketVersioning> {
  // Refused before reading when the length says so; after, when a body without one is too long.
  const tooLong = () => new HttpError(400, 'bad_request', `a versioning body is at most ${versioningBodyBytesMax} bytes`);
  if (Number(c.req.header('content-length') ?? 0) > versioningBodyBytesMax) throw tooLong();
  const text = await c.req.text();
  if (Buffer.byteLength(text) > versioningBodyBytesMax) throw tooLong();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new HttpError(400, 'bad_request', 'the body must be JSON: {"status":"Enabled"} or {"status":"Suspended"}');
  }
  const status = (parsed as { status?: unknown } | null)?.status;
  if (!bucketVersioningStates.includes(status as BucketVersioning)) {
    throw new HttpError(400, 'bad_request', `status must be one of ${bucketVersioningStates.join(', ')}`);
  }
  return status as BucketVersioning;
}

/** The service's refusals as HTTP errors. */
async function answering<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof BucketError) throw new HttpError(bucketErrorStatus[err.code], err.code, err.message);
    throw err;
  }
}

export function bucketRoutes(ctx: NodeContext, buckets: BucketService): Hono {
  const app = new Hono();
  const write = (handler: (c: Context) => Promise<Response>) => async (c: Context) => {
    if (!isLeader(ctx)) {
      bucketName(c);
      return forwardToLeader(ctx, c);
    }
    return handler(c);
  };
  const read = (handler: (c: Context) => Response) => async (c: Context) => {
    const consistency = readConsistency(c);
    if (consistency === 'leader' && !isLeader(ctx)) return forwardToLeader(ctx, c);
    await readConsistently(ctx, c, consistency);
    return handler(c);
  };
  app.get('/buckets', read((c) => c.json({ buckets: buckets.list() })));
  app.get('/buckets/:name', read((c) => {
    const name = bucketName(c);
    const bucket = buckets.find(name);
    if (bucket === null) throw new HttpError(404, 'no_such_bucket', `no bucket ${name}`);
    return c.json(bucket);
  }));
  app.put('/buckets/:name', write(async (c) => {
    const bucket = await answering(() => buckets.create(bucketName(c), requestId(c)));
    return c.json(bucket, 201);
  }));
  /** `PUT /buckets/<name>/versioning` with `{"status":"Enabled"|"Suspended"}`: S3's PutBucketVersioning. */
  app.put('/buckets/:name/versioning', write(async (c) => {
    const name = bucketName(c);
    const status = await versioningStatus(c);
    const bucket = await answering(() => buckets.setVersioning(name, status, requestId(c)));
    return c.json(bucket);
  }));
  app.delete('/buckets/:name', write(async (c) => {
    await answering(() => buckets.delete(bucketName(c), requestId(c)));
    return c.body(null, 204);
  }));
  return app;
}
