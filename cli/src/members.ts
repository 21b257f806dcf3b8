// The member list as /admin/members gives it, checked before use, and the URLs of a member to add.
import { CliFailure, UsageError } from './errors.ts';

export interface MemberJson {
  readonly id: string;
  readonly client_url: string;
  readonly cluster_url: string;
  readonly voter: boolean;
  /** Placement (absent from nodes before zones and draining existed). */
  readonly zone?: string | null;
  readonly draining?: boolean;
  readonly full?: boolean;
  readonly down?: boolean;
  /** A draining member's stored chunks, asked of it when listed (null: it did not answer). */
  readonly chunks?: number | null;
}

/** What placement makes of a member, in words: `draining (12 chunks left)`, `full`, `down`, or ''. */
export function placementState(m: Pick<MemberJson, 'draining' | 'full' | 'down' | 'chunks'>): string {
  const states: string[] = [];
  if (m.draining === true) states.push(m.chunks === undefined ? 'draining' : m.chunks === 0 ? 'drained (0 chunks left)' : `draining (${m.chunks ?? '?'} chunks left)`);
  if (m.full === true) states.push('full');
  if (m.down === true) states.push('down');
  return states.join(', ');
}

export interface MembersDocument {
  readonly leader_id: string | null;
  readonly membership_index: number;
  readonly change_pending: boolean;
  readonly members: readonly MemberJson[];
}

/** `members` of an answer, each checked: a reply of another shape is a failure, not a crash. */
export function memberList(value: unknown, context: string): MemberJson[] {
  const list = (value as { members?: unknown } | null)?.members;
  const valid = Array.isArray(list) && list.every((m: Partial<MemberJson>) =>
    typeof m?.id === 'string' && typeof m.client_url === 'string' && typeof m.cluster_url === 'string' && typeof m.voter === 'boolean');
  if (!valid) throw new CliFailure(`${context}: the answer has no valid "members" list`);
  return list as MemberJson[];
}

export function membersDocument(value: unknown, context: string): MembersDocument {
  const members = memberList(value, context);
  const doc = value as Partial<MembersDocument>;
  if (typeof doc.membership_index !== 'number' || typeof doc.change_pending !== 'boolean' || (doc.leader_id !== null && typeof doc.leader_id !== 'string')) {
    throw new CliFailure(`${context}: the answer lacks leader_id, membership_index or change_pending`);
  }
  return { leader_id: doc.leader_id ?? null, membership_index: doc.membership_index, change_pending: doc.change_pending, members };
}

export interface NewMemberUrls {
  readonly clientUrl: string;
  readonly clusterUrl: string;
  /** The host both listen at, as the node's --host takes it (IPv6 without brackets). */
  readonly host: string;
  readonly clientPort: number;
  readonly clusterPort: number;
  readonly https: boolean;
}

/**
 * The new member's URLs as origins, the way the node itself will advertise them: one scheme and
 * one host for both ports (a node derives both URLs from its --host and ports), else its join
 * would not match the address added and it would be refused.
 */
export function newMemberUrls(clientText: string, clusterText: string): NewMemberUrls {
  const client = origin(clientText, 'client-url');
  const cluster = origin(clusterText, 'cluster-url');
  if (client.protocol !== cluster.protocol || client.hostname !== cluster.hostname) {
    throw new UsageError(`the client URL ${client.origin} and the cluster URL ${cluster.origin} must share scheme and host: a node serves both ports at one address`);
  }
  if (client.port === cluster.port) throw new UsageError(`the client URL and the cluster URL must have different ports (both ${portOf(client)})`);
  return {
    clientUrl: client.origin,
    clusterUrl: cluster.origin,
    host: client.hostname.replace(/^\[(.*)\]$/, '$1'),
    clientPort: portOf(client),
    clusterPort: portOf(cluster),
    https: client.protocol === 'https:',
  };
}

function origin(text: string, what: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`bad ${what} ${JSON.stringify(text)}: not a URL (like http://10.0.0.4:8084)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`bad ${what} ${JSON.stringify(text)}: must be http:// or https://`);
  if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '' || url.pathname !== '/') {
    throw new UsageError(`bad ${what} ${JSON.stringify(text)}: only scheme, host and port (like http://10.0.0.4:8084)`);
  }
  return url;
}

function portOf(url: URL): number {
  return url.port !== '' ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
}

/** Quotes a shell word only when it needs it. */
function shellWord(word: string): string {
  return /^[A-Za-z0-9._:/@=,+-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * The command line that starts the added node so that it joins through `joinUrl`. The cluster
 * secret is not the CLI's to know: the line takes it from the shell's DFS_CLUSTER_SECRET.
 */
export function startCommand(id: string, urls: NewMemberUrls, joinUrl: string, learner: boolean): string {
  const args = ['--id', id, '--host', urls.host, '--client-port', String(urls.clientPort), '--cluster-port', String(urls.clusterPort), '--join', joinUrl];
  if (learner) args.push('--learner');
  const tls = urls.https ? ' --tls-cert <cert.pem> --tls-key <key.pem> --tls-ca <ca.pem>' : '';
  return `npm run node -- ${args.map(shellWord).join(' ')} --cluster-secret "$DFS_CLUSTER_SECRET"${tls}`;
}
