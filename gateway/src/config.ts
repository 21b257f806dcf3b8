// The gateway's settings: every one a flag and an environment variable, validated at start.
import { bytesFlag, ConfigError, helpText, integerFlag, optionalStringFlag, parseFlags, stringFlag } from '../../shared/flags.ts';
import type { TlsIdentity } from '../../shared/http-listener.ts';
import { tlsIdentity } from '../../shared/http-listener.ts';

export const gatewayFlagSpecs = {
  id: stringFlag('id', 'DFS_GATEWAY_ID', 'this gateway id (in X-DFS-Gateway and /status)', '<gw-PORT>'),
  host: stringFlag('host', 'DFS_GATEWAY_HOST', 'address the gateway binds to', '127.0.0.1'),
  port: integerFlag('port', 'DFS_GATEWAY_PORT', 'client port', 8080, 0, 65535),
  nodes: stringFlag('nodes', 'DFS_GATEWAY_NODES', 'seed nodes: client URLs, comma-separated (the rest is learned from /status)', 'http://127.0.0.1:8081,http://127.0.0.1:8082,http://127.0.0.1:8083'),
  pollIntervalMs: integerFlag('poll-interval', 'DFS_GATEWAY_POLL_INTERVAL_MS', 'ms between GET /status polls of each node', 250, 10, 60_000),
  failoverPollIntervalMs: integerFlag('failover-poll-interval', 'DFS_GATEWAY_FAILOVER_POLL_INTERVAL_MS', 'ms between polls while no leader is known', 20, 5, 60_000),
  statusTimeoutMs: integerFlag('status-timeout', 'DFS_GATEWAY_STATUS_TIMEOUT_MS', 'a node is unhealthy when /status takes longer (ms)', 1000, 10, 60_000),
  lagEntriesMax: integerFlag('max-lag', 'DFS_GATEWAY_MAX_LAG', 'a node is unhealthy when its applied index is this far behind the leader\'s', 1000, 0, 1_000_000_000),
  retryBufferBytes: bytesFlag('retry-buffer-bytes', 'DFS_GATEWAY_RETRY_BUFFER_BYTES', 'write bodies up to this size are held to be replayed on a new leader', 8 * 1024 ** 2, 0, 1024 ** 3),
  failoverTimeoutMs: integerFlag('failover-timeout', 'DFS_GATEWAY_FAILOVER_TIMEOUT_MS', 'how long a request waits for a leader or a healthy replica before 503 (ms)', 15_000, 100, 600_000),
  writeTimeoutMs: integerFlag('write-timeout', 'DFS_GATEWAY_WRITE_TIMEOUT_MS', 'how long a node may take to answer a write once its body is sent (ms)', 30_000, 100, 3_600_000),
  readTimeoutMs: integerFlag('read-timeout', 'DFS_GATEWAY_READ_TIMEOUT_MS', 'how long a node may take to start answering a read (ms)', 12_000, 100, 3_600_000),
  bodyTimeoutMs: integerFlag('body-timeout', 'DFS_GATEWAY_BODY_TIMEOUT_MS', 'longest pause inside a response body from a node (ms)', 60_000, 100, 3_600_000),
  connectionsPerNode: integerFlag('connections-per-node', 'DFS_GATEWAY_CONNECTIONS_PER_NODE', 'keep-alive connections to each node', 256, 1, 65_536),
  idleTimeoutMs: integerFlag('idle-timeout', 'DFS_GATEWAY_IDLE_TIMEOUT_MS', 'a client connection with no byte moving for this long is closed; no limit on a whole transfer (ms)', 60_000, 100, 3_600_000),
  headersTimeoutMs: integerFlag('headers-timeout', 'DFS_GATEWAY_HEADERS_TIMEOUT_MS', 'a client request\'s headers must arrive within this, else 408 (ms)', 60_000, 100, 3_600_000),
  tlsCert: optionalStringFlag('tls-cert', 'DFS_TLS_CERT', 'PEM certificate (chain) file: the gateway speaks HTTPS (with --tls-key)'),
  tlsKey: optionalStringFlag('tls-key', 'DFS_TLS_KEY', 'PEM private key file of --tls-cert'),
  tlsCa: optionalStringFlag('tls-ca', 'DFS_TLS_CA', 'PEM CA file the nodes\' certificates are verified against (default: the system CAs)'),
};

export interface GatewayConfig {
  readonly id: string;
  readonly host: string;
  readonly port: number;
  /** Seed origins, normalized (`http://host:port`). */
  readonly nodes: readonly string[];
  readonly pollIntervalMs: number;
  readonly failoverPollIntervalMs: number;
  readonly statusTimeoutMs: number;
  readonly lagEntriesMax: number;
  readonly retryBufferBytes: number;
  readonly failoverTimeoutMs: number;
  readonly writeTimeoutMs: number;
  readonly readTimeoutMs: number;
  readonly bodyTimeoutMs: number;
  readonly connectionsPerNode: number;
  readonly idleTimeoutMs: number;
  readonly headersTimeoutMs: number;
  /** HTTPS for clients when set. */
  readonly tls: TlsIdentity | null;
  /** PEM CA file that the nodes' certificates must chain to; null: the system CAs. */
  readonly tlsCa: string | null;
}

export const gatewayHelp = (): string =>
  helpText('Raft DFS gateway\n\n  npm run gateway -- --port 8080 --nodes http://127.0.0.1:8081,http://127.0.0.1:8082', gatewayFlagSpecs);

/** `http://host:port` of a URL the user gave, or a ConfigError naming the flag. */
export function parseOrigin(text: string, flag: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConfigError(`--${flag}: "${text}" is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError(`--${flag}: "${text}" is not an http(s) URL`);
  return url.origin;
}

export function parseGatewayConfig(argv: readonly string[], env: NodeJS.ProcessEnv): GatewayConfig {
  const flags = parseFlags(gatewayFlagSpecs, argv, env);
  const nodes = [...new Set(flags.nodes.split(',').map((s) => s.trim()).filter((s) => s !== '').map((s) => parseOrigin(s, 'nodes')))];
  if (nodes.length === 0) throw new ConfigError('--nodes lists no node');
  const id = flags.id === '<gw-PORT>' ? `gw-${flags.port}` : flags.id;
  // The idle timer also runs while a request waits for a leader or a node's answer.
  const waitMaxMs = Math.max(flags.failoverTimeoutMs, flags.writeTimeoutMs, flags.readTimeoutMs);
  if (flags.idleTimeoutMs <= waitMaxMs) {
    throw new ConfigError(`--idle-timeout (${flags.idleTimeoutMs}) must exceed --failover-timeout, --write-timeout and --read-timeout (${waitMaxMs}): a request waiting for them moves no bytes`);
  }
  const { tlsCert, tlsKey, ...rest } = flags;
  const tls = tlsIdentity(tlsCert, tlsKey);
  return { ...rest, id, nodes, tls };
}
