// The schema of every message a peer may send on the cluster port. Nothing reaches the Raft core
// before it passed: all fields with their types, terms and indexes as non-negative safe integers,
// and the relations between fields that the core relies on (and asserts) without checking, such
// as AppendEntries entries following prevLogIndex one by one. A peer that sends anything else is
// refused (400) instead of breaking an invariant of every node it reaches.
import { z } from 'zod';
import { membershipDataProblem } from '../raft/membership.ts';
import { keyEntryProblem } from '../metadata/key-entries.ts';
import type { InstallSnapshotMessage, Message } from '../raft/types.ts';

/** Longest node id accepted from a peer, in UTF-16 code units. */
export const NODE_ID_CHARS_MAX = 256;
/** Longest ReadIndex request id, in UTF-16 code units (ours are `<node>:<counter>`). */
export const READ_REQUEST_ID_CHARS_MAX = 512;
/** Most read request ids one ReadIndex message or answer may carry. */
export const READ_REQUEST_IDS_MAX = 100_000;
/** Most voters a snapshot's membership may list. */
export const VOTERS_MAX = 64;

const nodeId = z.string().min(1).max(NODE_ID_CHARS_MAX);
// z.int() accepts safe integers only: 1e308, 2**53 and 1.5 are all refused.
const counter = z.int().nonnegative();

const entrySchema = z
  .object({
    index: counter.min(1),
    term: counter.min(1),
    type: z.enum(['normal', 'noop', 'config']),
    data: z.string(),
  })
  .check((ctx) => {
    // The core decodes a config entry as it appends it (its membership follows the log) and
    // asserts it is well formed: a bad one must be refused here, not stop the node there.
    if (ctx.value.type === 'normal') {
      // Access key commands are checked here as well: they are few and small, and a malformed
      // one must not reach a node's log, where applying it is an assertion failure.
      const problem = keyEntryProblem(ctx.value.data);
      if (problem !== null) ctx.issues.push({ code: 'custom', message: `key entry: ${problem}`, input: ctx.value, path: ['data'] });
      return;
    }
    if (ctx.value.type !== 'config') return;
    const problem = membershipDataProblem(ctx.value.data);
    if (problem !== null) ctx.issues.push({ code: 'custom', message: `config entry: ${problem}`, input: ctx.value, path: ['data'] });
  });

/** Longest member address (opaque to the core: a node's cluster URL), in UTF-16 code units. */
export const MEMBER_ADDRESS_CHARS_MAX = 2048;

// As in membership.ts: learners and addresses are optional (none in memberships from before
// learners existed); every field is kept, for a learner restoring a snapshot must find itself.
const membershipSchema = z
  .object({
    // Only a leader sends a snapshot, and a leader's membership has voters.
    voters: z.array(nodeId).min(1).max(VOTERS_MAX),
    learners: z.array(nodeId).max(VOTERS_MAX).optional(),
    addresses: z.record(nodeId, z.string().min(1).max(MEMBER_ADDRESS_CHARS_MAX)).optional(),
  })
  .check((ctx) => {
    const { voters, learners = [], addresses = {} } = ctx.value;
    const all = [...voters, ...learners];
    if (new Set(all).size !== all.length) ctx.issues.push({ code: 'custom', message: 'a member is listed twice', input: ctx.value, path: ['voters'] });
    for (const id of Object.keys(addresses)) {
      if (!all.includes(id)) ctx.issues.push({ code: 'custom', message: `an address for ${JSON.stringify(id)}, not a member`, input: ctx.value, path: ['addresses', id] });
    }
  });

export const snapshotMetaSchema = z.object({
  index: counter.min(1),
  term: counter.min(1),
  membership: membershipSchema,
});

const base = { from: nodeId, to: nodeId, term: counter };
const readRequestIds = z.array(z.string().min(1).max(READ_REQUEST_ID_CHARS_MAX)).max(READ_REQUEST_IDS_MAX);

const appendEntriesSchema = z
  .object({
    ...base,
    type: z.literal('AppendEntries'),
    prevLogIndex: counter,
    prevLogTerm: counter,
    entries: z.array(entrySchema),
    commit: counter,
  })
  .check((ctx) => {
    const m = ctx.value;
    const issue = (message: string, path: (string | number)[]) => ctx.issues.push({ code: 'custom', message, input: m, path });
    if (m.prevLogTerm > m.term) issue(`prevLogTerm ${m.prevLogTerm} is past the message term ${m.term}`, ['prevLogTerm']);
    if (m.prevLogIndex === 0 && m.prevLogTerm !== 0) issue('prevLogTerm must be 0 when prevLogIndex is 0', ['prevLogTerm']);
    // The core merges entries as a run that follows prevLogIndex, with terms that never go down
    // and never pass the leader's term: the log's own append asserts exactly that.
    let lastTerm = m.prevLogTerm;
    for (const [i, entry] of m.entries.entries()) {
      if (entry.index !== m.prevLogIndex + 1 + i) {
        issue(`entries[${i}] has index ${entry.index}, expected ${m.prevLogIndex + 1 + i} (entries follow prevLogIndex one by one)`, ['entries', i, 'index']);
        return;
      }
      if (entry.term < lastTerm || entry.term > m.term) {
        issue(`entries[${i}] has term ${entry.term}, expected ${lastTerm} to ${m.term}`, ['entries', i, 'term']);
        return;
      }
      lastTerm = entry.term;
    }
  });

const installSnapshotSchema = z
  .object({ ...base, type: z.literal('InstallSnapshot'), snapshot: snapshotMetaSchema })
  .refine((m) => m.snapshot.term <= m.term, { message: 'the snapshot term is past the message term', path: ['snapshot', 'term'] });

const messageVariants = z.discriminatedUnion('type', [
  z.object({ ...base, type: z.literal('PreVote'), lastLogIndex: counter, lastLogTerm: counter }),
  z.object({ ...base, type: z.literal('PreVoteResponse'), granted: z.boolean() }),
  z.object({ ...base, type: z.literal('RequestVote'), lastLogIndex: counter, lastLogTerm: counter, transfer: z.boolean() }),
  z.object({ ...base, type: z.literal('RequestVoteResponse'), granted: z.boolean() }),
  appendEntriesSchema,
  z.object({
    ...base,
    type: z.literal('AppendEntriesResponse'),
    success: z.boolean(),
    matchIndex: counter,
    rejectedIndex: counter,
    conflictIndex: counter,
    conflictTerm: counter,
  }),
  z.object({ ...base, type: z.literal('Heartbeat'), commit: counter, seq: counter }),
  z.object({ ...base, type: z.literal('HeartbeatResponse'), seq: counter, lastLogIndex: counter }),
  installSnapshotSchema,
  z.object({ ...base, type: z.literal('InstallSnapshotResponse'), matchIndex: counter, success: z.boolean() }),
  z.object({ ...base, type: z.literal('TimeoutNow') }),
  z.object({ ...base, type: z.literal('ReadIndex'), requestIds: readRequestIds }),
  // -1: the leader refused the read.
  z.object({ ...base, type: z.literal('ReadIndexResponse'), requestIds: readRequestIds, readIndex: z.int().min(-1) }),
]);

export const messageSchema = messageVariants.refine((m) => m.from !== m.to, { message: 'a message to its own sender', path: ['to'] });

/** The body of `POST /raft/messages`. InstallSnapshot goes to /raft/snapshot with its bytes. */
export const messageBatchSchema = z.object({
  messages: z.array(
    messageSchema.refine((m) => m.type !== 'InstallSnapshot', 'InstallSnapshot goes to /raft/snapshot with its bytes'),
  ),
});

/** The header message of `POST /raft/snapshot`. */
export const snapshotMessageSchema = installSnapshotSchema.refine((m) => m.from !== m.to, { message: 'a message to its own sender', path: ['to'] });

// The schemas must describe the core's types exactly: these fail to compile when they drift.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Parsed = z.infer<typeof messageSchema>;
const parsedIsMessage: Same<Parsed['type'], Message['type']> = true;
const toMessage = (m: Parsed): Message => m;
const toSnapshotMessage = (m: z.infer<typeof snapshotMessageSchema>): InstallSnapshotMessage => m;
void parsedIsMessage;
void toMessage;
void toSnapshotMessage;

/** One line naming the first problems and where they are (`messages.0.term: …`). */
export function describeIssues(error: z.ZodError, limit = 3): string {
  const parts = error.issues.slice(0, limit).map((issue) => {
    const where = issue.path.map(String).join('.');
    return where === '' ? issue.message : `${where}: ${issue.message}`;
  });
  if (error.issues.length > limit) parts.push(`and ${error.issues.length - limit} more`);
  return parts.join('; ');
}

/**
 * Whether a well-formed message may come to this node: addressed to it, from another member.
 * Returns the reason when not.
 */
export function addressProblem(message: Pick<Message, 'from' | 'to'>, selfId: string, isMember: (id: string) => boolean): string | null {
  if (message.to !== selfId) return `addressed to ${JSON.stringify(message.to)}, this node is ${JSON.stringify(selfId)}`;
  if (!isMember(message.from)) return `from ${JSON.stringify(message.from)}, not a member of the cluster`;
  return null;
}

/**
 * Every voter a snapshot names must be a node this one knows or can reach (its address is in the
 * snapshot's membership): the core adopts that membership wholesale.
 */
export function membershipProblem(message: InstallSnapshotMessage, isMember: (id: string) => boolean): string | null {
  const addresses = message.snapshot.membership.addresses ?? {};
  const stranger = message.snapshot.membership.voters.find((id) => !isMember(id) && addresses[id] === undefined);
  return stranger === undefined ? null : `the snapshot's membership names ${JSON.stringify(stranger)}, not a member of the cluster`;
}
