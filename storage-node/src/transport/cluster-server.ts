// Runs the cluster-port Hono app (Raft routes now, blob routes later) on its own listener.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Hono } from 'hono';
import { listen } from '../../../shared/http-listener.ts';
import type { TlsIdentity } from '../../../shared/http-listener.ts';

/** Snapshot and blob transfers may take long; a peer that stalls this long is cut off. */
const idleTimeoutMsDefault = 60_000;
const headersTimeoutMsDefault = 60_000;

export interface ClusterServerOptions {
  readonly host?: string;
  /** 0 picks a free port; the resolved `port` says which. */
  readonly port: number;
  readonly app: Hono;
  /** Connections still busy this long after close() are cut. */
  readonly closeGraceMs?: number;
  /** A connection with no byte moving for this long is closed (no limit on a whole request). */
  readonly idleTimeoutMs?: number;
  readonly headersTimeoutMs?: number;
  /** HTTPS with this identity; plain HTTP when null or absent. */
  readonly tls?: TlsIdentity | null;
}

export interface ClusterServer {
  readonly port: number;
  close(): Promise<void>;
}

export async function startClusterServer(options: ClusterServerOptions): Promise<ClusterServer> {
  const { host = '127.0.0.1', port, app, closeGraceMs = 2000 } = options;
  const server: Server = await listen({
    app,
    host,
    port,
    tls: options.tls ?? null,
    idleTimeoutMs: options.idleTimeoutMs ?? idleTimeoutMsDefault,
    headersTimeoutMs: options.headersTimeoutMs ?? headersTimeoutMsDefault,
  });
  return { port: (server.address() as AddressInfo).port, close: () => closeServer(server, closeGraceMs) };
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
