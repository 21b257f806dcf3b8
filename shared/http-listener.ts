// The HTTP(S) listeners of nodes and gateway. Files may take hours to move (up to 64 GiB), so no
// limit applies to a whole request: a connection is cut when no byte moved for the idle timeout
// (a stalled client or a reader that stopped reading), and a request whose headers do not arrive
// within the headers timeout is answered 408. With TLS files the listener speaks HTTPS.
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import type { IncomingMessage, RequestListener, Server, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { serve } from '@hono/node-server';
import type { Hono } from 'hono';
import { ConfigError } from './flags.ts';

/** How often Node checks connections against the headers timeout. */
const connectionsCheckingIntervalMs = 1000;

export interface ListenerTimeouts {
  /** A connection with no byte moving either way for this long is closed. */
  readonly idleTimeoutMs: number;
  /** The request line and headers must arrive within this. */
  readonly headersTimeoutMs: number;
}

/** PEM paths of this listener's certificate (chain) and private key. */
export interface TlsIdentity {
  readonly certPath: string;
  readonly keyPath: string;
}

/** The listener identity from --tls-cert/--tls-key (node and gateway alike): both or neither. */
export function tlsIdentity(certPath: string | null, keyPath: string | null): TlsIdentity | null {
  if (certPath === null && keyPath === null) return null;
  if (certPath === null || keyPath === null) throw new ConfigError('--tls-cert and --tls-key go together');
  return { certPath, keyPath };
}

export interface ListenOptions extends ListenerTimeouts {
  readonly app: Hono;
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  /** HTTPS with this identity; plain HTTP when null. */
  readonly tls: TlsIdentity | null;
  /** Sees every request first; one it takes (true) never reaches the app. */
  readonly before?: (req: IncomingMessage, res: ServerResponse) => boolean;
}

export function listen(options: ListenOptions): Promise<Server> {
  const serverOptions = {
    // No whole-request limit (Node's default is 300 s): the idle timeout below replaces it.
    requestTimeout: 0,
    headersTimeout: options.headersTimeoutMs,
    connectionsCheckingInterval: connectionsCheckingIntervalMs,
    ...(options.tls === null ? {} : { cert: readFileSync(options.tls.certPath), key: readFileSync(options.tls.keyPath) }),
  };
  const before = options.before;
  // node-server builds the server through this, handing it the app's request listener.
  const createServer = (opts: typeof serverOptions, app: RequestListener): Server => {
    const listener: RequestListener = before === undefined ? app : (req, res) => {
      if (!before(req, res)) app(req, res);
    };
    return options.tls === null ? createHttpServer(opts, listener) : (createHttpsServer(opts, listener) as unknown as Server);
  };
  return new Promise<Server>((resolve, reject) => {
    const server = serve({
      fetch: options.app.fetch,
      port: options.port,
      hostname: options.host,
      createServer: createServer as unknown as typeof createHttpServer,
      serverOptions,
    }, () => {
      server.off('error', reject);
      resolve(server);
    }) as Server;
    server.once('error', reject);
    server.setTimeout(options.idleTimeoutMs, (socket) => socket.destroy());
  });
}
