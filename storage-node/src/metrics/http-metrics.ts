// Hono middleware counting requests and timing them by route pattern (`/files/*`, never the raw
// path, so a label cannot take one value per file name), method and status.
import type { MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import type { Context } from 'hono';
import { nodeResponseOf } from '../../../shared/node-response.ts';
import type { NodeMetrics } from './node-metrics.ts';

/** The pattern of the route that answered; 'unmatched' when only middleware ran (404, refused). */
export function routeLabel(c: Context): string {
  const route = matchedRoutes(c)[c.req.routeIndex];
  return route === undefined || route.method === 'ALL' ? 'unmatched' : route.path;
}

export function httpMetrics(metrics: NodeMetrics, api: 'client' | 'cluster'): MiddlewareHandler {
  return async function recordHttpMetrics(c, next) {
    const started = performance.now();
    try {
      await next();
    } finally {
      const labels = { api, route: routeLabel(c), method: c.req.method };
      metrics.httpSeconds.observe(labels, (performance.now() - started) / 1000);
      metrics.httpRequests.inc({ ...labels, status: String(sentStatus(c)) });
    }
  };
}

/** The status the client got: a handler that wrote its answer to the socket itself set it there. */
function sentStatus(c: Context): number {
  const outgoing = nodeResponseOf(c);
  return outgoing?.headersSent === true ? outgoing.statusCode : c.res.status;
}
