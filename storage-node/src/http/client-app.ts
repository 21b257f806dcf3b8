// The client API of one node: one sub-app per resource, one error format, `X-DFS-Node` on every
// answer, every request counted and timed for /metrics.
import { Hono } from 'hono';
import { BucketService } from '../buckets/bucket-service.ts';
import { FileService } from '../files/file-service.ts';
import { httpMetrics } from '../metrics/http-metrics.ts';
import { metricsRoutes } from '../metrics/metrics-routes.ts';
import type { NodeContext } from '../node/node-context.ts';
import { bucketRoutes } from './bucket-routes.ts';
import { errorResponse, onError } from './errors.ts';
import { fileRoutes } from './file-routes.ts';
import { listRoutes } from './list-routes.ts';
import { fileName, rawPath } from './request-parts.ts';
import { statusRoutes } from './status-routes.ts';
import { uploadRoutes } from './upload-routes.ts';
import { keyRoutes } from './key-routes.ts';
import { nativeAuth } from './native-auth.ts';
import { MultipartService } from '../files/multipart-service.ts';

export function clientApp(ctx: NodeContext): Hono {
  const app = new Hono();
  app.use('*', httpMetrics(ctx.metrics, 'client'));
  app.use('*', async (c, next) => {
    await next();
    // A forwarded answer keeps the leader's X-DFS-Node: it says who served the request.
    if (!c.res.headers.has('x-dfs-node')) c.res.headers.set('X-DFS-Node', ctx.config.id);
  });
  app.use('*', async (c, next) => {
    // A path whose dot segments were resolved away may no longer reach the file routes: its
    // name is still judged as sent (and refused, 400).
    const raw = rawPath(c);
    if (/^\/(?:files|upload)\//.test(raw) && raw !== new URL(c.req.url).pathname) fileName(c);
    await next();
  });
  app.use('*', nativeAuth(ctx));
  app.route('/', statusRoutes(ctx));
  app.route('/', keyRoutes(ctx));
  app.route('/', metricsRoutes(ctx.metrics));
  const files = new FileService(ctx);
  app.route('/', listRoutes(ctx, files));
  app.route('/', fileRoutes(ctx, files));
  app.route('/', bucketRoutes(ctx, new BucketService(ctx)));
  app.route('/', uploadRoutes(ctx, files, new MultipartService(ctx, files)));
  app.notFound((c) => errorResponse(c, 404, 'not_found', `no route ${c.req.method} ${c.req.path}`));
  app.onError(onError);
  return app;
}
