// The gateway's HTTP API: its own status routes, then every other request proxied — reads to a
// replica, everything else to the leader — so clients see the nodes' API at one URL.
import { Hono } from 'hono';
import type { Context } from 'hono';
import type { ClusterView } from './cluster-view.ts';
import type { GatewayConfig } from './config.ts';
import { onError } from './errors.ts';
import type { GatewayMetrics } from './gateway-metrics.ts';
import { proxiedAnswer } from './proxy-response.ts';
import { readProxy } from './read-proxy.ts';
import { isResolvedPath, routeLabel } from './request-name.ts';
import { statusRoutes } from './status-routes.ts';
import type { Upstreams } from './upstream.ts';
import { writeProxy } from './write-proxy.ts';
import type { AccessKeys } from './access-keys.ts';
import { nativeAuth } from './native-auth.ts';

export interface GatewayDeps {
  readonly config: GatewayConfig;
  readonly view: ClusterView;
  readonly upstreams: Upstreams;
  readonly metrics: GatewayMetrics;
  readonly startedAtMs: number;
  /** The root key and the live access keys (--auth required). */
  readonly keys: AccessKeys;
}

export function gatewayApp(deps: GatewayDeps): Hono {
  const app = new Hono();
  app.use('*', async function recordRequest(c, next) {
    const started = performance.now();
    await next();
    // A node's answer passed on carries X-DFS-Gateway already: its headers are not touched here
    // (reading them would turn node-server's plain record into a web Headers object).
    const proxied = proxiedAnswer(c);
    if (proxied === null) c.res.headers.set('X-DFS-Gateway', deps.config.id);
    deps.metrics.recordAnswer(routeLabel(c.req.path), c.req.method, proxied?.status ?? c.res.status, proxied?.node ?? 'gateway', (performance.now() - started) / 1000);
  });
  const read = readProxy(deps);
  const write = writeProxy(deps);
  const proxy = (c: Context) => (c.req.method === 'GET' || c.req.method === 'HEAD' ? read(c) : write(c));
  app.use('*', nativeAuth(deps.config, deps.keys));
  // A target whose dot segments were resolved (`/files/../status`) is never one of the gateway's
  // own routes: it goes to a node as sent, and is judged there as on every node.
  app.use('*', async function rawTargetOnly(c, next) {
    if (isResolvedPath(c)) return proxy(c);
    await next();
  });
  app.route('/', statusRoutes(deps));
  app.all('*', proxy);
  app.onError(onError);
  return app;
}
