// Assembles one gateway: upstream pools, the cluster view (polling), metrics, the HTTP server.
// Stateless: everything it knows it learns again from the nodes after a restart.
import type { Server } from 'node:http';
import { listen } from '../../shared/http-listener.ts';
import { peerConnectOptions } from '../../shared/tls-client.ts';
import { ClusterView } from './cluster-view.ts';
import type { GatewayConfig } from './config.ts';
import { gatewayApp } from './gateway-app.ts';
import { GatewayMetrics } from './gateway-metrics.ts';
import { Upstreams } from './upstream.ts';

export interface RunningGateway {
  readonly port: number;
  readonly view: ClusterView;
  stop(): Promise<void>;
}

/** In-flight requests get this long to finish on a graceful stop. */
const stopGraceMs = 5000;

export async function startGateway(config: GatewayConfig): Promise<RunningGateway> {
  const upstreams = new Upstreams({ connectionsPerNode: config.connectionsPerNode, connect: peerConnectOptions(config.tlsCa) });
  const view = new ClusterView(config, upstreams);
  const metrics = new GatewayMetrics(view);
  const app = gatewayApp({ config, view, upstreams, metrics, startedAtMs: Date.now() });
  view.start();
  const server: Server = await listen({
    app,
    host: config.host,
    port: config.port,
    tls: config.tls,
    idleTimeoutMs: config.idleTimeoutMs,
    headersTimeoutMs: config.headersTimeoutMs,
  });
  // Clients' idle keep-alive connections outlive a node's (5 s) so pooled clients rarely race a close.
  server.keepAliveTimeout = 65_000;
  const port = (server.address() as { port: number }).port;
  const stop = async (): Promise<void> => {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    await Promise.race([closed, new Promise((r) => setTimeout(r, stopGraceMs))]);
    server.closeAllConnections();
    view.stop();
    await upstreams.close();
  };
  return { port, view, stop };
}
