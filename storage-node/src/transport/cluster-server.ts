// Runs the cluster-port Hono app (Raft routes now, blob routes later) on its own listener.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import type { Hono } from 'hono';

export interface ClusterServerOptions {
  readonly host?: string;
  /** 0 picks a free port; the resolved `port` says which. */
  readonly port: number;
  readonly app: Hono;
  /** Connections still busy this long after close() are cut. */
  readonly closeGraceMs?: number;
}

export interface ClusterServer {
  readonly port: number;
  close(): Promise<void>;
}

export function startClusterServer(options: ClusterServerOptions): Promise<ClusterServer> {
  const { host = '127.0.0.1', port, app, closeGraceMs = 2000 } = options;
  return new Promise((resolve, reject) => {
    const server = serve({ fetch: app.fetch, port, hostname: host }, (info: AddressInfo) => {
      server.off('error', reject);
      resolve({ port: info.port, close: () => closeServer(server, closeGraceMs) });
    }) as Server;
    server.once('error', reject);
    // Snapshot and blob uploads can outlast Node's 300 s whole-request limit; a stalled peer
    // is still cut off by the idle timeout.
    server.requestTimeout = 0;
    server.setTimeout(60_000, (socket) => socket.destroy());
  });
}

function closeServer(server: Server, graceMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const force = setTimeout(() => server.closeAllConnections(), graceMs).unref();
    server.close((err) => {
      clearTimeout(force);
      if (err) reject(err);
      else resolve();
    });
    // Idle keep-alive sockets of peers' pools would otherwise hold close() open.
    server.closeIdleConnections();
  });
}
