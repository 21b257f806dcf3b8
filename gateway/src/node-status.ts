// A storage node's `GET /status` answer (DESIGN.md, "Client API"), read defensively: a node that
// answers something else is treated as one that did not answer.

export interface NodeMemberStatus {
  readonly id: string;
  readonly client_url: string;
  readonly role: string;
  readonly match_index: number | null;
}

export interface NodeStatus {
  readonly id: string;
  readonly state: string;
  readonly is_leader: boolean;
  readonly leader_id: string | null;
  readonly leader_url: string | null;
  readonly term: number;
  readonly commit_index: number;
  readonly applied_index: number;
  readonly nodes: readonly NodeMemberStatus[];
  readonly files: number;
  readonly bytes: number;
}

const isCount = (value: unknown): value is number => typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
const isText = (value: unknown): value is string => typeof value === 'string' && value.length > 0;

function parseMember(value: unknown): NodeMemberStatus | null {
  if (typeof value !== 'object' || value === null) return null;
  const m = value as Record<string, unknown>;
  if (!isText(m.id) || !isText(m.client_url) || typeof m.role !== 'string') return null;
  let url: string;
  try {
    url = new URL(m.client_url).origin;
  } catch {
    return null;
  }
  return { id: m.id, client_url: url, role: m.role, match_index: isCount(m.match_index) ? m.match_index : null };
}

/** The status, or a reason why `value` is not one. */
export function parseNodeStatus(value: unknown): NodeStatus | string {
  if (typeof value !== 'object' || value === null) return 'not a JSON object';
  const s = value as Record<string, unknown>;
  if (!isText(s.id)) return 'no id';
  if (typeof s.is_leader !== 'boolean') return 'no is_leader';
  if (!isCount(s.term) || !isCount(s.commit_index) || !isCount(s.applied_index)) return 'no term, commit_index or applied_index';
  if (!Array.isArray(s.nodes)) return 'no nodes';
  const nodes: NodeMemberStatus[] = [];
  for (const item of s.nodes) {
    const member = parseMember(item);
    if (member === null) return `bad member ${JSON.stringify(item).slice(0, 200)}`;
    nodes.push(member);
  }
  return {
    id: s.id,
    state: typeof s.state === 'string' ? s.state : 'unknown',
    is_leader: s.is_leader,
    leader_id: isText(s.leader_id) ? s.leader_id : null,
    leader_url: isText(s.leader_url) ? s.leader_url : null,
    term: s.term,
    commit_index: s.commit_index,
    applied_index: s.applied_index,
    nodes,
    files: isCount(s.files) ? s.files : 0,
    bytes: isCount(s.bytes) ? s.bytes : 0,
  };
}
