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
  app.delete('/buckets/:name', write(async (c) => {
    await answering(() => buckets.delete(bucketName(c), requestId(c)));
    return c.body(null, 204);
  }));
  return app;
}
