// The client API of one node: one sub-app per resource, one error format, `X-DFS-Node` on every answer.
import { Hono } from 'hono';
import type { NodeContext } from '../node/node-context.ts';
import { errorResponse, onError } from './errors.ts';
import { fileRoutes } from './file-routes.ts';
import { listRoutes } from './list-routes.ts';
import { statusRoutes } from './status-routes.ts';

export function clientApp(ctx: NodeContext): Hono {
  const app = new Hono();
  app.use('*', async (c, next) => {
    await next();
    // A forwarded answer keeps the leader's X-DFS-Node: it says who served the request.
    if (!c.res.headers.has('x-dfs-node')) c.res.headers.set('X-DFS-Node', ctx.config.id);
  });
  app.route('/', statusRoutes(ctx));
  app.route('/', listRoutes(ctx));
  app.route('/', fileRoutes(ctx));
  app.notFound((c) => errorResponse(c, 404, 'not_found', `no route ${c.req.method} ${c.req.path}`));
  app.onError(onError);
  return app;
}
