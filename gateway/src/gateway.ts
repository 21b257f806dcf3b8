// Assembles one gateway: upstream pools, the cluster view (polling), metrics, the HTTP server.
// Stateless: everything it knows it learns again from the nodes after a restart.
import type { Server } from 'node:http';
import { listen } from '../../shared/http-listener.ts';
import { peerConnectOptions } from '../../shared/tls-client.ts';
import { ClusterView } from './cluster-view.ts';
import type { GatewayConfig } from './config.ts';
import { fastPath } from './fast-path.ts';
import { gatewayApp } from './gateway-app.ts';
import { GatewayMetrics } from './gateway-metrics.ts';
import { NativeClient } from './s3/native-client.ts';
import { s3App } from './s3/s3-app.ts';
import { Upstreams } from './upstream.ts';
import { AccessKeys } from './access-keys.ts';

export interface RunningGateway {
  readonly port: number;
  /** The S3 API's port; null when it is off. */
  readonly s3Port: number | null;
  readonly view: ClusterView;
  stop(): Promise<void>;
}

/** In-flight requests get this long to finish on a graceful stop. */
const stopGraceMs = 5000;
/** Clients' idle keep-alive connections are kept this long. */
const keepAliveTimeoutMs = 65_000;

export async function startGateway(config: GatewayConfig): Promise<RunningGateway> {
  const upstreams = new Upstreams({ connectionsPerNode: config.connectionsPerNode, connect: peerConnectOptions(config.tlsCa) });
  const view = new ClusterView(config, upstreams);
  const metrics = new GatewayMetrics(view);
  const keys = new AccessKeys(config, view);
  const app = gatewayApp({ config, view, upstreams, metrics, startedAtMs: Date.now(), keys });
  view.start();
  keys.start();
  const server: Server = await listen({
    app,
    before: fastPath({ config, view, upstreams, metrics }),
    host: config.host,
    port: config.port,
    tls: config.tls,
    idleTimeoutMs: config.idleTimeoutMs,
    headersTimeoutMs: config.headersTimeoutMs,
  });
  // Clients' idle keep-alive connections outlive a node's (5 s) so pooled clients rarely race a close.
  server.keepAliveTimeout = keepAliveTimeoutMs;
  const port = (server.address() as { port: number }).port;
  const servers = [server];
  let s3Port: number | null = null;
  if (config.s3 !== null) {
    const s3Server = await listen({
      // The S3 layer calls the native API through this gateway's own proxy, in process.
      app: s3App({
        region: config.s3.region,
        domain: config.s3.domain,
        // The root key and every live access key (read from the nodes, refreshed).
        keys,
        native: new NativeClient((request, env) => app.fetch(request, env)),
        onAnswered: (operation, status, seconds) => {
          metrics.s3Requests.inc({ operation, status: String(status) });
          metrics.s3RequestSeconds.observe({ operation }, seconds);
        },
      }),
      host: config.host,
      port: config.s3.port,
      tls: config.tls,
      idleTimeoutMs: config.idleTimeoutMs,
      headersTimeoutMs: config.headersTimeoutMs,
    }).catch(async (err: unknown) => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      view.stop();
      keys.stop();
      await upstreams.close();
      throw err;
    });
    s3Server.keepAliveTimeout = keepAliveTimeoutMs;
    s3Port = (s3Server.address() as { port: number }).port;
    servers.push(s3Server);
  }
  const stop = async (): Promise<void> => {
    const closed = Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    for (const s of servers) s.closeIdleConnections();
    await Promise.race([closed, new Promise((r) => setTimeout(r, stopGraceMs))]);
    for (const s of servers) s.closeAllConnections();
    view.stop();
    keys.stop();
    await upstreams.close();
  };
  return { port, s3Port, view, stop };
}
