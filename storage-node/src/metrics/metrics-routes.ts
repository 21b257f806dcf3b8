// `GET /metrics`: the node's registry in the Prometheus text format.
import { Hono } from 'hono';
import type { NodeMetrics } from './node-metrics.ts';

export function metricsRoutes(metrics: NodeMetrics): Hono {
  const app = new Hono();
  app.get('/metrics', async (c) => {
    const text = await metrics.registry.metrics();
    return c.body(text, 200, { 'content-type': metrics.registry.contentType });
  });
  return app;
}
