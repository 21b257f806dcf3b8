// The cluster-port message schema: every message the core sends passes as it is, and anything
// that could break a core invariant is refused with a reason that says where.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isDeepStrictEqual } from 'node:util';
import type { Message } from '../../storage-node/src/raft/types.ts';
import {
  addressProblem,
  describeIssues,
  membershipProblem,
  messageBatchSchema,
  messageSchema,
  snapshotMessageSchema,
} from '../../storage-node/src/transport/message-schema.ts';

const base = { from: 'n1', to: 'n2', term: 3 };
const entry = (index: number, term = 3) => ({ index, term, type: 'normal' as const, data: '{"op":"put"}' });
const snapshot = { index: 10, term: 2, membership: { voters: ['n1', 'n2', 'n3'] } };

const valid: Message[] = [
  { ...base, type: 'PreVote', lastLogIndex: 5, lastLogTerm: 2 },
  { ...base, type: 'PreVoteResponse', granted: true },
  { ...base, type: 'RequestVote', lastLogIndex: 5, lastLogTerm: 2, transfer: false },
  { ...base, type: 'RequestVoteResponse', granted: false },
  { ...base, type: 'AppendEntries', prevLogIndex: 4, prevLogTerm: 2, entries: [entry(5, 2), entry(6), entry(7)], commit: 4 },
  { ...base, type: 'AppendEntries', prevLogIndex: 0, prevLogTerm: 0, entries: [], commit: 0 },
  { ...base, type: 'AppendEntriesResponse', success: false, matchIndex: 0, rejectedIndex: 4, conflictIndex: 3, conflictTerm: 2 },
  { ...base, type: 'Heartbeat', commit: 7, seq: 12 },
  { ...base, type: 'HeartbeatResponse', seq: 12, lastLogIndex: 7 },
  { ...base, type: 'InstallSnapshot', snapshot },
  { ...base, type: 'InstallSnapshotResponse', matchIndex: 10, success: true },
  { ...base, type: 'TimeoutNow' },
  { ...base, type: 'ReadIndex', requestIds: ['n1:1', 'n1:2'] },
  { ...base, type: 'ReadIndexResponse', requestIds: ['n1:1'], readIndex: -1 },
  { ...base, type: 'ReadIndexResponse', requestIds: ['n1:1'], readIndex: 7 },
];

function refused(value: unknown): string {
  const result = messageSchema.safeParse(value);
  assert.equal(result.success, false, `accepted: ${JSON.stringify(value)}`);
  return describeIssues(result.error!);
}

describe('cluster message schema', () => {
  it('accepts every message type as the core builds it, unchanged', () => {
    for (const message of valid) {
      const result = messageSchema.safeParse(message);
      assert.ok(result.success, `${message.type}: ${result.success ? '' : describeIssues(result.error)}`);
      assert.deepEqual(result.data, message);
    }
  });

  it('refuses the message that once stopped a whole cluster', () => {
    refused({ type: 'Vote', from: 'n1', to: 'n2', term: 1e308, lastIndex: {}, lastTerm: [] });
    assert.match(refused({ ...base, type: 'RequestVote', term: 1e308, lastLogIndex: 0, lastLogTerm: 0, transfer: false }), /term/);
  });

  it('refuses terms and indexes that are not non-negative safe integers', () => {
    for (const bad of [-1, 1.5, 2 ** 53, Number.MAX_VALUE, '3', null, true]) {
      refused({ ...base, type: 'Heartbeat', term: bad, commit: 0, seq: 0 });
      refused({ ...base, type: 'Heartbeat', commit: bad, seq: 0 });
      refused({ ...base, type: 'HeartbeatResponse', seq: 0, lastLogIndex: bad });
    }
    refused({ ...base, type: 'ReadIndexResponse', requestIds: [], readIndex: -2 });
  });

  it('refuses missing fields, wrong types and unknown message types', () => {
    const append = valid[4];
    for (const field of ['from', 'to', 'term', 'prevLogIndex', 'prevLogTerm', 'entries', 'commit']) {
      const copy: Record<string, unknown> = { ...append };
      delete copy[field];
      assert.match(refused(copy), new RegExp(field), `without ${field}`);
    }
    refused({ ...append, entries: 'nope' });
    refused({ ...append, entries: [{ ...entry(5, 2), type: 'evil' }] });
    refused({ ...append, entries: [{ ...entry(5, 2), data: 7 }] });
    refused({ ...base, type: 'RequestVote', lastLogIndex: 5, lastLogTerm: 2 }); // no transfer flag
    refused({ ...base, type: 'ReadIndex', requestIds: [1] });
    refused({ ...base, from: '', type: 'TimeoutNow' });
    refused({ ...base, type: 'Nope' });
    refused(42);
  });

  it('refuses AppendEntries whose entries do not follow prevLogIndex one by one, in term order', () => {
    const append = (prevLogIndex: number, prevLogTerm: number, entries: unknown[]) => ({ ...base, type: 'AppendEntries', prevLogIndex, prevLogTerm, entries, commit: 0 });
    assert.match(refused(append(4, 2, [entry(6)])), /entries\.0\.index/);
    assert.match(refused(append(4, 2, [entry(5), entry(7)])), /entries\.1\.index/);
    assert.match(refused(append(4, 2, [entry(5), entry(5)])), /entries\.1\.index/);
    assert.match(refused(append(4, 3, [entry(5, 2)])), /entries\.0\.term/); // a term below prevLogTerm
    assert.match(refused(append(4, 2, [entry(5, 3), entry(6, 2)])), /entries\.1\.term/); // terms going down
    assert.match(refused(append(4, 2, [entry(5, 4)])), /entries\.0\.term/); // past the message term
    refused(append(4, 4, [])); // prevLogTerm past the message term
    refused(append(0, 1, [])); // index 0 has term 0
    refused(append(4, 2, [{ ...entry(5), index: 0 }]));
  });

  it('refuses snapshots with a bad meta, and messages to their own sender', () => {
    const install = (fields: Record<string, unknown>) => ({ ...base, type: 'InstallSnapshot', snapshot: { ...snapshot, ...fields } });
    refused(install({ term: 4 })); // past the message term
    refused(install({ index: 0 }));
    refused(install({ membership: { voters: [] } }));
    refused(install({ membership: { voters: ['n1', 'n1'] } }));
    refused(install({ membership: {} }));
    assert.equal(snapshotMessageSchema.safeParse(install({ index: 1.5 })).success, false);
    assert.equal(snapshotMessageSchema.safeParse({ ...base, type: 'Heartbeat', commit: 0, seq: 0 }).success, false);
    refused({ ...base, to: 'n1', type: 'TimeoutNow' });
  });

  it('takes a batch whole or not at all, and never an InstallSnapshot in a batch', () => {
    const plain = valid.filter((m) => m.type !== 'InstallSnapshot');
    assert.equal(messageBatchSchema.safeParse({ messages: plain }).success, true);
    const mixed = messageBatchSchema.safeParse({ messages: [...plain, { ...base, type: 'Heartbeat', term: -1, commit: 0, seq: 0 }] });
    assert.equal(mixed.success, false);
    assert.match(describeIssues(mixed.error!), new RegExp(`messages\\.${plain.length}\\.term`));
    assert.equal(messageBatchSchema.safeParse({ messages: [valid[9]] }).success, false);
    assert.equal(messageBatchSchema.safeParse({ messages: {} }).success, false);
    assert.equal(messageBatchSchema.safeParse([]).success, false);
  });

  it('refuses a config entry whose membership is malformed; keeps learners and addresses of a snapshot', () => {
    const config = (data: string) => ({ ...base, type: 'AppendEntries', prevLogIndex: 0, prevLogTerm: 0, entries: [{ index: 1, term: 3, type: 'config', data }], commit: 0 });
    const good = JSON.stringify({ voters: ['n1', 'n2'], learners: ['n3'], addresses: { n3: 'http://127.0.0.1:3033' } });
    assert.ok(messageSchema.safeParse(config(good)).success);
    for (const bad of ['not json', '{}', '{"voters":[],"learners":[]}', '{"voters":["n1","n1"],"learners":[]}', '{"voters":["n1"],"learners":[],"addresses":{"x":"u"}}']) {
      const result = messageSchema.safeParse(config(bad));
      assert.equal(result.success, false, bad);
      assert.match(describeIssues(result.error!), /config entry/, bad);
    }
    const membership = { voters: ['n1', 'n2'], learners: ['n3'], addresses: { n3: 'http://127.0.0.1:3033' } };
    const install = { ...base, type: 'InstallSnapshot', snapshot: { ...snapshot, membership } };
    const parsed = snapshotMessageSchema.safeParse(install);
    assert.ok(parsed.success);
    assert.deepEqual(parsed.data.snapshot.membership, membership);
    for (const bad of [{ voters: ['n1'], learners: ['n1'] }, { voters: ['n1'], addresses: { n9: 'u' } }, { voters: ['n1'], addresses: { n1: '' } }]) {
      assert.equal(snapshotMessageSchema.safeParse({ ...install, snapshot: { ...snapshot, membership: bad } }).success, false, JSON.stringify(bad));
    }
  });

  it('drops fields a message type does not have', () => {
    const result = messageSchema.safeParse({ ...base, type: 'TimeoutNow', extra: { deep: 1 } });
    assert.ok(result.success);
    assert.deepEqual(result.data, { ...base, type: 'TimeoutNow' });
  });

  it('judges addresses: to this node, from another member; snapshot voters are members', () => {
    const members = new Set(['n1', 'n2', 'n3']);
    const isMember = (id: string) => members.has(id);
    assert.equal(addressProblem({ from: 'n1', to: 'n2' }, 'n2', isMember), null);
    assert.match(addressProblem({ from: 'n1', to: 'n3' }, 'n2', isMember)!, /addressed/);
    assert.match(addressProblem({ from: 'mallory', to: 'n2' }, 'n2', isMember)!, /not a member/);
    const install = { ...base, type: 'InstallSnapshot' as const, snapshot: { ...snapshot, membership: { voters: ['n1', 'x'] } } };
    assert.match(membershipProblem(install, isMember)!, /"x"/);
    assert.equal(membershipProblem({ ...install, snapshot }, isMember), null);
  });
});

describe('cluster message schema against the core', () => {
  it('accepts every message the Raft core sends in simulated runs with faults (after a JSON round trip)', async () => {
    const { Network } = await import('../sim/network.ts');
    const { runSimulation } = await import('../sim/simulation.ts');
    const refusedMessages: string[] = [];
    const changedMessages: string[] = [];
    const types = new Set<string>();
    const send = Network.prototype.send;
    Network.prototype.send = function (this: InstanceType<typeof Network>, now, message, snapshotData) {
      types.add(message.type);
      const wire = JSON.parse(JSON.stringify(message)) as unknown;
      const result = messageSchema.safeParse(wire);
      if (!result.success && refusedMessages.length < 5) refusedMessages.push(`${JSON.stringify(message)}: ${describeIssues(result.error)}`);
      // Nothing the core sent may be lost on the way in (learners and addresses of a snapshot's membership, say).
      if (result.success && !isDeepStrictEqual(result.data, wire) && changedMessages.length < 5) changedMessages.push(`${JSON.stringify(wire)} became ${JSON.stringify(result.data)}`);
      send.call(this, now, message, snapshotData);
    };
    try {
      for (let seed = 1; seed <= 12; seed++) runSimulation({ seed, nodes: seed % 2 === 0 ? 5 : 3, ticks: 1500 });
    } finally {
      Network.prototype.send = send;
    }
    assert.deepEqual(refusedMessages, []);
    assert.deepEqual(changedMessages, []);
    // The runs exercised (nearly) every message type, snapshots included.
    for (const type of ['PreVote', 'RequestVote', 'AppendEntries', 'AppendEntriesResponse', 'Heartbeat', 'HeartbeatResponse', 'InstallSnapshot']) {
      assert.ok(types.has(type), `no ${type} was sent: ${[...types].join(', ')}`);
    }
  });
});
