// The rows of `dfs status`, from the endpoint's /status (a gateway's: its `members`; a node's: its
// `nodes`) completed by each member's own /status (files, bytes, term, applied index) and the
// leader's (when it last heard from each member).
import { placementState } from './members.ts';

/** A member's /status as read here; every field may be missing from a member that did not answer. */
export interface MemberStatus {
  readonly id?: string;
  readonly state?: string;
  readonly is_leader?: boolean;
  readonly term?: number;
  readonly applied_index?: number;
  readonly files?: number;
  readonly bytes?: number;
  readonly nodes?: readonly { readonly id?: string; readonly last_contact?: number | null; readonly voter?: boolean }[];
  /** It was removed from the cluster and is stopping. */
  readonly removed?: boolean;
  readonly zone?: string | null;
  readonly draining?: boolean;
  readonly full?: boolean;
  readonly down?: boolean;
  /** While it drains: the chunks it still stores (null: not counted yet). */
  readonly drain?: { readonly chunks_left?: number | null };
  readonly repair_queue?: { readonly lost_copy?: number; readonly rebalance?: number };
}

/** One member as the endpoint lists it. */
export interface ListedMember {
  readonly id: string | null;
  readonly url: string;
  readonly role: string | null;
  readonly isLeader: boolean;
  /** The gateway's judgement (answers, not too far behind); null when the endpoint is a node. */
  readonly healthy: boolean | null;
  readonly error: string | null;
}

export interface StatusRow {
  readonly member: string;
  readonly url: string;
  readonly role: string;
  /** Whether it votes (counts for commits and elections) or is a learner; null when unknown. */
  readonly voter: boolean | null;
  readonly leader: boolean;
  readonly term: number | null;
  readonly applied_index: number | null;
  readonly lag: number | null;
  readonly last_contact_ms: number | null;
  readonly files: number | null;
  readonly bytes: number | null;
  readonly zone: string | null;
  /** What placement makes of it (`draining (N chunks left)`, `full`, `down`), '' when nothing. */
  readonly placement: string;
  /** Its repair queue: chunks that lost a copy, chunks that only move (null: unknown). */
  readonly repair_lost_copy: number | null;
  readonly repair_rebalance: number | null;
  readonly health: string;
}

type Json = Record<string, unknown>;
const text = (value: unknown): string | null => (typeof value === 'string' && value !== '' ? value : null);

/** The members the endpoint's /status lists. */
export function listedMembers(status: Json): ListedMember[] {
  if (Array.isArray(status.members)) {
    const all = status.members as Json[];
    // A gateway keeps polling its seed URLs: one not in the leader's member list is a removed
    // node (or a second URL of a listed one). Until it knows a list, it shows what it polls.
    const listed = all.filter((m) => m.listed === true);
    return (listed.length > 0 ? listed : all).map((m) => ({
      id: text(m.id),
      url: text(m.url) ?? '?',
      role: text(m.role),
      isLeader: m.is_leader === true,
      healthy: m.healthy === true,
      error: text(m.error),
    }));
  }
  const nodes = Array.isArray(status.nodes) ? (status.nodes as Json[]) : [];
  return nodes.map((n) => ({
    id: text(n.id),
    url: text(n.client_url) ?? '?',
    role: text(n.role),
    isLeader: n.id === status.leader_id && status.leader_id !== null,
    healthy: null,
    error: null,
  }));
}

/** One row per member; `statuses` holds each member's own /status by URL (absent: it did not answer). */
export function statusRows(members: readonly ListedMember[], statuses: ReadonlyMap<string, MemberStatus | string>): StatusRow[] {
  const own = (m: ListedMember) => {
    const s = statuses.get(m.url);
    return typeof s === 'object' ? s : null;
  };
  const leaderMember = members.find((m) => m.isLeader) ?? members.find((m) => own(m)?.is_leader === true) ?? null;
  const leaderStatus = leaderMember === null ? null : own(leaderMember);
  const leaderApplied = leaderStatus?.applied_index ?? null;
  const lastContact = new Map((leaderStatus?.nodes ?? []).map((n) => [n.id, n.last_contact ?? null]));
  // What the leader says of it (its log has the newest membership), else what it says of itself.
  const voterOf = (m: ListedMember): boolean | null => {
    const said = (status: MemberStatus | null) => status?.nodes?.find((n) => n.id === m.id)?.voter;
    return said(leaderStatus) ?? said(own(m)) ?? null;
  };
  return members.map((m) => {
    const s = own(m);
    const failure = statuses.get(m.url);
    const applied = s?.applied_index ?? null;
    const isLeader = m === leaderMember;
    const health = s?.removed === true ? 'removed (stopping)'
      : m.healthy === true ? 'healthy'
      : m.healthy === false ? `unhealthy${m.error === null ? '' : ` (${m.error})`}`
      : s !== null ? 'answers' : `unreachable${typeof failure === 'string' ? ` (${failure})` : ''}`;
    return {
      member: m.id ?? s?.id ?? '?',
      url: m.url,
      role: s?.state ?? m.role ?? '?',
      voter: voterOf(m),
      leader: isLeader,
      term: s?.term ?? null,
      applied_index: applied,
      lag: leaderApplied === null || applied === null ? null : Math.max(0, leaderApplied - applied),
      last_contact_ms: isLeader ? null : (m.id === null ? null : (lastContact.get(m.id) ?? null)),
      files: s?.files ?? null,
      bytes: s?.bytes ?? null,
      zone: s?.zone ?? null,
      placement: s === null ? '' : placementState({ draining: s.draining, full: s.full, down: s.down, ...(s.draining === true ? { chunks: s.drain?.chunks_left ?? null } : {}) }),
      repair_lost_copy: s?.repair_queue?.lost_copy ?? null,
      repair_rebalance: s?.repair_queue?.rebalance ?? null,
      health,
    };
  });
}
