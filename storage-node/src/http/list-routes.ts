// `GET /files?prefix=&after=&limit=`: names in order, a page at a time.
import { Hono } from 'hono';
import { listLimitDefault, listLimitMax } from '../metadata/metadata-state-machine.ts';
import type { NodeContext } from '../node/node-context.ts';
import { HttpError } from './errors.ts';
import { readConsistently } from './request-parts.ts';

export function listRoutes(ctx: NodeContext): Hono {
  const app = new Hono();
  const list = async (c: import('hono').Context) => {
    const limitText = c.req.query('limit');
    const limit = limitText === undefined ? listLimitDefault : Number(limitText);
    if (!Number.isInteger(limit) || limit < 1 || limit > listLimitMax) {
      throw new HttpError(400, 'bad_request', `limit must be an integer from 1 to ${listLimitMax}`);
    }
    await readConsistently(ctx, c);
    const page = ctx.metadata.listFiles({ prefix: c.req.query('prefix') ?? '', after: c.req.query('after') ?? null, limit });
    return c.json(page);
  };
  app.get('/files', list);
  app.get('/files/', list);
  return app;
}
