// `GET /files?prefix=&after=&limit=`: names in order, a page at a time. With `?versions`, the
// names with any kept version, live or behind a delete marker (S3's ListObjectVersions).
import { Hono } from 'hono';
import type { Context } from 'hono';
import type { FileService } from '../files/file-service.ts';
import { listLimitDefault, listLimitMax } from '../metadata/metadata-state-machine.ts';
import { isLeader } from '../node/node-context.ts';
import type { NodeContext } from '../node/node-context.ts';
import { HttpError } from './errors.ts';
import { forwardToLeader } from './forward.ts';
import { readConsistency, readConsistently, wantsS3Etag } from './request-parts.ts';
import { withoutS3Etag } from '../metadata/file-record.ts';

export function listRoutes(ctx: NodeContext, files: FileService): Hono {
  const app = new Hono();
  const list = async (c: Context) => {
    const limitText = c.req.query('limit');
    const limit = limitText === undefined ? listLimitDefault : Number(limitText);
    if (!Number.isInteger(limit) || limit < 1 || limit > listLimitMax) {
      throw new HttpError(400, 'bad_request', `limit must be an integer from 1 to ${listLimitMax}`);
    }
    const consistency = readConsistency(c);
    if (consistency === 'leader' && !isLeader(ctx)) return forwardToLeader(ctx, c);
    await readConsistently(ctx, c, consistency);
    const query = { prefix: c.req.query('prefix') ?? '', after: c.req.query('after') ?? null, limit };
    if (new URL(c.req.url).searchParams.has('versions')) {
      const { names, next } = files.namesWithVersions(query);
      return c.json({ files: names.map((name) => ({ name })), next });
    }
    const page = files.list(query);
    return c.json(wantsS3Etag(c) ? page : { ...page, files: page.files.map(withoutS3Etag) });
  };
  app.get('/files', list);
  app.get('/files/', list);
  return app;
}
