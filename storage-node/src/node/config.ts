// The storage node's settings: every one a flag and an environment variable, validated at start.
import { booleanFlag, bytesFlag, ConfigError, helpText, integerFlag, optionalStringFlag, parseFlags, stringFlag } from '../../../shared/flags.ts';
import type { TlsIdentity } from '../../../shared/http-listener.ts';
import { tlsIdentity } from '../../../shared/http-listener.ts';
import { gcGraceMsDefault, gcIntervalMsDefault } from '../chunks/chunk-collector.ts';
import { repairConcurrencyDefault } from '../chunks/chunk-repairer.ts';
import { downloadMemoryBytesMaxDefault, uploadMemoryBytesMaxDefault } from '../files/upload-memory.ts';
import { multipartExpiryMsDefault } from '../files/upload-expiry.ts';
import { inlineContentBytesMax } from '../metadata/commands.ts';
import { isZoneName } from '../metadata/cluster-settings.ts';
import { diskHighWaterPercentDefault } from '../placement/disk-watch.ts';
import { authFlag, parseAuthMode, parseRootKey } from '../../../shared/auth-mode.ts';
import type { AccessKey, AuthMode } from '../../../shared/auth-mode.ts';

export const inlineMaxDefault = 64 * 1024;

export const nodeFlagSpecs = {
  id: stringFlag('id', 'DFS_NODE_ID', 'this node id (unique in the cluster; in --peers when founding one)'),
  host: stringFlag('host', 'DFS_HOST', 'address both listeners bind to', '127.0.0.1'),
  clientPort: integerFlag('client-port', 'DFS_CLIENT_PORT', 'client API port', 8081, 0, 65535),
  clusterPort: integerFlag('cluster-port', 'DFS_CLUSTER_PORT', 'cluster port (Raft, blobs)', 3030, 0, 65535),
  dataDir: stringFlag('data-dir', 'DFS_DATA_DIR', 'data directory', '<./data/ID>'),
  peers: optionalStringFlag('peers', 'DFS_PEERS', 'a new cluster\'s founding members, comma-separated id=clientURL=clusterURL (later changes go through the membership routes)'),
  join: optionalStringFlag('join', 'DFS_JOIN', 'client URL of any member of a running cluster to join as a new node (first start; a restart finds the cluster in --data-dir)'),
  learner: booleanFlag('learner', 'DFS_LEARNER', 'a joining node stays a learner (receives everything, no vote) instead of asking to be promoted once caught up'),
  advertiseHost: optionalStringFlag('advertise-host', 'DFS_ADVERTISE_HOST', 'the host other members and clients reach this node at, when joining (default --host)'),
  clusterSecret: stringFlag('cluster-secret', 'DFS_CLUSTER_SECRET', 'shared secret of the cluster port'),
  adminToken: stringFlag('admin-token', 'DFS_ADMIN_TOKEN', 'bearer token for /admin/* on the client port, besides the cluster secret (empty: none)', ''),
  chunkSize: bytesFlag('chunk-size', 'DFS_CHUNK_SIZE', 'chunk size of new files', 4 * 1024 ** 2, 1024, 16 * 1024 ** 2),
  keepVersions: integerFlag('keep-versions', 'DFS_KEEP_VERSIONS', 'versions kept per file', 10, 1, 10_000),
  tickMs: integerFlag('tick-ms', 'DFS_TICK_MS', 'Raft tick length in ms', 50, 1, 10_000),
  electionTicks: integerFlag('election-ticks', 'DFS_ELECTION_TICKS', 'election timeout in ticks', 10, 2, 1000),
  snapshotEntries: integerFlag('snapshot-entries', 'DFS_SNAPSHOT_ENTRIES', 'applied entries between log compactions', 10_000, 1, 10_000_000),
  maxFileSize: bytesFlag('max-file-size', 'DFS_MAX_FILE_SIZE', 'largest file accepted', 64 * 1024 ** 3, 0, Number.MAX_SAFE_INTEGER),
  requestTimeoutMs: integerFlag('request-timeout-ms', 'DFS_REQUEST_TIMEOUT_MS', 'deadline of a Raft proposal or read, and of a peer request', 10_000, 100, 3_600_000),
  gcGraceMs: integerFlag('gc-grace-ms', 'DFS_GC_GRACE_MS', 'age before an unreferenced chunk is deleted; also the longest an upload may take', gcGraceMsDefault, 100, 30 * 24 * 3_600_000),
  gcIntervalMs: integerFlag('gc-interval-ms', 'DFS_GC_INTERVAL_MS', 'time between garbage collection passes', gcIntervalMsDefault, 50, 24 * 3_600_000),
  repairRate: bytesFlag('repair-rate', 'DFS_REPAIR_RATE', 'bytes per second background repair and rebalancing fetch at most (0: no cap)', 0, 0, Number.MAX_SAFE_INTEGER),
  repairConcurrency: integerFlag('repair-concurrency', 'DFS_REPAIR_CONCURRENCY', 'chunks fetched from peers at once by background repair', repairConcurrencyDefault, 1, 64),
  uploadWindowChunks: integerFlag('upload-window-chunks', 'DFS_UPLOAD_WINDOW_CHUNKS', 'chunks of one upload being pushed to replicas at once', 4, 1, 64),
  idleTimeoutMs: integerFlag('idle-timeout-ms', 'DFS_IDLE_TIMEOUT_MS', 'a connection (client or cluster port) with no byte moving for this long is closed; no limit on a whole transfer', 60_000, 100, 3_600_000),
  headersTimeoutMs: integerFlag('headers-timeout-ms', 'DFS_HEADERS_TIMEOUT_MS', 'a request\'s headers must arrive within this (else 408)', 60_000, 100, 3_600_000),
  tlsCert: optionalStringFlag('tls-cert', 'DFS_TLS_CERT', 'PEM certificate (chain) file: both ports speak HTTPS (with --tls-key)'),
  tlsKey: optionalStringFlag('tls-key', 'DFS_TLS_KEY', 'PEM private key file of --tls-cert'),
  tlsCa: optionalStringFlag('tls-ca', 'DFS_TLS_CA', 'PEM CA file peers\' certificates are verified against (default: the system CAs)'),
  inlineMax: bytesFlag('inline-max', 'DFS_INLINE_MAX', 'bodies up to this size travel in their Raft entry and live in meta.db, not in chunks (0: never)', inlineMaxDefault, 0, inlineContentBytesMax),
  uploadMemoryMax: bytesFlag('upload-memory-max', 'DFS_UPLOAD_MEMORY_MAX', 'memory all uploads on this node may hold at once; past it new uploads get 503 busy', uploadMemoryBytesMaxDefault, 1024, Number.MAX_SAFE_INTEGER),
  downloadMemoryMax: bytesFlag('download-memory-max', 'DFS_DOWNLOAD_MEMORY_MAX', 'memory all reads of chunked files on this node may hold at once (a verified chunk each, one more read ahead when it fits); past it a read waits for its next chunk', downloadMemoryBytesMaxDefault, 16 * 1024 ** 2, Number.MAX_SAFE_INTEGER),
  deadAfterMs: integerFlag('dead-after-ms', 'DFS_DEAD_AFTER_MS', 'a member the leader has not heard from for this long is marked down: its chunks are copied to other members until it is back', 10 * 60_000, 1000, 365 * 24 * 3_600_000),
  scrubRate: bytesFlag('scrub-rate', 'DFS_SCRUB_RATE', 'bytes per second the scrubber reads to re-verify stored chunks', 32 * 1024 ** 2, 1024, Number.MAX_SAFE_INTEGER),
  scrubIntervalMs: integerFlag('scrub-interval-ms', 'DFS_SCRUB_INTERVAL_MS', 'pause between two scrub passes over every stored chunk', 24 * 3_600_000, 100, 365 * 24 * 3_600_000),
  zone: optionalStringFlag('zone', 'DFS_ZONE', 'this node\'s failure domain (rack, room, site): a chunk\'s copies go to as many zones as there are before two share one (default: none)'),
  diskHighWater: integerFlag('disk-high-water', 'DFS_DISK_HIGH_WATER', 'percent of this node\'s disk in use past which the leader marks it full: it gets no chunks to hold (its copies move to others) until below this minus 5; 100: never', diskHighWaterPercentDefault, 1, 100),
  auth: authFlag,
  s3Region: stringFlag('s3-region', 'DFS_S3_REGION', 'the region native requests are signed for (with --auth required)', 'us-east-1'),
  multipartExpiryMs: integerFlag('multipart-expiry-ms', 'DFS_MULTIPART_EXPIRY_MS', 'an S3 multipart upload not completed or aborted this long after it started is aborted by the leader (its parts deleted)', multipartExpiryMsDefault, 1000, 365 * 24 * 3_600_000),
};

export interface PeerInfo {
  readonly id: string;
  readonly clientUrl: string;
  readonly clusterUrl: string;
}

export interface NodeConfig {
  readonly id: string;
  readonly host: string;
  readonly clientPort: number;
  readonly clusterPort: number;
  readonly dataDir: string;
  /** The founders from --peers (empty for a node that joins). */
  readonly peers: ReadonlyMap<string, PeerInfo>;
  /** --join: a member's client URL to ask for admission (null: not joining). */
  readonly join: string | null;
  /** A joining node that stays a learner. */
  readonly learner: boolean;
  /** This node's own URLs, as members and clients reach it. */
  readonly self: { readonly clientUrl: string; readonly clusterUrl: string };
  readonly clusterSecret: string;
  /** `Authorization: Bearer` token for admin routes; empty: only the cluster secret opens them. */
  readonly adminToken: string;
  readonly chunkSize: number;
  readonly keepVersions: number;
  readonly tickMs: number;
  readonly electionTicks: number;
  readonly snapshotEntries: number;
  readonly maxFileSize: number;
  readonly requestTimeoutMs: number;
  readonly gcGraceMs: number;
  readonly gcIntervalMs: number;
  readonly repairConcurrency: number;
  /** Bytes per second repair fetches at most; 0: no cap. */
  readonly repairRate: number;
  readonly uploadWindowChunks: number;
  readonly idleTimeoutMs: number;
  readonly headersTimeoutMs: number;
  /** HTTPS on both ports when set; peers' URLs are https:// then. */
  readonly tls: TlsIdentity | null;
  /** PEM CA file that peers' certificates must chain to; null: the system CAs. */
  readonly tlsCa: string | null;
  readonly inlineMax: number;
  readonly uploadMemoryMax: number;
  readonly downloadMemoryMax: number;
  /** A member silent this long is marked down by the leader (placement skips it). */
  readonly deadAfterMs: number;
  /** Bytes per second the scrubber reads at most. */
  readonly scrubRate: number;
  /** Pause between scrub passes, ms. */
  readonly scrubIntervalMs: number;
  /** This node's zone (--zone), announced to the cluster as a replicated setting; null: none. */
  readonly zone: string | null;
  /** Disk use, in percent, past which the leader marks this node full (placement skips it). */
  readonly diskHighWater: number;
  /** Multipart uploads older than this (ms) are aborted by the leader. */
  readonly multipartExpiryMs: number;
  /** `required`: the native API answers only SigV4-signed requests (http/native-auth.ts). */
  readonly auth: AuthMode;
  /** The region native requests are signed for. */
  readonly s3Region: string;
  /** The root access key, from DFS_S3_ACCESS_KEY_ID and DFS_S3_SECRET_ACCESS_KEY only (a flag shows in ps). */
  readonly rootKey: AccessKey | null;
}

export const nodeHelp = (): string =>
  helpText(
    'Raft DFS storage node\n\n' +
      '  new cluster:  npm run node -- --id n1 --peers n1=http://127.0.0.1:8081=http://127.0.0.1:3030,... --cluster-secret S\n' +
      '  join one:     npm run node -- --id n4 --join http://127.0.0.1:8081 --client-port 8084 --cluster-port 3033 --cluster-secret S',
    nodeFlagSpecs,
  );

function parseUrl(text: string, what: string): string {
  try {
    const url = new URL(text);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('not http');
    return url.origin;
  } catch {
    throw new ConfigError(`${what.startsWith('--') ? what : `--peers: ${what}`} "${text}" is not an http(s) URL`);
  }
}

/** How a node with these settings comes into its cluster. */
export function parseNodeSelf(flags: { id: string; host: string; clientPort: number; clusterPort: number; advertiseHost: string | null }, peers: ReadonlyMap<string, PeerInfo>, https: boolean): { clientUrl: string; clusterUrl: string } {
  const founder = peers.get(flags.id);
  if (founder !== undefined) return { clientUrl: founder.clientUrl, clusterUrl: founder.clusterUrl };
  const host = flags.advertiseHost ?? flags.host;
  if (host === '0.0.0.0' || host === '::') throw new ConfigError(`--host ${host} is not an address others can reach: set --advertise-host`);
  const scheme = https ? 'https' : 'http';
  const hostPart = host.includes(':') ? `[${host}]` : host;
  return { clientUrl: parseUrl(`${scheme}://${hostPart}:${flags.clientPort}`, 'client URL'), clusterUrl: parseUrl(`${scheme}://${hostPart}:${flags.clusterPort}`, 'cluster URL') };
}

export function parsePeers(text: string): Map<string, PeerInfo> {
  const peers = new Map<string, PeerInfo>();
  for (const item of text.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    const parts = item.split('=');
    if (parts.length !== 3 || parts[0] === '') throw new ConfigError(`--peers: "${item}" is not id=clientURL=clusterURL`);
    const [id, client, cluster] = parts;
    if (peers.has(id)) throw new ConfigError(`--peers: node "${id}" is listed twice`);
    peers.set(id, { id, clientUrl: parseUrl(client, 'client URL'), clusterUrl: parseUrl(cluster, 'cluster URL') });
  }
  if (peers.size === 0) throw new ConfigError('--peers lists no node');
  return peers;
}

export function parseNodeConfig(argv: readonly string[], env: NodeJS.ProcessEnv): NodeConfig {
  const flags = parseFlags(nodeFlagSpecs, argv, env);
  const peers = flags.peers === null ? new Map<string, PeerInfo>() : parsePeers(flags.peers);
  if (flags.peers !== null && !peers.has(flags.id)) throw new ConfigError(`--peers must include this node ("${flags.id}")`);
  if (flags.peers !== null && flags.join !== null) throw new ConfigError('--peers founds a new cluster, --join enters a running one: give one of them');
  if (flags.join !== null) {
    parseUrl(flags.join, '--join URL');
    // Others must be able to reach a joining node at the ports it advertises.
    if (flags.clientPort === 0 || flags.clusterPort === 0) throw new ConfigError('a joining node needs fixed ports: --client-port and --cluster-port must not be 0');
  }
  const dataDir = flags.dataDir === '<./data/ID>' ? `./data/${flags.id}` : flags.dataDir;
  // An upload must be able to hold at least one chunk buffer, or one small body and a byte.
  // The idle timer also runs while a request waits for its commit with no byte moving.
  if (flags.idleTimeoutMs <= flags.requestTimeoutMs) {
    throw new ConfigError(`--idle-timeout-ms (${flags.idleTimeoutMs}) must exceed --request-timeout-ms (${flags.requestTimeoutMs}): a request waiting for its commit moves no bytes`);
  }
  if (flags.uploadMemoryMax < flags.chunkSize || flags.uploadMemoryMax <= flags.inlineMax) {
    throw new ConfigError(`--upload-memory-max (${flags.uploadMemoryMax}) must be at least --chunk-size (${flags.chunkSize}) and more than --inline-max (${flags.inlineMax})`);
  }
  if (flags.zone !== null && !isZoneName(flags.zone)) throw new ConfigError(`--zone "${flags.zone}" must be 1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit`);
  const { tlsCert, tlsKey, advertiseHost, auth, ...rest } = flags;
  const rootKey = parseRootKey(env.DFS_S3_ACCESS_KEY_ID, env.DFS_S3_SECRET_ACCESS_KEY, ['DFS_S3_ACCESS_KEY_ID', 'DFS_S3_SECRET_ACCESS_KEY']);
  const tls = tlsIdentity(tlsCert, tlsKey);
  const self = parseNodeSelf(flags, peers, tls !== null);
  // Every node of a TLS cluster serves HTTPS, so every peer URL must say so.
  const plain = [...peers.values()].flatMap((p) => [p.clientUrl, p.clusterUrl]).filter((url) => url.startsWith('http:'));
  if (tls !== null && plain.length > 0) throw new ConfigError(`--peers: with --tls-cert every URL is https://, not ${plain[0]}`);
  void advertiseHost; // only for `self`
  return { ...rest, dataDir, peers, tls, self, auth: parseAuthMode(auth), rootKey };
}

