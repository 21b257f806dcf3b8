// The gateway's settings: every one a flag and an environment variable, validated at start.
import { bytesFlag, ConfigError, helpText, integerFlag, optionalStringFlag, parseFlags, stringFlag } from '../../shared/flags.ts';
import type { TlsIdentity } from '../../shared/http-listener.ts';
import { tlsIdentity } from '../../shared/http-listener.ts';
import { authFlag, parseAuthMode, parseRootKey } from '../../shared/auth-mode.ts';
import type { AuthMode } from '../../shared/auth-mode.ts';

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
  s3Port: integerFlag('s3-port', 'DFS_S3_PORT', 'port of the S3 API (0: off; also off without a root key)', 9000, 0, 65535),
  s3Region: stringFlag('s3-region', 'DFS_S3_REGION', 'the region S3 clients sign for', 'us-east-1'),
  s3Domain: optionalStringFlag('s3-domain', 'DFS_S3_DOMAIN', 'virtual-host style S3: a Host of <bucket>.<this domain> addresses the bucket (path-style works too)'),
  s3AccessKeyId: optionalStringFlag('s3-access-key-id', 'DFS_S3_ACCESS_KEY_ID', 'the S3 root access key id (prefer the env variable)'),
  s3SecretAccessKey: optionalStringFlag('s3-secret-access-key', 'DFS_S3_SECRET_ACCESS_KEY', 'the S3 root secret access key (prefer the env variable: a flag shows in ps)'),
  adminToken: stringFlag('admin-token', 'DFS_ADMIN_TOKEN', 'the nodes\' admin token: the gateway reads the access keys with it, and vouches with it for requests it verified (--auth required); empty: none', ''),
  auth: authFlag,
};

/** The S3 API's settings; null when it is off. */
export interface S3Config {
  readonly port: number;
  readonly region: string;
  /** Virtual-host style addressing: `<bucket>.<domain>` names the bucket; null: path-style only. */
  readonly domain: string | null;
  readonly rootKey: { readonly accessKeyId: string; readonly secretAccessKey: string };
}

const accessKeyIdPattern = /^[A-Za-z0-9._-]{3,128}$/;
const secretAccessKeyPattern = /^[\x21-\x7e]{8,128}$/;

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
  /** The S3 API (gateway/src/s3), or null when it is off. */
  readonly s3: S3Config | null;
  /** The nodes' admin token ('' for none): reads the access keys, and vouches for verified requests. */
  readonly adminToken: string;
  /** `required`: the native API answers only SigV4-signed requests (native-auth.ts). */
  readonly auth: AuthMode;
  /** The region requests are signed for (S3 and, with --auth required, native). */
  readonly region: string;
  /** The root access key (null when none is set). */
  readonly rootKey: { readonly accessKeyId: string; readonly secretAccessKey: string } | null;
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
  const { tlsCert, tlsKey, s3Port, s3Region, s3Domain, s3AccessKeyId, s3SecretAccessKey, auth, ...rest } = flags;
  const tls = tlsIdentity(tlsCert, tlsKey);
  const authMode = parseAuthMode(auth);
  // It passes on what it verified with the admin token: the nodes would not verify it again
  // (the Host it was signed for is the gateway's).
  if (authMode === 'required' && flags.adminToken === '') throw new ConfigError('--auth required needs --admin-token (env DFS_ADMIN_TOKEN): the gateway vouches for the requests it verified with it');
  const s3 = parseS3Config(s3Port, s3Region, s3AccessKeyId, s3SecretAccessKey, parseS3Domain(s3Domain));
  const rootKey = parseRootKey(s3AccessKeyId, s3SecretAccessKey, ['--s3-access-key-id', '--s3-secret-access-key']);
  return { ...rest, id, nodes, tls, s3, auth: authMode, region: s3Region, rootKey };
}

/** The S3 settings: on when its port is not 0 and a root key is given. Messages never show the secret. */
/** `--s3-domain`: a DNS name (lowercase labels of letters, digits and hyphens), without a port. */
function parseS3Domain(domain: string | null): string | null {
  if (domain === null) return null;
  const label = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?';
  if (!new RegExp(`^${label}(?:\\.${label})*$`).test(domain) || domain.length > 253) {
    throw new ConfigError(`--s3-domain must be a lowercase DNS name without a port (like s3.example.com), got "${domain}"`);
  }
  return domain;
}

function parseS3Config(port: number, region: string, accessKeyId: string | null, secretAccessKey: string | null, domain: string | null): S3Config | null {
  if ((accessKeyId === null) !== (secretAccessKey === null)) throw new ConfigError('--s3-access-key-id and --s3-secret-access-key go together');
  if (!/^[a-z0-9-]{1,64}$/.test(region)) throw new ConfigError(`--s3-region must be lowercase letters, digits and hyphens, got "${region}"`);
  if (port === 0 || accessKeyId === null || secretAccessKey === null) return null;
  if (!accessKeyIdPattern.test(accessKeyId)) throw new ConfigError('--s3-access-key-id must be 3 to 128 of A-Z a-z 0-9 . _ -');
  if (!secretAccessKeyPattern.test(secretAccessKey)) throw new ConfigError('--s3-secret-access-key must be 8 to 128 printable ASCII characters without spaces');
  return { port, region, domain, rootKey: { accessKeyId, secretAccessKey } };
}
